// Child for the embedded-log crash test. Opens the log in <dir> and produces deterministic records
// from several concurrent loops onto two channels until the parent kills it with SIGKILL. After each
// produce resolves it prints "A <channel> <run> <firstCounter> <count> <firstSeq> <lastSeq>"; after
// each checkpoint save resolves, "K <seq>". Stdout to a pipe is synchronous on Linux, so a printed
// line is never lost to the kill.
import { openEmbeddedMq } from "../../src/mq/index.ts";
import { rng } from "../helpers/env.ts";
import { crashPayload } from "./crash-records.ts";

const [dir, runText, seedText] = process.argv.slice(2);
if (dir === undefined || runText === undefined || seedText === undefined) {
  throw new Error("usage: crash-child <dir> <run> <seed>");
}
const run = Number(runText);
const r = rng(Number(seedText));
const mq = await openEmbeddedMq({ dir, segmentBytes: 256 * 1024 });
process.stdout.write("ready\n");

const counters = [0, 0];
let lastAcked1 = 0;

async function loop(channel: number): Promise<never> {
  const name = `c${channel}`;
  for (let i = 0; ; i++) {
    const n = r() < 0.05 ? 100 + Math.floor(r() * 200) : 1 + Math.floor(r() * 20);
    const first = counters[channel] as number;
    counters[channel] = first + n;
    const batch = Array.from({ length: n }, (_, k) => {
      const len = r() < 0.02 ? 30_000 + Math.floor(r() * 40_000) : Math.floor(r() * 1200);
      return crashPayload(run, channel, first + k, len);
    });
    const pos = await mq.produce(name, batch);
    process.stdout.write(`A ${channel} ${run} ${first} ${n} ${pos[0]?.seq} ${pos.at(-1)?.seq}\n`);
    if (channel === 1) {
      lastAcked1 = Math.max(lastAcked1, pos.at(-1)?.seq ?? 0);
      if (i % 10 === 9 && lastAcked1 > 300) {
        const ck = lastAcked1 - 300;
        await mq.saveCheckpoint("ck", name, ck);
        process.stdout.write(`K ${ck}\n`);
      }
    }
    if (r() < 0.5) await new Promise((res) => setTimeout(res, Math.floor(r() * 3)));
  }
}

await Promise.all([loop(0), loop(0), loop(1), loop(1)]);

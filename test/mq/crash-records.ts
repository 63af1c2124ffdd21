/**
 * Deterministic record contents for the crash test: every payload names its writer run, channel
 * and counter, and its body is a pattern derived from them, so the parent can tell a genuine
 * record from garbage without having seen it acknowledged.
 */
const HEAD = 20;
const MAGIC = 0x48535243; // "CRSH"

function seedOf(run: number, channel: number, counter: number): number {
  return (
    (Math.imul(run + 1, 0x9e3779b1) ^
      Math.imul(channel + 7, 0x85ebca6b) ^
      Math.imul(counter + 3, 0xc2b2ae35)) >>>
    0
  );
}

export function crashPayload(run: number, channel: number, counter: number, bodyLen: number): Uint8Array {
  const out = new Uint8Array(HEAD + bodyLen);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, run, true);
  dv.setUint32(8, channel, true);
  dv.setUint32(12, counter, true);
  dv.setUint32(16, bodyLen, true);
  let x = seedOf(run, channel, counter) | 1;
  for (let i = 0; i < bodyLen; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[HEAD + i] = x & 0xff;
  }
  return out;
}

export interface CrashRecordId {
  readonly run: number;
  readonly channel: number;
  readonly counter: number;
}

/** Parses and fully validates a payload; undefined when it is not one the child could have written. */
export function parseCrashPayload(p: Uint8Array): CrashRecordId | undefined {
  if (p.byteLength < HEAD) return undefined;
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (dv.getUint32(0, true) !== MAGIC || dv.getUint32(16, true) !== p.byteLength - HEAD) return undefined;
  const id = { run: dv.getUint32(4, true), channel: dv.getUint32(8, true), counter: dv.getUint32(12, true) };
  const want = crashPayload(id.run, id.channel, id.counter, p.byteLength - HEAD);
  for (let i = HEAD; i < p.byteLength; i++) if (want[i] !== p[i]) return undefined;
  return id;
}

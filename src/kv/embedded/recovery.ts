/**
 * Opening a data directory: snapshot + every WAL generation it does not cover, replayed in log
 * order. Only the newest generation may end in a torn or corrupt tail (a crash mid-append); that
 * tail is cut off. Damage anywhere else, or a gap in the log sequence, means acknowledged writes
 * would be lost, so the open fails with Corrupted instead of guessing.
 */
import { readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { WatchEvent } from "../types.ts";
import { EventHistory } from "./history.ts";
import { decodeWalBody, In, nextFrame, type WalRecord } from "./records.ts";
import { readSnapshot, SNAPSHOT_TMP } from "./snapshot.ts";
import { KvState } from "./state.ts";
import { headerValid, parseWalName, WAL_HEADER, WalFile, walName } from "./wal.ts";

export interface HistoryLimits {
  readonly events: number;
  readonly bytes: number;
}

export interface Recovered {
  readonly state: KvState;
  readonly history: EventHistory;
  /** Sequence number of the last record applied. */
  readonly lsn: number;
  readonly wal: WalFile;
}

/** Applies one record to the state, checking it follows on from it; returns the events. */
export function applyRecord(state: KvState, rec: WalRecord, now: number): WatchEvent[] {
  const events: WatchEvent[] = [];
  if (rec.type === "grant") {
    state.grant(rec.id, rec.ttl, now);
    return events;
  }
  const expected = rec.ops.length > 0 ? state.revision + 1 : state.revision;
  if (rec.rev !== expected) {
    throw new StrataError(
      "Corrupted",
      `meta WAL record ${rec.lsn} has revision ${rec.rev}, expected ${expected}`,
    );
  }
  let dels: string[] = [];
  const flushDels = (): void => {
    if (dels.length > 0 && !state.delMany(rec.rev, dels, events)) {
      throw new StrataError("Corrupted", `meta WAL record ${rec.lsn} deletes a missing key`);
    }
    dels = [];
  };
  for (const op of rec.ops) {
    if (op.kind === "put") {
      flushDels();
      events.push(state.put(rec.rev, op.key, op.value, op.lease));
    } else {
      dels.push(op.key);
    }
  }
  flushDels();
  for (const id of rec.revokes) state.dropLease(id);
  state.revision = rec.rev;
  return events;
}

export async function recover(
  dir: string,
  limits: HistoryLimits,
  logger: Logger,
  now: number,
): Promise<Recovered> {
  const snap = await readSnapshot(dir, now);
  const state = snap?.state ?? new KvState();
  let lsn = snap?.lsn ?? 0;
  const firstGen = snap?.walGen ?? 0;
  // Without a snapshot the WAL holds every event since the store was created.
  const history = new EventHistory(snap === undefined ? 1 : state.revision + 1, limits.events, limits.bytes);

  const names = await readdir(dir);
  const gens: number[] = [];
  for (const name of names) {
    const gen = parseWalName(name);
    if (gen === undefined) continue;
    // Generations before the snapshot's are fully inside it: leftovers of an interrupted cleanup.
    if (gen < firstGen) await unlink(join(dir, name));
    else gens.push(gen);
  }
  if (names.includes(SNAPSHOT_TMP)) await unlink(join(dir, SNAPSHOT_TMP));
  gens.sort((a, b) => a - b);

  let wal: WalFile | undefined;
  for (let i = 0; i < gens.length; i++) {
    const gen = gens[i]!;
    const last = i === gens.length - 1;
    const path = join(dir, walName(gen));
    const buf = await readFile(path);
    if (!headerValid(buf, gen)) {
      // A crash while creating the newest generation can leave its header incomplete.
      if (!last) throw new StrataError("Corrupted", `meta WAL ${path} has a bad header`);
      logger.warn({ path }, "meta WAL header incomplete; recreating the file");
      await unlink(path);
      wal = await WalFile.create(dir, gen);
      break;
    }
    let pos = WAL_HEADER;
    for (;;) {
      const f = nextFrame(buf, pos);
      let rec: WalRecord | undefined;
      if (f !== undefined) {
        try {
          rec = decodeWalBody(new In(buf, f.start, f.end));
        } catch {
          rec = undefined;
        }
      }
      if (f === undefined || rec === undefined) {
        if (pos === buf.length) break;
        if (!last) throw new StrataError("Corrupted", `meta WAL ${path} is damaged at byte ${pos}`);
        logger.warn({ path, at: pos, dropped: buf.length - pos }, "dropping torn meta WAL tail");
        break;
      }
      pos = f.end;
      if (rec.lsn <= lsn) continue;
      if (rec.lsn !== lsn + 1) {
        throw new StrataError("Corrupted", `meta WAL ${path} skips from record ${lsn} to ${rec.lsn}`);
      }
      history.append(applyRecord(state, rec, now));
      lsn = rec.lsn;
    }
    if (last) {
      const size = (await stat(path)).size;
      wal = await WalFile.reopen(dir, gen, pos, size);
    }
  }
  wal ??= await WalFile.create(dir, firstGen);
  history.trim(Number.POSITIVE_INFINITY);
  return { state, history, lsn, wal };
}

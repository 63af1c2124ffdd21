/**
 * One process per data directory: a `LOCK` file holding the owner's pid. The file is created
 * complete (written under a temp name, then hard-linked into place, which fails if it exists), so
 * a reader never sees a half-written pid. A lock whose pid is dead is stale and is taken over; a
 * live pid, including our own (a second open in this process), refuses the open.
 */
import { link, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";

const LOCK = "LOCK";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt(await readFile(path, "utf8"), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

export class DirLock {
  private released = false;

  private constructor(private readonly path: string) {}

  static async acquire(dir: string, logger: Logger): Promise<DirLock> {
    const path = join(dir, LOCK);
    const unique = `${process.pid}.${Math.random().toString(36).slice(2)}`;
    const tmp = join(dir, `${LOCK}.${unique}.tmp`);
    try {
      await writeFile(tmp, `${process.pid}\n`);
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(tmp, path);
          return new DirLock(path);
        } catch (e) {
          if (code(e) !== "EEXIST") throw e;
        }
        const owner = await readPid(path);
        if (owner === undefined) continue;
        if (owner !== 0 && alive(owner)) {
          throw new StrataError("IoFailed", `meta store ${dir} is in use by process ${owner}`);
        }
        // Move the stale lock aside atomically, then check it is the one we judged stale: another
        // process may have taken it over in between, and then we must put theirs back.
        const aside = join(dir, `${LOCK}.${unique}.stale`);
        try {
          await rename(path, aside);
        } catch (e) {
          if (code(e) === "ENOENT") continue;
          throw e;
        }
        const moved = await readPid(aside);
        if (moved !== owner) {
          await link(aside, path).catch(() => undefined);
        } else {
          logger.warn({ dir, stalePid: owner }, "taking over stale meta store lock");
        }
        await unlink(aside).catch(() => undefined);
      }
      throw new StrataError("IoFailed", `could not lock meta store ${dir}: lock keeps changing hands`);
    } catch (e) {
      if (e instanceof StrataError) throw e;
      throw new StrataError("IoFailed", `locking meta store ${dir}: ${(e as Error).message}`, { cause: e });
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if ((await readPid(this.path).catch(() => undefined)) === process.pid) {
      await unlink(this.path).catch(() => undefined);
    }
  }
}

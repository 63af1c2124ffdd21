/**
 * Keeps a second process (or a second instance in this process) from opening the same log
 * directory. The lock file holds the owner's pid and, where /proc exists, the owner's start time;
 * it is created by hard-linking a fully written temp file, so a reader never sees a half-written
 * lock. A lock whose owner is no longer running is stale and taken over. The start time tells a
 * live owner from an unrelated process that got the same pid later (containers restart with the
 * same small pids); without /proc, a reused pid keeps the lock held until the file is removed.
 */
import { link, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../common/errors.ts";
import { errnoOf as errno } from "../../common/fs.ts";
import type { Logger } from "../../common/log.ts";
import { ioError } from "./fsutil.ts";

const LOCK = "LOCK";

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), if known. */
async function startTime(pid: number | "self"): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === "EPERM";
  }
}

async function held(content: string): Promise<{ held: boolean; pid: number }> {
  const [pidText, started] = content.trim().split(" ");
  const pid = Number.parseInt(pidText ?? "", 10);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !running(pid)) return { held: false, pid };
  if (started === undefined) return { held: true, pid };
  const now = await startTime(pid);
  return { held: now === undefined || now === started, pid };
}

export class DirLock {
  private constructor(
    private readonly path: string,
    private readonly content: string,
  ) {}

  static async acquire(dir: string, logger: Logger): Promise<DirLock> {
    const path = join(dir, LOCK);
    const started = await startTime("self");
    const content = started === undefined ? `${process.pid}\n` : `${process.pid} ${started}\n`;
    const temp = join(dir, `${LOCK}.${process.pid}.${Math.random().toString(36).slice(2)}`);
    await writeFile(temp, content, { flush: true });
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(temp, path);
          return new DirLock(path, content);
        } catch (e) {
          if (errno(e) !== "EEXIST") throw ioError(e, `locking ${dir}`);
        }
        let existing: string;
        try {
          existing = await readFile(path, "utf8");
        } catch (e) {
          if (errno(e) === "ENOENT") continue;
          throw ioError(e, `reading ${path}`);
        }
        const owner = await held(existing);
        if (owner.held) {
          throw new StrataError("IoFailed", `${dir} is in use by process ${owner.pid} (lock file ${path})`);
        }
        logger.warn({ dir, stalePid: owner.pid }, "taking over a stale message-log lock");
        await rm(path, { force: true });
      }
      throw new StrataError("IoFailed", `could not lock ${dir}: the lock kept changing hands`);
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** Removes the lock file if it is still ours. */
  async release(): Promise<void> {
    try {
      if ((await readFile(this.path, "utf8")) === this.content) await unlink(this.path);
    } catch (e) {
      if (errno(e) !== "ENOENT") throw ioError(e, `unlocking ${this.path}`);
    }
  }
}

/** Filesystem helpers for the local object store: I/O error wrapping and temp-file cleanup. */
import type { Dirent } from "node:fs";
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { asStrataError, type StrataError } from "../../common/errors.ts";
import { errnoOf } from "../../common/fs.ts";
import type { Logger } from "../../common/log.ts";

/** In every temp file name; keys cannot contain it (see keys.ts), so temp names never clash with keys. */
export const TEMP_MARK = "\\";

/** A temp file this old is garbage even if its writer's pid is alive again (pid reuse). */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

export function ioFailed(e: unknown, context: string): StrataError {
  return asStrataError(e, "IoFailed", context);
}

function writerAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === "EPERM";
  }
}

/**
 * Removes temp files left by crashed puts. Temp names are `.put\<pid>-<random>`; a file whose writer
 * is still running (another store on the same root, in this process or another) is left alone unless
 * it is very old, so opening a store never breaks a put in flight.
 * @returns how many were removed.
 */
export async function removeStaleTempFiles(root: string, logger: Logger): Promise<number> {
  let removed = 0;
  const now = Date.now();
  const visit = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (errnoOf(e) === "ENOENT") return;
      throw e;
    }
    const subdirs: Promise<void>[] = [];
    for (const ent of entries) {
      const path = join(dir, ent.name);
      if (ent.isDirectory()) {
        subdirs.push(visit(path));
        continue;
      }
      if (!ent.isFile() || !ent.name.includes(TEMP_MARK)) continue;
      const pid = Number(ent.name.slice(ent.name.indexOf(TEMP_MARK) + 1).split("-")[0]);
      try {
        if (writerAlive(pid) && now - (await stat(path)).mtimeMs < STALE_TEMP_MS) continue;
        await unlink(path);
        removed++;
        logger.info({ path }, "removed temp file left by an interrupted put");
      } catch (e) {
        if (errnoOf(e) !== "ENOENT") throw e;
      }
    }
    await Promise.all(subdirs);
  };
  try {
    await visit(root);
  } catch (e) {
    throw ioFailed(e, `local object store: cleaning temp files under ${root}`);
  }
  return removed;
}

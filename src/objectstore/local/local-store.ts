/**
 * The embedded object store: one file per object under a root directory, the key being the relative
 * path. A put writes a temp file beside the target, fsyncs it, renames it over the target and fsyncs
 * the directory, so after a crash the key holds the old object, the new one, or nothing — never a
 * prefix. Temp files carry a backslash in their name, which no valid key segment can, so they can
 * never be mistaken for (or collide with) an object.
 */
import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rmdir, stat, unlink } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { StrataError } from "../../common/errors.ts";
import { errnoOf, fsyncDir } from "../../common/fs.ts";
import { type Logger, silentLogger } from "../../common/log.ts";
import {
  checkOffset,
  exactBytes,
  isValidKey,
  sortByKey,
  validateData,
  validateKey,
  validatePrefix,
  validateRange,
} from "../keys.ts";
import type { ObjectInfo, ObjectStore } from "../types.ts";
import { ioFailed, removeStaleTempFiles, TEMP_MARK } from "./fs-util.ts";

export interface LocalObjectStoreOptions {
  /** Directory holding the objects; created when missing. */
  readonly root: string;
  readonly logger?: Logger;
}

/** A concurrent delete may remove a freshly made empty parent directory; a put then retries. */
const PUT_ATTEMPTS = 5;

export async function openLocalObjectStore(opts: LocalObjectStoreOptions): Promise<ObjectStore> {
  if (typeof opts.root !== "string" || opts.root === "") {
    throw new StrataError("ConfigInvalid", "local object store: root must be a non-empty path");
  }
  const logger = (opts.logger ?? silentLogger()).child({ component: "objectstore", backend: "local" });
  const root = resolve(opts.root);
  try {
    await mkdir(root, { recursive: true });
  } catch (e) {
    throw ioFailed(e, `local object store: cannot create root ${root}`);
  }
  const removed = await removeStaleTempFiles(root, logger);
  logger.debug({ root, removedTempFiles: removed }, "opened local object store");
  return new LocalObjectStore(root, logger);
}

class LocalObjectStore implements ObjectStore {
  private closed = false;
  /** `root` with exactly one trailing separator, for containment checks. */
  private readonly rootSlash: string;

  constructor(
    private readonly root: string,
    private readonly logger: Logger,
  ) {
    this.rootSlash = root.endsWith(sep) ? root : root + sep;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    this.checkOpen();
    validateKey(key);
    validateData(key, data);
    const target = this.pathOf(key);
    const dir = dirname(target);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.putOnce(key, target, dir, data);
        return;
      } catch (e) {
        if (errnoOf(e) === "ENOENT" && attempt < PUT_ATTEMPTS) continue;
        throw e instanceof StrataError ? e : ioFailed(e, `put ${JSON.stringify(key)}`);
      }
    }
  }

  private async putOnce(key: string, target: string, dir: string, data: Uint8Array): Promise<void> {
    let firstCreated: string | undefined;
    try {
      firstCreated = await mkdir(dir, { recursive: true });
    } catch (e) {
      const code = errnoOf(e);
      if (code === "ENOTDIR" || code === "EEXIST") {
        throw new StrataError(
          "ParameterInvalid",
          `put ${JSON.stringify(key)}: a parent path of this key is an object (the local store cannot hold both 'a/b' and 'a/b/c')`,
        );
      }
      throw e;
    }
    const tmp = join(dir, `.put${TEMP_MARK}${process.pid}-${randomBytes(6).toString("hex")}`);
    const fh = await open(tmp, "wx", 0o644);
    let renamed = false;
    try {
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await rename(tmp, target);
      } catch (e) {
        const code = errnoOf(e);
        if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST") {
          throw new StrataError(
            "ParameterInvalid",
            `put ${JSON.stringify(key)}: other keys live under this key (the local store cannot hold both 'a/b' and 'a/b/c')`,
          );
        }
        throw e;
      }
      renamed = true;
    } finally {
      if (!renamed) await unlink(tmp).catch(() => undefined);
    }
    // The new object's entry lives in `dir`; each directory mkdir created lives in its parent.
    await fsyncDir(dir, { ignoreMissing: true });
    if (firstCreated !== undefined) {
      for (let d = dir; d !== dirname(firstCreated); d = dirname(d))
        await fsyncDir(dirname(d), { ignoreMissing: true });
    }
  }

  async get(key: string): Promise<Uint8Array> {
    this.checkOpen();
    validateKey(key);
    try {
      return exactBytes(await readFile(this.pathOf(key)));
    } catch (e) {
      throw this.readError(e, "get", key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    this.checkOpen();
    validateKey(key);
    validateRange(key, offset, length);
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(this.pathOf(key), "r");
    } catch (e) {
      throw this.readError(e, "getRange", key);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFound(key);
      checkOffset(key, offset, st.size);
      const out = new Uint8Array(Math.min(length, st.size - offset));
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await fh.read(out, done, out.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      // Objects are replaced by rename, so the open inode never shrinks; this is only a guard.
      if (done < out.length) throw new StrataError("IoFailed", `getRange ${JSON.stringify(key)}: short read`);
      return out;
    } catch (e) {
      throw e instanceof StrataError ? e : ioFailed(e, `getRange ${JSON.stringify(key)}`);
    } finally {
      await fh.close();
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    this.checkOpen();
    validateKey(key);
    try {
      const st = await stat(this.pathOf(key));
      return st.isFile() ? { key, size: st.size } : undefined;
    } catch (e) {
      const code = errnoOf(e);
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw ioFailed(e, `stat ${JSON.stringify(key)}`);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    this.checkOpen();
    validatePrefix(prefix);
    const cut = prefix.lastIndexOf("/");
    const dirKey = cut < 0 ? "" : prefix.slice(0, cut);
    const partial = prefix.slice(cut + 1);
    const out: ObjectInfo[] = [];
    try {
      await this.walk(dirKey, partial, out);
    } catch (e) {
      throw ioFailed(e, `list ${JSON.stringify(prefix)}`);
    }
    return sortByKey(out);
  }

  /** Collects objects under directory `dirKey` whose entry name starts with `partial`. */
  private async walk(dirKey: string, partial: string, out: ObjectInfo[]): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(dirKey === "" ? this.root : this.pathOf(dirKey), { withFileTypes: true });
    } catch (e) {
      const code = errnoOf(e);
      // Absent (or deleted while we walk), or a file where the prefix expects a directory.
      if (code === "ENOENT" || code === "ENOTDIR") return;
      throw e;
    }
    const files: Promise<void>[] = [];
    const dirs: Promise<void>[] = [];
    for (const ent of entries) {
      if (!ent.name.startsWith(partial) || ent.name.includes(TEMP_MARK)) continue;
      const key = dirKey === "" ? ent.name : `${dirKey}/${ent.name}`;
      if (ent.isDirectory()) {
        dirs.push(this.walk(key, "", out));
      } else if (ent.isFile() && isValidKey(key)) {
        files.push(
          stat(this.pathOf(key)).then(
            (st) => {
              out.push({ key, size: st.size });
            },
            (e: unknown) => {
              if (errnoOf(e) !== "ENOENT") throw e;
            },
          ),
        );
      }
    }
    await Promise.all([...files, ...dirs]);
  }

  async delete(key: string): Promise<void> {
    this.checkOpen();
    validateKey(key);
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (e) {
      const code = errnoOf(e);
      // ENOENT/ENOTDIR: nothing there. EISDIR/EPERM: a directory of other keys, not an object.
      if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR" || code === "EPERM") return;
      throw ioFailed(e, `delete ${JSON.stringify(key)}`);
    }
    // Prune now-empty parents so deleted segments do not leave directory litter; rmdir refuses a
    // non-empty directory, which also stops at one holding a put's temp file.
    for (let d = dirname(path); d.startsWith(this.rootSlash); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        break;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.logger.debug("closed local object store");
  }

  localPath(key: string): string {
    validateKey(key);
    return this.pathOf(key);
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError("Closed", "local object store is closed");
  }

  private pathOf(key: string): string {
    const p = join(this.root, ...key.split("/"));
    // validateKey already makes escape impossible; this keeps it impossible if the rules ever change.
    if (!p.startsWith(this.rootSlash)) {
      throw new StrataError("ParameterInvalid", `object key ${JSON.stringify(key)} escapes the root`);
    }
    return p;
  }

  private readError(e: unknown, op: string, key: string): StrataError {
    if (e instanceof StrataError) return e;
    const code = errnoOf(e);
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return notFound(key);
    return ioFailed(e, `${op} ${JSON.stringify(key)}`);
  }
}

function notFound(key: string): StrataError {
  return new StrataError("KeyNotFound", `object ${JSON.stringify(key)} not found`);
}

/** File-system helpers shared by the embedded backends: whole reads/writes and directory fsync. */
import { type FileHandle, open } from "node:fs/promises";

/** The `code` of a Node system error (ENOENT, EEXIST…), or undefined. */
export function errnoOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string"
    ? e.code
    : undefined;
}

/**
 * Makes a directory's entry changes (create, rename, unlink) durable. Filesystems that refuse
 * fsync on a directory (EINVAL) make renames durable by other means, so that is not an error.
 * @param opts.ignoreMissing a directory removed meanwhile held nothing that still needs syncing.
 */
export async function fsyncDir(dir: string, opts: { readonly ignoreMissing?: boolean } = {}): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(dir, "r");
  } catch (e) {
    if (opts.ignoreMissing === true && errnoOf(e) === "ENOENT") return;
    throw e;
  }
  try {
    await fh.sync();
  } catch (e) {
    if (errnoOf(e) !== "EINVAL") throw e;
  } finally {
    await fh.close();
  }
}

/** Writes all of `buf` at `position`, looping over short writes. */
export async function writeFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.byteLength) {
    const { bytesWritten } = await fh.write(buf, done, buf.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/** Writes several buffers back to back at `position` (scatter write, no copy into one buffer). */
export async function writevFully(fh: FileHandle, bufs: Uint8Array[], position: number): Promise<void> {
  let pos = position;
  let rest = bufs;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest.length > 512 ? rest.slice(0, 512) : rest, pos);
    pos += bytesWritten;
    let n = bytesWritten;
    let i = 0;
    while (i < rest.length && n >= (rest[i]?.byteLength ?? 0)) {
      n -= rest[i]?.byteLength ?? 0;
      i++;
    }
    rest = rest.slice(i);
    const head = rest[0];
    if (n > 0 && head !== undefined) rest[0] = head.subarray(n);
  }
}

/** Reads exactly `length` bytes at `position`; fewer only at end of file. */
export async function readFully(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) return buf.subarray(0, done);
    done += bytesRead;
  }
  return buf;
}

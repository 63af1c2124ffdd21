/** Small file-system helpers for the embedded log: full reads/writes and directory fsync. */
import { type FileHandle, open } from "node:fs/promises";
import { asStrataError } from "../../common/errors.ts";

/** Makes a directory entry change (create, rename, unlink) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

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

export function errno(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string"
    ? e.code
    : undefined;
}

/** Wraps a failed file operation as IoFailed, keeping StrataErrors as they are. */
export function ioError(e: unknown, context: string): Error {
  return asStrataError(e, "IoFailed", context);
}

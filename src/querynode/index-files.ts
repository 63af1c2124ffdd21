import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SegmentIndexFile } from "../dataservice/types.ts";
import { loadIndexBytes, openIndexFile } from "../index/index.ts";
import type { ObjectStore } from "../objectstore/types.ts";
import type { SegmentVectorIndex } from "./segment.ts";

export interface IndexFileIo {
  readonly objects: ObjectStore;
  /** Local directory for downloaded index files (memory-mapped from there); undefined = in memory. */
  readonly cacheDir: string | undefined;
  /** Native threads a batched HNSW search may spread its queries over. */
  readonly searchThreads: number;
}

/**
 * Opens a segment's index file, memory-mapped where possible: in place when the object store keeps
 * objects as local files, else from a copy downloaded into the cache directory (deleted when the
 * index is disposed), else read into memory. Every byte is checksummed before the index is used.
 * @throws StrataError Corrupted for a damaged file (the caller falls back to the raw vectors),
 *   KeyNotFound when the file is gone, IoFailed.
 */
export async function openSegmentIndex(io: IndexFileIo, file: SegmentIndexFile): Promise<SegmentVectorIndex> {
  const hnsw = { searchThreads: io.searchThreads };
  const local = io.objects.localPath?.(file.fileKey);
  if (local !== undefined) {
    return { file, index: await openIndexFile(local, { mode: "view", hnsw }) };
  }
  const bytes = await io.objects.get(file.fileKey);
  if (io.cacheDir === undefined) return { file, index: loadIndexBytes(bytes, { hnsw }) };
  await mkdir(io.cacheDir, { recursive: true });
  const path = join(io.cacheDir, `${file.buildId}-${file.segmentId}.idx`);
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  try {
    const index = await openIndexFile(path, { mode: "view", hnsw });
    return { file, index, dispose: () => void rm(path, { force: true }) };
  } catch (e) {
    await rm(path, { force: true });
    throw e;
  }
}

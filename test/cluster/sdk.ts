/**
 * The Milvus Node SDK side of the cluster tests: one small schema whose rows are a pure function of
 * (seed, id) — so any row found in the database can be checked, acknowledged or not — plus the
 * brute-force oracle and PK scans the tests compare against.
 */
import assert from "node:assert/strict";
import sdk from "@zilliz/milvus2-sdk-node";
import { rng } from "../helpers/env.ts";

const { MilvusClient, DataType, ErrorCode } = sdk;
export type Client = InstanceType<typeof MilvusClient>;
type InsertRows = import("@zilliz/milvus2-sdk-node").RowData[];

export const DIM = 16;

export interface Row {
  readonly id: number;
  readonly vec: number[];
  readonly grp: number;
}

/** The row with primary key `id` of a dataset (float32-exact, as the server stores it). */
export function rowOf(seed: number, id: number): Row {
  const next = rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(id + 1, 0x85ebca6b)) >>> 0);
  return { id, vec: Array.from(Float32Array.from({ length: DIM }, () => next() * 2 - 1)), grp: id % 7 };
}

export function rowsOf(seed: number, from: number, count: number): Row[] {
  return Array.from({ length: count }, (_, k) => rowOf(seed, from + k));
}

export async function connect(address: string): Promise<Client> {
  const client = new MilvusClient({ address, logLevel: "error", timeout: 30_000 });
  await client.connectPromise;
  return client;
}

export function ok(status: { error_code: unknown; reason?: string }, what: string): void {
  assert.equal(status.error_code, ErrorCode.SUCCESS, `${what}: ${status.reason ?? ""}`);
}

export function succeeded(status: { error_code: unknown }): boolean {
  return status.error_code === ErrorCode.SUCCESS;
}

/** `id` Int64 PK (no auto ID), `vec` float vector, `grp` Int64; Strong consistency. */
export async function createCollection(client: Client, name: string, shards: number): Promise<void> {
  ok(
    await client.createCollection({
      collection_name: name,
      consistency_level: "Strong",
      shards_num: shards,
      fields: [
        { name: "id", data_type: DataType.Int64, is_primary_key: true, autoID: false },
        { name: "vec", data_type: DataType.FloatVector, dim: DIM },
        { name: "grp", data_type: DataType.Int64 },
      ],
    }),
    `createCollection ${name}`,
  );
}

export async function insertRows(client: Client, name: string, rows: readonly Row[]): Promise<void> {
  const r = await client.insert({ collection_name: name, data: rows as unknown as InsertRows });
  ok(r.status, `insert into ${name}`);
  assert.equal(Number(r.insert_cnt), rows.length, "insert_cnt");
}

export async function flush(client: Client, name: string): Promise<void> {
  ok((await client.flushSync({ collection_names: [name] })).status, `flushSync ${name}`);
}

/** FLAT/L2 index, then a synchronous load. */
export async function indexAndLoad(client: Client, name: string): Promise<void> {
  ok(
    await client.createIndex({
      collection_name: name,
      field_name: "vec",
      index_type: "FLAT",
      metric_type: "L2",
    }),
    `createIndex ${name}`,
  );
  ok(await client.loadCollectionSync({ collection_name: name }), `load ${name}`);
}

export function l2(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    s += d * d;
  }
  return s;
}

export interface Hit {
  readonly id: number;
  readonly score: number;
}

/** Brute force: the k nearest rows, best first (ties by id). */
export function oracle(rows: Iterable<Row>, q: readonly number[], k: number): Hit[] {
  return [...rows]
    .map((r) => ({ id: r.id, score: l2(q, r.vec) }))
    .sort((a, b) => a.score - b.score || a.id - b.id)
    .slice(0, k);
}

export interface SearchOutcome {
  readonly ok: boolean;
  readonly reason: string;
  readonly hits: Hit[][];
}

/** One search; a thrown SDK error counts as a failed outcome with its message. */
export async function search(
  client: Client,
  name: string,
  queries: readonly (readonly number[])[],
  k: number,
): Promise<SearchOutcome> {
  try {
    const res = await client.search({ collection_name: name, data: queries as number[][], limit: k });
    if (!succeeded(res.status)) return { ok: false, reason: res.status.reason ?? "(no reason)", hits: [] };
    const raw = res.results as unknown as { id: string; score: number }[] | { id: string; score: number }[][];
    const lists =
      queries.length === 1 && !Array.isArray(raw[0]) ? [raw as { id: string; score: number }[]] : raw;
    const hits = (lists as { id: string; score: number }[][]).map((l) =>
      l.map((h) => ({ id: Number(h.id), score: h.score })),
    );
    return { ok: true, reason: "", hits };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e), hits: [] };
  }
}

/** Same ids in the same order, scores within float tolerance; a message naming the first difference. */
export function sameHits(got: readonly Hit[], want: readonly Hit[]): string | undefined {
  if (got.length !== want.length) return `${got.length} hits, want ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as Hit;
    const w = want[i] as Hit;
    // Equal distances may come in either order: compare ids only where the scores differ.
    if (Math.abs(g.score - w.score) > 1e-4) return `hit ${i}: score ${g.score}, want ${w.score}`;
    if (g.id !== w.id && Math.abs(g.score - w.score) > 1e-7) return `hit ${i}: id ${g.id}, want ${w.id}`;
  }
  const a = [...got.map((h) => h.id)].sort((x, y) => x - y);
  const b = [...want.map((h) => h.id)].sort((x, y) => x - y);
  if (a.join() !== b.join()) return `ids ${JSON.stringify(a)}, want ${JSON.stringify(b)}`;
  return undefined;
}

export interface CountOutcome {
  readonly ok: boolean;
  readonly reason: string;
  readonly rows: number;
}

/**
 * count(*) by a query, keeping the server's failure status (the SDK's `count` reads the result
 * before the status and turns a failed answer into a TypeError).
 */
export async function tryCount(client: Client, name: string): Promise<CountOutcome> {
  try {
    const r = await client.query({ collection_name: name, filter: "", output_fields: ["count(*)"] });
    if (!succeeded(r.status)) return { ok: false, reason: r.status.reason ?? "(no reason)", rows: -1 };
    return { ok: true, reason: "", rows: Number(r.data[0]?.["count(*)"]) };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e), rows: -1 };
  }
}

export async function count(client: Client, name: string): Promise<number> {
  const r = await tryCount(client, name);
  assert.ok(r.ok, `count ${name}: ${r.reason}`);
  return r.rows;
}

/**
 * Every primary key in [0, maxId) as stored, by range queries (a key stored twice shows up twice),
 * each row's vector checked bit-exact against the dataset's generator.
 */
export async function scanStored(
  client: Client,
  name: string,
  seed: number,
  maxId: number,
): Promise<number[]> {
  const out: number[] = [];
  const step = 1000;
  for (let lo = 0; lo < maxId; lo += step) {
    const r = await client.query({
      collection_name: name,
      filter: `id >= ${lo} and id < ${lo + step}`,
      output_fields: ["id", "vec"],
      limit: 16_000,
    });
    ok(r.status, `query ids [${lo}, ${lo + step})`);
    for (const row of r.data) {
      const id = Number(row.id);
      out.push(id);
      assert.deepEqual(row.vec, rowOf(seed, id).vec, `row ${id}: the stored vector is not the one inserted`);
    }
  }
  return out;
}

/** Keys seen more than once, and the distinct set. */
export function distinct(ids: readonly number[]): { set: Set<number>; duplicated: number[] } {
  const set = new Set<number>();
  const duplicated: number[] = [];
  for (const id of ids) {
    if (set.has(id)) duplicated.push(id);
    set.add(id);
  }
  return { set, duplicated };
}

/** A seed from STRATA_TEST_SEED or the clock, printed so a failure can be replayed. */
export function testSeed(label: string): number {
  const env = process.env.STRATA_TEST_SEED;
  const seed = env !== undefined && env !== "" ? Number(env) : Date.now() % 1_000_000;
  console.log(`# ${label}: seed ${seed} (replay with STRATA_TEST_SEED=${seed})`);
  return seed;
}

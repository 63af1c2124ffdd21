import type { SparseRow } from "../common/column.ts";
import { StrataError } from "../common/errors.ts";
import type { FieldColumn } from "../common/msg/index.ts";
import { DYNAMIC_FIELD_NAME, type FieldSchema, primaryField } from "../common/schema.ts";
import { subtractMs, type Timestamp } from "../common/timestamp.ts";
import { DataType, isVectorType } from "../common/types.ts";
import type { IndexDefinition } from "../dataservice/types.ts";
import { compileFilter, type ExprPlan } from "../expr/index.ts";
import { resolveSearchParams } from "../index/params.ts";
import type { MetricType, NodeScope, QueryNode } from "../querynode/types.ts";
import { type Distribution, PartitionState, type QueryService } from "../queryservice/types.ts";
import type { CollectionInfo, RootCoord } from "../rootcoord/types.ts";
import { gatherPage, pageOf } from "./query-page.ts";
import {
  type ConsistencyLevel,
  type LoadState,
  MAX_NQ,
  MAX_TOPK,
  type QueryColumns,
  type QueryRequest,
  type QueryRow,
  type ReadOptions,
  type SearchHit,
  type SearchRequest,
} from "./read-types.ts";
import { reduceHits } from "./reduce.ts";
import { valueAt } from "./rows.ts";
import { validatePks } from "./validate.ts";

export interface ReadDeps {
  readonly rootcoord: RootCoord;
  readonly queryservice: QueryService;
  readonly queryNodes: (nodeId: number) => QueryNode | undefined;
  /** Index definitions of a collection: a search without a metric uses its field's index metric. */
  readonly indexes?: (collectionId: bigint) => Promise<readonly IndexDefinition[]>;
  /** The caller's last write timestamp (Session consistency). */
  readonly lastWriteTs: () => Timestamp;
}

const COUNT = "count(*)";
const BOUNDED_STALENESS_MS = 5000;
/**
 * How long a Bounded read may stand a timestamp allocated by an earlier read in for "now" (moved
 * forward by its age): far inside the 5 s staleness bound, and it saves a timestamp-oracle round
 * trip per read under load (an RPC when rootcoord is remote).
 */
const BOUNDED_TS_REUSE_MS = 100;

function bad(msg: string): never {
  throw new StrataError("ParameterInvalid", msg);
}

/** The proxy's read side: load/release, search and query fanned out to query nodes and reduced. */
export class ReadPath {
  readonly #d: ReadDeps;

  constructor(deps: ReadDeps) {
    this.#d = deps;
  }

  #partitionIds(info: CollectionInfo, names: readonly string[] | undefined): bigint[] {
    if (names === undefined || names.length === 0) return info.partitions.map((p) => p.partitionId);
    return names.map((n) => {
      const p = info.partitions.find((x) => x.name === n);
      if (p === undefined)
        throw new StrataError("PartitionNotFound", `partition ${n} not found in ${info.schema.name}`);
      return p.partitionId;
    });
  }

  /** Catch-up targets of loads begun here: progress reaches 100 only once channels pass them. */
  readonly #loadTargets = new Map<bigint, Timestamp>();

  async beginLoad(collection: string, partitions: readonly string[] | undefined): Promise<void> {
    const info = await this.#d.rootcoord.describeCollection(collection);
    const partitionIds = this.#partitionIds(info, partitions);
    // Load completes once every channel has caught up to this moment, so a read at any
    // consistency level right after load sees what was written before it.
    const caughtUpTo = await this.#d.rootcoord.allocTimestamp();
    await this.#d.queryservice.loadPartitions({
      dbId: info.dbId,
      collectionId: info.collectionId,
      partitionIds,
    });
    const prev = this.#loadTargets.get(info.collectionId) ?? 0n;
    if (caughtUpTo > prev) this.#loadTargets.set(info.collectionId, caughtUpTo);
  }

  async #partitionStates(
    collection: string,
    partitions: readonly string[] | undefined,
  ): Promise<{ info: CollectionInfo; states: PartitionState[] }> {
    const info = await this.#d.rootcoord.describeCollection(collection);
    const ids = this.#partitionIds(info, partitions);
    const d = await this.#d.queryservice.describePartition({
      dbId: info.dbId,
      collectionId: info.collectionId,
      partitionIds: ids,
    });
    return { info, states: d.partitionDescriptions.map((p) => p.state) };
  }

  async loadProgress(collection: string, partitions: readonly string[] | undefined): Promise<number> {
    const { info, states } = await this.#partitionStates(collection, partitions);
    const asked = requested(states, partitions);
    if (asked.length === 0 || asked.some(isUnloaded)) {
      throw new StrataError("CollectionNotLoaded", `collection ${collection} is not loaded: call load first`);
    }
    const inMemory = asked.filter((s) => s === PartitionState.IN_MEMORY).length;
    if (inMemory < asked.length) return Math.min(99, Math.floor((100 * inMemory) / asked.length));
    const target = this.#loadTargets.get(info.collectionId);
    if (target !== undefined) {
      const dist = await this.#d.queryservice.getDistribution(info.collectionId);
      const behind = dist.channels.some(
        (c) => (this.#d.queryNodes(c.nodeId)?.tSafe(c.channel) ?? 0n) < target,
      );
      if (behind) return 99;
    }
    return 100;
  }

  async load(
    collection: string,
    partitions: readonly string[] | undefined,
    timeoutMs = 120_000,
  ): Promise<void> {
    await this.beginLoad(collection, partitions);
    const deadline = Date.now() + timeoutMs;
    while ((await this.loadProgress(collection, partitions)) < 100) {
      if (Date.now() > deadline)
        throw new StrataError("Timeout", `loading ${collection} did not finish in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async release(collection: string, partitions: readonly string[] | undefined): Promise<void> {
    const info = await this.#d.rootcoord.describeCollection(collection);
    await this.#d.queryservice.releasePartitions({
      dbId: info.dbId,
      collectionId: info.collectionId,
      partitionIds: this.#partitionIds(info, partitions),
    });
  }

  async loadState(collection: string, partitions?: readonly string[]): Promise<LoadState> {
    if (!(await this.#d.rootcoord.hasCollection(collection))) return "NotExist";
    const { states } = await this.#partitionStates(collection, partitions);
    if (states.every(isUnloaded)) return "NotLoad";
    // A collection counts as loaded when the partitions a load asked for are (pymilvus' rule).
    return requested(states, partitions).every((s) => s === PartitionState.IN_MEMORY) ? "Loaded" : "Loading";
  }

  /** The latest timestamp this path allocated, and when (monotonic ms). */
  #recent: { ts: Timestamp; at: number } | undefined;
  /** An allocation under way: concurrent Bounded reads share it. */
  #allocating: Promise<Timestamp> | undefined;

  async #allocTs(): Promise<Timestamp> {
    const ts = await this.#d.rootcoord.allocTimestamp();
    // Aged from its arrival: a reuse never asks for data newer than a fresh allocation would
    // (so never waits longer); it may be older by the allocation's latency.
    if (this.#recent === undefined || ts > this.#recent.ts) this.#recent = { ts, at: performance.now() };
    return ts;
  }

  /** Now − 5 s, from a timestamp allocated at most BOUNDED_TS_REUSE_MS ago when there is one. */
  async #boundedTs(): Promise<Timestamp> {
    const r = this.#recent;
    if (r !== undefined) {
      const age = Math.floor(performance.now() - r.at);
      if (age < BOUNDED_TS_REUSE_MS) return subtractMs(r.ts, BOUNDED_STALENESS_MS - age);
    }
    this.#allocating ??= this.#allocTs().finally(() => {
      this.#allocating = undefined;
    });
    return subtractMs(await this.#allocating, BOUNDED_STALENESS_MS);
  }

  async #guarantee(level: ConsistencyLevel): Promise<{ guaranteeTs: Timestamp; strong: boolean }> {
    switch (level) {
      case "Strong":
        // Strong reads always take a fresh timestamp: they must see every write acknowledged before.
        return { guaranteeTs: await this.#allocTs(), strong: true };
      case "Bounded":
        return { guaranteeTs: await this.#boundedTs(), strong: false };
      case "Session":
        return { guaranteeTs: this.#d.lastWriteTs(), strong: false };
      case "Eventually":
        return { guaranteeTs: 0n, strong: false };
      default:
        return bad(`unknown consistency level ${String(level)}`);
    }
  }

  /** Per-node scopes of a read; the read timestamp is common to all nodes. */
  async #scopes(
    info: CollectionInfo,
    opts: ReadOptions,
    filter: ExprPlan | undefined,
  ): Promise<{ node: QueryNode; scope: NodeScope }[]> {
    let dist: Distribution;
    try {
      dist = await this.#d.queryservice.getDistribution(info.collectionId);
    } catch (e) {
      if (e instanceof StrataError && e.code === "CollectionNotLoaded") {
        throw new StrataError(
          "CollectionNotLoaded",
          `collection ${info.schema.name} is not loaded: call load first`,
        );
      }
      throw e;
    }
    const partitionIds = this.#partitionIds(info, opts.partitionNames);
    const loaded = new Set(dist.partitionIds);
    for (const id of partitionIds) {
      if (!loaded.has(id) && opts.partitionNames !== undefined) {
        throw new StrataError("PartitionNotLoaded", `partition ${id} of ${info.schema.name} is not loaded`);
      }
    }
    const wanted = partitionIds.filter((id) => loaded.has(id));
    if (wanted.length === 0)
      throw new StrataError("CollectionNotLoaded", `collection ${info.schema.name} is not loaded`);
    const { guaranteeTs, strong } = await this.#guarantee(opts.consistencyLevel ?? "Bounded");
    const nodeIds = new Set<number>([
      ...dist.channels.map((c) => c.nodeId),
      ...dist.sealed.map((s) => s.nodeId),
    ]);
    const nodes = new Map<number, QueryNode>();
    for (const id of nodeIds) {
      const n = this.#d.queryNodes(id);
      if (n === undefined) throw new StrataError("ServiceUnavailable", `query node ${id} is not available`);
      nodes.set(id, n);
    }
    // Non-Strong reads see whatever every channel has fully applied, never half a tick pack.
    let readTs = guaranteeTs;
    if (!strong) {
      let minSafe: Timestamp | undefined;
      for (const c of dist.channels) {
        const t = (nodes.get(c.nodeId) as QueryNode).tSafe(c.channel);
        if (minSafe === undefined || t < minSafe) minSafe = t;
      }
      if (minSafe !== undefined && minSafe > readTs) readTs = minSafe;
    }
    const excludeGrowing = dist.sealed.map((s) => s.segmentId);
    const want = new Set(wanted);
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return [...nodes].map(([id, node]) => ({
      node,
      scope: {
        collectionId: info.collectionId,
        partitionIds: wanted,
        sealedSegmentIds: dist.sealed
          .filter((s) => s.nodeId === id && want.has(s.partitionId))
          .map((s) => s.segmentId),
        channels: dist.channels.filter((c) => c.nodeId === id).map((c) => c.channel),
        excludeGrowing,
        readTs,
        guaranteeTs,
        timeoutMs,
        ...(filter === undefined ? {} : { filter }),
      },
    }));
  }

  /**
   * Output fields in schema order. `*` is every field, the dynamic `$meta` included; a name not
   * in the schema is a dynamic key when the collection has dynamic fields (served from `$meta`).
   */
  #outputFields(info: CollectionInfo, names: readonly string[] | undefined): FieldSchema[] {
    if (names === undefined) return [];
    const all = names.includes("*");
    const dynamic = info.schema.fields.find((f) => f.isDynamic);
    const unknown = names.filter(
      (n) => n !== "*" && n !== COUNT && !info.schema.fields.some((f) => f.name === n),
    );
    if (unknown.length > 0 && dynamic === undefined)
      bad(`output field ${unknown[0]} is not in the schema of ${info.schema.name}`);
    const wantDynamic = all || unknown.length > 0 || names.includes(DYNAMIC_FIELD_NAME);
    return info.schema.fields.filter((f) => (f.isDynamic ? wantDynamic : all || names.includes(f.name)));
  }

  async search(req: SearchRequest): Promise<SearchHit[][]> {
    const info = await this.#d.rootcoord.describeCollection(req.collectionName);
    const field = annsFieldOf(info, req.annsField);
    const limit = req.limit ?? 10;
    const offset = req.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1) bad(`limit must be a positive integer, got ${limit}`);
    if (!Number.isInteger(offset) || offset < 0) bad(`offset must be a non-negative integer, got ${offset}`);
    if (limit + offset > MAX_TOPK) bad(`limit + offset must be at most ${MAX_TOPK}, got ${limit + offset}`);
    const index = (await this.#d.indexes?.(info.collectionId))?.find((d) => d.fieldId === field.fieldId);
    if (req.metricType !== undefined && index !== undefined && req.metricType !== index.metricType) {
      bad(
        `metric type not match: the index on ${field.name} uses ${index.metricType}, the search asked for ${req.metricType}`,
      );
    }
    const searchParams = searchParamsFor(index, req.params, limit + offset);
    const metric =
      req.metricType ?? (index?.metricType as MetricType | undefined) ?? defaultMetric(field.dataType);
    const { queries, nq } = queryVectors(field, req.data);
    const filter =
      req.filter === undefined || req.filter.trim() === ""
        ? undefined
        : compileFilter(req.filter, info.schema);
    const output = this.#outputFields(info, req.outputFields);
    const scopes = await this.#scopes(info, req, filter);
    const perNode = await Promise.all(
      scopes.map(({ node, scope }) =>
        // The scope is spread last (no key in common): on Node 20's V8 every property written
        // after a spread costs about a microsecond, several per request.
        node.search({
          vectorFieldId: field.fieldId,
          metric,
          queries,
          nq,
          topk: limit + offset,
          outputFieldIds: output.map((f) => f.fieldId),
          ...(Object.keys(searchParams).length === 0 ? {} : { searchParams }),
          ...scope,
        }),
      ),
    );
    const out: SearchHit[][] = [];
    for (let q = 0; q < nq; q++) {
      const lists = perNode.map((r) => r.results[q]).filter((h) => h !== undefined);
      const merged = reduceHits(lists, metric, offset, limit);
      out.push(
        merged.pks.map((id, i) => ({
          id,
          score: merged.scores[i] as number,
          fields: rowFields(output, merged.fields, i),
        })),
      );
    }
    return out;
  }

  /** Rows matching a filter and/or ids, as objects (see queryColumns). */
  async query(req: QueryRequest): Promise<QueryRow[]> {
    const r = await this.queryColumns(req);
    if (r.count !== undefined) return [{ [COUNT]: r.count }];
    const rows: QueryRow[] = new Array(r.rows);
    for (let i = 0; i < r.rows; i++) rows[i] = rowFields(r.output, r.columns, i);
    return rows;
  }

  /**
   * Rows matching a filter and/or ids, ordered by primary key, a key once, `offset`/`limit`
   * applied, as one column per output field (schema order); or only the count for `count(*)`.
   */
  async queryColumns(req: QueryRequest): Promise<QueryColumns> {
    const info = await this.#d.rootcoord.describeCollection(req.collectionName);
    const pk = primaryField(info.schema);
    const names = req.outputFields ?? [pk.name];
    const countOnly = names.length === 1 && names[0] === COUNT;
    if (!countOnly && names.includes(COUNT)) bad("count(*) cannot be combined with other output fields");
    const limit = req.limit;
    const offset = req.offset ?? 0;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
      bad(`limit must be a positive integer, got ${limit}`);
    if (!Number.isInteger(offset) || offset < 0) bad(`offset must be a non-negative integer, got ${offset}`);
    const hasFilter = req.filter !== undefined && req.filter.trim() !== "";
    if (!hasFilter && req.ids === undefined && limit === undefined && !countOnly) {
      bad("a query needs a filter, ids, a limit, or count(*)");
    }
    let filter: ExprPlan | undefined;
    if (hasFilter || req.ids !== undefined) {
      const parts: string[] = [];
      if (hasFilter) parts.push(`(${req.filter})`);
      const templateValues: Record<string, readonly (bigint | string)[]> = {};
      if (req.ids !== undefined) {
        const ids = validatePks(info.schema, req.ids);
        templateValues.__strata_ids = [...ids];
        parts.push(`${pk.name} in {__strata_ids}`);
      }
      filter = compileFilter(parts.join(" and "), info.schema, { templateValues });
    }
    const output = countOnly ? [] : this.#outputFields(info, names);
    const scopes = await this.#scopes(info, req, filter);
    const perNode = await Promise.all(
      scopes.map(({ node, scope }) =>
        node.query({
          outputFieldIds: [...new Set([pk.fieldId, ...output.map((f) => f.fieldId)])],
          ...(limit === undefined ? {} : { limit: limit + offset }),
          countOnly,
          ...scope,
        }),
      ),
    );
    if (countOnly)
      return { output: [], columns: [], rows: 0, count: perNode.reduce((n, r) => n + r.count, 0) };
    const page = pageOf(perNode, offset, limit);
    const columns = output.map((f) => ({ fieldId: f.fieldId, column: gatherPage(perNode, f.fieldId, page) }));
    return { output, columns, rows: page.row.length };
  }
}

function rowFields(
  output: readonly FieldSchema[],
  cols: readonly FieldColumn[],
  i: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of output) {
    const c = cols.find((x) => x.fieldId === f.fieldId)?.column;
    if (c !== undefined) out[f.name] = valueAt(c, i);
  }
  return out;
}

const isUnloaded = (s: PartitionState): boolean =>
  s === PartitionState.NOT_PRESENT || s === PartitionState.NOT_EXIST;

/** The states a load state or progress is about: the named partitions, or (none named) those a load asked for. */
function requested(
  states: readonly PartitionState[],
  partitions: readonly string[] | undefined,
): PartitionState[] {
  return partitions === undefined || partitions.length === 0
    ? states.filter((s) => !isUnloaded(s))
    : [...states];
}

/**
 * The vector field a search runs on: the one named, or the collection's only one.
 * @throws StrataError ParameterInvalid for a name that is not a vector field, or no name with several.
 */
export function annsFieldOf(info: CollectionInfo, name: string | undefined): FieldSchema {
  const vectors = info.schema.fields.filter((f) => isVectorType(f.dataType));
  const field = name === undefined ? vectors[0] : vectors.find((f) => f.name === name);
  if (field === undefined) bad(`anns field ${name ?? ""} is not a vector field of ${info.schema.name}`);
  if (name === undefined && vectors.length > 1)
    bad("the collection has several vector fields: name the one to search (annsField / anns_field)");
  return field;
}

/**
 * The search-time parameters a search hands its query nodes: `params` validated against the
 * index on the searched field (empty with no index, an exact index, or no parameter it takes).
 * @throws StrataError ParameterInvalid for a value out of its range, not an integer, or an `ef`
 *   below `topk` (a candidate list shorter than the answer, which Milvus refuses too).
 */
export function searchParamsFor(
  index: Pick<IndexDefinition, "resolvedType"> | undefined,
  params: SearchRequest["params"],
  topk: number,
): Record<string, number> {
  if (params === undefined) return {};
  if (params === null || typeof params !== "object" || Array.isArray(params))
    bad(
      `search params must be an object of name → value, got ${Array.isArray(params) ? "an array" : JSON.stringify(params)}`,
    );
  if (index === undefined) return {};
  const out = resolveSearchParams(index.resolvedType, params);
  const ef = out.ef;
  if (ef !== undefined && ef < topk)
    bad(`ef (${ef}) must be at least topk (${topk}): raise ef or lower limit + offset`);
  return out;
}

function defaultMetric(t: DataType): MetricType {
  if (t === DataType.BinaryVector) return "HAMMING";
  if (t === DataType.SparseFloatVector) return "IP";
  return "L2";
}

function queryVectors(
  field: FieldSchema,
  data: SearchRequest["data"],
): { queries: Float32Array | Uint8Array | readonly SparseRow[]; nq: number } {
  const dim = field.dim ?? 0;
  if (field.dataType === DataType.SparseFloatVector) {
    const rows = data as readonly SparseRow[];
    if (!Array.isArray(rows) || rows.length === 0) bad("search needs at least one query vector");
    if (rows.length > MAX_NQ) bad(`at most ${MAX_NQ} query vectors, got ${rows.length}`);
    return { queries: rows, nq: rows.length };
  }
  if (field.dataType === DataType.BinaryVector) {
    const width = dim / 8;
    let bytes: Uint8Array;
    if (data instanceof Uint8Array) bytes = data;
    else {
      const rows = data as readonly ArrayLike<number>[];
      bytes = new Uint8Array(rows.length * width);
      rows.forEach((r, i) => {
        if (r.length !== width) bad(`query ${i} has ${r.length} bytes, expected ${width}`);
        bytes.set(Array.from(r), i * width);
      });
    }
    if (bytes.length === 0 || bytes.length % width !== 0)
      bad(`query vectors must be whole rows of ${width} bytes`);
    const nq = bytes.length / width;
    if (nq > MAX_NQ) bad(`at most ${MAX_NQ} query vectors, got ${nq}`);
    return { queries: bytes, nq };
  }
  let flat: Float32Array;
  if (data instanceof Float32Array) flat = data;
  else {
    const rows = data as readonly ArrayLike<number>[];
    flat = new Float32Array(rows.length * dim);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as ArrayLike<number>;
      if (r.length !== dim) bad(`query ${i} has dim ${r.length}, expected ${dim}`);
      flat.set(r, i * dim);
    }
  }
  if (flat.length === 0 || flat.length % dim !== 0) bad(`query vectors must be whole rows of dim ${dim}`);
  for (let i = 0; i < flat.length; i++) {
    const x = flat[i] as number;
    if (x - x !== 0) bad(`query vector ${Math.floor(i / dim)} contains ${x}`);
  }
  const nq = flat.length / dim;
  if (nq > MAX_NQ) bad(`at most ${MAX_NQ} query vectors, got ${nq}`);
  return { queries: flat, nq };
}

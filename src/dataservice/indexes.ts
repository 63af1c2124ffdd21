import { StrataError } from "../common/errors.ts";
import { decodeJsonBytes, encodeJsonBytes } from "../common/json.ts";
import type { Mutex } from "../common/mutex.ts";
import type { MetaKv } from "../kv/types.ts";
import type { IndexDefinition, NewIndexDefinition } from "./types.ts";

const PREFIX = "dataservice/index/";

function keyOf(collectionId: bigint, indexId: bigint): string {
  return `${PREFIX}${collectionId}/${indexId}`;
}

function sameDefinition(a: IndexDefinition, b: NewIndexDefinition): boolean {
  if (a.fieldId !== b.fieldId || a.indexName !== b.indexName) return false;
  if (a.indexType !== b.indexType || a.metricType !== b.metricType) return false;
  const ka = Object.keys(a.params).sort();
  const kb = Object.keys(b.params).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a.params[k] === b.params[k]);
}

/**
 * Index definitions per collection, persisted under `dataservice/index/<collection>/<index>`.
 * One index per vector field and unique names per collection, as Milvus. Mutations run under the
 * dataservice's lock and change memory only after the meta store accepted them.
 */
export class IndexCatalog {
  readonly #kv: MetaKv;
  readonly #mutex: Mutex;
  readonly #byCollection = new Map<bigint, IndexDefinition[]>();

  constructor(kv: MetaKv, mutex: Mutex) {
    this.#kv = kv;
    this.#mutex = mutex;
  }

  async load(): Promise<void> {
    this.#byCollection.clear();
    for (const e of await this.#kv.getPrefix(PREFIX)) {
      const d = decodeJsonBytes<IndexDefinition>(e.value, `index record ${e.key}`);
      const list = this.#byCollection.get(d.collectionId) ?? [];
      list.push(d);
      this.#byCollection.set(d.collectionId, list);
    }
  }

  list(collectionId: bigint): IndexDefinition[] {
    return [...(this.#byCollection.get(collectionId) ?? [])];
  }

  create(
    def: NewIndexDefinition,
    allocate: () => Promise<{ indexId: bigint; createTime: bigint }>,
  ): Promise<IndexDefinition> {
    return this.#mutex.run(async () => {
      const existing = this.#byCollection.get(def.collectionId) ?? [];
      const same = existing.find((d) => sameDefinition(d, def));
      if (same !== undefined) return same;
      const onField = existing.find((d) => d.fieldId === def.fieldId);
      if (onField !== undefined) {
        throw new StrataError(
          "ParameterInvalid",
          `field already has index ${onField.indexName} (${onField.indexType}, ${onField.metricType}) with different parameters; drop it first`,
        );
      }
      if (existing.some((d) => d.indexName === def.indexName)) {
        throw new StrataError(
          "ParameterInvalid",
          `index name ${def.indexName} is already used in this collection`,
        );
      }
      const { indexId, createTime } = await allocate();
      const full: IndexDefinition = { ...def, indexId, createTime };
      await this.#kv.put(keyOf(def.collectionId, indexId), encodeJsonBytes(full));
      this.#byCollection.set(def.collectionId, [...existing, full]);
      return full;
    });
  }

  drop(collectionId: bigint, indexName: string): Promise<IndexDefinition> {
    return this.#mutex.run(async () => {
      const existing = this.#byCollection.get(collectionId) ?? [];
      const d = existing.find((x) => x.indexName === indexName);
      if (d === undefined) throw new StrataError("IndexNotFound", `index ${indexName} not found`);
      await this.#kv.delete(keyOf(collectionId, d.indexId));
      this.#byCollection.set(
        collectionId,
        existing.filter((x) => x !== d),
      );
      return d;
    });
  }

  /** Removes every index of a dropped collection (caller holds the lock). Idempotent. */
  async dropCollection(collectionId: bigint): Promise<void> {
    await this.#kv.deletePrefix(`${PREFIX}${collectionId}/`);
    this.#byCollection.delete(collectionId);
  }
}

import type { IndexQueries, SearchParams, SearchResult, VectorIndex } from "../index/index.ts";

interface Part {
  readonly queries: IndexQueries;
  readonly nq: number;
  readonly resolve: (r: SearchResult) => void;
  readonly reject: (e: unknown) => void;
}

interface Batch {
  readonly index: VectorIndex;
  readonly k: number;
  readonly params: SearchParams;
  readonly parts: Part[];
}

function concat(parts: readonly Part[]): IndexQueries {
  const first = parts[0] as Part;
  let len = 0;
  for (const p of parts) len += p.queries.length;
  const out = first.queries instanceof Float32Array ? new Float32Array(len) : new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p.queries, at);
    at += p.queries.length;
  }
  return out;
}

function slice(r: SearchResult, from: number, nq: number): SearchResult {
  const k = r.topk;
  return {
    nq,
    topk: k,
    offsets: r.offsets.subarray(from * k, (from + nq) * k),
    scores: r.scores.subarray(from * k, (from + nq) * k),
  };
}

/**
 * Batches concurrent unfiltered searches of the same index (same k and parameters) into one
 * native call, which spreads its queries over the cores. A search that finds no other under way
 * runs at once, so a single client pays nothing; under concurrency, the requests that arrive in
 * one turn of the event loop go together at its check phase.
 */
export class IndexBatcher {
  /** Per index, per (k, parameters): the requests waiting for the next flush. */
  readonly #pending = new Map<VectorIndex, Map<string, Batch>>();
  #inFlight = 0;
  #scheduled = false;

  /** Callers bracket each request with these, so a lone request is never held back. */
  begin(): void {
    this.#inFlight++;
  }

  end(): void {
    this.#inFlight--;
  }

  search(
    index: VectorIndex,
    queries: IndexQueries,
    nq: number,
    k: number,
    params: SearchParams,
  ): Promise<SearchResult> {
    if (this.#inFlight <= 1 && this.#pending.size === 0) {
      try {
        return Promise.resolve(index.search(queries, nq, k, params));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    let byKey = this.#pending.get(index);
    if (byKey === undefined) {
      byKey = new Map();
      this.#pending.set(index, byKey);
    }
    const key = `${k}|${JSON.stringify(params)}`;
    let b = byKey.get(key);
    if (b === undefined) {
      b = { index, k, params, parts: [] };
      byKey.set(key, b);
    }
    const batch = b;
    const p = new Promise<SearchResult>((resolve, reject) =>
      batch.parts.push({ queries, nq, resolve, reject }),
    );
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return p;
  }

  #flush(): void {
    this.#scheduled = false;
    const batches = [...this.#pending.values()].flatMap((m) => [...m.values()]);
    this.#pending.clear();
    for (const b of batches) {
      if (b.parts.length === 1) {
        const p = b.parts[0] as Part;
        try {
          p.resolve(b.index.search(p.queries, p.nq, b.k, b.params));
        } catch (e) {
          p.reject(e);
        }
        continue;
      }
      let total = 0;
      for (const p of b.parts) total += p.nq;
      try {
        const r = b.index.search(concat(b.parts), total, b.k, b.params);
        let at = 0;
        for (const p of b.parts) {
          p.resolve(slice(r, at, p.nq));
          at += p.nq;
        }
      } catch {
        // One bad request must not fail the others: run each alone.
        for (const p of b.parts) {
          try {
            p.resolve(b.index.search(p.queries, p.nq, b.k, b.params));
          } catch (e) {
            p.reject(e);
          }
        }
      }
    }
  }
}

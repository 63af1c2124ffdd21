import { StrataError } from "../common/errors.ts";

/** One `%`-free piece of a pattern: code points, `null` standing for `_` (exactly one code point). */
type Segment = readonly (string | null)[];

interface Parsed {
  /** Pieces between `%` wildcards; length 1 means the pattern has no `%`. */
  readonly segments: readonly Segment[];
  readonly hasUnderscore: boolean;
}

/**
 * Parses a Milvus `like` pattern: `%` matches any sequence, `_` one character, and `\` makes the
 * next character literal.
 * @throws StrataError ParameterInvalid on a trailing lone backslash.
 */
function parsePattern(pattern: string, pos: number): Parsed {
  const segments: Segment[] = [];
  let cur: (string | null)[] = [];
  let hasUnderscore = false;
  const cps = Array.from(pattern);
  for (let i = 0; i < cps.length; i++) {
    const ch = cps[i] as string;
    if (ch === "\\") {
      const nextCh = cps[i + 1];
      if (nextCh === undefined) {
        throw new StrataError(
          "ParameterInvalid",
          `invalid filter expression: like pattern ${JSON.stringify(pattern)} ends with a lone "\\" at ${pos}`,
        );
      }
      cur.push(nextCh);
      i++;
    } else if (ch === "%") {
      segments.push(cur);
      cur = [];
    } else if (ch === "_") {
      cur.push(null);
      hasUnderscore = true;
    } else {
      cur.push(ch);
    }
  }
  segments.push(cur);
  return { segments, hasUnderscore };
}

export function validateLikePattern(pattern: string, pos: number): void {
  parsePattern(pattern, pos);
}

function matchAt(subj: ArrayLike<string>, at: number, seg: Segment): boolean {
  for (let j = 0; j < seg.length; j++) {
    const p = seg[j];
    if (p !== null && subj[at + j] !== p) return false;
  }
  return true;
}

function hasSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return true;
  }
  return false;
}

/**
 * Segments are matched greedily leftmost between the anchored first and last ones, which is exact
 * for `%` wildcards and costs O(text × pattern) at worst, never exponential like a backtracking regex.
 */
function globMatch(segments: readonly Segment[], s: string): boolean {
  const subj: ArrayLike<string> = hasSurrogate(s) ? Array.from(s) : s;
  const n = subj.length;
  const first = segments[0] as Segment;
  if (segments.length === 1) return n === first.length && matchAt(subj, 0, first);
  const last = segments[segments.length - 1] as Segment;
  if (first.length + last.length > n) return false;
  if (!matchAt(subj, 0, first) || !matchAt(subj, n - last.length, last)) return false;
  let pos = first.length;
  const limit = n - last.length;
  for (let k = 1; k < segments.length - 1; k++) {
    const seg = segments[k] as Segment;
    let found = -1;
    for (let at = pos; at + seg.length <= limit; at++) {
      if (matchAt(subj, at, seg)) {
        found = at;
        break;
      }
    }
    if (found < 0) return false;
    pos = found + seg.length;
  }
  return true;
}

/** Compiles a pattern to a predicate, choosing exact / prefix / suffix / infix fast paths as Milvus does. */
export function compileLike(pattern: string): (s: string) => boolean {
  const { segments, hasUnderscore } = parsePattern(pattern, 0);
  if (!hasUnderscore) {
    const lit = segments.map((s) => s.join(""));
    if (lit.length === 1) {
      const x = lit[0] as string;
      return (s) => s === x;
    }
    if (lit.every((s, i) => s === "" || i === 0)) {
      const x = lit[0] as string;
      return (s) => s.startsWith(x);
    }
    if (lit.every((s, i) => s === "" || i === lit.length - 1)) {
      const x = lit[lit.length - 1] as string;
      return (s) => s.endsWith(x);
    }
    const inner = lit.filter((s) => s !== "");
    if (inner.length === 1 && lit[0] === "" && lit[lit.length - 1] === "") {
      const x = inner[0] as string;
      return (s) => s.includes(x);
    }
  }
  return (s) => globMatch(segments, s);
}

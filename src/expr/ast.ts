/**
 * Syntax tree of a filter expression, produced by `parseExpr` before any schema is known. Every
 * node carries `pos`, a 0-based character offset into the text so planning errors can point at
 * it: the operator for binary and postfix operators (the first `and`/`or` of a chain, the first
 * comparison of a range), otherwise the node's first token.
 */

export type CmpOp = "==" | "!=" | "<" | "<=" | ">" | ">=";
export type ArithOp = "+" | "-" | "*" | "/" | "%";
/** A JSON path step or array index: strings select object members, numbers select array elements. */
export type PathKey = string | number;

export type FunctionName =
  | "json_contains"
  | "json_contains_all"
  | "json_contains_any"
  | "array_contains"
  | "array_contains_all"
  | "array_contains_any"
  | "array_length";

export type ExprAst =
  /** Integer literal, arbitrary precision here; the planner enforces the int64 range. */
  | { readonly kind: "int"; readonly pos: number; readonly value: bigint }
  | { readonly kind: "float"; readonly pos: number; readonly value: number }
  | { readonly kind: "string"; readonly pos: number; readonly value: string }
  | { readonly kind: "bool"; readonly pos: number; readonly value: boolean }
  /** `[a, b, ...]` */
  | { readonly kind: "list"; readonly pos: number; readonly items: readonly ExprAst[] }
  /** `{name}`: a value supplied at plan time (Milvus `expr_template_values`). */
  | { readonly kind: "template"; readonly pos: number; readonly name: string }
  /** A name with an optional chain of `[key]` steps: `age`, `meta["a"][0]`, `arr[2]`, `$meta["k"]`. */
  | { readonly kind: "field"; readonly pos: number; readonly name: string; readonly path: readonly PathKey[] }
  | { readonly kind: "neg"; readonly pos: number; readonly operand: ExprAst }
  | { readonly kind: "not"; readonly pos: number; readonly operand: ExprAst }
  | {
      readonly kind: "arith";
      readonly pos: number;
      readonly op: ArithOp;
      readonly left: ExprAst;
      readonly right: ExprAst;
    }
  | {
      readonly kind: "compare";
      readonly pos: number;
      readonly op: CmpOp;
      readonly left: ExprAst;
      readonly right: ExprAst;
    }
  /** A chained comparison, normalised to ascending order: `lower lowerOp operand upperOp upper`. */
  | {
      readonly kind: "range";
      readonly pos: number;
      readonly lower: ExprAst;
      readonly lowerOp: "<" | "<=";
      readonly operand: ExprAst;
      readonly upperOp: "<" | "<=";
      readonly upper: ExprAst;
    }
  | {
      readonly kind: "in";
      readonly pos: number;
      readonly negated: boolean;
      readonly operand: ExprAst;
      readonly list: ExprAst;
    }
  | {
      readonly kind: "like";
      readonly pos: number;
      readonly negated: boolean;
      readonly operand: ExprAst;
      readonly pattern: ExprAst;
    }
  | { readonly kind: "isNull"; readonly pos: number; readonly negated: boolean; readonly operand: ExprAst }
  | { readonly kind: "exists"; readonly pos: number; readonly operand: ExprAst }
  /** n-ary so that long `a or b or c ...` chains stay shallow. */
  | { readonly kind: "and"; readonly pos: number; readonly items: readonly ExprAst[] }
  | { readonly kind: "or"; readonly pos: number; readonly items: readonly ExprAst[] }
  | {
      readonly kind: "call";
      readonly pos: number;
      readonly name: FunctionName;
      readonly args: readonly ExprAst[];
    };

/** Hard limits, so a hostile expression cannot exhaust the stack, memory or CPU. */
export const MAX_EXPR_BYTES = 64 * 1024;
export const MAX_EXPR_DEPTH = 100;
export const MAX_LIST_ITEMS = 65_536;

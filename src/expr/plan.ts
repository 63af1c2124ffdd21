import type { DataType } from "../common/types.ts";
import type { ArithOp, CmpOp, PathKey } from "./ast.ts";
import type { ConstValue } from "./values.ts";

/**
 * Static type of a value node.
 * - int: `big` when held as int64 bigints (Int64 fields and arithmetic whose result may pass 2^53);
 *   otherwise exact doubles, with `bound` an upper bound of |value| used to pick the representation.
 * - float: `f32` when read straight from a Float (float32) field or array element, which makes a
 *   compared constant round to float32 first, as Milvus casts constants to the field's type.
 * - json: dynamically typed, decided per row.
 */
export type ValueType =
  | { readonly kind: "int"; readonly big: boolean; readonly bound: number }
  | { readonly kind: "float"; readonly f32: boolean }
  | { readonly kind: "string" }
  | { readonly kind: "bool" }
  | { readonly kind: "json" }
  | { readonly kind: "array"; readonly elementType: DataType }
  | { readonly kind: "list" };

export type ValueNode =
  | { readonly op: "const"; readonly value: ConstValue; readonly type: ValueType }
  /** A whole scalar or Array field. */
  | { readonly op: "field"; readonly fieldId: number; readonly type: ValueType }
  /** A path into a JSON field (empty path: the whole document). */
  | {
      readonly op: "json";
      readonly fieldId: number;
      readonly path: readonly PathKey[];
      readonly type: ValueType;
    }
  /** `arr[index]` of an Array field; rows too short have no value. */
  | { readonly op: "element"; readonly fieldId: number; readonly index: number; readonly type: ValueType }
  /** `array_length(x)` of an Array field or a JSON path (no value unless it is an array). */
  | { readonly op: "length"; readonly source: ValueNode; readonly type: ValueType }
  | {
      readonly op: "arith";
      readonly arith: ArithOp;
      readonly left: ValueNode;
      readonly right: ValueNode;
      readonly type: ValueType;
    }
  | { readonly op: "neg"; readonly operand: ValueNode; readonly type: ValueType }
  /** A predicate used as a boolean value, e.g. `(a > 1) == flag`. */
  | { readonly op: "pred"; readonly pred: PredNode; readonly type: ValueType };

export type PredNode =
  | { readonly op: "const"; readonly value: boolean }
  | { readonly op: "and"; readonly items: readonly PredNode[] }
  | { readonly op: "or"; readonly items: readonly PredNode[] }
  | { readonly op: "not"; readonly item: PredNode }
  | { readonly op: "cmp"; readonly cmp: CmpOp; readonly left: ValueNode; readonly right: ValueNode }
  | { readonly op: "in"; readonly operand: ValueNode; readonly values: readonly ConstValue[] }
  | { readonly op: "like"; readonly operand: ValueNode; readonly pattern: string }
  /** JSON only: the value is missing or JSON null. */
  | { readonly op: "isNull"; readonly operand: ValueNode }
  /** JSON only: the path is present (its value may be null). */
  | { readonly op: "exists"; readonly operand: ValueNode }
  | {
      readonly op: "contains";
      readonly mode: "one" | "all" | "any";
      readonly source: ValueNode;
      readonly values: readonly ConstValue[];
    }
  /** A boolean value used as a predicate: a Bool field, an array element, or a JSON value that is `true`. */
  | { readonly op: "truthy"; readonly operand: ValueNode };

export interface PlanField {
  readonly fieldId: number;
  readonly name: string;
  readonly dataType: DataType;
  /** For Array fields. */
  readonly elementType?: DataType;
}

/**
 * A typed, schema-resolved filter. Plain data (bigints aside): it can be structured-cloned to a
 * worker thread or another process and evaluated there.
 */
export interface ExprPlan {
  readonly root: PredNode;
  /** The fields the filter reads, by ascending field ID. */
  readonly fields: readonly PlanField[];
}

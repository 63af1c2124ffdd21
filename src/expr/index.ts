/**
 * Milvus' boolean filter expression language: `parseExpr` (syntax) → `planExpr` (names and types
 * against a schema) → `evaluate` (column-wise, into a one-byte-per-row bitset).
 */
import type { CollectionSchema } from "../common/schema.ts";
import { parseExpr } from "./parser.ts";
import type { ExprPlan } from "./plan.ts";
import { type PlanOptions, planExpr } from "./planner.ts";

export type { ArithOp, CmpOp, ExprAst, FunctionName, PathKey } from "./ast.ts";
export { MAX_EXPR_BYTES, MAX_EXPR_DEPTH, MAX_LIST_ITEMS } from "./ast.ts";
export { evaluate, fieldsOf } from "./evaluate.ts";
export { parseExpr } from "./parser.ts";
export type { ExprPlan, PlanField, PredNode, ValueNode, ValueType } from "./plan.ts";
export { type PlanOptions, planExpr, type TemplateValue } from "./planner.ts";
export type { ConstValue } from "./values.ts";

/**
 * Parses and plans in one step.
 * @throws StrataError ParameterInvalid / ParameterTooLarge, as `parseExpr` and `planExpr`.
 */
export function compileFilter(text: string, schema: CollectionSchema, options?: PlanOptions): ExprPlan {
  return planExpr(parseExpr(text), schema, options);
}

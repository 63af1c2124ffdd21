import { StrataError } from "../common/errors.ts";
import type { CollectionSchema, FieldSchema } from "../common/schema.ts";
import { DataType, dataTypeName, isVectorType, MAX_ARRAY_CAPACITY } from "../common/types.ts";
import {
  type ArithOp,
  type CmpOp,
  type ExprAst,
  MAX_EXPR_DEPTH,
  MAX_LIST_ITEMS,
  type PathKey,
} from "./ast.ts";
import { compileLike, validateLikePattern } from "./like.ts";
import type { ExprPlan, PlanField, PredNode, ValueNode, ValueType } from "./plan.ts";
import { applyCmp, type ConstValue, cmpScalars, ValueIndex } from "./values.ts";

/**
 * A value for a `{name}` placeholder (Milvus `expr_template_values`). Integers must be bigints to
 * be typed as integers; a number is always a float.
 */
export type TemplateValue = bigint | number | string | boolean | readonly TemplateValue[];

export interface PlanOptions {
  readonly templateValues?: Readonly<Record<string, TemplateValue>>;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const BIG: ValueType = { kind: "int", big: true, bound: 2 ** 63 };
const FLOAT: ValueType = { kind: "float", f32: false };
const BOOL: ValueType = { kind: "bool" };
const STRING: ValueType = { kind: "string" };
const JSON_T: ValueType = { kind: "json" };
const LIST: ValueType = { kind: "list" };

function fail(message: string, pos: number): never {
  throw new StrataError("ParameterInvalid", `invalid filter expression: ${message} at ${pos}`);
}

function typeOfData(dt: DataType): ValueType | undefined {
  switch (dt) {
    case DataType.Bool:
      return BOOL;
    case DataType.Int8:
      return { kind: "int", big: false, bound: 2 ** 7 };
    case DataType.Int16:
      return { kind: "int", big: false, bound: 2 ** 15 };
    case DataType.Int32:
      return { kind: "int", big: false, bound: 2 ** 31 };
    case DataType.Int64:
      return BIG;
    case DataType.Float:
      return { kind: "float", f32: true };
    case DataType.Double:
      return FLOAT;
    case DataType.VarChar:
    case DataType.String:
      return STRING;
    case DataType.JSON:
      return JSON_T;
    default:
      return undefined;
  }
}

function constType(v: ConstValue): ValueType {
  if (typeof v === "bigint") return { kind: "int", big: false, bound: Math.abs(Number(v)) };
  if (typeof v === "number") return FLOAT;
  if (typeof v === "string") return STRING;
  if (typeof v === "boolean") return BOOL;
  return LIST;
}

function mkConst(value: ConstValue): ValueNode {
  return { op: "const", value, type: constType(value) };
}

function typeName(t: ValueType): string {
  switch (t.kind) {
    case "int":
      return "integer";
    case "float":
      return "float";
    case "string":
      return "string";
    case "bool":
      return "boolean";
    case "json":
      return "JSON";
    case "array":
      return `Array<${dataTypeName(t.elementType) ?? t.elementType}>`;
    case "list":
      return "list";
  }
}

function show(v: ConstValue): string {
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? Number(x) : x)) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function isNumericType(t: ValueType): boolean {
  return t.kind === "int" || t.kind === "float";
}

function isNumericConst(v: ConstValue): v is number | bigint {
  return typeof v === "number" || typeof v === "bigint";
}

function wrap64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

/**
 * Resolves names against the schema, checks types and folds constants.
 * @throws StrataError ParameterInvalid naming the problem and its position (unknown field, type
 *   mismatch, vector field, division by a constant zero, ...); ParameterTooLarge for a template
 *   list longer than 65,536 items.
 */
export function planExpr(ast: ExprAst, schema: CollectionSchema, options: PlanOptions = {}): ExprPlan {
  const p = new Planner(schema, options);
  const root = p.pred(ast);
  return { root, fields: p.usedFields() };
}

class Planner {
  private readonly used = new Map<number, PlanField>();
  private readonly dynamic: FieldSchema | undefined;

  constructor(
    private readonly schema: CollectionSchema,
    private readonly options: PlanOptions,
  ) {
    this.dynamic = schema.enableDynamicField ? schema.fields.find((f) => f.isDynamic) : undefined;
  }

  usedFields(): PlanField[] {
    return [...this.used.values()].sort((a, b) => a.fieldId - b.fieldId);
  }

  private use(f: FieldSchema): void {
    if (this.used.has(f.fieldId)) return;
    const pf: PlanField =
      f.elementType === undefined
        ? { fieldId: f.fieldId, name: f.name, dataType: f.dataType }
        : { fieldId: f.fieldId, name: f.name, dataType: f.dataType, elementType: f.elementType };
    this.used.set(f.fieldId, pf);
  }

  /** Names a value in error messages: `VarChar field "s"`, `JSON path meta["a"]`, `integer 1`. */
  private label(ast: ExprAst, v: ValueNode): string {
    if (ast.kind === "field") {
      const steps = ast.path.map((k) => `[${JSON.stringify(k)}]`).join("");
      if (v.op === "json") return `JSON path ${ast.name}${steps}`;
      const f = this.schema.fields.find((x) => x.name === ast.name);
      const tn = f === undefined ? typeName(v.type) : (dataTypeName(f.dataType) ?? typeName(v.type));
      if (v.op === "element") {
        const et = f?.elementType === undefined ? typeName(v.type) : dataTypeName(f.elementType);
        return `${et} element ${ast.name}${steps}`;
      }
      if (v.op === "field" && v.type.kind === "array")
        return `Array<${dataTypeName(v.type.elementType)}> field "${ast.name}"`;
      return `${tn} field "${ast.name}"`;
    }
    if (v.op === "const") return `${typeName(v.type)} ${show(v.value)}`;
    return `${typeName(v.type)} expression`;
  }

  // ---- predicates ----

  pred(ast: ExprAst): PredNode {
    switch (ast.kind) {
      case "and":
      case "or":
        return this.logical(ast.kind, ast.items);
      case "not": {
        const p = this.pred(ast.operand);
        if (p.op === "const") return { op: "const", value: !p.value };
        if (p.op === "not") return p.item;
        return { op: "not", item: p };
      }
      case "compare":
        return this.compare(ast.op, ast.left, ast.right, ast.pos);
      case "range": {
        const mid = this.value(ast.operand);
        const lo = this.compareNodes(
          ast.lowerOp,
          ast.lower,
          this.value(ast.lower),
          ast.operand,
          mid,
          ast.pos,
        );
        const hi = this.compareNodes(
          ast.upperOp,
          ast.operand,
          mid,
          ast.upper,
          this.value(ast.upper),
          ast.pos,
        );
        return this.combine("and", [lo, hi]);
      }
      case "in":
        return this.negate(ast.negated, this.inList(ast));
      case "like":
        return this.negate(ast.negated, this.like(ast));
      case "isNull":
        return this.negate(ast.negated, this.isNull(ast.operand, ast.pos));
      case "exists": {
        const v = this.value(ast.operand);
        if (v.op !== "json")
          fail(
            `exists needs a JSON path such as exists meta["key"], got ${this.label(ast.operand, v)}`,
            ast.pos,
          );
        return { op: "exists", operand: v };
      }
      case "call":
        if (ast.name !== "array_length") return this.contains(ast);
        return this.truthy(ast, this.value(ast));
      default:
        return this.truthy(ast, this.value(ast));
    }
  }

  private negate(negated: boolean, p: PredNode): PredNode {
    if (!negated) return p;
    if (p.op === "const") return { op: "const", value: !p.value };
    return { op: "not", item: p };
  }

  private logical(op: "and" | "or", asts: readonly ExprAst[]): PredNode {
    // Plan every operand before folding, so a type error is reported even behind a constant.
    return this.combine(
      op,
      asts.map((a) => this.pred(a)),
    );
  }

  private combine(op: "and" | "or", parts: readonly PredNode[]): PredNode {
    const absorbing = op === "or";
    const items: PredNode[] = [];
    for (const p of parts) {
      if (p.op === "const") {
        if (p.value === absorbing) return { op: "const", value: absorbing };
        continue;
      }
      if (p.op === op) for (const q of p.items) items.push(q);
      else items.push(p);
    }
    if (items.length === 0) return { op: "const", value: !absorbing };
    if (items.length === 1) return items[0] as PredNode;
    return { op, items };
  }

  private truthy(ast: ExprAst, v: ValueNode): PredNode {
    if (v.op === "const") {
      if (typeof v.value === "boolean") return { op: "const", value: v.value };
    } else if (v.op === "pred") {
      return v.pred;
    } else if (v.type.kind === "bool" || v.type.kind === "json") {
      return { op: "truthy", operand: v };
    }
    return fail(`${this.label(ast, v)} is not a boolean expression`, ast.pos);
  }

  private compare(op: CmpOp, left: ExprAst, right: ExprAst, pos: number): PredNode {
    return this.compareNodes(op, left, this.value(left), right, this.value(right), pos);
  }

  private compareNodes(
    op: CmpOp,
    la: ExprAst,
    l: ValueNode,
    ra: ExprAst,
    r: ValueNode,
    pos: number,
  ): PredNode {
    const lk = l.type.kind;
    const rk = r.type.kind;
    const eqOnly = op === "==" || op === "!=";
    const arrayish = (k: string) => k === "array" || k === "list";
    let ok: boolean;
    if (lk === "json" || rk === "json") ok = !(arrayish(lk) || arrayish(rk)) || eqOnly;
    else if (isNumericType(l.type) && isNumericType(r.type)) ok = true;
    else if (lk === "string" && rk === "string") ok = true;
    else if (lk === "bool" && rk === "bool") {
      if (!eqOnly) fail(`booleans can only be compared with == or !=, not ${op}`, pos);
      ok = true;
    } else if (arrayish(lk) && arrayish(rk)) {
      if (!eqOnly) fail(`arrays can only be compared with == or !=, not ${op}`, pos);
      ok = true;
    } else ok = false;
    if (!ok) fail(`cannot compare ${this.label(la, l)} with ${this.label(ra, r)}`, pos);
    const left = roundFor(r, l);
    const right = roundFor(l, r);
    if (left.op === "const" && right.op === "const") {
      return { op: "const", value: applyCmp(op, cmpScalars(left.value, right.value)) };
    }
    return { op: "cmp", cmp: op, left, right };
  }

  private constList(ast: ExprAst, what: string, pos: number): readonly ConstValue[] {
    const v = this.value(ast);
    if (v.op !== "const" || !Array.isArray(v.value))
      fail(`${what} needs a list of constants such as [1, 2]`, pos);
    return v.value as readonly ConstValue[];
  }

  private inList(ast: ExprAst & { kind: "in" }): PredNode {
    const operand = this.value(ast.operand);
    let values = this.constList(ast.list, "in", ast.list.pos);
    const t = operand.type;
    if (t.kind === "array" || t.kind === "list") {
      fail(`"in" does not apply to ${this.label(ast.operand, operand)}; use array_contains_any`, ast.pos);
    }
    if (t.kind !== "json") for (const v of values) this.checkScalar(t, v, ast.operand, operand, ast.pos);
    if (t.kind === "float" && t.f32)
      values = values.map((v) => (isNumericConst(v) ? Math.fround(Number(v)) : v));
    if (operand.op === "const")
      return { op: "const", value: new ValueIndex(values).indexOf(operand.value) >= 0 };
    return { op: "in", operand, values };
  }

  /** Checks that constant v can be compared with a value of static type t. */
  private checkScalar(t: ValueType, v: ConstValue, ast: ExprAst, node: ValueNode, pos: number): void {
    const ok =
      t.kind === "int" || t.kind === "float"
        ? isNumericConst(v)
        : t.kind === "string"
          ? typeof v === "string"
          : t.kind === "bool"
            ? typeof v === "boolean"
            : true;
    if (!ok) fail(`cannot compare ${this.label(ast, node)} with ${typeName(constType(v))} ${show(v)}`, pos);
  }

  private like(ast: ExprAst & { kind: "like" }): PredNode {
    const operand = this.value(ast.operand);
    if (operand.type.kind !== "string" && operand.type.kind !== "json") {
      fail(`like needs a VarChar or JSON operand, got ${this.label(ast.operand, operand)}`, ast.pos);
    }
    const pat = this.value(ast.pattern);
    if (pat.op !== "const" || typeof pat.value !== "string") {
      fail(`like needs a string pattern, got ${this.label(ast.pattern, pat)}`, ast.pattern.pos);
    }
    const pattern = pat.value as string;
    validateLikePattern(pattern, ast.pattern.pos);
    if (operand.op === "const") {
      return { op: "const", value: typeof operand.value === "string" && compileLike(pattern)(operand.value) };
    }
    return { op: "like", operand, pattern };
  }

  private isNull(ast: ExprAst, pos: number): PredNode {
    const v = ast.kind === "field" ? this.value(ast) : undefined;
    if (v === undefined || (v.op !== "json" && v.op !== "field")) {
      return fail("is null applies to a field or a JSON path", pos);
    }
    // Strata fields are not nullable: only JSON values can be null or missing.
    if (v.op === "field") return { op: "const", value: false };
    return { op: "isNull", operand: v };
  }

  private contains(ast: ExprAst & { kind: "call" }): PredNode {
    const name = ast.name;
    const mode = name.endsWith("_all") ? "all" : name.endsWith("_any") ? "any" : "one";
    if (ast.args.length !== 2) fail(`${name} takes 2 arguments, got ${ast.args.length}`, ast.pos);
    const [sa, va] = ast.args as [ExprAst, ExprAst];
    const source = this.value(sa);
    const isArrayField = source.op === "field" && source.type.kind === "array";
    if (!isArrayField && source.type.kind !== "json") {
      fail(`${name} needs an Array or JSON field, got ${this.label(sa, source)}`, sa.pos);
    }
    let values: readonly ConstValue[];
    if (mode === "one") {
      const v = this.value(va);
      if (v.op !== "const") fail(`${name} needs a constant to look for, got ${this.label(va, v)}`, va.pos);
      values = [v.value as ConstValue];
    } else {
      values = this.constList(va, name, va.pos);
    }
    if (source.type.kind === "array") {
      const et = typeOfData(source.type.elementType);
      if (et !== undefined) {
        for (const v of values) this.checkScalar(et, v, sa, source, va.pos);
        if (et.kind === "float" && et.f32) values = values.map((v) => Math.fround(Number(v)));
      }
    }
    return { op: "contains", mode, source, values };
  }

  // ---- values ----

  value(ast: ExprAst): ValueNode {
    switch (ast.kind) {
      case "int":
        return mkConst(this.int64(ast.value, ast.pos));
      case "float":
        return mkConst(ast.value);
      case "string":
        return mkConst(ast.value);
      case "bool":
        return mkConst(ast.value);
      case "list": {
        const items = ast.items.map((it) => {
          const v = this.value(it);
          if (v.op !== "const") fail(`list items must be constants, got ${this.label(it, v)}`, it.pos);
          return v.value as ConstValue;
        });
        return mkConst(items);
      }
      case "template":
        return mkConst(this.template(ast.name, ast.pos));
      case "field":
        return this.field(ast);
      case "neg":
        return this.neg(ast);
      case "arith":
        return this.arith(ast.op, ast.left, ast.right, ast.pos);
      case "call":
        if (ast.name === "array_length") return this.length(ast);
        return this.predValue(ast);
      default:
        return this.predValue(ast);
    }
  }

  private predValue(ast: ExprAst): ValueNode {
    const p = this.pred(ast);
    if (p.op === "const") return mkConst(p.value);
    if (p.op === "truthy" && p.operand.type.kind === "bool") return p.operand;
    return { op: "pred", pred: p, type: BOOL };
  }

  private int64(v: bigint, pos: number): bigint {
    if (v < INT64_MIN || v > INT64_MAX) fail(`integer ${v} is out of the int64 range`, pos);
    return v;
  }

  private template(name: string, pos: number): ConstValue {
    const all = this.options.templateValues;
    const tv = all !== undefined && Object.hasOwn(all, name) ? all[name] : undefined;
    if (tv === undefined) fail(`template variable {${name}} has no value`, pos);
    const convert = (v: unknown, depth: number): ConstValue => {
      if (depth > MAX_EXPR_DEPTH) fail(`template variable {${name}} is nested too deeply`, pos);
      if (typeof v === "bigint") return this.int64(v, pos);
      if (typeof v === "number") {
        if (!Number.isFinite(v)) fail(`template variable {${name}} is not a finite number`, pos);
        return v;
      }
      if (typeof v === "string" || typeof v === "boolean") return v;
      if (Array.isArray(v)) {
        if (v.length > MAX_LIST_ITEMS) {
          throw new StrataError(
            "ParameterTooLarge",
            `invalid filter expression: template variable {${name}} has ${v.length} items, more than ${MAX_LIST_ITEMS} at ${pos}`,
          );
        }
        return v.map((x: unknown) => convert(x, depth + 1));
      }
      return fail(`template variable {${name}} has an unsupported value`, pos);
    };
    return convert(tv, 0);
  }

  private field(ast: ExprAst & { kind: "field" }): ValueNode {
    const { name, path, pos } = ast;
    const dyn = this.dynamic;
    if (name === "$meta") {
      if (dyn === undefined)
        fail(`field "$meta" not found: collection ${this.schema.name} has no dynamic field`, pos);
      return this.jsonPath(dyn, path);
    }
    const f = this.schema.fields.find((x) => x.name === name && !x.isDynamic);
    if (f === undefined) {
      if (dyn !== undefined) return this.jsonPath(dyn, [name, ...path]);
      return fail(`field "${name}" not found in collection ${this.schema.name}`, pos);
    }
    const tn = dataTypeName(f.dataType) ?? String(f.dataType);
    if (isVectorType(f.dataType)) fail(`vector field "${name}" cannot be used in a filter`, pos);
    if (f.dataType === DataType.JSON) return this.jsonPath(f, path);
    if (f.dataType === DataType.Array) {
      const et = f.elementType;
      const elType = et === undefined ? undefined : typeOfData(et);
      if (et === undefined || elType === undefined)
        return fail(`Array field "${name}" has no usable element type`, pos);
      this.use(f);
      if (path.length === 0)
        return { op: "field", fieldId: f.fieldId, type: { kind: "array", elementType: et } };
      const idx = path[0];
      if (path.length !== 1 || typeof idx !== "number") {
        fail(`Array field "${name}" takes one integer index, such as ${name}[0]`, pos);
      }
      return { op: "element", fieldId: f.fieldId, index: idx as number, type: elType };
    }
    const t = typeOfData(f.dataType);
    if (t === undefined) return fail(`field "${name}" of type ${tn} cannot be used in a filter`, pos);
    if (path.length > 0) fail(`field "${name}" is ${tn}, not JSON or Array, and cannot be indexed`, pos);
    this.use(f);
    return { op: "field", fieldId: f.fieldId, type: t };
  }

  private jsonPath(f: FieldSchema, path: readonly PathKey[]): ValueNode {
    this.use(f);
    return { op: "json", fieldId: f.fieldId, path, type: JSON_T };
  }

  private numericOperand(ast: ExprAst, v: ValueNode, what: string): void {
    if (!isNumericType(v.type) && v.type.kind !== "json") {
      fail(`${what} needs numbers, got ${this.label(ast, v)}`, ast.pos);
    }
  }

  private neg(ast: ExprAst & { kind: "neg" }): ValueNode {
    if (ast.operand.kind === "int") return mkConst(this.int64(-ast.operand.value, ast.pos));
    const v = this.value(ast.operand);
    this.numericOperand(ast.operand, v, "unary minus");
    if (v.op === "const") {
      const c = v.value;
      return mkConst(typeof c === "bigint" ? wrap64(-c) : -(c as number));
    }
    const type = v.type.kind === "int" ? v.type : FLOAT;
    return { op: "neg", operand: v, type };
  }

  private arith(op: ArithOp, la: ExprAst, ra: ExprAst, pos: number): ValueNode {
    const l = this.value(la);
    const r = this.value(ra);
    this.numericOperand(la, l, `operator ${op}`);
    this.numericOperand(ra, r, `operator ${op}`);
    if ((op === "/" || op === "%") && r.op === "const" && Number(r.value) === 0)
      fail("division by zero", pos);
    if (l.op === "const" && r.op === "const") return mkConst(foldArith(op, l.value, r.value));
    const lt = l.type;
    const rt = r.type;
    if (lt.kind !== "int" || rt.kind !== "int")
      return { op: "arith", arith: op, left: l, right: r, type: FLOAT };
    let bound: number;
    switch (op) {
      case "+":
      case "-":
        bound = lt.bound + rt.bound;
        break;
      case "*":
        bound = lt.bound * rt.bound;
        break;
      case "/":
        bound = lt.bound;
        break;
      case "%":
        bound = Math.min(lt.bound, rt.bound);
        break;
    }
    const big = lt.big || rt.big || bound > Number.MAX_SAFE_INTEGER;
    return {
      op: "arith",
      arith: op,
      left: l,
      right: r,
      type: big ? BIG : { kind: "int", big: false, bound },
    };
  }

  private length(ast: ExprAst & { kind: "call" }): ValueNode {
    if (ast.args.length !== 1) fail(`array_length takes 1 argument, got ${ast.args.length}`, ast.pos);
    const a = ast.args[0] as ExprAst;
    const source = this.value(a);
    if (source.op === "field" && source.type.kind === "array") {
      return { op: "length", source, type: { kind: "int", big: false, bound: MAX_ARRAY_CAPACITY } };
    }
    if (source.op === "json")
      return { op: "length", source, type: { kind: "int", big: false, bound: 2 ** 32 } };
    return fail(`array_length needs an Array or JSON field, got ${this.label(a, source)}`, a.pos);
  }
}

/** Constant arithmetic with the runtime's semantics: int64 wrapping, truncating integer division. */
function foldArith(op: ArithOp, a: ConstValue, b: ConstValue): ConstValue {
  if (typeof a === "bigint" && typeof b === "bigint") {
    switch (op) {
      case "+":
        return wrap64(a + b);
      case "-":
        return wrap64(a - b);
      case "*":
        return wrap64(a * b);
      case "/":
        return wrap64(a / b);
      case "%":
        return a % b;
    }
  }
  const x = Number(a);
  const y = Number(b);
  switch (op) {
    case "+":
      return x + y;
    case "-":
      return x - y;
    case "*":
      return x * y;
    case "/":
      return x / y;
    case "%":
      return x % y;
  }
}

/** A constant compared with a float32 value is rounded to float32, as Milvus casts it to the field type. */
function roundFor(other: ValueNode, self: ValueNode): ValueNode {
  if (self.op !== "const") return self;
  const t = other.type;
  const v = self.value;
  if (t.kind === "float" && t.f32 && isNumericConst(v)) return mkConst(Math.fround(Number(v)));
  if (t.kind === "array" && t.elementType === DataType.Float && Array.isArray(v)) {
    return mkConst(v.map((x: ConstValue) => (isNumericConst(x) ? Math.fround(Number(x)) : x)));
  }
  return self;
}

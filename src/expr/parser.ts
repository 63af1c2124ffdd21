import { StrataError } from "../common/errors.ts";
import {
  type CmpOp,
  type ExprAst,
  type FunctionName,
  MAX_EXPR_BYTES,
  MAX_EXPR_DEPTH,
  MAX_LIST_ITEMS,
  type PathKey,
} from "./ast.ts";
import { type Punct, syntaxError, type Token, tokenize } from "./lexer.ts";

const FUNCTIONS: ReadonlySet<string> = new Set<FunctionName>([
  "json_contains",
  "json_contains_all",
  "json_contains_any",
  "array_contains",
  "array_contains_all",
  "array_contains_any",
  "array_length",
]);

/** Words that can never name a field; matched case-insensitively, as Milvus does for `and`/`AND`. */
const KEYWORDS: ReadonlySet<string> = new Set([
  "and",
  "or",
  "not",
  "in",
  "like",
  "is",
  "null",
  "exists",
  "true",
  "false",
]);

const CMP_OPS: ReadonlySet<string> = new Set(["==", "!=", "<", "<=", ">", ">="]);

/**
 * Parses the text of a filter expression into a syntax tree. Syntax only: names are not resolved
 * and types are not checked (that is `planExpr`).
 * @throws StrataError ParameterInvalid for a syntax error, with the 0-based character position;
 *   ParameterTooLarge when the text is longer than 64 KiB (UTF-8) or a list has over 65,536 items.
 */
export function parseExpr(text: string): ExprAst {
  if (typeof text !== "string")
    throw new StrataError("ParameterInvalid", "filter expression must be a string");
  if (text.length > MAX_EXPR_BYTES || Buffer.byteLength(text, "utf8") > MAX_EXPR_BYTES) {
    throw new StrataError(
      "ParameterTooLarge",
      `filter expression is longer than ${MAX_EXPR_BYTES} bytes (${Buffer.byteLength(text, "utf8")})`,
    );
  }
  return new Parser(text).parseAll();
}

function describe(tok: Token, src: string): string {
  if (tok.t === "eof") return "end of expression";
  const raw = src.slice(tok.pos, tok.end);
  return JSON.stringify(raw.length > 24 ? `${raw.slice(0, 24)}…` : raw);
}

class Parser {
  private readonly toks: Token[];
  private i = 0;
  private nest = 0;
  /** Height of each built subtree, so over-deep trees are refused as they are built. */
  private readonly heights = new WeakMap<ExprAst, number>();

  constructor(private readonly src: string) {
    this.toks = tokenize(src);
  }

  parseAll(): ExprAst {
    if (this.peek().t === "eof") syntaxError("empty expression", 0);
    const e = this.parseOr();
    const tok = this.peek();
    if (tok.t !== "eof") this.unexpected(tok);
    return e;
  }

  private peek(offset = 0): Token {
    const t = this.toks[Math.min(this.i + offset, this.toks.length - 1)];
    if (t === undefined) throw new Error("token stream is never empty");
    return t;
  }

  private next(): Token {
    const t = this.peek();
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }

  private unexpected(tok: Token): never {
    if (tok.t === "eof") return syntaxError("unexpected end of expression", tok.pos);
    return syntaxError(`unexpected token ${describe(tok, this.src)}`, tok.pos);
  }

  private isPunct(p: Punct, offset = 0): boolean {
    const t = this.peek(offset);
    return t.t === "punct" && t.text === p;
  }

  private isKeyword(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.t === "ident" && t.text.toLowerCase() === word;
  }

  private expectPunct(p: Punct): Token {
    const t = this.peek();
    if (t.t === "punct" && t.text === p) return this.next();
    if (t.t === "eof") return syntaxError(`expected ${JSON.stringify(p)} but reached the end`, t.pos);
    return syntaxError(`expected ${JSON.stringify(p)} but found ${describe(t, this.src)}`, t.pos);
  }

  private enter(pos: number): void {
    if (++this.nest > MAX_EXPR_DEPTH) {
      syntaxError(`expression nested more than ${MAX_EXPR_DEPTH} levels deep`, pos);
    }
  }

  private leave(): void {
    this.nest--;
  }

  private mk<T extends ExprAst>(node: T, children: readonly ExprAst[]): T {
    let h = 0;
    for (const c of children) h = Math.max(h, this.heights.get(c) ?? 1);
    if (h + 1 > MAX_EXPR_DEPTH) {
      syntaxError(`expression nested more than ${MAX_EXPR_DEPTH} levels deep`, node.pos);
    }
    this.heights.set(node, h + 1);
    return node;
  }

  private parseOr(): ExprAst {
    const first = this.parseAnd();
    if (!this.isOr()) return first;
    const items = [first];
    const pos = this.peek().pos;
    while (this.isOr()) {
      this.next();
      items.push(this.parseAnd());
    }
    return this.mk({ kind: "or", pos, items }, items);
  }

  private isOr(): boolean {
    return this.isPunct("||") || this.isKeyword("or");
  }

  private isAnd(): boolean {
    return this.isPunct("&&") || this.isKeyword("and");
  }

  private parseAnd(): ExprAst {
    const first = this.parseNot();
    if (!this.isAnd()) return first;
    const items = [first];
    const pos = this.peek().pos;
    while (this.isAnd()) {
      this.next();
      items.push(this.parseNot());
    }
    return this.mk({ kind: "and", pos, items }, items);
  }

  /** `not`/`!` binds looser than comparisons: `not a > 1` is `not (a > 1)`, as in SQL. */
  private parseNot(): ExprAst {
    if (
      this.isPunct("!") ||
      (this.isKeyword("not") && !this.isKeyword("in", 1) && !this.isKeyword("like", 1))
    ) {
      const tok = this.next();
      this.enter(tok.pos);
      const operand = this.parseNot();
      this.leave();
      return this.mk({ kind: "not", pos: tok.pos, operand }, [operand]);
    }
    return this.parseCmp();
  }

  private parseCmp(): ExprAst {
    const left = this.parseAdd();
    const tok = this.peek();
    let negated = false;
    if (this.isKeyword("not") && (this.isKeyword("in", 1) || this.isKeyword("like", 1))) {
      this.next();
      negated = true;
    }
    if (this.isKeyword("in")) {
      this.next();
      const list = this.parseAdd();
      return this.mk({ kind: "in", pos: tok.pos, negated, operand: left, list }, [left, list]);
    }
    if (this.isKeyword("like")) {
      this.next();
      const pattern = this.parseAdd();
      return this.mk({ kind: "like", pos: tok.pos, negated, operand: left, pattern }, [left, pattern]);
    }
    if (this.isKeyword("is")) {
      this.next();
      let neg = false;
      if (this.isKeyword("not")) {
        this.next();
        neg = true;
      }
      if (!this.isKeyword("null")) {
        const t = this.peek();
        syntaxError(`expected "null" after "is" but found ${describe(t, this.src)}`, t.pos);
      }
      this.next();
      return this.mk({ kind: "isNull", pos: tok.pos, negated: neg, operand: left }, [left]);
    }
    if (!(tok.t === "punct" && CMP_OPS.has(tok.text))) return left;
    const ops: { op: CmpOp; pos: number }[] = [];
    const operands: ExprAst[] = [left];
    for (;;) {
      const t = this.peek();
      if (!(t.t === "punct" && CMP_OPS.has(t.text))) break;
      this.next();
      ops.push({ op: t.text as CmpOp, pos: t.pos });
      operands.push(this.parseAdd());
    }
    const [a, b, c] = operands as [ExprAst, ExprAst, ExprAst | undefined];
    const [o1, o2] = ops as [{ op: CmpOp; pos: number }, { op: CmpOp; pos: number } | undefined];
    if (o2 === undefined || c === undefined) {
      return this.mk({ kind: "compare", pos: o1.pos, op: o1.op, left: a, right: b }, [a, b]);
    }
    const asc = (o: CmpOp) => o === "<" || o === "<=";
    const desc = (o: CmpOp) => o === ">" || o === ">=";
    if (ops.length === 2 && asc(o1.op) && asc(o2.op)) {
      return this.mk(
        {
          kind: "range",
          pos: o1.pos,
          lower: a,
          lowerOp: o1.op as "<" | "<=",
          operand: b,
          upperOp: o2.op as "<" | "<=",
          upper: c,
        },
        [a, b, c],
      );
    }
    if (ops.length === 2 && desc(o1.op) && desc(o2.op)) {
      const flip = (o: CmpOp) => (o === ">" ? "<" : "<=");
      return this.mk(
        {
          kind: "range",
          pos: o1.pos,
          lower: c,
          lowerOp: flip(o2.op),
          operand: b,
          upperOp: flip(o1.op),
          upper: a,
        },
        [a, b, c],
      );
    }
    const bad = ops[1] ?? o1;
    return syntaxError(
      `chained comparison ${JSON.stringify(bad.op)} is not a range (write ranges as 1 < a <= 5 or 5 >= a > 1)`,
      bad.pos,
    );
  }

  private parseAdd(): ExprAst {
    let left = this.parseMul();
    for (;;) {
      const t = this.peek();
      if (!(t.t === "punct" && (t.text === "+" || t.text === "-"))) return left;
      this.next();
      const right = this.parseMul();
      left = this.mk({ kind: "arith", pos: t.pos, op: t.text, left, right }, [left, right]);
    }
  }

  private parseMul(): ExprAst {
    let left = this.parseUnary();
    for (;;) {
      const t = this.peek();
      if (!(t.t === "punct" && (t.text === "*" || t.text === "/" || t.text === "%"))) return left;
      this.next();
      const right = this.parseUnary();
      left = this.mk({ kind: "arith", pos: t.pos, op: t.text, left, right }, [left, right]);
    }
  }

  private parseUnary(): ExprAst {
    const t = this.peek();
    if (t.t === "punct" && (t.text === "-" || t.text === "+")) {
      this.next();
      this.enter(t.pos);
      const operand = this.parseUnary();
      this.leave();
      if (t.text === "+") return operand;
      return this.mk({ kind: "neg", pos: t.pos, operand }, [operand]);
    }
    return this.parsePrimary();
  }

  private parsePrimary(): ExprAst {
    const t = this.next();
    switch (t.t) {
      case "int":
        return this.mk({ kind: "int", pos: t.pos, value: t.value }, []);
      case "float":
        return this.mk({ kind: "float", pos: t.pos, value: t.value }, []);
      case "string":
        return this.mk({ kind: "string", pos: t.pos, value: t.value }, []);
      case "ident":
        return this.parseName(t);
      case "punct":
        if (t.text === "(") {
          this.enter(t.pos);
          const e = this.parseOr();
          this.expectPunct(")");
          this.leave();
          return e;
        }
        if (t.text === "[") return this.parseList(t.pos);
        if (t.text === "{") {
          const name = this.next();
          if (name.t !== "ident") return this.unexpected(name);
          this.expectPunct("}");
          return this.mk({ kind: "template", pos: t.pos, name: name.text }, []);
        }
        return this.unexpected(t);
      case "eof":
        return this.unexpected(t);
    }
  }

  private parseList(pos: number): ExprAst {
    this.enter(pos);
    const items: ExprAst[] = [];
    while (!this.isPunct("]")) {
      if (items.length >= MAX_LIST_ITEMS) {
        throw new StrataError(
          "ParameterTooLarge",
          `invalid filter expression: list has more than ${MAX_LIST_ITEMS} items at ${pos}`,
        );
      }
      items.push(this.parseOr());
      if (this.isPunct(",")) this.next();
      else if (!this.isPunct("]")) {
        const t = this.peek();
        if (t.t === "eof") syntaxError(`unclosed "[" opened at ${pos}, reached the end`, t.pos);
        this.unexpected(t);
      }
    }
    this.next();
    this.leave();
    return this.mk({ kind: "list", pos, items }, items);
  }

  private parseName(t: Token & { t: "ident" }): ExprAst {
    const lower = t.text.toLowerCase();
    if (lower === "true" || lower === "false") {
      return this.mk({ kind: "bool", pos: t.pos, value: lower === "true" }, []);
    }
    if (lower === "exists") {
      this.enter(t.pos);
      const operand = this.parsePostfixOperand();
      this.leave();
      return this.mk({ kind: "exists", pos: t.pos, operand }, [operand]);
    }
    if (KEYWORDS.has(lower)) return this.unexpected(t);
    if (this.isPunct("(")) {
      if (!FUNCTIONS.has(lower)) syntaxError(`unknown function ${JSON.stringify(t.text)}`, t.pos);
      this.enter(t.pos);
      this.next();
      const args: ExprAst[] = [];
      while (!this.isPunct(")")) {
        args.push(this.parseOr());
        if (this.isPunct(",")) this.next();
        else if (!this.isPunct(")")) this.unexpected(this.peek());
      }
      this.next();
      this.leave();
      return this.mk({ kind: "call", pos: t.pos, name: lower as FunctionName, args }, args);
    }
    const path: PathKey[] = [];
    while (this.isPunct("[")) {
      this.next();
      const k = this.next();
      if (k.t === "string") path.push(k.value);
      else if (k.t === "int" && k.value <= BigInt(Number.MAX_SAFE_INTEGER)) path.push(Number(k.value));
      else if (k.t === "eof") this.unexpected(k);
      else
        syntaxError(
          `a path step must be a string or a non-negative integer, found ${describe(k, this.src)}`,
          k.pos,
        );
      this.expectPunct("]");
    }
    return this.mk({ kind: "field", pos: t.pos, name: t.text, path }, []);
  }

  /** Operand of `exists`: a (possibly parenthesised) name with its path. */
  private parsePostfixOperand(): ExprAst {
    const t = this.peek();
    if (t.t === "punct" && t.text === "(") {
      this.next();
      this.enter(t.pos);
      const e = this.parseOr();
      this.expectPunct(")");
      this.leave();
      return e;
    }
    if (t.t === "ident" && !KEYWORDS.has(t.text.toLowerCase())) {
      this.next();
      return this.parseName(t);
    }
    return this.unexpected(t);
  }
}

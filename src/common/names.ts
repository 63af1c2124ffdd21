import { StrataError } from "./errors.ts";
import { MAX_NAME_LENGTH } from "./types.ts";

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Milvus naming rule for collections, partitions, fields, aliases and databases: 1..255 chars of
 * letters, digits and `_`, not starting with a digit.
 * @throws StrataError ParameterInvalid (FieldInvalidName for fields)
 */
export function validateName(
  kind: "collection" | "partition" | "field" | "alias" | "database",
  name: unknown,
): string {
  const code = kind === "field" ? "FieldInvalidName" : "ParameterInvalid";
  if (typeof name !== "string" || name.length === 0) {
    throw new StrataError(code, `${kind} name must be a non-empty string`);
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new StrataError(
      code,
      `${kind} name "${name.slice(0, 32)}…" is longer than ${MAX_NAME_LENGTH} characters`,
    );
  }
  if (!NAME_RE.test(name)) {
    throw new StrataError(
      code,
      `${kind} name "${name}" is invalid: use letters, digits and '_' only, not starting with a digit`,
    );
  }
  return name;
}

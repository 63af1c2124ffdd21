/**
 * The Arrow type each Strata data type is stored as (see README.md in this folder for the table).
 * Every field is non-nullable: Strata columns have no nulls.
 */
import {
  type DataType as ArrowDataType,
  Binary,
  Bool,
  Field,
  FixedSizeBinary,
  FixedSizeList,
  Float16,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  List,
  Struct,
  Uint16,
  Uint32,
  Utf8,
} from "apache-arrow";
import { StrataError } from "../common/errors.ts";
import { DataType } from "../common/types.ts";

/** What determines a column's Arrow type. */
export interface ColumnDesc {
  readonly dataType: DataType;
  /** Dense vectors only. */
  readonly dim?: number;
  /** Array only. */
  readonly elementType?: DataType;
}

/** Name of the list child, as Arrow C++/pyarrow name it. */
const ITEM = "item";

export const SPARSE_INDEX = "index";
export const SPARSE_VALUE = "value";

export function arrowType(desc: ColumnDesc): ArrowDataType {
  switch (desc.dataType) {
    case DataType.Bool:
      return new Bool();
    case DataType.Int8:
      return new Int8();
    case DataType.Int16:
      return new Int16();
    case DataType.Int32:
      return new Int32();
    case DataType.Int64:
      return new Int64();
    case DataType.Float:
      return new Float32();
    case DataType.Double:
      return new Float64();
    case DataType.String:
    case DataType.VarChar:
      return new Utf8();
    case DataType.JSON:
      return new Binary();
    case DataType.Array:
      return new List(new Field(ITEM, arrowType({ dataType: need(desc.elementType, "elementType") }), false));
    case DataType.BinaryVector:
      return new FixedSizeBinary(need(desc.dim, "dim") / 8);
    case DataType.FloatVector:
      return new FixedSizeList(need(desc.dim, "dim"), new Field(ITEM, new Float32(), false));
    case DataType.Float16Vector:
      return new FixedSizeList(need(desc.dim, "dim"), new Field(ITEM, new Float16(), false));
    case DataType.BFloat16Vector:
      // Arrow has no bfloat16; the raw bit patterns are kept as uint16.
      return new FixedSizeList(need(desc.dim, "dim"), new Field(ITEM, new Uint16(), false));
    case DataType.SparseFloatVector:
      return new List(
        new Field(
          ITEM,
          new Struct([
            new Field(SPARSE_INDEX, new Uint32(), false),
            new Field(SPARSE_VALUE, new Float32(), false),
          ]),
          false,
        ),
      );
    default:
      throw new StrataError("ServiceInternal", `no arrow type for data type ${desc.dataType}`);
  }
}

function need<T extends number>(v: T | undefined, name: string): T {
  if (v === undefined) throw new StrataError("ServiceInternal", `${name} is required`);
  return v;
}

/**
 * Structural equality of two fields: name, nullability, type (with its parameters) and children,
 * recursively; field-level metadata must be absent on both.
 */
export function sameField(a: Field, b: Field): boolean {
  if (a.name !== b.name || a.nullable !== b.nullable || a.metadata.size !== 0 || b.metadata.size !== 0) {
    return false;
  }
  return sameType(a.type, b.type);
}

function sameType(a: ArrowDataType, b: ArrowDataType): boolean {
  if (a.typeId !== b.typeId || String(a) !== String(b)) return false;
  const ac = a.children ?? [];
  const bc = b.children ?? [];
  if (ac.length !== bc.length) return false;
  for (let i = 0; i < ac.length; i++) {
    const x = ac[i];
    const y = bc[i];
    if (x === undefined || y === undefined || !sameField(x, y)) return false;
  }
  return true;
}

export { ByteReader, ByteWriter } from "./bytes.ts";
export { readColumn, writeColumn } from "./column-codec.ts";
export {
  type DdlMsg,
  type DeleteMsg,
  decodeMsg,
  encodeInsertRows,
  encodeMsg,
  type FieldColumn,
  type InsertMsg,
  type Msg,
  MsgType,
  type TimeTickMsg,
} from "./messages.ts";

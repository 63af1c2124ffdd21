/**
 * Records larger than one NATS message are split into chunks published back to back. Each chunk
 * carries `Strata-Chunk: <record id> <index> <total>`. The producer publishes chunk i+1 with
 * "expected last sequence = chunk i", so a complete record always occupies consecutive stream
 * sequences; if another publisher interleaves, the publish fails and the producer starts the record
 * over. A reader therefore drops any partial record that something else interrupts, and a record's
 * position is the sequence of its last chunk.
 */

export const CHUNK_HEADER = "Strata-Chunk";

export function chunkHeaderValue(id: string, index: number, total: number): string {
  return `${id} ${index} ${total}`;
}

interface PartialRecord {
  readonly id: string;
  readonly total: number;
  readonly parts: Uint8Array[];
  bytes: number;
}

export class Reassembler {
  private partial: PartialRecord | undefined;

  reset(): void {
    this.partial = undefined;
  }

  /**
   * Feeds one message in stream order. Returns the record's payload when the message completes a
   * record (a plain message is a record by itself), else undefined.
   */
  accept(data: Uint8Array, chunk: string): Uint8Array | undefined {
    if (chunk === "") {
      this.partial = undefined;
      return data;
    }
    const [id, indexText, totalText] = chunk.split(" ");
    const index = Number(indexText);
    const total = Number(totalText);
    if (id === undefined || !Number.isSafeInteger(index) || !Number.isSafeInteger(total) || total < 1) {
      this.partial = undefined;
      return undefined;
    }
    if (index === 0) {
      this.partial = { id, total, parts: [data], bytes: data.byteLength };
    } else {
      const p = this.partial;
      if (p === undefined || p.id !== id || p.parts.length !== index || p.total !== total) {
        // A continuation without its start: the reader began mid-record, or the record was abandoned.
        this.partial = undefined;
        return undefined;
      }
      p.parts.push(data);
      p.bytes += data.byteLength;
    }
    const p = this.partial;
    if (p === undefined || p.parts.length < p.total) return undefined;
    this.partial = undefined;
    const out = new Uint8Array(p.bytes);
    let off = 0;
    for (const part of p.parts) {
      out.set(part, off);
      off += part.byteLength;
    }
    return out;
  }
}

/**
 * The protobuf wire format, as far as Kubernetes objects use it: fields are a key (field number
 * and wire type) followed by a varint (0), 8 bytes (1), a length and that many bytes (2) or 4 bytes
 * (5). Groups (3, 4) are not used by Kubernetes and are refused. Pure functions over bytes.
 */

export class WireError extends Error {}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export type WireField =
  | { num: number; wire: typeof WIRE_VARINT; value: bigint }
  | { num: number; wire: typeof WIRE_BYTES; value: Uint8Array }
  | { num: number; wire: typeof WIRE_FIXED64 | typeof WIRE_FIXED32; value: Uint8Array };

/** Reads a varint at `at`; returns the value (as unsigned 64 bits) and the offset after it. */
export function readVarint(buf: Uint8Array, at: number): [bigint, number] {
  let v = 0n;
  for (let i = 0; i < 10; i++) {
    if (at + i >= buf.length) throw new WireError('truncated varint');
    const b = buf[at + i]!;
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return [BigInt.asUintN(64, v), at + i + 1];
  }
  throw new WireError('varint longer than 10 bytes');
}

/** Splits one message into its fields, in order. Throws WireError on anything malformed. */
export function readFields(buf: Uint8Array): WireField[] {
  const out: WireField[] = [];
  let at = 0;
  while (at < buf.length) {
    const [key, next] = readVarint(buf, at);
    at = next;
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (num < 1 || num > 536_870_911) throw new WireError(`bad field number ${num}`);
    switch (wire) {
      case WIRE_VARINT: {
        const [value, after] = readVarint(buf, at);
        at = after;
        out.push({ num, wire, value });
        break;
      }
      case WIRE_BYTES: {
        const [len, after] = readVarint(buf, at);
        if (len > BigInt(buf.length - after)) throw new WireError(`field ${num}: length past the end`);
        at = after + Number(len);
        out.push({ num, wire, value: buf.subarray(after, at) });
        break;
      }
      case WIRE_FIXED64:
      case WIRE_FIXED32: {
        const size = wire === WIRE_FIXED64 ? 8 : 4;
        if (at + size > buf.length) throw new WireError(`field ${num}: truncated`);
        out.push({ num, wire, value: buf.subarray(at, at + size) });
        at += size;
        break;
      }
      default:
        throw new WireError(`field ${num}: wire type ${wire} is not supported`);
    }
  }
  return out;
}

/** A varint as a signed 64-bit number (int32 and int64 fields carry negatives as 10 bytes). */
export function signed(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

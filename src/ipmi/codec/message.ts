import { checksum, checksumOk } from './checksum.ts';

/**
 * IPMI messages (the bytes inside a 1.5 session or an RMCP+ IPMI payload): request and response
 * framing with both checksums. Pure functions.
 */
export interface IpmiRequest {
  readonly rsAddr: number;
  readonly netFn: number;
  readonly rsLun: number;
  readonly rqAddr: number;
  readonly rqSeq: number;
  readonly rqLun: number;
  readonly cmd: number;
  readonly data: Buffer;
}

export interface IpmiResponse {
  readonly rqAddr: number;
  readonly netFn: number;
  readonly rqLun: number;
  readonly rsAddr: number;
  readonly rqSeq: number;
  readonly rsLun: number;
  readonly cmd: number;
  readonly completionCode: number;
  readonly data: Buffer;
}

/** A request, or null when shorter than 7 bytes or a checksum is wrong. */
export function decodeRequest(buf: Buffer): IpmiRequest | null {
  if (buf.length < 7) return null;
  if (!checksumOk(buf, 0, 3) || !checksumOk(buf, 3, buf.length)) return null;
  return {
    rsAddr: buf[0]!,
    netFn: buf[1]! >> 2,
    rsLun: buf[1]! & 3,
    rqAddr: buf[3]!,
    rqSeq: buf[4]! >> 2,
    rqLun: buf[4]! & 3,
    cmd: buf[5]!,
    data: buf.subarray(6, buf.length - 1),
  };
}

/** Length of the response message for `dataLength` data bytes (completion code excluded). */
export function responseLength(dataLength: number): number {
  return 8 + dataLength;
}

/** Writes the response to `req` into `out` at `offset`; returns the number of bytes written. */
export function writeResponse(
  out: Buffer,
  offset: number,
  req: IpmiRequest,
  completionCode: number,
  data: Uint8Array,
): number {
  const o = offset;
  out[o] = req.rqAddr;
  out[o + 1] = (((req.netFn | 1) << 2) | req.rqLun) & 0xff;
  out[o + 2] = checksum(out, o, o + 2);
  out[o + 3] = req.rsAddr;
  out[o + 4] = ((req.rqSeq << 2) | req.rsLun) & 0xff;
  out[o + 5] = req.cmd;
  out[o + 6] = completionCode;
  out.set(data, o + 7);
  const end = o + 7 + data.length;
  out[end] = checksum(out, o + 3, end);
  return end + 1 - o;
}

export function encodeResponse(req: IpmiRequest, completionCode: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(responseLength(data.length));
  writeResponse(out, 0, req, completionCode, data);
  return out;
}

/** Encodes a request (for our client, tests and the benchmark). */
export function encodeRequest(r: {
  netFn: number;
  cmd: number;
  data?: Uint8Array;
  rqSeq: number;
  rsAddr?: number;
  rqAddr?: number;
  rsLun?: number;
  rqLun?: number;
}): Buffer {
  const data = r.data ?? Buffer.alloc(0);
  const out = Buffer.allocUnsafe(7 + data.length);
  out[0] = r.rsAddr ?? 0x20;
  out[1] = ((r.netFn << 2) | (r.rsLun ?? 0)) & 0xff;
  out[2] = checksum(out, 0, 2);
  out[3] = r.rqAddr ?? 0x81;
  out[4] = ((r.rqSeq << 2) | (r.rqLun ?? 0)) & 0xff;
  out[5] = r.cmd;
  out.set(data, 6);
  out[6 + data.length] = checksum(out, 3, 6 + data.length);
  return out;
}

/** Decodes a response (for our client and tests); null when malformed. */
export function decodeResponse(buf: Buffer): IpmiResponse | null {
  if (buf.length < 8) return null;
  if (!checksumOk(buf, 0, 3) || !checksumOk(buf, 3, buf.length)) return null;
  return {
    rqAddr: buf[0]!,
    netFn: buf[1]! >> 2,
    rqLun: buf[1]! & 3,
    rsAddr: buf[3]!,
    rqSeq: buf[4]! >> 2,
    rsLun: buf[4]! & 3,
    cmd: buf[5]!,
    completionCode: buf[6]!,
    data: buf.subarray(7, buf.length - 1),
  };
}

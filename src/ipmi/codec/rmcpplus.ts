import {
  decryptPayload,
  encryptedLength,
  encryptPayloadInto,
  integrityCode,
  type SessionKeys,
} from '../crypto/packet.ts';

/**
 * IPMI 2.0 / RMCP+ session wrapper. Header: RMCP (4), format 0x06, payload type (bit7 encrypted,
 * bit6 authenticated), session ID (LE), sequence (LE), payload length (LE), payload, then — when
 * authenticated — integrity pad (0xFF × 0–3), pad length, next header 0x07 and the AuthCode.
 */
export const PAYLOAD_IPMI = 0x00;
export const PAYLOAD_SOL = 0x01;
export const PAYLOAD_OPEN_SESSION_REQUEST = 0x10;
export const PAYLOAD_OPEN_SESSION_RESPONSE = 0x11;
export const PAYLOAD_RAKP1 = 0x12;
export const PAYLOAD_RAKP2 = 0x13;
export const PAYLOAD_RAKP3 = 0x14;
export const PAYLOAD_RAKP4 = 0x15;

export interface RmcpPlusHeader {
  readonly payloadType: number;
  readonly encrypted: boolean;
  readonly authenticated: boolean;
  readonly sessionId: number;
  readonly sequence: number;
  readonly payloadLength: number;
}

/** The header of an RMCP+ packet, or null when truncated or the payload overruns the datagram. */
export function decodeRmcpPlusHeader(buf: Buffer): RmcpPlusHeader | null {
  if (buf.length < 16 || buf[4] !== 0x06) return null;
  const t = buf[5]!;
  const payloadLength = buf.readUInt16LE(14);
  if (16 + payloadLength > buf.length) return null;
  // OEM explicit payloads (type 2) carry 6 more header bytes; we do not accept them.
  if ((t & 0x3f) === 0x02) return null;
  return {
    payloadType: t & 0x3f,
    encrypted: (t & 0x80) !== 0,
    authenticated: (t & 0x40) !== 0,
    sessionId: buf.readUInt32LE(6),
    sequence: buf.readUInt32LE(10),
    payloadLength,
  };
}

/** A session-less packet (handshake, pre-session messages): session ID 0, sequence 0, no trailer. */
export function encodeUnauthenticated(payloadType: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(16 + payload.length);
  writeHeader(out, payloadType, 0, 0, payload.length);
  out.set(payload, 16);
  return out;
}

function writeHeader(out: Buffer, typeByte: number, sessionId: number, sequence: number, len: number): void {
  out[0] = 0x06;
  out[1] = 0x00;
  out[2] = 0xff;
  out[3] = 0x07;
  out[4] = 0x06;
  out[5] = typeByte;
  out.writeUInt32LE(sessionId >>> 0, 6);
  out.writeUInt32LE(sequence >>> 0, 10);
  out.writeUInt16LE(len, 14);
}

/**
 * An in-session packet protected as the session's suite requires: encrypted when the keys have an
 * AES key, authenticated when they have an integrity algorithm. `iv` must be fresh random bytes.
 */
export function encodeSessionPacket(
  keys: SessionKeys,
  payloadType: number,
  sessionId: number,
  sequence: number,
  payload: Uint8Array,
  iv: Uint8Array,
): Buffer {
  const encrypted = keys.aesKey !== null;
  const authenticated = keys.integrityHash !== null;
  const payloadLength = encrypted ? encryptedLength(payload.length) : payload.length;
  let total = 16 + payloadLength;
  let pad = 0;
  if (authenticated) {
    pad = (4 - ((12 + payloadLength + 2) % 4)) % 4;
    total += pad + 2 + keys.authCodeLength;
  }
  const out = Buffer.allocUnsafe(total);
  writeHeader(
    out,
    payloadType | (encrypted ? 0x80 : 0) | (authenticated ? 0x40 : 0),
    sessionId,
    sequence,
    payloadLength,
  );
  if (encrypted) encryptPayloadInto(keys.aesKey!, iv, payload, out, 16, keys);
  else out.set(payload, 16);
  if (authenticated) {
    let o = 16 + payloadLength;
    for (let i = 0; i < pad; i++) out[o++] = 0xff;
    out[o++] = pad;
    out[o++] = 0x07;
    integrityCode(keys, out.subarray(4, o)).copy(out, o);
  }
  return out;
}

/**
 * Verifies and unwraps an in-session packet. Lenient on receive: the AuthCode is the last bytes of
 * the datagram and the HMAC covers everything from offset 4 before it; the pad is not recomputed.
 * Returns null when the protection the suite requires is missing or does not verify.
 */
export function openSessionPacket(keys: SessionKeys, header: RmcpPlusHeader, buf: Buffer): Buffer | null {
  const authenticated = keys.integrityHash !== null;
  const encrypted = keys.aesKey !== null;
  if (header.authenticated !== authenticated || header.encrypted !== encrypted) return null;
  if (authenticated) {
    const codeStart = buf.length - keys.authCodeLength;
    // header + payload + pad length + next header must fit before the AuthCode
    if (codeStart < 16 + header.payloadLength + 2) return null;
    const padLength = buf[codeStart - 2]!;
    if (buf[codeStart - 1] !== 0x07 || 16 + header.payloadLength + padLength + 2 !== codeStart) return null;
    const expected = integrityCode(keys, buf.subarray(4, codeStart));
    if (!constantTimeEqual(expected, buf.subarray(codeStart))) return null;
  } else if (16 + header.payloadLength !== buf.length) {
    return null;
  }
  const field = buf.subarray(16, 16 + header.payloadLength);
  return encrypted ? decryptPayload(keys.aesKey!, field, keys) : field;
}

/** Constant-time comparison for equal-length buffers; false for different lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Serial over LAN (RMCP+ payload type 1) byte formats, as pure functions. Every SOL packet is a
 * 4-byte header and the characters: sequence number (1–15; 0 = ACK-only), the sequence number it
 * acknowledges (0 = none), the accepted character count for that packet, and an operation (console →
 * BMC) or status (BMC → console) byte.
 */

export const PAYLOAD_SOL = 1;

/** Console → BMC operation bits. */
export const OP_NACK = 0x40;
export const OP_RING = 0x20;
export const OP_BREAK = 0x10;
export const OP_CTS_PAUSE = 0x08;
export const OP_DROP_DCD_DSR = 0x04;
export const OP_FLUSH_INBOUND = 0x02;
export const OP_FLUSH_OUTBOUND = 0x01;

/** BMC → console status bits. */
export const ST_NACK = 0x40;
export const ST_TRANSFER_UNAVAILABLE = 0x20;
export const ST_DEACTIVATING = 0x10;
export const ST_TRANSMIT_OVERRUN = 0x08;
export const ST_BREAK_DETECTED = 0x04;

export interface SolPacket {
  /** 1–15, or 0 for an ACK-only packet. */
  readonly seq: number;
  /** The sequence number acknowledged (0 = this packet acknowledges nothing). */
  readonly ackSeq: number;
  /** Characters accepted of the acknowledged packet. */
  readonly accepted: number;
  /** Operation (console → BMC) or status (BMC → console) bits. */
  readonly flags: number;
  readonly data: Buffer;
}

/** Decodes a SOL payload; null when it is shorter than the header. */
export function decodeSol(payload: Uint8Array): SolPacket | null {
  if (payload.length < 4) return null;
  return {
    seq: payload[0]! & 0x0f,
    ackSeq: payload[1]! & 0x0f,
    accepted: payload[2]!,
    flags: payload[3]!,
    data: Buffer.from(payload.subarray(4)),
  };
}

export function encodeSol(p: SolPacket): Buffer {
  const out = Buffer.alloc(4 + p.data.length);
  out[0] = p.seq & 0x0f;
  out[1] = p.ackSeq & 0x0f;
  out[2] = p.accepted & 0xff;
  out[3] = p.flags & 0xff;
  p.data.copy(out, 4);
  return out;
}

/** The next SOL packet sequence number: 1…15, then 1 again (0 is reserved for ACK-only packets). */
export function nextSolSeq(seq: number): number {
  return seq >= 15 ? 1 : seq + 1;
}

/**
 * The 12 data bytes of an Activate Payload response: auxiliary data (test mode off), maximum
 * inbound and outbound payload sizes (header included), the UDP port (little-endian) and no VLAN.
 */
export function activateResponse(maxInbound: number, maxOutbound: number, port: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(maxInbound, 4);
  b.writeUInt16LE(maxOutbound, 6);
  b.writeUInt16LE(port & 0xffff, 8);
  b.writeUInt16LE(0xffff, 10);
  return b;
}

/** Get Payload Instance Info response: the owning BMC session ID (0 when inactive), port, reserved. */
export function instanceInfoResponse(sessionId: number, active: boolean): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(active ? sessionId >>> 0 : 0, 0);
  b[4] = active ? 1 : 0;
  return b;
}

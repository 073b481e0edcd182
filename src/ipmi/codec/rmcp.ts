/**
 * RMCP (4-byte header of every datagram) and ASF presence ping/pong. All pure functions over bytes.
 */
export const RMCP_VERSION = 0x06;
export const RMCP_CLASS_ASF = 0x06;
export const RMCP_CLASS_IPMI = 0x07;
export const ASF_IANA = 4542;
export const ASF_PRESENCE_PING = 0x80;
export const ASF_PRESENCE_PONG = 0x40;

export interface RmcpHeader {
  readonly sequence: number;
  /** bits4:0 of the class byte. */
  readonly messageClass: number;
  readonly ack: boolean;
}

/** The RMCP header, or null when the datagram is too short or not RMCP 1.0. */
export function decodeRmcpHeader(buf: Uint8Array): RmcpHeader | null {
  if (buf.length < 4 || buf[0] !== RMCP_VERSION) return null;
  const cls = buf[3]!;
  return { sequence: buf[2]!, messageClass: cls & 0x1f, ack: (cls & 0x80) !== 0 };
}

export interface AsfPing {
  readonly tag: number;
}

/** An ASF Presence Ping (class 6, IANA 4542, type 0x80), or null for anything else. */
export function decodeAsfPing(buf: Uint8Array): AsfPing | null {
  if (buf.length < 12) return null;
  const h = decodeRmcpHeader(buf);
  if (!h || h.messageClass !== RMCP_CLASS_ASF || h.ack) return null;
  const iana = ((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0;
  if (iana !== ASF_IANA || buf[8] !== ASF_PRESENCE_PING) return null;
  return { tag: buf[9]! };
}

/** The 28-byte Presence Pong: IPMI supported, ASF 1.0, no interactions. */
export function encodeAsfPong(tag: number): Buffer {
  return Buffer.from([
    0x06,
    0x00,
    0xff,
    0x06,
    0x00,
    0x00,
    0x11,
    0xbe,
    ASF_PRESENCE_PONG,
    tag & 0xff,
    0x00,
    0x10,
    // data: IANA, OEM-defined (4), supported entities, supported interactions, reserved (6)
    0x00,
    0x00,
    0x11,
    0xbe,
    0x00,
    0x00,
    0x00,
    0x00,
    0x81,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
  ]);
}

/** A Presence Ping (used by tests and our own tools). */
export function encodeAsfPing(tag: number): Buffer {
  return Buffer.from([0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, ASF_PRESENCE_PING, tag & 0xff, 0, 0]);
}

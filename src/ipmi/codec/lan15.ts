/**
 * IPMI 1.5 session wrapper (RMCP header + session header + message). Pure functions.
 *
 * | off | field |  4 auth type · 5–8 sequence (LE) · 9–12 session ID (LE) · 13–28 auth code (only
 * when auth type ≠ 0) · then message length (1) and the message. No trailing pad byte.
 */
export const AUTH_NONE = 0;
export const AUTH_MD2 = 1;
export const AUTH_MD5 = 2;
export const AUTH_PASSWORD = 4;
export const AUTH_OEM = 5;
export const AUTH_RMCP_PLUS = 6;

export interface Lan15Packet {
  readonly authType: number;
  readonly sequence: number;
  readonly sessionId: number;
  /** 16 bytes, or null for auth type NONE. */
  readonly authCode: Buffer | null;
  readonly message: Buffer;
}

/** A 1.5 packet, or null when truncated, inconsistent, or not a 1.5 auth type. */
export function decodeLan15(buf: Buffer): Lan15Packet | null {
  if (buf.length < 14) return null;
  const authType = buf[4]!;
  if (
    authType !== AUTH_NONE &&
    authType !== AUTH_MD2 &&
    authType !== AUTH_MD5 &&
    authType !== AUTH_PASSWORD
  ) {
    return null;
  }
  const sequence = buf.readUInt32LE(5);
  const sessionId = buf.readUInt32LE(9);
  let off = 13;
  let authCode: Buffer | null = null;
  if (authType !== AUTH_NONE) {
    if (buf.length < 30) return null;
    authCode = buf.subarray(13, 29);
    off = 29;
  }
  const len = buf[off]!;
  // Some clients add a legacy pad byte after the message; tolerate exactly that, nothing else.
  const rest = buf.length - (off + 1);
  if (len < 7 || (rest !== len && rest !== len + 1)) return null;
  return { authType, sequence, sessionId, authCode, message: buf.subarray(off + 1, off + 1 + len) };
}

/** Header size in front of the message for this auth type. */
export function lan15HeaderLength(authType: number): number {
  return authType === AUTH_NONE ? 14 : 30;
}

/**
 * Encodes a 1.5 packet. `authCode` is required (16 bytes) unless the auth type is NONE; a function
 * is called with the finished header fields and message so MD5 can cover them.
 */
export function encodeLan15(p: {
  authType: number;
  sequence: number;
  sessionId: number;
  message: Buffer;
  authCode?: Buffer | ((message: Buffer) => Buffer);
}): Buffer {
  const head = lan15HeaderLength(p.authType);
  const out = Buffer.allocUnsafe(head + p.message.length);
  out[0] = 0x06;
  out[1] = 0x00;
  out[2] = 0xff;
  out[3] = 0x07;
  out[4] = p.authType;
  out.writeUInt32LE(p.sequence >>> 0, 5);
  out.writeUInt32LE(p.sessionId >>> 0, 9);
  if (p.authType !== AUTH_NONE) {
    const code = typeof p.authCode === 'function' ? p.authCode(p.message) : p.authCode;
    if (code?.length !== 16) throw new Error('a 16-byte auth code is required');
    code.copy(out, 13);
  }
  out[head - 1] = p.message.length;
  p.message.copy(out, head);
  return out;
}

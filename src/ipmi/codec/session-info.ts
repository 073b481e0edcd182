import { isIPv4 } from 'node:net';

/**
 * Get Session Info (App 0x3D, IPMI 2.0 section 22.20): request decoding and response encoding.
 * Pure functions.
 */

/** Which session a Get Session Info request asks about. */
export type SessionInfoQuery =
  | { readonly by: 'current' }
  | { readonly by: 'index'; readonly index: number }
  | { readonly by: 'handle'; readonly handle: number }
  | { readonly by: 'id'; readonly id: number };

/**
 * Request byte 0: 0x00 = the session the request came in, 0x01…0xFD = the Nth active session,
 * 0xFE = by session handle (byte 1), 0xFF = by session ID (bytes 1–4, LS first). A wrong length is
 * 0xC7, a handle or ID of 0 is 0xCC.
 */
export function decodeSessionInfoRequest(data: Uint8Array): SessionInfoQuery | { readonly cc: number } {
  if (data.length < 1) return { cc: 0xc7 };
  const index = data[0]!;
  if (index === 0xfe) {
    if (data.length !== 2) return { cc: 0xc7 };
    return data[1] === 0 ? { cc: 0xcc } : { by: 'handle', handle: data[1]! };
  }
  if (index === 0xff) {
    if (data.length !== 5) return { cc: 0xc7 };
    const id = (data[1]! | (data[2]! << 8) | (data[3]! << 16) | (data[4]! << 24)) >>> 0;
    return id === 0 ? { cc: 0xcc } : { by: 'id', id };
  }
  if (data.length !== 1) return { cc: 0xc7 };
  return index === 0 ? { by: 'current' } : { by: 'index', index };
}

/** One active session as Get Session Info describes it (802.3 LAN channel). */
export interface SessionInfoDetail {
  readonly handle: number;
  /** User ID (1…63) of the session's account; 0 when it has none. */
  readonly userId: number;
  /** Current privilege level (1…5). */
  readonly privilege: number;
  /** True for an IPMI 2.0 / RMCP+ session, false for IPMI 1.5. */
  readonly rmcpPlus: boolean;
  readonly channel: number;
  /** The remote console's address and UDP port. */
  readonly address: string;
  readonly port: number;
}

/** The IPv4 address of a console, including an IPv4-mapped IPv6 one; 0.0.0.0 for other IPv6 addresses. */
export function consoleIpv4(address: string): [number, number, number, number] {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (!isIPv4(v4)) return [0, 0, 0, 0];
  const p = v4.split('.').map(Number);
  return [p[0]!, p[1]!, p[2]!, p[3]!];
}

/**
 * The response data: session handle, slot count, active session count, and for an active session
 * user ID, privilege, protocol (bits 7:4: 0 = IPMI 1.5, 1 = IPMI 2.0) + channel, then the LAN
 * fields: console IPv4 address (MS byte first), console MAC (6 bytes; zero: a BMC behind UDP does
 * not see it), console port (LS byte first) — 18 bytes. Without `detail` (no session at that
 * index) only the first 3 bytes, with handle 0.
 */
export function encodeSessionInfo(slots: number, active: number, detail?: SessionInfoDetail): Buffer {
  const head = [detail ? detail.handle & 0xff : 0, slots & 0x3f, active & 0x3f];
  if (!detail) return Buffer.from(head);
  return Buffer.from([
    ...head,
    detail.userId & 0x3f,
    detail.privilege & 0x0f,
    (detail.rmcpPlus ? 0x10 : 0x00) | (detail.channel & 0x0f),
    ...consoleIpv4(detail.address),
    0,
    0,
    0,
    0,
    0,
    0,
    detail.port & 0xff,
    (detail.port >> 8) & 0xff,
  ]);
}

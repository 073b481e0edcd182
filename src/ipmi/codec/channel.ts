/**
 * Channel access (App 0x41, IPMI 2.0 section 22.23) and the LAN bad-password-threshold parameter
 * (Transport 0x02 parameter 26, section 23.2). Pure functions.
 */

/** Get Channel Access request: channel (bits 3:0 of byte 0) and which settings (byte 1 bits 7:6). */
export interface ChannelAccessQuery {
  readonly channel: number;
  readonly settings: 'volatile' | 'non-volatile';
}

/** The request, or the completion code: 0xC7 unless 2 bytes, 0xCC for settings selector 00b/11b. */
export function decodeChannelAccessRequest(data: Uint8Array): ChannelAccessQuery | { readonly cc: number } {
  if (data.length !== 2) return { cc: 0xc7 };
  const which = data[1]! >> 6;
  if (which !== 1 && which !== 2) return { cc: 0xcc };
  return { channel: data[0]! & 0x0f, settings: which === 2 ? 'volatile' : 'non-volatile' };
}

export interface ChannelAccess {
  /** PEF alerting on this channel (the BMC sends no alerts: false). */
  readonly alerting: boolean;
  readonly perMessageAuth: boolean;
  readonly userLevelAuth: boolean;
  /** 0 disabled, 1 pre-boot only, 2 always available, 3 shared. */
  readonly accessMode: number;
  /** Channel privilege level limit (1…5). */
  readonly privilegeLimit: number;
}

/** 2 bytes: byte 0 bit 5 alerting *disabled*, bit 4 per-message auth *disabled*, bit 3 user-level auth *disabled*, bits 2:0 access mode; byte 1 bits 3:0 privilege limit. */
export function encodeChannelAccess(a: ChannelAccess): Buffer {
  return Buffer.from([
    (a.alerting ? 0 : 0x20) |
      (a.perMessageAuth ? 0 : 0x10) |
      (a.userLevelAuth ? 0 : 0x08) |
      (a.accessMode & 0x07),
    a.privilegeLimit & 0x0f,
  ]);
}

export interface BadPasswordThreshold {
  /** Failures that disable a user name (0 = no threshold), at most 255. */
  readonly threshold: number;
  /** Milliseconds without a failure after which the count resets (rounded up to 10 s units). */
  readonly resetIntervalMs: number;
  /** Milliseconds a user name stays refused after reaching the threshold (rounded up to 10 s units). */
  readonly lockoutMs: number;
}

function tensOfSeconds(ms: number): number {
  return Math.min(0xffff, Math.ceil(ms / 10_000));
}

/**
 * LAN parameter 26, 6 bytes: byte 0 bit 0 "generate a Session Audit event" (0: this BMC keeps no
 * event log), byte 1 threshold (a larger one is reported as 255), bytes 2–3 attempt count reset
 * interval and 4–5 user lockout interval, LS first, in tens of seconds (rounded up; at most 0xFFFF).
 * A threshold of 0 (none) reports both intervals as 0.
 */
export function encodeBadPasswordThreshold(t: BadPasswordThreshold): Buffer {
  const out = Buffer.alloc(6);
  if (t.threshold <= 0) return out;
  out[1] = Math.min(255, t.threshold);
  out.writeUInt16LE(tensOfSeconds(t.resetIntervalMs), 2);
  out.writeUInt16LE(tensOfSeconds(t.lockoutMs), 4);
  return out;
}

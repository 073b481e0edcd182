/**
 * RMCP+ session-setup payloads: Open Session Request/Response and RAKP 1–4. Pure functions.
 */
export interface OpenSessionRequest {
  readonly tag: number;
  readonly privilege: number;
  readonly consoleSessionId: number;
  readonly auth: number;
  readonly integrity: number;
  readonly confidentiality: number;
  /** The three 8-byte algorithm payloads as received, echoed in the response. */
  readonly algorithmPayloads: Buffer;
}

/** Exactly 32 bytes with the three algorithm payloads in order, or null. */
export function decodeOpenSessionRequest(p: Buffer): OpenSessionRequest | null {
  if (p.length !== 32) return null;
  for (let i = 0; i < 3; i++) {
    const o = 8 + i * 8;
    if (p[o] !== i || p[o + 3] !== 0x08) return null;
  }
  return {
    tag: p[0]!,
    privilege: p[1]! & 0x0f,
    consoleSessionId: p.readUInt32LE(4),
    auth: p[12]! & 0x3f,
    integrity: p[20]! & 0x3f,
    confidentiality: p[28]! & 0x3f,
    algorithmPayloads: Buffer.from(p.subarray(8, 32)),
  };
}

export function encodeOpenSessionRequest(r: {
  tag: number;
  privilege: number;
  consoleSessionId: number;
  auth: number;
  integrity: number;
  confidentiality: number;
}): Buffer {
  const p = Buffer.alloc(32);
  p[0] = r.tag;
  p[1] = r.privilege;
  p.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  p.set([0x00, 0, 0, 0x08, r.auth, 0, 0, 0], 8);
  p.set([0x01, 0, 0, 0x08, r.integrity, 0, 0, 0], 16);
  p.set([0x02, 0, 0, 0x08, r.confidentiality, 0, 0, 0], 24);
  return p;
}

/** Success: 36 bytes. Error: the first 8 bytes only (tag, status, 0, 0, console SID). */
export function encodeOpenSessionResponse(r: {
  tag: number;
  status: number;
  privilege: number;
  consoleSessionId: number;
  bmcSessionId?: number;
  algorithmPayloads?: Buffer;
}): Buffer {
  const ok = r.status === 0;
  const p = Buffer.alloc(ok ? 36 : 8);
  p[0] = r.tag;
  p[1] = r.status;
  p[2] = ok ? r.privilege : 0;
  p.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  if (ok) {
    p.writeUInt32LE((r.bmcSessionId ?? 0) >>> 0, 8);
    r.algorithmPayloads!.copy(p, 12);
  }
  return p;
}

export interface OpenSessionResponse {
  readonly tag: number;
  readonly status: number;
  readonly privilege: number;
  readonly consoleSessionId: number;
  readonly bmcSessionId: number;
}

export function decodeOpenSessionResponse(p: Buffer): OpenSessionResponse | null {
  if (p.length < 8) return null;
  const status = p[1]!;
  if (status === 0 && p.length !== 36) return null;
  return {
    tag: p[0]!,
    status,
    privilege: p[2]! & 0x0f,
    consoleSessionId: p.readUInt32LE(4),
    bmcSessionId: status === 0 ? p.readUInt32LE(8) : 0,
  };
}

export interface Rakp1 {
  readonly tag: number;
  readonly bmcSessionId: number;
  readonly rm: Buffer;
  /** Byte 24 exactly as received (privilege bits3:0, name-only lookup bit4). */
  readonly role: number;
  readonly username: Buffer;
}

/**
 * RAKP1, or a status when the payload is structurally a RAKP1 with a bad name length, or null when
 * it is too short to echo anything.
 */
export function decodeRakp1(p: Buffer): Rakp1 | { tag: number; bmcSessionId: number; status: number } | null {
  if (p.length < 28) return null;
  const tag = p[0]!;
  const bmcSessionId = p.readUInt32LE(4);
  const n = p[27]!;
  if (n > 16 || p.length !== 28 + n) return { tag, bmcSessionId, status: 0x0c };
  return {
    tag,
    bmcSessionId,
    rm: Buffer.from(p.subarray(8, 24)),
    role: p[24]!,
    username: Buffer.from(p.subarray(28, 28 + n)),
  };
}

export function encodeRakp1(r: {
  tag: number;
  bmcSessionId: number;
  rm: Uint8Array;
  role: number;
  username: Uint8Array;
}): Buffer {
  const p = Buffer.alloc(28 + r.username.length);
  p[0] = r.tag;
  p.writeUInt32LE(r.bmcSessionId >>> 0, 4);
  p.set(r.rm, 8);
  p[24] = r.role;
  p[27] = r.username.length;
  p.set(r.username, 28);
  return p;
}

/** RAKP2: 40 + auth code bytes on success, 8 bytes on error. */
export function encodeRakp2(r: {
  tag: number;
  status: number;
  consoleSessionId: number;
  rc?: Uint8Array;
  guid?: Uint8Array;
  authCode?: Uint8Array;
}): Buffer {
  if (r.status !== 0) {
    const p = Buffer.alloc(8);
    p[0] = r.tag;
    p[1] = r.status;
    p.writeUInt32LE(r.consoleSessionId >>> 0, 4);
    return p;
  }
  const p = Buffer.alloc(40 + r.authCode!.length);
  p[0] = r.tag;
  p.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  p.set(r.rc!, 8);
  p.set(r.guid!, 24);
  p.set(r.authCode!, 40);
  return p;
}

export interface Rakp2 {
  readonly tag: number;
  readonly status: number;
  readonly consoleSessionId: number;
  readonly rc: Buffer;
  readonly guid: Buffer;
  readonly authCode: Buffer;
}

export function decodeRakp2(p: Buffer): Rakp2 | null {
  if (p.length < 8) return null;
  const status = p[1]!;
  if (status !== 0) {
    return {
      tag: p[0]!,
      status,
      consoleSessionId: p.readUInt32LE(4),
      rc: Buffer.alloc(0),
      guid: Buffer.alloc(0),
      authCode: Buffer.alloc(0),
    };
  }
  if (p.length < 40) return null;
  return {
    tag: p[0]!,
    status,
    consoleSessionId: p.readUInt32LE(4),
    rc: Buffer.from(p.subarray(8, 24)),
    guid: Buffer.from(p.subarray(24, 40)),
    authCode: Buffer.from(p.subarray(40)),
  };
}

export interface Rakp3 {
  readonly tag: number;
  readonly status: number;
  readonly bmcSessionId: number;
  readonly authCode: Buffer;
}

export function decodeRakp3(p: Buffer): Rakp3 | null {
  if (p.length < 8) return null;
  return { tag: p[0]!, status: p[1]!, bmcSessionId: p.readUInt32LE(4), authCode: Buffer.from(p.subarray(8)) };
}

export function encodeRakp3(r: {
  tag: number;
  status: number;
  bmcSessionId: number;
  authCode?: Uint8Array;
}): Buffer {
  const code = r.authCode ?? new Uint8Array(0);
  const p = Buffer.alloc(8 + code.length);
  p[0] = r.tag;
  p[1] = r.status;
  p.writeUInt32LE(r.bmcSessionId >>> 0, 4);
  p.set(code, 8);
  return p;
}

/** RAKP4: 8 + ICV bytes on success, 8 bytes on error. */
export function encodeRakp4(r: {
  tag: number;
  status: number;
  consoleSessionId: number;
  icv?: Uint8Array;
}): Buffer {
  const icv = r.status === 0 ? (r.icv ?? new Uint8Array(0)) : new Uint8Array(0);
  const p = Buffer.alloc(8 + icv.length);
  p[0] = r.tag;
  p[1] = r.status;
  p.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  p.set(icv, 8);
  return p;
}

export function decodeRakp4(
  p: Buffer,
): { tag: number; status: number; consoleSessionId: number; icv: Buffer } | null {
  if (p.length < 8) return null;
  return { tag: p[0]!, status: p[1]!, consoleSessionId: p.readUInt32LE(4), icv: Buffer.from(p.subarray(8)) };
}

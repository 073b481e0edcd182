import { createHmac } from 'node:crypto';

/**
 * RAKP key exchange and key derivation (IPMI 2.0 §13.31, 13.32). Pure functions; byte inputs are
 * exactly what travelled on the wire (username bytes and role byte as the console sent them).
 */
export interface RakpInputs {
  readonly hash: 'sha1' | 'sha256';
  /** Remote console session ID (as a number; encoded LE). */
  readonly consoleSessionId: number;
  /** BMC session ID. */
  readonly bmcSessionId: number;
  /** Console random number Rm (16). */
  readonly rm: Uint8Array;
  /** BMC random number Rc (16). */
  readonly rc: Uint8Array;
  /** BMC GUID as sent in RAKP2 (16). */
  readonly guid: Uint8Array;
  /** RAKP1 byte 24, including the name-only lookup bit. */
  readonly role: number;
  readonly username: Uint8Array;
}

function u32le(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function hmac(hash: string, key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

function roleAndName(i: RakpInputs): Buffer {
  return Buffer.concat([Buffer.from([i.role & 0xff, i.username.length]), i.username]);
}

/** RAKP2 key-exchange auth code: HMAC(Kuid, SIDm ‖ SIDc ‖ Rm ‖ Rc ‖ GUIDc ‖ ROLEm ‖ ULENm ‖ UNAMEm). */
export function rakp2AuthCode(kuid: Uint8Array, i: RakpInputs): Buffer {
  return hmac(
    i.hash,
    kuid,
    u32le(i.consoleSessionId),
    u32le(i.bmcSessionId),
    i.rm,
    i.rc,
    i.guid,
    roleAndName(i),
  );
}

/** RAKP3 auth code: HMAC(Kuid, Rc ‖ SIDm ‖ ROLEm ‖ ULENm ‖ UNAMEm). */
export function rakp3AuthCode(kuid: Uint8Array, i: RakpInputs): Buffer {
  return hmac(i.hash, kuid, i.rc, u32le(i.consoleSessionId), roleAndName(i));
}

/** Session integrity key: HMAC(Kg, Rm ‖ Rc ‖ ROLEm ‖ ULENm ‖ UNAMEm); Kg = Kuid when unset. */
export function sessionIntegrityKey(kg: Uint8Array, i: RakpInputs): Buffer {
  return hmac(i.hash, kg, i.rm, i.rc, roleAndName(i));
}

const CONST_1 = Buffer.alloc(20, 0x01);
const CONST_2 = Buffer.alloc(20, 0x02);

/** K1 keys the integrity HMAC; K2's first 16 bytes are the AES key. */
export function deriveKeys(hash: 'sha1' | 'sha256', sik: Uint8Array): { k1: Buffer; k2: Buffer } {
  return { k1: hmac(hash, sik, CONST_1), k2: hmac(hash, sik, CONST_2) };
}

/** RAKP4 integrity check value: HMAC(SIK, Rm ‖ SIDc ‖ GUIDc), truncated to 12 (SHA1) or 16 (SHA256). */
export function rakp4Icv(sik: Uint8Array, i: RakpInputs): Buffer {
  const full = hmac(i.hash, sik, i.rm, u32le(i.bmcSessionId), i.guid);
  return full.subarray(0, i.hash === 'sha1' ? 12 : 16);
}

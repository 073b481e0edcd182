import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';

/** Per-session keys of an active RMCP+ session. */
export interface SessionKeys {
  readonly integrityHash: 'sha1' | 'sha256' | null;
  readonly authCodeLength: number;
  /** K1 (full length), keys the integrity HMAC. */
  readonly k1: Buffer;
  /** First 16 bytes of K2, or null without confidentiality. */
  readonly aesKey: Buffer | null;
}

/** HMAC(K1, bytes) truncated to the integrity algorithm's length. */
export function integrityCode(keys: SessionKeys, bytes: Uint8Array): Buffer {
  return createHmac(keys.integrityHash!, keys.k1).update(bytes).digest().subarray(0, keys.authCodeLength);
}

/**
 * AES-CBC-128 payload: IV ‖ AES(payload ‖ 01 02 … n ‖ n) with n making the plaintext a multiple of
 * 16 (0..15 pad bytes; no PKCS#7). Writes into `out` at `offset`, returns the bytes written.
 */
export function encryptPayloadInto(
  aesKey: Buffer,
  iv: Uint8Array,
  payload: Uint8Array,
  out: Buffer,
  offset: number,
): number {
  const n = (16 - ((payload.length + 1) % 16)) % 16;
  const plain = Buffer.allocUnsafe(payload.length + n + 1);
  plain.set(payload, 0);
  for (let i = 1; i <= n; i++) plain[payload.length + i - 1] = i;
  plain[plain.length - 1] = n;
  const c = createCipheriv('aes-128-cbc', aesKey, iv);
  c.setAutoPadding(false);
  out.set(iv, offset);
  const a = c.update(plain);
  a.copy(out, offset + 16);
  const b = c.final();
  b.copy(out, offset + 16 + a.length);
  return 16 + a.length + b.length;
}

export function encryptedLength(payloadLength: number): number {
  const n = (16 - ((payloadLength + 1) % 16)) % 16;
  return 16 + payloadLength + n + 1;
}

/** Reverses `encryptPayloadInto`; null when the length or the confidentiality pad is wrong. */
export function decryptPayload(aesKey: Buffer, field: Buffer): Buffer | null {
  if (field.length < 32 || (field.length - 16) % 16 !== 0) return null;
  const d = createDecipheriv('aes-128-cbc', aesKey, field.subarray(0, 16));
  d.setAutoPadding(false);
  const plain = Buffer.concat([d.update(field.subarray(16)), d.final()]);
  const n = plain[plain.length - 1]!;
  if (n > 15 || n + 1 > plain.length) return null;
  for (let i = 1; i <= n; i++) if (plain[plain.length - 1 - n + i - 1] !== i) return null;
  return plain.subarray(0, plain.length - 1 - n);
}

/** Random IVs from a pooled buffer (one syscall per 256 IVs). */
const pool = Buffer.allocUnsafe(4096);
let poolOffset = pool.length;
export function randomIv(): Buffer {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const iv = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return iv;
}

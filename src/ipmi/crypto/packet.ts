import {
  type Cipher,
  createCipheriv,
  createDecipheriv,
  createHash,
  type Decipher,
  type Hash,
  randomFillSync,
} from 'node:crypto';

/** Per-session keys of an active RMCP+ session. */
export interface SessionKeys {
  readonly integrityHash: 'sha1' | 'sha256' | null;
  readonly authCodeLength: number;
  /** K1 (full length), keys the integrity HMAC. */
  readonly k1: Buffer;
  /** First 16 bytes of K2, or null without confidentiality. */
  readonly aesKey: Buffer | null;
}

/**
 * Precomputed per-session crypto state, so the hot path creates no cipher or HMAC objects:
 * - HMAC: the hash states after the inner and outer key pads, cloned per packet (`hash.copy()`).
 * - AES-CBC-128: one long-lived AES-ECB encryptor and decryptor (ECB without padding turns every
 *   16-byte block of `update()` into exactly one block), with the CBC chaining done here.
 * Results are identical to `createHmac` / `aes-128-cbc` (checked by the unit tests' vectors).
 */
class PacketCrypto {
  readonly #inner: Hash | null = null;
  readonly #outer: Hash | null = null;
  readonly #encryptor: Cipher | null = null;
  readonly #decryptor: Decipher | null = null;

  constructor(keys: SessionKeys) {
    if (keys.integrityHash) {
      let key: Buffer = keys.k1;
      if (key.length > 64) key = createHash(keys.integrityHash).update(key).digest();
      const ipad = Buffer.alloc(64, 0x36);
      const opad = Buffer.alloc(64, 0x5c);
      for (let i = 0; i < key.length; i++) {
        ipad[i]! ^= key[i]!;
        opad[i]! ^= key[i]!;
      }
      this.#inner = createHash(keys.integrityHash).update(ipad);
      this.#outer = createHash(keys.integrityHash).update(opad);
    }
    if (keys.aesKey) {
      this.#encryptor = createCipheriv('aes-128-ecb', keys.aesKey, null).setAutoPadding(false);
      this.#decryptor = createDecipheriv('aes-128-ecb', keys.aesKey, null).setAutoPadding(false);
    }
  }

  hmac(bytes: Uint8Array): Buffer {
    const inner = this.#inner!.copy().update(bytes).digest();
    return this.#outer!.copy().update(inner).digest();
  }

  /** CBC-encrypts `plain` (a multiple of 16 bytes) with `iv` into `out` at `offset`. */
  encryptCbc(iv: Uint8Array, plain: Buffer, out: Buffer, offset: number): void {
    const block = Buffer.allocUnsafe(16);
    let prev: Uint8Array = iv;
    for (let o = 0; o < plain.length; o += 16) {
      for (let i = 0; i < 16; i++) block[i] = plain[o + i]! ^ prev[i]!;
      const c = this.#encryptor!.update(block);
      c.copy(out, offset + o);
      prev = c;
    }
  }

  /** CBC-decrypts `cipher` (a multiple of 16 bytes) chained from `iv`. */
  decryptCbc(iv: Uint8Array, cipher: Buffer): Buffer {
    const plain = this.#decryptor!.update(cipher);
    for (let o = plain.length - 16; o >= 0; o -= 16) {
      const prev = o === 0 ? iv : cipher;
      const po = o === 0 ? 0 : o - 16;
      for (let i = 0; i < 16; i++) plain[o + i]! ^= prev[po + i]!;
    }
    return plain;
  }
}

const states = new WeakMap<SessionKeys, PacketCrypto>();

function state(keys: SessionKeys): PacketCrypto {
  let s = states.get(keys);
  if (!s) {
    s = new PacketCrypto(keys);
    states.set(keys, s);
  }
  return s;
}

/** HMAC(K1, bytes) truncated to the integrity algorithm's length. */
export function integrityCode(keys: SessionKeys, bytes: Uint8Array): Buffer {
  return state(keys).hmac(bytes).subarray(0, keys.authCodeLength);
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
  keys?: SessionKeys,
): number {
  const n = (16 - ((payload.length + 1) % 16)) % 16;
  const plain = Buffer.allocUnsafe(payload.length + n + 1);
  plain.set(payload, 0);
  for (let i = 1; i <= n; i++) plain[payload.length + i - 1] = i;
  plain[plain.length - 1] = n;
  out.set(iv.subarray(0, 16), offset);
  if (keys) {
    state(keys).encryptCbc(iv, plain, out, offset + 16);
  } else {
    const c = createCipheriv('aes-128-cbc', aesKey, iv);
    c.setAutoPadding(false);
    const a = c.update(plain);
    a.copy(out, offset + 16);
    c.final().copy(out, offset + 16 + a.length);
  }
  return 16 + plain.length;
}

export function encryptedLength(payloadLength: number): number {
  const n = (16 - ((payloadLength + 1) % 16)) % 16;
  return 16 + payloadLength + n + 1;
}

/** Reverses `encryptPayloadInto`; null when the length or the confidentiality pad is wrong. */
export function decryptPayload(aesKey: Buffer, field: Buffer, keys?: SessionKeys): Buffer | null {
  if (field.length < 32 || (field.length - 16) % 16 !== 0) return null;
  let plain: Buffer;
  if (keys) {
    plain = state(keys).decryptCbc(field.subarray(0, 16), field.subarray(16));
  } else {
    const d = createDecipheriv('aes-128-cbc', aesKey, field.subarray(0, 16));
    d.setAutoPadding(false);
    plain = Buffer.concat([d.update(field.subarray(16)), d.final()]);
  }
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

/**
 * RMCP+ cipher suites we implement. Suite 0 (no authentication) and the MD5/xRC4 suites are not
 * offered and are refused in Open Session.
 */
export const AUTH_ALG_NONE = 0;
export const AUTH_ALG_HMAC_SHA1 = 1;
export const AUTH_ALG_HMAC_MD5 = 2;
export const AUTH_ALG_HMAC_SHA256 = 3;
export const INTEGRITY_NONE = 0;
export const INTEGRITY_HMAC_SHA1_96 = 1;
export const INTEGRITY_HMAC_SHA256_128 = 4;
export const CONF_NONE = 0;
export const CONF_AES_CBC_128 = 1;

export interface CipherSuite {
  readonly id: number;
  readonly auth: number;
  readonly integrity: number;
  readonly confidentiality: number;
  /** Hash of the authentication algorithm (RAKP HMACs, SIK, K1, K2). */
  readonly hash: 'sha1' | 'sha256';
  /** Length of the RAKP2/RAKP3 auth code: the full digest. */
  readonly keyExchangeLength: number;
  /** Length of the RAKP4 integrity check value. */
  readonly icvLength: number;
  /** Hash of the integrity algorithm, or null when packets are not authenticated. */
  readonly integrityHash: 'sha1' | 'sha256' | null;
  /** Length of the session trailer AuthCode (0 without integrity). */
  readonly authCodeLength: number;
  readonly encrypted: boolean;
}

function suite(id: number, hash: 'sha1' | 'sha256', integrity: boolean, encrypted: boolean): CipherSuite {
  const sha1 = hash === 'sha1';
  return {
    id,
    auth: sha1 ? AUTH_ALG_HMAC_SHA1 : AUTH_ALG_HMAC_SHA256,
    integrity: integrity ? (sha1 ? INTEGRITY_HMAC_SHA1_96 : INTEGRITY_HMAC_SHA256_128) : INTEGRITY_NONE,
    confidentiality: encrypted ? CONF_AES_CBC_128 : CONF_NONE,
    hash,
    keyExchangeLength: sha1 ? 20 : 32,
    icvLength: sha1 ? 12 : 16,
    integrityHash: integrity ? hash : null,
    authCodeLength: integrity ? (sha1 ? 12 : 16) : 0,
    encrypted,
  };
}

export const CIPHER_SUITES: readonly CipherSuite[] = [
  suite(1, 'sha1', false, false),
  suite(2, 'sha1', true, false),
  suite(3, 'sha1', true, true),
  suite(15, 'sha256', false, false),
  suite(16, 'sha256', true, false),
  suite(17, 'sha256', true, true),
];

export function suiteById(id: number): CipherSuite | undefined {
  return CIPHER_SUITES.find((s) => s.id === id);
}

/** RMCP+ status codes (Open Session Response, RAKP2, RAKP4). */
export const RMCPP_STATUS = {
  OK: 0x00,
  INSUFFICIENT_RESOURCES: 0x01,
  INVALID_SESSION_ID: 0x02,
  INVALID_PAYLOAD_TYPE: 0x03,
  INVALID_AUTH_ALG: 0x04,
  INVALID_INTEGRITY_ALG: 0x05,
  INACTIVE_SESSION: 0x08,
  INVALID_ROLE: 0x09,
  UNAUTHORIZED_ROLE: 0x0a,
  INVALID_NAME_LENGTH: 0x0c,
  UNAUTHORIZED_NAME: 0x0d,
  INVALID_INTEGRITY_CHECK: 0x0f,
  INVALID_CONF_ALG: 0x10,
  NO_CIPHER_SUITE_MATCH: 0x11,
  ILLEGAL_PARAMETER: 0x12,
} as const;

/**
 * Picks the suite matching exactly the proposed algorithms, or returns the RMCP+ status that
 * explains the refusal (never substitutes algorithms: ipmitool rejects substitutions).
 */
export function matchSuite(auth: number, integrity: number, confidentiality: number): CipherSuite | number {
  if (auth !== AUTH_ALG_HMAC_SHA1 && auth !== AUTH_ALG_HMAC_SHA256) return RMCPP_STATUS.INVALID_AUTH_ALG;
  if (
    integrity !== INTEGRITY_NONE &&
    integrity !== INTEGRITY_HMAC_SHA1_96 &&
    integrity !== INTEGRITY_HMAC_SHA256_128
  ) {
    return RMCPP_STATUS.INVALID_INTEGRITY_ALG;
  }
  if (confidentiality !== CONF_NONE && confidentiality !== CONF_AES_CBC_128)
    return RMCPP_STATUS.INVALID_CONF_ALG;
  const s = CIPHER_SUITES.find(
    (c) => c.auth === auth && c.integrity === integrity && c.confidentiality === confidentiality,
  );
  return s ?? RMCPP_STATUS.NO_CIPHER_SUITE_MATCH;
}

/**
 * The Get Channel Cipher Suites record stream: one 5-byte standard record per suite
 * (`C0 id 00|auth 40|integrity 80|conf`), never the compact multi-algorithm form.
 */
export function cipherSuiteRecords(): Buffer {
  return Buffer.from(
    CIPHER_SUITES.flatMap((s) => [0xc0, s.id, s.auth, 0x40 | s.integrity, 0x80 | s.confidentiality]),
  );
}

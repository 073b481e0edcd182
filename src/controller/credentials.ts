/** Checks of the Secrets a BMC names, with messages a person can act on. Never returns a secret value. */
import { accountProblem, validateAccount } from '../machine/accounts.ts';
import type { KObject } from './types.ts';

function field(secret: KObject, key: string): string | undefined {
  const data = secret.data as Record<string, string> | undefined;
  const raw = data?.[key];
  if (typeof raw === 'string') return Buffer.from(raw, 'base64').toString('utf8');
  const plain = (secret.stringData as Record<string, string> | undefined)?.[key];
  return typeof plain === 'string' ? plain : undefined;
}

/**
 * Null when the auth Secret holds a usable `username` and `password`; otherwise what is wrong.
 * `ipmi` (default true): also IPMI's limits (user name ≤ 16 bytes, password ≤ 20); false: only
 * what every protocol needs (Redfish takes longer values).
 */
export function authSecretProblem(secret: KObject, ipmi = true): string | null {
  const username = field(secret, 'username');
  const password = field(secret, 'password');
  if (username === undefined) return 'has no key "username"';
  if (password === undefined) return 'has no key "password"';
  return ipmi ? validateAccount({ username, password }) : accountProblem({ username, password });
}

/** Null when the TLS Secret holds `tls.crt` and `tls.key` in PEM form. */
export function tlsSecretProblem(secret: KObject): string | null {
  const crt = field(secret, 'tls.crt');
  const key = field(secret, 'tls.key');
  if (!crt) return 'has no key "tls.crt"';
  if (!key) return 'has no key "tls.key"';
  if (!crt.includes('-----BEGIN CERTIFICATE-----')) return '"tls.crt" is not a PEM certificate';
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) return '"tls.key" is not a PEM private key';
  return null;
}

/**
 * BMC accounts, shared by IPMI and Redfish. A protocol server is given an `AccountSource` and reads
 * it on every authentication, so a rotated password takes effect without a restart. Passwords are
 * held only in memory and never logged.
 */
export type BmcRole = 'Administrator' | 'Operator' | 'ReadOnly';

export interface BmcAccount {
  /** 1–16 bytes (the IPMI limit), printable ASCII, no spaces. */
  readonly username: string;
  /** 1–20 bytes (the IPMI 2.0 limit). */
  readonly password: string;
  readonly role: BmcRole;
}

export type AccountSource = () => readonly BmcAccount[];

export const IPMI_MAX_USERNAME_BYTES = 16;
export const IPMI_MAX_PASSWORD_BYTES = 20;

/**
 * Checks an account against the limits both protocols can honour; returns a message a person can
 * act on, or null when the account is valid.
 */
export function validateAccount(account: { username?: unknown; password?: unknown }): string | null {
  const { username, password } = account;
  if (typeof username !== 'string' || username.length === 0) return 'username is missing or empty';
  if (typeof password !== 'string' || password.length === 0) return 'password is missing or empty';
  if (!/^[\x21-\x7e]+$/.test(username)) return 'username must be printable ASCII without spaces';
  if (Buffer.byteLength(username) > IPMI_MAX_USERNAME_BYTES) {
    return `username is ${Buffer.byteLength(username)} bytes; IPMI allows at most ${IPMI_MAX_USERNAME_BYTES}`;
  }
  if (Buffer.byteLength(password) > IPMI_MAX_PASSWORD_BYTES) {
    return `password is ${Buffer.byteLength(password)} bytes; IPMI allows at most ${IPMI_MAX_PASSWORD_BYTES}`;
  }
  return null;
}

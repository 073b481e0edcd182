/**
 * BMC accounts, shared by IPMI and Redfish. A protocol server is given an `AccountSource` and reads
 * it on every authentication, so a rotated password takes effect without a restart. A source that
 * can change also tells its subscribers which accounts changed, so that the sessions opened with
 * the old password end at once (`AccountList`). Passwords are held only in memory and never logged.
 */
export type BmcRole = 'Administrator' | 'Operator' | 'ReadOnly';

export interface BmcAccount {
  /** 1–16 bytes for IPMI (the protocol's limit), printable ASCII, no spaces. */
  readonly username: string;
  /** 1–20 bytes for IPMI (the IPMI 2.0 limit); Redfish takes longer ones. */
  readonly password: string;
  readonly role: BmcRole;
}

/** Who must lose their sessions after the accounts changed. */
export interface AccountChange {
  /**
   * User names whose password or role changed, or that were renamed or removed: every session
   * opened with them must end.
   */
  readonly revoked: readonly string[];
}

/** What a protocol server did about an `AccountChange`. */
export interface SessionsEnded {
  readonly protocol: 'ipmi' | 'redfish';
  /** Sessions it ended (Serial over LAN ends with its IPMI session). */
  readonly sessions: number;
}

export type AccountListener = (change: AccountChange) => SessionsEnded | undefined;

/**
 * The accounts, read on every authentication. A source whose accounts can change has `subscribe`:
 * each protocol server subscribes and ends the sessions of the accounts a change revokes, and
 * unsubscribes (the function returned) when it closes. A plain function is a source that never
 * changes.
 */
export type AccountSource = (() => readonly BmcAccount[]) & {
  readonly subscribe?: (listener: AccountListener) => () => void;
};

export const IPMI_MAX_USERNAME_BYTES = 16;
export const IPMI_MAX_PASSWORD_BYTES = 20;

/**
 * What makes an account unusable on every protocol (missing or empty fields, a user name that is
 * not printable ASCII); null when Redfish can use it. Messages never quote the password.
 */
export function accountProblem(account: { username?: unknown; password?: unknown }): string | null {
  const { username, password } = account;
  if (typeof username !== 'string' || username.length === 0) return 'username is missing or empty';
  if (typeof password !== 'string' || password.length === 0) return 'password is missing or empty';
  if (!/^[\x21-\x7e]+$/.test(username)) return 'username must be printable ASCII without spaces';
  return null;
}

/**
 * Checks an account against the limits IPMI can honour (and so both protocols): `accountProblem`,
 * then user names of at most 16 bytes and passwords of at most 20. Returns a message a person can
 * act on, naming the limit, or null when the account is valid.
 */
export function validateAccount(account: { username?: unknown; password?: unknown }): string | null {
  const basic = accountProblem(account);
  if (basic) return basic;
  const username = account.username as string;
  const password = account.password as string;
  if (Buffer.byteLength(username) > IPMI_MAX_USERNAME_BYTES) {
    return `username is ${Buffer.byteLength(username)} bytes; IPMI allows at most ${IPMI_MAX_USERNAME_BYTES}`;
  }
  if (Buffer.byteLength(password) > IPMI_MAX_PASSWORD_BYTES) {
    return `password is ${Buffer.byteLength(password)} bytes; IPMI allows at most ${IPMI_MAX_PASSWORD_BYTES}`;
  }
  return null;
}

/** The IPMI problem of an account, named for the place it is used. Same as `validateAccount`. */
export const ipmiAccountProblem = validateAccount;

/**
 * The user names whose sessions a change from `before` to `after` must end: each account of
 * `before` with no account of the same name, password and role in `after`.
 */
export function revokedBy(before: readonly BmcAccount[], after: readonly BmcAccount[]): string[] {
  const out: string[] = [];
  for (const a of before) {
    const same = after.some(
      (b) => b.username === a.username && b.password === a.password && b.role === a.role,
    );
    if (!same && !out.includes(a.username)) out.push(a.username);
  }
  return out;
}

/**
 * A changeable set of accounts: `source` is what the protocol servers read and subscribe to, and
 * `set()` replaces the accounts and has every subscriber end the sessions of the accounts whose
 * name, password or role changed (or that are gone), before it returns.
 */
export class AccountList {
  #accounts: readonly BmcAccount[];
  readonly #listeners = new Set<AccountListener>();
  readonly source: AccountSource;

  constructor(initial: readonly BmcAccount[] = []) {
    this.#accounts = initial;
    const read = () => this.#accounts;
    this.source = Object.assign(read, {
      subscribe: (listener: AccountListener) => {
        this.#listeners.add(listener);
        return () => {
          this.#listeners.delete(listener);
        };
      },
    });
  }

  get accounts(): readonly BmcAccount[] {
    return this.#accounts;
  }

  /** Subscribers (protocol servers following this list); for diagnostics and tests. */
  get subscribers(): number {
    return this.#listeners.size;
  }

  /**
   * Replaces the accounts. Returns the revoked user names and what each subscriber ended; a
   * subscriber that throws is skipped (`onError` hears of it), the others still run.
   */
  set(
    accounts: readonly BmcAccount[],
    onError?: (err: unknown) => void,
  ): { revoked: string[]; ended: SessionsEnded[] } {
    const revoked = revokedBy(this.#accounts, accounts);
    this.#accounts = accounts;
    const ended: SessionsEnded[] = [];
    if (revoked.length === 0) return { revoked, ended };
    for (const listener of [...this.#listeners]) {
      try {
        const r = listener({ revoked });
        if (r) ended.push(r);
      } catch (err) {
        onError?.(err);
      }
    }
    return { revoked, ended };
  }
}

/** "1 Redfish session and 2 IPMI sessions", Redfish first (null when none ended). */
export function describeEnded(ended: readonly SessionsEnded[]): string | null {
  const parts: string[] = [];
  for (const [protocol, name] of [
    ['redfish', 'Redfish'],
    ['ipmi', 'IPMI'],
  ] as const) {
    const n = ended.filter((e) => e.protocol === protocol).reduce((sum, e) => sum + e.sessions, 0);
    if (n > 0) parts.push(`${n} ${name} session${n === 1 ? '' : 's'}`);
  }
  return parts.length === 0 ? null : parts.join(' and ');
}

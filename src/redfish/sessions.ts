import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccountSource, BmcAccount, SessionsEnded } from '../machine/index.ts';

/**
 * Authentication: the constant-time account check and the session store. The failed-login budgets
 * and the log lines of failed logins are `login-guard.ts`. Nothing here logs; tokens and passwords
 * never leave this module except the token returned once to the client that logged in.
 */

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export class AccountChecker {
  readonly #accounts: AccountSource;

  constructor(accounts: AccountSource) {
    this.#accounts = accounts;
  }

  /**
   * The account these credentials prove, or null. Every configured account is compared, whole
   * name and whole password, so the time taken says nothing about which part was wrong.
   */
  verify(username: string, password: string): BmcAccount | null {
    let match: BmcAccount | null = null;
    for (const account of this.#accounts()) {
      const userOk = sameSecret(account.username, username);
      const passOk = sameSecret(account.password, password);
      if (userOk && passOk && !match) match = account;
    }
    return match;
  }

  /** Whether `username` names a configured account (for log lines only, never for answers). */
  isAccount(username: string): boolean {
    return this.#accounts().some((a) => a.username === username);
  }

  /** The account as configured now (roles can change with a rotated secret). */
  find(username: string): BmcAccount | undefined {
    return this.#accounts().find((a) => a.username === username);
  }
}

export interface Session {
  readonly id: string;
  readonly username: string;
  readonly created: Date;
  /** sha256 of the token: the token itself is not kept. */
  readonly tokenHash: string;
  lastUsed: number;
  readonly clientAddress: string;
}

export class SessionStore {
  readonly #byId = new Map<string, Session>();
  readonly #byToken = new Map<string, Session>();
  readonly #timeoutMs: number;
  readonly #max: number;
  readonly #now: () => number;
  #nextId = 1;

  constructor(timeoutSeconds: number, max: number, now: () => number = Date.now) {
    this.#timeoutMs = timeoutSeconds * 1000;
    this.#max = max;
    this.#now = now;
  }

  /** Creates a session; returns null when the bound is reached. */
  create(username: string, clientAddress: string): { session: Session; token: string } | null {
    this.#expire();
    if (this.#byId.size >= this.#max) return null;
    const token = randomBytes(32).toString('hex');
    const id = `${this.#nextId++}${randomBytes(4).toString('hex')}`;
    const session: Session = {
      id,
      username,
      created: new Date(this.#now()),
      tokenHash: hashToken(token),
      lastUsed: this.#now(),
      clientAddress,
    };
    this.#byId.set(id, session);
    this.#byToken.set(session.tokenHash, session);
    return { session, token };
  }

  /** The live session for a token, refreshing its idle timer; undefined when unknown or expired. */
  touch(token: string): Session | undefined {
    const s = this.#byToken.get(hashToken(token));
    if (!s) return undefined;
    if (this.#now() - s.lastUsed > this.#timeoutMs) {
      this.delete(s.id);
      return undefined;
    }
    s.lastUsed = this.#now();
    return s;
  }

  get(id: string): Session | undefined {
    this.#expire();
    return this.#byId.get(id);
  }

  list(): Session[] {
    this.#expire();
    return [...this.#byId.values()];
  }

  delete(id: string): boolean {
    const s = this.#byId.get(id);
    if (!s) return false;
    this.#byId.delete(id);
    this.#byToken.delete(s.tokenHash);
    return true;
  }

  /** Ends the sessions of accounts that no longer exist. */
  retainUsers(usernames: ReadonlySet<string>): void {
    for (const s of [...this.#byId.values()]) if (!usernames.has(s.username)) this.delete(s.id);
  }

  /** Ends every session of these user names (their password changed); returns how many ended. */
  revokeUsers(usernames: Iterable<string>): number {
    const names = new Set(usernames);
    let n = 0;
    for (const s of [...this.#byId.values()]) {
      if (names.has(s.username) && this.delete(s.id)) n++;
    }
    return n;
  }

  /**
   * Follows an account source that announces changes (a watched Secret): when an account's password,
   * role or name changes, every session opened with it ends at once, so a token obtained with a
   * leaked password stops working with the rotation. Returns the function that stops following.
   */
  follow(accounts: AccountSource): () => void {
    const off = accounts.subscribe?.(
      (change): SessionsEnded => ({ protocol: 'redfish', sessions: this.revokeUsers(change.revoked) }),
    );
    return off ?? (() => {});
  }

  #expire(): void {
    const now = this.#now();
    for (const s of [...this.#byId.values()]) if (now - s.lastUsed > this.#timeoutMs) this.delete(s.id);
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Parses `Authorization: Basic …`; null when absent or malformed. */
export function parseBasic(header: string | undefined): { username: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccountSource, BmcAccount } from '../machine/index.ts';

/**
 * Authentication: the account check (constant time, with lockout) and the session store.
 * Nothing here logs; tokens and passwords never leave this module except the token returned once
 * to the client that logged in.
 */

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export interface LockoutPolicy {
  /** Failed attempts that lock the account; 0 disables lockout. */
  readonly threshold: number;
  readonly durationSeconds: number;
  /** Failures older than this no longer count. */
  readonly resetAfterSeconds: number;
}

export type AuthResult = { ok: true; account: BmcAccount } | { ok: false; locked: boolean };

export class AccountChecker {
  readonly #accounts: AccountSource;
  readonly #policy: LockoutPolicy;
  readonly #failures = new Map<string, { count: number; last: number; lockedUntil: number }>();
  readonly #now: () => number;

  constructor(accounts: AccountSource, policy: LockoutPolicy, now: () => number = Date.now) {
    this.#accounts = accounts;
    this.#policy = policy;
    this.#now = now;
  }

  /** Checks a user name and password. Every configured account is compared, so timing says nothing. */
  check(username: string, password: string): AuthResult {
    const now = this.#now();
    let match: BmcAccount | null = null;
    for (const account of this.#accounts()) {
      const userOk = sameSecret(account.username, username);
      const passOk = sameSecret(account.password, password);
      if (userOk && passOk && !match) match = account;
    }
    const f = this.#failures.get(username);
    if (f && f.lockedUntil > now) return { ok: false, locked: true };
    if (match) {
      this.#failures.delete(username);
      return { ok: true, account: match };
    }
    if (this.#policy.threshold > 0) {
      const fresh =
        f && now - f.last < this.#policy.resetAfterSeconds * 1000 ? f : { count: 0, last: 0, lockedUntil: 0 };
      fresh.count++;
      fresh.last = now;
      if (fresh.count >= this.#policy.threshold) {
        fresh.lockedUntil = now + this.#policy.durationSeconds * 1000;
        fresh.count = 0;
      }
      this.#failures.set(username, fresh);
      // Bound the table: forget the oldest entries if someone sprays user names.
      if (this.#failures.size > 1024) {
        const oldest = this.#failures.keys().next().value;
        if (oldest !== undefined) this.#failures.delete(oldest);
      }
    }
    return { ok: false, locked: false };
  }

  isLocked(username: string): boolean {
    const f = this.#failures.get(username);
    return !!f && f.lockedUntil > this.#now();
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

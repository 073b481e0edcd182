/**
 * Failed-login limits. `AuthFailureLimiter` is a token bucket per key: each failure takes a
 * token, tokens come back one per `refillMs`, and while a key has none its attempts are refused —
 * even with the right password. `LoginGuard` applies two of them: one per source address and one
 * per account (user name, whatever the source), and exempts a source that recently proved the
 * password of an account from that account's budget. Only a failed proof counts (a RAKP 3 that
 * does not verify or that reports a wrong password, a 1.5 activation whose auth code is wrong);
 * asking for a challenge or a RAKP 2 does not.
 */
export interface AuthRateLimitOptions {
  /** Failures allowed per source address in a burst (default 6). */
  burst?: number;
  /** Milliseconds for one failure of a source to be forgiven (default 5000). */
  refillMs?: number;
  /** Sources tracked at most (default 4096). */
  maxSources?: number;
  /** Failures allowed per user name, all sources together, in a burst (default 10). */
  accountBurst?: number;
  /** Milliseconds for one failure on a user name to be forgiven (default 6000). */
  accountRefillMs?: number;
  /** User names tracked at most (default 4096). */
  maxAccounts?: number;
  /**
   * How long a source that logged in to an account stays exempt from that account's budget
   * (default 24 h); at most 32 such sources per account are remembered.
   */
  trustedSourceMs?: number;
}

export const AUTH_RATE_LIMIT_DEFAULTS = {
  burst: 6,
  refillMs: 5000,
  maxSources: 4096,
  accountBurst: 10,
  accountRefillMs: 6000,
  maxAccounts: 4096,
  trustedSourceMs: 24 * 3600_000,
} as const;

const TRUSTED_PER_ACCOUNT = 32;
const TRUSTED_ACCOUNTS = 64;

export class AuthFailureLimiter {
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #max: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    options: { burst?: number; refillMs?: number; maxSources?: number } = {},
    readonly now: () => number = Date.now,
  ) {
    this.#burst = options.burst ?? AUTH_RATE_LIMIT_DEFAULTS.burst;
    this.#refillMs = options.refillMs ?? AUTH_RATE_LIMIT_DEFAULTS.refillMs;
    this.#max = options.maxSources ?? AUTH_RATE_LIMIT_DEFAULTS.maxSources;
  }

  get burst(): number {
    return this.#burst;
  }

  get refillMs(): number {
    return this.#refillMs;
  }

  #bucket(source: string): { tokens: number; at: number } | undefined {
    const b = this.#buckets.get(source);
    if (!b) return undefined;
    const t = this.now();
    const refill = Math.floor((t - b.at) / this.#refillMs);
    if (refill > 0) {
      b.tokens = Math.min(this.#burst, b.tokens + refill);
      b.at += refill * this.#refillMs;
      if (b.tokens >= this.#burst) {
        this.#buckets.delete(source);
        return undefined;
      }
    }
    return b;
  }

  /** Keys with failures not yet forgiven. */
  get size(): number {
    return this.#buckets.size;
  }

  /** True when `source` may try to authenticate now. */
  allowed(source: string): boolean {
    const b = this.#bucket(source);
    return !b || b.tokens >= 1;
  }

  /** Gives back one token (an attempt counted up front turned out to succeed). */
  refund(source: string): void {
    const b = this.#bucket(source);
    if (!b) return;
    b.tokens = Math.min(this.#burst, b.tokens + 1);
    if (b.tokens >= this.#burst) this.#buckets.delete(source);
  }

  /** Records a failed authentication from `source`. */
  fail(source: string): void {
    let b = this.#bucket(source);
    if (!b) {
      if (this.#buckets.size >= this.#max) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      b = { tokens: this.#burst, at: this.now() };
      this.#buckets.set(source, b);
    }
    b.tokens = Math.max(0, b.tokens - 1);
  }
}

/** Why a login attempt may not proceed: its source's or its account's failures. */
export type LoginVerdict = 'ok' | 'source' | 'account';

/**
 * The failed-login policy of one BMC: a per-source budget (default 6 failures, then one per 5 s)
 * and a per-account budget across all sources (default 10 failures, then one per 6 s), checked
 * before a login proceeds and again before its proof is evaluated. A source that proved an
 * account's password in the last 24 h is exempt from that account's budget (not from its own),
 * so a distributed guesser cannot lock out the consoles that already use the BMC.
 *
 * Accounts are keyed by the user name bytes as sent, known to the BMC or not: unknown names get
 * the same budgets and answers, so the limits cannot tell an attacker which names exist.
 */
export class LoginGuard {
  readonly sources: AuthFailureLimiter;
  readonly accounts: AuthFailureLimiter;
  readonly #trustMs: number;
  /** account → source address → time of its last successful login. */
  readonly #trusted = new Map<string, Map<string, number>>();

  constructor(
    options: AuthRateLimitOptions = {},
    readonly now: () => number = Date.now,
  ) {
    const d = AUTH_RATE_LIMIT_DEFAULTS;
    this.sources = new AuthFailureLimiter(
      {
        burst: options.burst ?? d.burst,
        refillMs: options.refillMs ?? d.refillMs,
        maxSources: options.maxSources ?? d.maxSources,
      },
      now,
    );
    this.accounts = new AuthFailureLimiter(
      {
        burst: options.accountBurst ?? d.accountBurst,
        refillMs: options.accountRefillMs ?? d.accountRefillMs,
        maxSources: options.maxAccounts ?? d.maxAccounts,
      },
      now,
    );
    this.#trustMs = options.trustedSourceMs ?? d.trustedSourceMs;
  }

  /** Whether a login for `account` from `address` may proceed now. */
  check(address: string, account: string): LoginVerdict {
    if (!this.sources.allowed(address)) return 'source';
    if (!this.accounts.allowed(account) && !this.trusted(address, account)) return 'account';
    return 'ok';
  }

  /** A failed proof: counts against the source and the account. */
  failed(address: string, account: string): void {
    this.sources.fail(address);
    this.accounts.fail(account);
  }

  /** A proven password: `address` becomes trusted for `account`. */
  succeeded(address: string, account: string): void {
    let m = this.#trusted.get(account);
    if (!m) {
      if (this.#trusted.size >= TRUSTED_ACCOUNTS) {
        const oldest = this.#trusted.keys().next().value;
        if (oldest !== undefined) this.#trusted.delete(oldest);
      }
      m = new Map();
      this.#trusted.set(account, m);
    }
    m.delete(address);
    if (m.size >= TRUSTED_PER_ACCOUNT) {
      const oldest = m.keys().next().value;
      if (oldest !== undefined) m.delete(oldest);
    }
    m.set(address, this.now());
  }

  /** Whether `address` logged in to `account` recently enough to bypass the account's budget. */
  trusted(address: string, account: string): boolean {
    const at = this.#trusted.get(account)?.get(address);
    return at !== undefined && this.now() - at <= this.#trustMs;
  }
}

import { isIPv4, isIPv6 } from 'node:net';
import type { AccountSource } from './accounts.ts';

/**
 * The failed-login policy every protocol of a BMC applies (docs/security.md, "Failed logins"). Two
 * budgets, each a token bucket of failures: one per source address and one per user name (all
 * sources together). A failed password check takes a token from both; tokens come back one per
 * refill interval; while either bucket is empty, a login is refused *before* its password is
 * looked at — right or wrong. A source that proved an account's password recently is exempt from
 * that account's budget (not from its own), so guessing from elsewhere cannot shut out the clients
 * that already use the BMC, and a source that is guessing cannot shut out the others: nothing is
 * ever locked for everyone.
 *
 * The tables are bounded so that no flood makes them forget a hot account: the configured
 * accounts (a handful) have their own entries, which are never evicted; made-up names are kept in
 * a separate bounded table (so they get the same budget and answers, and the answers do not tell
 * which names exist); sources are kept in a bounded table that, when full, evicts one within its
 * budget before one over it. The clock is injectable for tests.
 *
 * What counts as a failure, what a refusal looks like on the wire and how it is logged belong to
 * each protocol (`src/ipmi/session/`, `src/redfish/login-guard.ts`); each BMC's IPMI and Redfish
 * services keep a guard of their own.
 */
export interface LoginLimits {
  /** Failures allowed per source address in a burst (default 6; 0 turns this budget off). */
  sourceBurst?: number;
  /** Milliseconds for one failure of a source to be forgiven (default 5000). */
  sourceRefillMs?: number;
  /** Source addresses tracked at most (default 4096). */
  maxSources?: number;
  /** Failures allowed per user name, all sources together, in a burst (default 10; 0: off). */
  accountBurst?: number;
  /** Milliseconds for one failure on a user name to be forgiven (default 6000). */
  accountRefillMs?: number;
  /** Names that are not accounts tracked at most (default 4096); accounts are always tracked. */
  maxUnknownNames?: number;
  /**
   * How long a source that logged in to an account stays exempt from that account's budget
   * (default 24 h; 0: never exempt). At most 32 sources per account are remembered.
   */
  trustedSourceMs?: number;
}

export const LOGIN_LIMIT_DEFAULTS: Readonly<Required<LoginLimits>> = {
  sourceBurst: 6,
  sourceRefillMs: 5000,
  maxSources: 4096,
  accountBurst: 10,
  accountRefillMs: 6000,
  maxUnknownNames: 4096,
  trustedSourceMs: 24 * 3600_000,
};

const TRUSTED_PER_ACCOUNT = 32;
/** A trusted source's time is refreshed at most this often (Basic auth proves it on every request). */
const TRUST_REFRESH_MS = 60_000;
/** When a full table must evict, this many least recently failed entries are looked at. */
const EVICTION_SCAN = 64;

/** The limits with defaults filled in; a value that is not a usable number is an error. */
export function resolveLoginLimits(limits: LoginLimits = {}): Readonly<Required<LoginLimits>> {
  const out = { ...LOGIN_LIMIT_DEFAULTS };
  for (const key of Object.keys(LOGIN_LIMIT_DEFAULTS) as (keyof LoginLimits)[]) {
    const v = limits[key];
    if (v === undefined) continue;
    const min = key === 'sourceBurst' || key === 'accountBurst' || key === 'trustedSourceMs' ? 0 : 1;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
      throw new Error(`login limit ${key} must be an integer of at least ${min}, not ${String(v)}`);
    out[key] = v;
  }
  return out;
}

interface Bucket {
  tokens: number;
  /** When the last token came back (or the bucket was made). */
  at: number;
}

/**
 * Failures per key as token buckets, at most `max` keys. Map order is least recently failed first;
 * a key whose bucket is full again is forgotten.
 */
export class FailureBudget {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    readonly burst: number,
    readonly refillMs: number,
    readonly max: number,
    readonly now: () => number = Date.now,
  ) {}

  /** Keys with failures not yet forgiven. */
  get size(): number {
    return this.#buckets.size;
  }

  keys(): IterableIterator<string> {
    return this.#buckets.keys();
  }

  #current(key: string): Bucket | undefined {
    const b = this.#buckets.get(key);
    if (!b) return undefined;
    const back = Math.floor((this.now() - b.at) / this.refillMs);
    if (back > 0) {
      b.tokens = Math.min(this.burst, b.tokens + back);
      b.at += back * this.refillMs;
      if (b.tokens >= this.burst) {
        this.#buckets.delete(key);
        return undefined;
      }
    }
    return b;
  }

  /** Milliseconds until `key` may try again: 0 when it may now. */
  waitMs(key: string): number {
    if (this.burst === 0) return 0;
    const b = this.#current(key);
    if (!b || b.tokens >= 1) return 0;
    return Math.max(1, b.at + this.refillMs - this.now());
  }

  /** Records a failure of `key`. */
  fail(key: string): void {
    if (this.burst === 0) return;
    let b = this.#current(key);
    if (b) this.#buckets.delete(key);
    else {
      this.#makeRoom();
      b = { tokens: this.burst, at: this.now() };
    }
    b.tokens = Math.max(0, b.tokens - 1);
    this.#buckets.set(key, b);
  }

  forget(key: string): void {
    this.#buckets.delete(key);
  }

  /**
   * Full: drop the least recently failed key that may still try (losing it costs nothing: it is
   * within its budget); only when the oldest ones are all over budget does the oldest of them go.
   */
  #makeRoom(): void {
    if (this.#buckets.size < this.max) return;
    let scanned = 0;
    for (const key of this.#buckets.keys()) {
      const b = this.#current(key);
      if (!b) return; // forgiven meanwhile: there is room now
      if (b.tokens >= 1) {
        this.#buckets.delete(key);
        return;
      }
      if (++scanned >= EVICTION_SCAN) break;
    }
    const oldest = this.#buckets.keys().next().value;
    if (oldest !== undefined) this.#buckets.delete(oldest);
  }
}

/**
 * The key of a source's budget: an IPv4 address (IPv4-mapped IPv6 included) as is, an IPv6
 * address by its /64, the smallest block one host is usually given (a single client could
 * otherwise take a fresh address for every guess).
 */
export function sourceKey(address: string): string {
  const plain = plainAddress(address);
  if (!isIPv6(plain)) return plain;
  const groups = ipv6Groups(plain);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : plain;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; a zone (`%eth0`) is dropped. */
function plainAddress(address: string): string {
  const a = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return mapped?.[1] && isIPv4(mapped[1]) ? mapped[1] : a.toLowerCase();
}

/** The eight 16-bit groups of an IPv6 address, as hex without leading zeros. */
function ipv6Groups(a: string): string[] | null {
  const [head = '', tail] = a.split('::');
  const part = (s: string): string[] =>
    s === ''
      ? []
      : s.split(':').flatMap((g) => {
          if (!g.includes('.')) return [g];
          const o = g.split('.').map(Number);
          return [((o[0]! << 8) | o[1]!).toString(16), ((o[2]! << 8) | o[3]!).toString(16)];
        });
  const h = part(head);
  const t = tail === undefined ? [] : part(tail);
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return null;
  return groups.map((g) => Number.parseInt(g, 16).toString(16));
}

/** Why a login may not proceed now, and for how long. */
export interface Refusal {
  readonly budget: 'source' | 'account';
  readonly retryAfterMs: number;
}

/** The reason a refused login is logged and reported with. */
export function refusalReason(budget: Refusal['budget']): string {
  return budget === 'source'
    ? 'too many failed logins from this source'
    : 'too many failed logins for this user name';
}

/**
 * The failed-login policy of one service. User names are the names as the client sent them (the
 * bytes of an IPMI name as latin1, which is the account's name for any account IPMI can use);
 * `accounts` tells which of them are configured accounts, read at each failure.
 */
export class LoginGuard {
  readonly limits: Readonly<Required<LoginLimits>>;
  readonly sources: FailureBudget;
  /** The configured accounts' budgets: never evicted, dropped when the account goes. */
  readonly #accounts: FailureBudget;
  /** Names that are no accounts: the same budget, in a bounded table of their own. */
  readonly #unknown: FailureBudget;
  /** account → source address → when it last logged in to it. */
  readonly #trusted = new Map<string, Map<string, number>>();
  readonly #accountSource: AccountSource;

  constructor(
    limits: LoginLimits,
    accounts: AccountSource,
    readonly now: () => number = Date.now,
  ) {
    const l = resolveLoginLimits(limits);
    this.limits = l;
    this.#accountSource = accounts;
    this.sources = new FailureBudget(l.sourceBurst, l.sourceRefillMs, l.maxSources, now);
    this.#accounts = new FailureBudget(l.accountBurst, l.accountRefillMs, Number.POSITIVE_INFINITY, now);
    this.#unknown = new FailureBudget(l.accountBurst, l.accountRefillMs, l.maxUnknownNames, now);
  }

  #names(): Set<string> {
    return new Set(this.#accountSource().map((a) => a.username));
  }

  #budgetOf(user: string, names: ReadonlySet<string>): FailureBudget {
    return names.has(user) ? this.#accounts : this.#unknown;
  }

  /** Whether a login for `user` from `address` may have its password checked now. */
  check(address: string, user: string): Refusal | null {
    const fromSource = this.sources.waitMs(sourceKey(address));
    if (fromSource > 0) return { budget: 'source', retryAfterMs: fromSource };
    if (this.trusted(address, user)) return null;
    const fromAccount = this.#budgetOf(user, this.#names()).waitMs(user);
    return fromAccount > 0 ? { budget: 'account', retryAfterMs: fromAccount } : null;
  }

  /** A wrong password (or a name that is no account): counts against the source and the name. */
  failed(address: string, user: string): void {
    const names = this.#names();
    this.sources.fail(sourceKey(address));
    this.#budgetOf(user, names).fail(user);
    this.#prune(names);
  }

  /** A proven password: `address` becomes trusted for `user`. */
  succeeded(address: string, user: string): void {
    if (this.limits.trustedSourceMs === 0) return;
    const at = this.now();
    const a = plainAddress(address);
    let m = this.#trusted.get(user);
    if (!m) {
      const names = this.#names();
      if (!names.has(user)) return;
      m = new Map();
      this.#trusted.set(user, m);
      this.#prune(names);
    }
    const last = m.get(a);
    if (last !== undefined && at - last < TRUST_REFRESH_MS) return;
    m.delete(a);
    if (m.size >= TRUSTED_PER_ACCOUNT) {
      const oldest = m.keys().next().value;
      if (oldest !== undefined) m.delete(oldest);
    }
    m.set(a, at);
  }

  /** Whether `address` logged in to `user` recently enough to bypass that name's budget. */
  trusted(address: string, user: string): boolean {
    const at = this.#trusted.get(user)?.get(plainAddress(address));
    return at !== undefined && this.now() - at <= this.limits.trustedSourceMs;
  }

  /** Whether the name's budget is used up (sources it does not trust are refused). */
  accountOverBudget(user: string): boolean {
    return this.#budgetOf(user, this.#names()).waitMs(user) > 0;
  }

  /** Forgets the budgets and trusted sources of names that are no longer accounts. */
  #prune(names: ReadonlySet<string>): void {
    if (this.#accounts.size > names.size)
      for (const k of [...this.#accounts.keys()]) if (!names.has(k)) this.#accounts.forget(k);
    if (this.#trusted.size > names.size)
      for (const k of [...this.#trusted.keys()]) if (!names.has(k)) this.#trusted.delete(k);
  }
}

/** Longest part of a user name that goes into a log line. */
const LOGGED_NAME_CHARS = 64;

/**
 * A user name as it may appear in a log: at most 64 characters (the rest counted), backslashes
 * doubled, and control, format, line-separator and unassigned characters written as `\u{…}`, so a
 * name cannot forge or hide log lines, nor reorder them on a terminal.
 */
export function loggableName(name: string): string {
  const chars = [...name];
  let out = '';
  for (const c of chars.slice(0, LOGGED_NAME_CHARS)) {
    if (c === '\\') out += '\\\\';
    else if (/[\p{C}\p{Zl}\p{Zp}]/u.test(c)) out += `\\u{${c.codePointAt(0)!.toString(16)}}`;
    else out += c;
  }
  if (chars.length > LOGGED_NAME_CHARS) out += `…(${chars.length - LOGGED_NAME_CHARS} more)`;
  return out;
}

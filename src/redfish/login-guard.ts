import type { Logger } from 'pino';
import type { BmcAccount } from '../machine/index.ts';
import { type LoginGuard, loggableName, refusalReason } from '../machine/login-limits.ts';
import { message, RedfishError } from './messages.ts';
import type { AccountChecker } from './sessions.ts';

/**
 * How the Redfish service applies the failed-login policy (`src/machine/login-limits.ts`;
 * docs/security.md, "Failed logins"): every password check — `Authorization: Basic` on any URI and
 * session login — goes through `RedfishLogin`, which asks the guard first, checks the password in
 * constant time, then logs the failure and reports it. A login a budget refuses is answered 503
 * with `Retry-After` (`loginRefused`), its password unchecked.
 */

/** One failed or refused login, as the agent counts it. */
export interface LoginFailure {
  /** The user name as given, made safe for logs (`loggableName`). */
  readonly user: string;
  /** `address:port` of the client. */
  readonly source: string;
  readonly reason: string;
}

export type LoginOutcome =
  | { ok: true; account: BmcAccount }
  /** `retryAfterSeconds` is set when the login was refused by a budget (its password unchecked). */
  | { ok: false; retryAfterSeconds: number | null };

/** The client of a request: `address:port` as the server records it (`Ctx.actor.source`). */
export function splitSource(source: string): { address: string; port: string } {
  const i = source.lastIndexOf(':');
  return i < 0 ? { address: source, port: '' } : { address: source.slice(0, i), port: source.slice(i + 1) };
}

/** Refusals logged at most this many times per window (the metric counts all of them). */
const REFUSAL_LOG_LINES = 10;
const REFUSAL_LOG_WINDOW_MS = 10_000;

/**
 * Every password check of the service (Basic authentication and session login) goes through here:
 * the budgets first, then the constant-time check, then the log line and the failure callback.
 */
export class RedfishLogin {
  readonly guard: LoginGuard;
  readonly #checker: AccountChecker;
  readonly #log: Logger;
  readonly #onFailure: ((e: LoginFailure) => void) | undefined;
  #window = { start: Number.NEGATIVE_INFINITY, lines: 0, suppressed: 0 };

  constructor(o: {
    checker: AccountChecker;
    guard: LoginGuard;
    log: Logger;
    onFailure?: ((e: LoginFailure) => void) | undefined;
  }) {
    this.#checker = o.checker;
    this.guard = o.guard;
    this.#log = o.log;
    this.#onFailure = o.onFailure;
  }

  /** Checks `user`/`password` from `source` (`address:port`); `via` names the way in for the log. */
  attempt(user: string, password: string, source: string, via: 'basic' | 'session'): LoginOutcome {
    const { address } = splitSource(source);
    const refusal = this.guard.check(address, user);
    if (refusal) {
      const retryAfterSeconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
      this.#refused(user, source, via, refusalReason(refusal.budget), retryAfterSeconds);
      return { ok: false, retryAfterSeconds };
    }
    const account = this.#checker.verify(user, password);
    if (account) {
      this.guard.succeeded(address, account.username);
      return { ok: true, account };
    }
    this.guard.failed(address, user);
    const reason = this.#checker.isAccount(user) ? 'wrong password' : 'unknown user name';
    const name = loggableName(user);
    this.#log.warn({ user: name, source, via, reason }, 'redfish: login failed');
    this.#report({ user: name, source, reason });
    return { ok: false, retryAfterSeconds: null };
  }

  /** The account as configured now (roles can change with a rotated secret). */
  find(username: string): BmcAccount | undefined {
    return this.#checker.find(username);
  }

  /** Whether sources the account does not trust are refused now (`ManagerAccount.Locked`). */
  locked(username: string): boolean {
    return this.guard.accountOverBudget(username);
  }

  #refused(user: string, source: string, via: string, reason: string, retryAfterSeconds: number): void {
    const name = loggableName(user);
    const now = this.guard.now();
    const w = this.#window;
    if (now - w.start >= REFUSAL_LOG_WINDOW_MS) {
      if (w.suppressed > 0)
        this.#log.warn({ refusals: w.suppressed }, 'redfish: more logins refused (not logged one by one)');
      this.#window = { start: now, lines: 0, suppressed: 0 };
    }
    if (this.#window.lines < REFUSAL_LOG_LINES) {
      this.#window.lines++;
      this.#log.warn({ user: name, source, via, reason, retryAfterSeconds }, 'redfish: login refused');
    } else this.#window.suppressed++;
    this.#report({ user: name, source, reason });
  }

  #report(e: LoginFailure): void {
    if (!this.#onFailure) return;
    try {
      this.#onFailure(e);
    } catch (err) {
      this.#log.error({ err }, 'redfish: login failure listener failed');
    }
  }
}

/** The answer to a login refused by a budget: 503 with `Retry-After`, password unchecked. */
export function loginRefused(retryAfterSeconds: number): RedfishError {
  const s = String(retryAfterSeconds);
  return new RedfishError(503, message('ServiceTemporarilyUnavailable', [s]), { 'Retry-After': s });
}

/**
 * Per-source limit on failed authentications (a token bucket per client address). Each failure
 * takes a token; tokens come back one per `refillMs`. While a source has no token left, its new
 * authentication attempts are refused — even with the right password — so guessing is slowed to
 * one try per `refillMs`. The table is bounded: the oldest entries are dropped first.
 */
export interface AuthRateLimitOptions {
  /** Failures allowed in a burst (default 6). */
  burst?: number;
  /** Milliseconds for one failure to be forgiven (default 5000). */
  refillMs?: number;
  /** Sources tracked at most (default 4096). */
  maxSources?: number;
}

export class AuthFailureLimiter {
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #max: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    options: AuthRateLimitOptions = {},
    readonly now: () => number = Date.now,
  ) {
    this.#burst = options.burst ?? 6;
    this.#refillMs = options.refillMs ?? 5000;
    this.#max = options.maxSources ?? 4096;
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

/**
 * A work queue of keys: a key queued many times while waiting is processed once; a key is never
 * processed by two workers at once; failures are retried with per-key exponential backoff.
 */
export class WorkQueue {
  readonly #pending = new Set<string>();
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #handler: (key: string) => Promise<void>;
  readonly #concurrency: number;
  #running = 0;
  #paused = true;
  #idleWaiters: Array<() => void> = [];

  constructor(handler: (key: string) => Promise<void>, concurrency = 4) {
    this.#handler = handler;
    this.#concurrency = concurrency;
  }

  add(key: string): void {
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#pending.add(key);
    this.#pump();
  }

  /** Re-adds the key after a backoff that doubles with each consecutive failure (max 60 s). */
  retry(key: string): void {
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    const delay = Math.min(60_000, 100 * 2 ** (n - 1));
    clearTimeout(this.#timers.get(key));
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        this.add(key);
      }, delay),
    );
  }

  /** Adds the key after `ms` (a later look, not a failure), unless a timer for it is already set. */
  later(key: string, ms: number): void {
    if (this.#timers.has(key)) return;
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  start(): void {
    this.#paused = false;
    this.#pump();
  }

  pause(): void {
    this.#paused = true;
  }

  get length(): number {
    return this.#pending.size + this.#active.size;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  stop(): void {
    this.#paused = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#pending.clear();
  }

  #pump(): void {
    while (!this.#paused && this.#running < this.#concurrency && this.#pending.size > 0) {
      const key = this.#pending.values().next().value as string;
      this.#pending.delete(key);
      this.#active.add(key);
      this.#running++;
      void this.#handler(key)
        .catch(() => {})
        .finally(() => {
          this.#running--;
          this.#active.delete(key);
          if (this.#dirty.delete(key)) this.#pending.add(key);
          if (this.length === 0) for (const w of this.#idleWaiters.splice(0)) w();
          this.#pump();
        });
    }
  }
}

import type { Source } from './session.ts';

/** What `SetupTable` needs of an entry. */
export interface SetupEntry {
  readonly id: number;
  readonly source: Source;
  readonly createdAt: number;
}

export interface SetupLimits {
  /** Entries kept at most, all sources together; the oldest is dropped for a new one. */
  readonly max: number;
  /** Entries kept at most per source address; that source's oldest is dropped for a new one. */
  readonly perSource: number;
  /** Entries older than this are gone. */
  readonly ttlMs: number;
}

/**
 * Logins in progress that have not proved anything yet (RMCP+ sessions between Open Session and
 * RAKP 3, IPMI 1.5 challenges). They never take one of the BMC's session slots, and a flood of
 * them is contained: one source address holds at most `perSource` entries, so a flood from one
 * address only replaces its own; many addresses together hold at most `max`, dropping the oldest,
 * so a console's entry lives at least `max` ÷ (flood rate) seconds — far longer than a round trip.
 * Entries are kept in creation order, which makes expiry and eviction O(1) each.
 */
export class SetupTable<T extends SetupEntry> {
  readonly #byId = new Map<number, T>();
  readonly #bySource = new Map<string, T[]>();

  constructor(
    readonly limits: SetupLimits,
    readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#byId.size;
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** The live entry `id`, if any. */
  get(id: number): T | undefined {
    const e = this.#byId.get(id);
    if (e && this.now() - e.createdAt > this.limits.ttlMs) {
      this.delete(id);
      return undefined;
    }
    return e;
  }

  /** The entries of one source address, oldest first (expired ones may be included). */
  fromSource(address: string): readonly T[] {
    return this.#bySource.get(address) ?? [];
  }

  /** Adds `e`, making room first; returns what was dropped for it (expired entries excluded). */
  add(e: T): T[] {
    this.expire();
    const dropped: T[] = [];
    const mine = this.#bySource.get(e.source.address);
    if (mine && mine.length >= this.limits.perSource) {
      dropped.push(mine[0]!);
      this.delete(mine[0]!.id);
    } else if (this.#byId.size >= this.limits.max) {
      const oldest = this.#byId.values().next().value;
      if (oldest) {
        dropped.push(oldest);
        this.delete(oldest.id);
      }
    }
    this.#byId.set(e.id, e);
    if (mine) mine.push(e);
    else this.#bySource.set(e.source.address, [e]);
    return dropped;
  }

  delete(id: number): T | undefined {
    const e = this.#byId.get(id);
    if (!e) return undefined;
    this.#byId.delete(id);
    const list = this.#bySource.get(e.source.address);
    if (list) {
      const i = list.indexOf(e);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#bySource.delete(e.source.address);
    }
    return e;
  }

  /** Removes and returns the entries older than the time limit. */
  expire(now = this.now()): T[] {
    const out: T[] = [];
    for (const e of this.#byId.values()) {
      if (now - e.createdAt <= this.limits.ttlMs) break;
      out.push(e);
    }
    for (const e of out) this.delete(e.id);
    return out;
  }

  clear(): void {
    this.#byId.clear();
    this.#bySource.clear();
  }
}

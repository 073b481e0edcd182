import { randomBytes } from 'node:crypto';
import type { Session } from './session.ts';

/**
 * The BMC's session table: unique non-zero random IDs, a bound on concurrent sessions, idle and
 * setup timeouts. Sessions still in RMCP+ setup are evicted first when the table is full.
 */
export class SessionTable {
  readonly #sessions = new Map<number, Session>();

  constructor(
    readonly maxSessions: number,
    readonly idleTimeoutMs: number,
    readonly setupTimeoutMs: number,
  ) {}

  get size(): number {
    return this.#sessions.size;
  }

  get(id: number): Session | undefined {
    return this.#sessions.get(id);
  }

  values(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  activeCount(): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.state === 'active') n++;
    return n;
  }

  /** A fresh unused non-zero 32-bit ID. */
  newId(): number {
    for (;;) {
      const id = randomBytes(4).readUInt32LE(0) >>> 0;
      if (id !== 0 && !this.#sessions.has(id)) return id;
    }
  }

  /**
   * Makes room for one more session: true when there is room (possibly after evicting the oldest
   * session still in setup), false when every slot holds an active session.
   */
  reserve(onEvict: (s: Session) => void): boolean {
    if (this.#sessions.size < this.maxSessions) return true;
    let oldest: Session | undefined;
    for (const s of this.#sessions.values()) {
      if (s.state !== 'active' && (!oldest || s.lastActivity < oldest.lastActivity)) oldest = s;
    }
    if (!oldest) return false;
    this.delete(oldest.id);
    onEvict(oldest);
    return true;
  }

  add(s: Session): void {
    this.#sessions.set(s.id, s);
  }

  delete(id: number): Session | undefined {
    const s = this.#sessions.get(id);
    if (s) this.#sessions.delete(id);
    return s;
  }

  /** Removes and returns sessions idle too long (active) or stuck in setup. */
  expire(now: number): Session[] {
    const out: Session[] = [];
    for (const s of this.#sessions.values()) {
      const limit = s.state === 'active' ? this.idleTimeoutMs : this.setupTimeoutMs;
      if (now - s.lastActivity > limit) out.push(s);
    }
    for (const s of out) this.#sessions.delete(s.id);
    return out;
  }
}

import { randomBytes } from 'node:crypto';
import type { Session } from './session.ts';

/**
 * The BMC's active sessions: unique non-zero random IDs, a bound on concurrent sessions and the
 * idle timeout. Logins still in progress live in a `SetupTable` (setup.ts) and take a slot here
 * only once their password is proven, so no number of unauthenticated packets can fill it.
 */
export class SessionTable {
  readonly #sessions = new Map<number, Session>();
  /** Session ID → session handle (1…0xFD, the smallest free one when the session became active). */
  readonly #handles = new Map<number, number>();

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

  /** A fresh non-zero 32-bit ID, unused here and not `taken` elsewhere (logins in progress). */
  newId(taken?: (id: number) => boolean): number {
    for (;;) {
      const id = randomBytes(4).readUInt32LE(0) >>> 0;
      if (id !== 0 && !this.#sessions.has(id) && !taken?.(id)) return id;
    }
  }

  /** True while a slot is free for one more session. */
  hasRoom(): boolean {
    return this.#sessions.size < this.maxSessions;
  }

  add(s: Session): void {
    this.#sessions.set(s.id, s);
    if (this.#handles.has(s.id)) return;
    const used = new Set(this.#handles.values());
    let h = 1;
    while (used.has(h) && h < 0xfd) h++;
    this.#handles.set(s.id, h);
  }

  /** The session handle (Get Session Info, Close Session by handle); 0 for no such session. */
  handleOf(id: number): number {
    return this.#handles.get(id) ?? 0;
  }

  delete(id: number): Session | undefined {
    const s = this.#sessions.get(id);
    if (s) this.#sessions.delete(id);
    this.#handles.delete(id);
    return s;
  }

  /** Removes and returns the sessions idle too long. */
  expire(now: number): Session[] {
    const out: Session[] = [];
    for (const s of this.#sessions.values()) {
      if (now - s.lastActivity > this.idleTimeoutMs) out.push(s);
    }
    for (const s of out) this.delete(s.id);
    return out;
  }
}

/** In-memory object storage with one cluster-wide resourceVersion counter and a bounded event log. */
import { clone } from './patch.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export type Obj = Record<string, any>;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  key: string;
  type: EventType;
  obj: Obj;
  /** The previous state (MODIFIED/DELETED), for selector transitions. */
  old?: Obj;
}

function nsName(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

export class Store {
  private counter = 100;
  private readonly data = new Map<string, Map<string, Obj>>();
  private readonly byUid = new Map<string, { key: string; ns: string | undefined; name: string }>();
  private log: StoreEvent[] = [];
  /** Every event with rv > floor is in the log. */
  private floor = 100;
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  constructor(private readonly logCapacity = 10_000) {}

  get resourceVersion(): number {
    return this.counter;
  }

  /** Lowest resourceVersion a watch can resume from. */
  get oldestWatchable(): number {
    return this.floor;
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Drops the event log: watches from any older resourceVersion get 410 Expired. */
  compact(): void {
    this.log = [];
    this.floor = this.counter;
  }

  eventsSince(rv: number): StoreEvent[] {
    // binary search for first rv > given
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid]!.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.log.slice(lo);
  }

  get(key: string, ns: string | undefined, name: string): Obj | undefined {
    const o = this.data.get(key)?.get(nsName(ns, name));
    return o ? clone(o) : undefined;
  }

  /** Read-only view without copying (internal fast path; callers must not mutate). */
  peek(key: string, ns: string | undefined, name: string): Obj | undefined {
    return this.data.get(key)?.get(nsName(ns, name));
  }

  list(key: string, ns?: string): Obj[] {
    const m = this.data.get(key);
    if (!m) return [];
    const out: Obj[] = [];
    for (const o of m.values()) if (ns === undefined || o.metadata?.namespace === ns) out.push(o);
    out.sort((a, b) =>
      nsName(a.metadata.namespace, a.metadata.name).localeCompare(
        nsName(b.metadata.namespace, b.metadata.name),
      ),
    );
    return out.map(clone);
  }

  /**
   * The objects of `key` (in `ns`, or all) as they were at resourceVersion `rv`, rebuilt by undoing
   * the logged events after it; undefined when the log no longer reaches back that far.
   */
  listAt(key: string, ns: string | undefined, rv: number): Obj[] | undefined {
    if (rv < this.floor || rv > this.counter) return undefined;
    const state = new Map<string, Obj>();
    for (const o of this.data.get(key)?.values() ?? [])
      if (ns === undefined || o.metadata?.namespace === ns)
        state.set(nsName(o.metadata.namespace, o.metadata.name), o);
    const later = this.eventsSince(rv);
    for (let i = later.length - 1; i >= 0; i--) {
      const e = later[i]!;
      if (e.key !== key || (ns !== undefined && e.obj.metadata?.namespace !== ns)) continue;
      const id = nsName(e.obj.metadata.namespace, e.obj.metadata.name);
      if (e.type === 'ADDED') state.delete(id);
      else if (e.old) state.set(id, e.old);
    }
    return [...state.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, o]) => clone(o));
  }

  /** Internal: every stored object of every key (no copies). */
  *all(): Iterable<[string, Obj]> {
    for (const [key, m] of this.data) for (const o of m.values()) yield [key, o];
  }

  keys(): string[] {
    return [...this.data.keys()];
  }

  lookupUid(uid: string): { key: string; ns: string | undefined; name: string } | undefined {
    return this.byUid.get(uid);
  }

  /** Stores obj (stamping a new resourceVersion) and emits ADDED or MODIFIED. Returns a copy. */
  put(key: string, obj: Obj): Obj {
    let m = this.data.get(key);
    if (!m) {
      m = new Map();
      this.data.set(key, m);
    }
    const id = nsName(obj.metadata.namespace, obj.metadata.name);
    const old = m.get(id);
    const rv = ++this.counter;
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(rv);
    m.set(id, stored);
    if (stored.metadata.uid) {
      this.byUid.set(stored.metadata.uid, { key, ns: stored.metadata.namespace, name: stored.metadata.name });
    }
    this.emit({ rv, key, type: old ? 'MODIFIED' : 'ADDED', obj: stored, ...(old ? { old } : {}) });
    return clone(stored);
  }

  /** Removes obj and emits DELETED carrying its last state with a new resourceVersion. */
  remove(key: string, ns: string | undefined, name: string, finalState?: Obj): Obj | undefined {
    const m = this.data.get(key);
    const id = nsName(ns, name);
    const old = m?.get(id);
    if (!m || !old) return undefined;
    m.delete(id);
    if (old.metadata.uid) this.byUid.delete(old.metadata.uid);
    const rv = ++this.counter;
    const last = clone(finalState ?? old);
    last.metadata.resourceVersion = String(rv);
    this.emit({ rv, key, type: 'DELETED', obj: last, old });
    return clone(last);
  }

  private emit(e: StoreEvent): void {
    this.log.push(e);
    if (this.log.length > this.logCapacity) {
      const drop = this.log.length - this.logCapacity;
      this.floor = this.log[drop - 1]!.rv;
      this.log = this.log.slice(drop);
    }
    for (const fn of [...this.listeners]) {
      try {
        fn(e);
      } catch {
        // a listener's failure must not break the write
      }
    }
  }
}

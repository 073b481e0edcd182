/**
 * A cache of one collection (optionally narrowed by label or field selector): a map kept current by
 * the reflector (`reflector.ts`, the one list-then-watch loop), handlers told of every change, and
 * a promise of the first sync. The controller's, the agent's and the KubeVirt backend's caches are
 * all this.
 *
 * Writes of our own can be put in ahead of the watch (`observe`, `forget`), so a read right after
 * a write sees it. Which of two versions of an object is newer is told by the watch's order, never
 * by comparing resourceVersions (they are opaque): after `observe(X)` the watch's events for that
 * object are older than X until it delivers X itself (it delivers every version in order), and a
 * list asked for after the write already reflects it. An object that is still not confirmed after
 * 30 s (the watch was resumed past it) follows the watch again.
 */
import {
  type ListWatchClient,
  Reflector,
  type ReflectorHandler,
  type ReflectorOptions,
  type ReflectorStats,
} from './reflector.ts';
import { type KubeObject, keyOf } from './types.ts';

/**
 * The least a cached object has: a name. Loosely typed metadata, the shape the fake cluster's
 * components (packages/kube-sim) are written against; the product's code uses `NamedObject`
 * (types.ts), whose metadata fields are typed.
 */
export interface WatchedObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export type InformerEvent = 'add' | 'update' | 'delete';

export type InformerHandler<T> = (type: InformerEvent, obj: T, old?: T) => void;

export interface InformerOptions<T> extends ReflectorOptions {
  /**
   * Applied to every object before it is cached (e.g. to drop fields the user never reads, as
   * client-go's TransformFunc). Must keep metadata's name, namespace and resourceVersion.
   */
  transform?: ((object: T) => T) | undefined;
  /**
   * When the server does not serve the resource at all (404 on the list): count it as synced and
   * empty (`available` false) and look again now and then. Default: not synced until a list works.
   */
  missingIsEmpty?: boolean | undefined;
}

/** Event order across every cache of the process: a counter, bumped by each change and delivery. */
let clock = 0;
const tick = (): number => ++clock;

/** How long an object put in by a write waits for the watch to confirm it. */
const AHEAD_MS = 30_000;
/** How many deliveries (object and version) are remembered, to tell a write's late answer. */
const RECENT = 1024;

interface Ahead {
  /** The version our write produced; null: we deleted it. */
  readonly rv: string | null;
  readonly tick: number;
  readonly at: number;
}

export class Informer<T extends KubeObject = WatchedObject> {
  readonly #o: InformerOptions<T>;
  readonly #reflector: Reflector<T>;
  readonly #items = new Map<string, T>();
  /** When each object last changed here (event order). */
  readonly #changed = new Map<string, number>();
  readonly #handlers = new Set<InformerHandler<T>>();
  readonly #ahead = new Map<string, Ahead>();
  /** `key rv` of the latest deliveries. */
  readonly #recent = new Set<string>();
  #listTick = 0;
  #progress = 0;
  #synced = false;
  #available = true;
  #syncWaiters: Array<() => void> = [];

  constructor(client: ListWatchClient, options: InformerOptions<T>) {
    this.#o = options;
    const handler: ReflectorHandler<T> = {
      listing: () => {
        this.#listTick = tick();
      },
      replace: (items) => this.#replace(items),
      event: (type, object) => this.#event(type, object),
      bookmark: () => {
        this.#progress = tick();
      },
      missing: () => this.#missing(),
    };
    this.#reflector = new Reflector<T>(client, options, handler);
  }

  get synced(): boolean {
    return this.#synced;
  }

  get path(): string {
    return this.#o.path;
  }

  /** False when the server does not serve this resource (with `missingIsEmpty`). */
  get available(): boolean {
    return this.#available;
  }

  /** True while a watch is open (the cache is live, not reconnecting). */
  get watching(): boolean {
    return this.#reflector.watching;
  }

  /** The newest resourceVersion seen (list, events, bookmarks): for diagnostics, never to compare. */
  get resourceVersion(): string {
    return this.#reflector.resourceVersion;
  }

  get lastError(): string | null {
    return this.#reflector.lastError;
  }

  get stats(): Readonly<ReflectorStats> {
    return this.#reflector.stats;
  }

  /**
   * Event order of the last time this cache heard from the server (a list, an event or a
   * bookmark); compare with another cache's `changedAt` to tell whether this one has heard anything
   * since that object changed.
   */
  get progress(): number {
    return this.#progress;
  }

  /** Event order of the last change of an object here (list, event or write); undefined when absent. */
  changedAt(namespace: string | undefined, name: string): number | undefined {
    return this.#changed.get(`${namespace ?? ''}/${name}`);
  }

  on(handler: InformerHandler<T>): () => void {
    this.#handlers.add(handler);
    return () => {
      this.#handlers.delete(handler);
    };
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#items.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): T[] {
    const out: T[] = [];
    for (const o of this.#items.values())
      if (namespace === undefined || o.metadata?.namespace === namespace) out.push(o);
    return out;
  }

  /** Starts listing and watching; resolves after the first successful list. */
  start(): Promise<void> {
    this.#reflector.start();
    return this.waitForSync();
  }

  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((r) => this.#syncWaiters.push(r));
  }

  async stop(): Promise<void> {
    await this.#reflector.stop();
  }

  /** Puts the object a write returned into the cache, ahead of the watch (see the module comment). */
  observe(object: T | undefined): void {
    if (!object) return;
    const item = this.#transform(object);
    const key = keyOf(item);
    if (!key) return;
    const rv = item.metadata?.resourceVersion;
    if (rv) {
      if (this.#items.get(key)?.metadata?.resourceVersion === rv) return;
      // the watch delivered it already (and perhaps newer versions since): a late answer
      if (this.#recent.has(`${key} ${rv}`)) return;
      this.#ahead.set(key, { rv, tick: tick(), at: Date.now() });
    }
    this.#put(key, item);
  }

  /** Removes an object we have just deleted, without waiting for the watch. */
  forget(namespace: string | undefined, name: string): void {
    const key = `${namespace ?? ''}/${name}`;
    const current = this.#items.get(key);
    if (!current) return;
    this.#ahead.set(key, { rv: null, tick: tick(), at: Date.now() });
    this.#remove(key, current);
  }

  #transform(object: T): T {
    return this.#o.transform ? this.#o.transform(object) : object;
  }

  #emit(type: InformerEvent, obj: T, old?: T): void {
    for (const h of [...this.#handlers]) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.#o.logger?.warn({ err: String(err), path: this.#o.path }, 'informer handler failed');
      }
    }
  }

  #put(key: string, item: T): void {
    const old = this.#items.get(key);
    this.#items.set(key, item);
    const rv = item.metadata?.resourceVersion;
    if (old && rv && old.metadata?.resourceVersion === rv) return; // the same version again
    this.#changed.set(key, tick());
    this.#emit(old ? 'update' : 'add', item, old);
  }

  #remove(key: string, old: T): void {
    this.#items.delete(key);
    this.#changed.delete(key);
    this.#emit('delete', old);
  }

  #remember(key: string, rv: string | undefined): void {
    if (!rv) return;
    const entry = `${key} ${rv}`;
    this.#recent.delete(entry);
    this.#recent.add(entry);
    if (this.#recent.size > RECENT) {
      const [oldest] = this.#recent;
      this.#recent.delete(oldest!);
    }
  }

  /**
   * Whether a list must leave this object as our write left it: the write came after the list was
   * asked for, and the list does not show the written version itself.
   */
  #keepAhead(key: string, listTick: number, listed: T | undefined): boolean {
    const a = this.#ahead.get(key);
    if (!a) return false;
    const confirmed = a.rv !== null && listed?.metadata?.resourceVersion === a.rv;
    if (a.tick > listTick && !confirmed && Date.now() - a.at <= AHEAD_MS) return true;
    this.#ahead.delete(key);
    return false;
  }

  #replace(raw: T[]): void {
    const listTick = this.#listTick;
    const seen = new Set<string>();
    for (const r of raw) {
      const item = this.#transform(r);
      const key = keyOf(item);
      if (!key) continue;
      seen.add(key);
      if (this.#keepAhead(key, listTick, item)) continue;
      this.#remember(key, item.metadata?.resourceVersion);
      this.#put(key, item);
    }
    for (const [key, old] of [...this.#items]) {
      if (seen.has(key) || this.#keepAhead(key, listTick, undefined)) continue;
      this.#remove(key, old);
    }
    // objects we deleted that the list does not show either: confirmed when it was asked for later
    for (const key of [...this.#ahead.keys()]) if (!seen.has(key)) this.#keepAhead(key, listTick, undefined);
    this.#available = true;
    this.#progress = tick();
    this.#markSynced();
  }

  #event(type: 'ADDED' | 'MODIFIED' | 'DELETED', raw: T): void {
    const object = this.#transform(raw);
    const key = keyOf(object);
    if (!key) return;
    this.#progress = tick();
    const rv = object.metadata?.resourceVersion;
    this.#remember(key, rv);
    const a = this.#ahead.get(key);
    if (a) {
      if (Date.now() - a.at > AHEAD_MS) this.#ahead.delete(key);
      else if (a.rv === null) {
        // we deleted it: what comes before its DELETED event is older
        if (type === 'DELETED') this.#ahead.delete(key);
        return;
      } else if (rv !== a.rv) {
        return; // older than our write: the watch has not reached it yet
      } else this.#ahead.delete(key); // the watch caught up with our write
    }
    if (type === 'DELETED') {
      const old = this.#items.get(key);
      if (old) this.#remove(key, old);
    } else this.#put(key, object);
  }

  #missing(): void {
    if (!this.#o.missingIsEmpty) return;
    if (this.#available)
      this.#o.logger?.warn({ path: this.#o.path }, 'the API server does not serve this resource');
    this.#available = false;
    this.#progress = tick();
    this.#markSynced();
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const w of this.#syncWaiters.splice(0)) w();
  }
}

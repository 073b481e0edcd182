import type { Logger } from 'pino';
import { KubeApiError } from './errors.ts';
import { isNewerResourceVersion } from './json-patch.ts';
import { KubeApi } from './kube-api.ts';
import type { KubeList, KubeObject, ResourceKind } from './types.ts';

export type InformerEventType = 'add' | 'update' | 'delete';

export interface InformerEvent<T> {
  readonly type: InformerEventType;
  readonly object: T;
}

export interface InformerOptions {
  readonly api: KubeApi;
  readonly kind: ResourceKind;
  readonly namespace: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly logger?: Logger;
  /** First retry delay after a failure; doubles per consecutive failure up to `maxBackoffMs`. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Asks the server to end each watch after about this long (it is then resumed from the last version). */
  readonly watchTimeoutSeconds?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what the cache never reads and which is often most of an object's size: `managedFields`
 * and kubectl's last-applied copy of the object. The annotations map itself is kept (empty or
 * not), so patches that add annotations address it key by key and never replace it.
 */
export function slim(object: KubeObject): void {
  const meta = object?.metadata as (KubeObject['metadata'] & { managedFields?: unknown }) | undefined;
  if (!meta) return;
  delete meta.managedFields;
  if (meta.annotations && LAST_APPLIED in meta.annotations) delete meta.annotations[LAST_APPLIED];
}

/**
 * A list-then-watch cache of one kind in one namespace, shared by every machine of a backend.
 *
 * It is written over `KubeApi.watch` (the project's own client) rather than client-node's `ListWatch`/`makeInformer`, because in
 * 1.4 that informer stops for good after any watch error other than 410, relists after a 410 with
 * no delay (a hot loop when the server keeps answering 410) and has no client-side stall detection.
 * Here every failure (dropped stream, HTTP 410 or an ERROR event with code 410, 5xx, connection
 * refused, a stalled stream) leads back to watching, with an exponential, jittered, bounded backoff
 * that resets once a watch delivers events again:
 *
 * - stream closed cleanly → resume watching from the last resourceVersion (no relist);
 * - 410 Expired (HTTP or ERROR event) → relist, then watch from the list's version;
 * - any other error → back off, relist, watch.
 *
 * Reads (`get`, `list`) never touch the network. Write responses can be fed in with `observe` so a
 * write is visible to reads at once; an older event arriving later never overwrites a newer object.
 */
export class SharedInformer<T extends KubeObject> {
  readonly kind: ResourceKind;
  readonly #o: InformerOptions;
  readonly #objects = new Map<string, T>();
  readonly #listeners = new Set<(event: InformerEvent<T>) => void>();
  readonly #stop = new AbortController();
  #resourceVersion = '';
  #synced = false;
  #available = true;
  #lastError: string | null = null;
  #syncWaiters: (() => void)[] = [];
  #running: Promise<void> | null = null;
  #watch: AbortController | null = null;
  #watching = false;
  /** Counters for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, failures: 0, expired: 0 };

  constructor(options: InformerOptions) {
    this.#o = options;
    this.kind = options.kind;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** False when the server does not serve this kind at all (404 on list, e.g. CDI not installed). */
  get available(): boolean {
    return this.#available;
  }

  /** True while a watch stream is open and delivering (the cache is live, not reconnecting). */
  get watching(): boolean {
    return this.#watching;
  }

  /** The newest resourceVersion this cache has seen (list, events, bookmarks). */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  get(name: string): T | undefined {
    return this.#objects.get(name);
  }

  list(): T[] {
    return [...this.#objects.values()];
  }

  on(listener: (event: InformerEvent<T>) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  start(): void {
    if (this.#running) return;
    this.#running = this.#run().catch((err) => {
      this.#o.logger?.error({ err, kind: this.kind.plural }, 'informer loop crashed');
    });
  }

  /** Resolves once the first list succeeded (or the kind proved absent), however long it takes. */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /** Resolves once the first list succeeded (or the kind proved absent); rejects after `timeoutMs`. */
  waitForSync(timeoutMs: number): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `could not list ${this.kind.plural}.${this.kind.group || 'core'} in namespace ${this.#o.namespace} within ${timeoutMs} ms${this.#lastError ? `: ${this.#lastError}` : ''}`,
          ),
        );
      }, timeoutMs);
      this.#syncWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#watch?.abort();
    await this.#running;
  }

  /** Puts an object returned by a write into the cache, if it is newer than what is there. */
  observe(object: T | undefined): void {
    const name = object?.metadata?.name;
    if (!object || !name) return;
    const current = this.#objects.get(name);
    if (
      current &&
      !isNewerResourceVersion(object.metadata?.resourceVersion, current.metadata?.resourceVersion)
    ) {
      return;
    }
    this.#objects.set(name, object);
    this.#emit({ type: current ? 'update' : 'add', object });
  }

  /** Removes an object this backend just deleted, without waiting for the watch. */
  forget(name: string): void {
    const current = this.#objects.get(name);
    if (!current) return;
    this.#objects.delete(name);
    this.#emit({ type: 'delete', object: current });
  }

  #emit(event: InformerEvent<T>): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.#o.logger?.error({ err }, 'informer listener failed');
      }
    }
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const w of this.#syncWaiters.splice(0)) w();
  }

  #backoff(attempt: number): number {
    if (attempt <= 0) return 0;
    const initial = this.#o.initialBackoffMs ?? 200;
    const max = this.#o.maxBackoffMs ?? 30_000;
    const ms = Math.min(max, initial * 2 ** (attempt - 1));
    return Math.round(ms * (0.5 + Math.random() / 2));
  }

  #query(): Record<string, string | undefined> {
    return { labelSelector: this.#o.labelSelector, fieldSelector: this.#o.fieldSelector };
  }

  async #run(): Promise<void> {
    let attempt = 0;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      await sleep(this.#backoff(attempt), signal);
      if (signal.aborted) break;
      try {
        if (!this.#resourceVersion) await this.#relist();
        if (!this.#available) {
          // The kind is not served: look again now and then.
          attempt = Math.max(attempt + 1, 6);
          continue;
        }
        const outcome = await this.#watchOnce(signal);
        if (outcome === 'expired') {
          this.stats.expired++;
          this.#resourceVersion = '';
          attempt++;
        } else if (outcome === 'productive') {
          attempt = 0;
        } else {
          // Closed without delivering anything: resume, but do not spin if it keeps happening.
          attempt = Math.min(attempt + 1, 8);
        }
      } catch (err) {
        if (signal.aborted) break;
        this.stats.failures++;
        this.#lastError = err instanceof Error ? err.message : String(err);
        this.#resourceVersion = '';
        attempt++;
        this.#o.logger?.warn(
          { kind: this.kind.plural, attempt, error: this.#lastError },
          'watch cache lost its connection; retrying',
        );
      }
    }
  }

  async #relist(): Promise<void> {
    this.stats.lists++;
    let list: KubeList<T>;
    try {
      list = await this.#o.api.list<KubeList<T>>(
        this.kind,
        this.#o.namespace,
        this.#query(),
        this.#stop.signal,
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404 && !err.details?.name) {
        if (this.#available) {
          this.#o.logger?.warn({ kind: this.kind.plural }, 'the API server does not serve this kind');
        }
        this.#available = false;
        this.#markSynced();
        return;
      }
      throw err;
    }
    this.#available = true;
    const listVersion = list.metadata?.resourceVersion ?? '';
    const seen = new Set<string>();
    for (const item of list.items ?? []) {
      const name = item.metadata?.name;
      if (!name) continue;
      slim(item);
      seen.add(name);
      const current = this.#objects.get(name);
      if (!current) {
        this.#objects.set(name, item);
        this.#emit({ type: 'add', object: item });
      } else if (isNewerResourceVersion(item.metadata?.resourceVersion, current.metadata?.resourceVersion)) {
        this.#objects.set(name, item);
        this.#emit({ type: 'update', object: item });
      }
    }
    for (const [name, current] of [...this.#objects]) {
      if (seen.has(name)) continue;
      // Keep an object a write of ours produced after the list was served.
      if (isNewerResourceVersion(current.metadata?.resourceVersion, listVersion)) continue;
      this.#objects.delete(name);
      this.#emit({ type: 'delete', object: current });
    }
    this.#resourceVersion = listVersion;
    this.#lastError = null;
    this.#markSynced();
  }

  /** One watch stream, until it ends. */
  #watchOnce(signal: AbortSignal): Promise<'closed' | 'productive' | 'expired'> {
    const timeoutSeconds = this.#o.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 60);
    return new Promise((resolve, reject) => {
      let events = 0;
      const startedAt = Date.now();
      let expired = false;
      let finished = false;
      let controller: AbortController | null = null;
      // A stream that stays silent past the server-side timeout is stalled: abandon it.
      let watchdog: NodeJS.Timeout;
      const armWatchdog = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish(new Error('watch stalled')), (timeoutSeconds + 30) * 1000);
      };
      const onAbort = () => finish(null);
      const finish = (err: unknown) => {
        if (finished) return;
        finished = true;
        this.#watching = false;
        clearTimeout(watchdog);
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        if (this.#watch === controller) this.#watch = null;
        if (signal.aborted) return resolve('closed');
        const code = (err as { statusCode?: number; code?: number } | null)?.statusCode;
        if (expired || code === 410) return resolve('expired');
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        // A stream that delivered events, or stayed open a while, was healthy.
        resolve(events > 0 || Date.now() - startedAt > 5000 ? 'productive' : 'closed');
      };
      signal.addEventListener('abort', onAbort);
      armWatchdog();
      this.stats.watches++;
      const path = KubeApi.collectionPath(this.kind, this.#o.namespace);
      this.#o.api
        .watch(
          path,
          {
            ...this.#query(),
            resourceVersion: this.#resourceVersion,
            allowWatchBookmarks: 'true',
            timeoutSeconds: String(timeoutSeconds),
          },
          (type, object) => {
            if (finished) return;
            armWatchdog();
            if (this.#handleEvent(type, object as T)) {
              events++;
            } else {
              // ERROR event: the server ends the stream; a 410 means our version is gone: relist.
              const status = object as { code?: number; message?: string };
              if (status?.code === 410) expired = true;
              else this.#lastError = status?.message ?? 'watch error event';
              finish(status?.code === 410 ? null : new Error(`watch error: ${status?.message ?? 'unknown'}`));
            }
          },
          (err) => finish(err),
        )
        .then((c) => {
          controller = c;
          this.#watch = c;
          if (finished) c.abort();
          else this.#watching = true;
        })
        .catch((err) => finish(err));
    });
  }

  /** Applies one watch event; false for an ERROR event. */
  #handleEvent(type: string, object: T): boolean {
    if (type === 'ADDED' || type === 'MODIFIED') slim(object);
    const rv = object?.metadata?.resourceVersion;
    switch (type) {
      case 'ADDED':
      case 'MODIFIED': {
        const name = object.metadata?.name;
        if (!name) break;
        const current = this.#objects.get(name);
        if (!current || isNewerResourceVersion(rv, current.metadata?.resourceVersion)) {
          this.#objects.set(name, object);
          this.#emit({ type: current ? 'update' : 'add', object });
        }
        break;
      }
      case 'DELETED': {
        const name = object.metadata?.name;
        const current = name ? this.#objects.get(name) : undefined;
        if (name && current && !isNewerResourceVersion(current.metadata?.resourceVersion, rv)) {
          this.#objects.delete(name);
          this.#emit({ type: 'delete', object });
        }
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR':
        return false;
      default:
        return true;
    }
    if (rv) this.#resourceVersion = rv;
    return true;
  }
}

import type { Logger } from 'pino';
import { type InformerEvent as ChangeType, Informer } from '../kube/informer.ts';
import { apiPath } from '../kube/paths.ts';
import type { KubeApi } from './kube-api.ts';
import type { KubeObject, ResourceKind } from './types.ts';

export type InformerEventType = ChangeType;

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

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what the cache never reads and which is often most of an object's size: `managedFields`
 * and kubectl's last-applied copy of the object. The annotations map itself is kept (empty or
 * not), so patches that add annotations address it key by key and never replace it.
 */
export function slim(object: KubeObject): void {
  const meta = object?.metadata;
  if (!meta) return;
  delete meta.managedFields;
  if (meta.annotations && LAST_APPLIED in meta.annotations) delete meta.annotations[LAST_APPLIED];
}

/**
 * The cache of one kind in one namespace that every machine of a backend shares: the product's
 * one cache (`src/kube/informer.ts`, over the one list-then-watch loop of `src/kube/reflector.ts`),
 * keyed by name, with the KubeVirt backend's API client (so its lists and watches are counted) and
 * `slim` applied to every object. A kind the server does not serve (CDI not installed) counts as
 * synced and empty, and is looked for again now and then.
 *
 * Reads (`get`, `list`) never touch the network. Write responses are fed in with `observe` (and
 * deletions with `forget`) so a write is visible to reads at once; the watch's order, not the
 * objects' resourceVersions, tells what is newer.
 */
export class SharedInformer<T extends KubeObject> {
  readonly kind: ResourceKind;
  readonly #namespace: string;
  readonly #store: Informer<T>;

  constructor(options: InformerOptions) {
    this.kind = options.kind;
    this.#namespace = options.namespace;
    const logger = options.logger;
    this.#store = new Informer<T>(options.api, {
      path: apiPath(options.kind, { namespace: options.namespace }),
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      initialBackoffMs: options.initialBackoffMs,
      maxBackoffMs: options.maxBackoffMs,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
      logger: logger && {
        warn: (obj: object, msg: string) => logger.warn({ kind: options.kind.plural, ...obj }, msg),
      },
      missingIsEmpty: true,
      transform: (o) => {
        slim(o);
        return o;
      },
    });
  }

  get synced(): boolean {
    return this.#store.synced;
  }

  /** False when the server does not serve this kind at all (404 on list, e.g. CDI not installed). */
  get available(): boolean {
    return this.#store.available;
  }

  /** True while a watch stream is open (the cache is live, not reconnecting). */
  get watching(): boolean {
    return this.#store.watching;
  }

  /** The newest resourceVersion this cache has seen (list, events, bookmarks), for diagnostics. */
  get resourceVersion(): string {
    return this.#store.resourceVersion;
  }

  /** Event order of the last time this cache heard from the server (see `Informer.progress`). */
  get progress(): number {
    return this.#store.progress;
  }

  /** Event order of the last change of an object (see `Informer.changedAt`). */
  changedAt(name: string): number | undefined {
    return this.#store.changedAt(this.#namespace, name);
  }

  get lastError(): string | null {
    return this.#store.lastError;
  }

  /** Counters for tests and metrics. */
  get stats(): { lists: number; watches: number; failures: number; expired: number; stalls: number } {
    return { ...this.#store.stats };
  }

  get(name: string): T | undefined {
    return this.#store.get(this.#namespace, name);
  }

  list(): T[] {
    return this.#store.list();
  }

  on(listener: (event: InformerEvent<T>) => void): () => void {
    return this.#store.on((type, object) => listener({ type, object }));
  }

  start(): void {
    void this.#store.start();
  }

  /** Resolves once the first list succeeded (or the kind proved absent), however long it takes. */
  whenSynced(): Promise<void> {
    return this.#store.waitForSync();
  }

  /** Resolves once the first list succeeded (or the kind proved absent); rejects after `timeoutMs`. */
  waitForSync(timeoutMs: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const why = this.lastError;
        reject(
          new Error(
            `could not list ${this.kind.plural}.${this.kind.group || 'core'} in namespace ${this.#namespace} within ${timeoutMs} ms${why ? `: ${why}` : ''}`,
          ),
        );
      }, timeoutMs);
      void this.#store.waitForSync().then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    return this.#store.stop();
  }

  /** Puts an object returned by a write into the cache, ahead of the watch. */
  observe(object: T | undefined): void {
    this.#store.observe(object);
  }

  /** Removes an object this backend just deleted, without waiting for the watch. */
  forget(name: string): void {
    this.#store.forget(this.#namespace, name);
  }
}

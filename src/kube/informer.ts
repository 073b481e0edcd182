/**
 * A list-then-watch cache of one kind (optionally narrowed by label or field selector), with the
 * robustness client-node 1.4's informer lacks: it resumes from the last resourceVersion when a
 * watch ends, relists on 410 Gone, and retries every other failure with capped exponential backoff
 * instead of stopping. Watches end by themselves after a few minutes so stalled streams heal.
 */
import { KubeApiError, type KubeClient } from './client.ts';

export interface WatchedObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export type InformerEvent = 'add' | 'update' | 'delete';

export interface InformerOptions<T extends WatchedObject = WatchedObject> {
  /** Collection path, e.g. `/apis/apps/v1/deployments` or `/api/v1/namespaces/ns/secrets`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger?: { warn(obj: object, msg: string): void };
  /** Seconds after which the server is asked to end each watch (default 240–360, randomised). */
  watchTimeoutSeconds?: number;
  /**
   * Applied to every object before it is cached (e.g. to drop fields the user never reads, as
   * client-go's TransformFunc). Must keep metadata's name, namespace and resourceVersion.
   */
  transform?: (object: T) => T;
}

export class Informer<T extends WatchedObject> {
  readonly #client: KubeClient;
  readonly #opts: InformerOptions<T>;
  readonly #items = new Map<string, T>();
  readonly #handlers = new Set<(type: InformerEvent, obj: T, old?: T) => void>();
  #rv = '';
  #abort: AbortController | null = null;
  #stopped = true;
  #synced = false;
  #backoffMs = 0;
  #syncWaiters: Array<() => void> = [];
  #loop: Promise<void> | null = null;

  constructor(client: KubeClient, options: InformerOptions<T>) {
    this.#client = client;
    this.#opts = options;
  }

  get synced(): boolean {
    return this.#synced;
  }

  get path(): string {
    return this.#opts.path;
  }

  on(handler: (type: InformerEvent, obj: T, old?: T) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#items.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): T[] {
    const out: T[] = [];
    for (const o of this.#items.values())
      if (namespace === undefined || o.metadata.namespace === namespace) out.push(o);
    return out;
  }

  /** Starts listing and watching; resolves after the first successful list. */
  start(): Promise<void> {
    if (!this.#stopped) return this.waitForSync();
    this.#stopped = false;
    this.#loop = this.#run();
    return this.waitForSync();
  }

  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((r) => this.#syncWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    await this.#loop?.catch(() => {});
  }

  #emit(type: InformerEvent, obj: T, old?: T): void {
    for (const h of this.#handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.#opts.logger?.warn({ err: String(err), path: this.#opts.path }, 'informer handler failed');
      }
    }
  }

  #key(o: WatchedObject): string {
    return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }

  async #list(): Promise<void> {
    const list = await this.#client.request<{ metadata?: { resourceVersion?: string }; items?: T[] }>(
      'GET',
      this.#opts.path,
      {
        query: { labelSelector: this.#opts.labelSelector, fieldSelector: this.#opts.fieldSelector },
      },
    );
    const seen = new Set<string>();
    const transform = this.#opts.transform;
    for (const raw of list.items ?? []) {
      const item = transform ? transform(raw) : raw;
      const k = this.#key(item);
      seen.add(k);
      const old = this.#items.get(k);
      this.#items.set(k, item);
      if (!old) this.#emit('add', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion)
        this.#emit('update', item, old);
    }
    for (const [k, old] of [...this.#items]) {
      if (!seen.has(k)) {
        this.#items.delete(k);
        this.#emit('delete', old);
      }
    }
    this.#rv = list.metadata?.resourceVersion ?? '';
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  async #run(): Promise<void> {
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#list();
          needList = false;
        }
        const abort = new AbortController();
        this.#abort = abort;
        let gone = false;
        const timeout = this.#opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120);
        // A watch whose connection died silently never ends by itself: end it client-side too.
        const watchdog = setTimeout(() => abort.abort(), (timeout + 30) * 1000);
        await this.#client
          .stream(
            this.#opts.path,
            {
              watch: 1,
              resourceVersion: this.#rv || undefined,
              allowWatchBookmarks: true,
              timeoutSeconds: timeout,
              labelSelector: this.#opts.labelSelector,
              fieldSelector: this.#opts.fieldSelector,
            },
            (ev) => {
              const { type, object: raw } = ev as { type: string; object: T & { code?: number } };
              const transform = this.#opts.transform;
              const object =
                transform && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')
                  ? (transform(raw) as T & { code?: number })
                  : raw;
              if (type === 'ERROR') {
                if (object?.code === 410) gone = true;
                abort.abort();
                return;
              }
              if (object?.metadata?.resourceVersion) this.#rv = object.metadata.resourceVersion;
              if (type === 'BOOKMARK') return;
              const k = this.#key(object);
              const old = this.#items.get(k);
              if (type === 'DELETED') {
                this.#items.delete(k);
                this.#emit('delete', old ?? object);
              } else {
                this.#items.set(k, object);
                this.#emit(old ? 'update' : 'add', object, old);
              }
            },
            abort.signal,
          )
          .finally(() => clearTimeout(watchdog));
        this.#backoffMs = 0;
        if (gone) needList = true;
      } catch (err) {
        if (this.#stopped) break;
        if (err instanceof KubeApiError && err.code === 410) needList = true;
        else {
          this.#backoffMs = Math.min(30_000, this.#backoffMs ? this.#backoffMs * 2 : 250);
          this.#opts.logger?.warn(
            { path: this.#opts.path, err: String((err as Error).message ?? err), retryInMs: this.#backoffMs },
            'list/watch failed; retrying',
          );
          if (!this.#synced || err instanceof KubeApiError)
            needList = needList || !(err instanceof KubeApiError && err.code === 404);
          await new Promise((r) => setTimeout(r, this.#backoffMs));
        }
      }
    }
  }
}

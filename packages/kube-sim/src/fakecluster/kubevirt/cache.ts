/**
 * An informer's cache with our own writes laid over it: the object a write returned is what a
 * read sees until the watch delivers that version or a newer one, so a controller does not act
 * twice on the state it has just changed. Resource versions are compared as numbers, as every
 * kube-apiserver (etcd revisions) issues them. A write's answer that arrives after the watch
 * reported the object deleted is dropped (its uid is remembered).
 */
import type { Informer, InformerEvent, WatchedObject } from '../../../../../src/kube/informer.ts';

function newer(a: string | undefined, b: string | undefined): boolean {
  try {
    return BigInt(a ?? '0') > BigInt(b ?? '0');
  } catch {
    return false;
  }
}

export class WriteThroughCache<T extends WatchedObject> {
  readonly #overlay = new Map<string, T>();
  /** Uids the watch has seen deleted: a write's answer arriving after that is a ghost. */
  readonly #deleted = new Set<string>();

  constructor(readonly informer: Informer<T>) {
    informer.on((type: InformerEvent, obj: T) => {
      const k = this.#key(obj.metadata.namespace, obj.metadata.name);
      if (type === 'delete' && typeof obj.metadata.uid === 'string') {
        this.#deleted.add(obj.metadata.uid);
        if (this.#deleted.size > 10_000) {
          const [oldest] = this.#deleted;
          this.#deleted.delete(oldest!);
        }
      }
      const mine = this.#overlay.get(k);
      if (!mine) return;
      if (type === 'delete' || !newer(mine.metadata.resourceVersion, obj.metadata.resourceVersion))
        this.#overlay.delete(k);
    });
  }

  #key(namespace: string | undefined, name: string): string {
    return `${namespace ?? ''}/${name}`;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    const k = this.#key(namespace, name);
    const mine = this.#overlay.get(k);
    const seen = this.informer.get(namespace, name);
    if (mine && (!seen || newer(mine.metadata.resourceVersion, seen.metadata.resourceVersion))) return mine;
    return seen;
  }

  list(namespace?: string): T[] {
    return this.informer.list(namespace).map((o) => this.get(o.metadata.namespace, o.metadata.name) ?? o);
  }

  /** Records what a write returned. */
  wrote(obj: T | undefined): void {
    if (!obj?.metadata?.name) return;
    if (typeof obj.metadata.uid === 'string' && this.#deleted.has(obj.metadata.uid)) return;
    const k = this.#key(obj.metadata.namespace, obj.metadata.name);
    const cur = this.get(obj.metadata.namespace, obj.metadata.name);
    if (!cur || newer(obj.metadata.resourceVersion, cur.metadata.resourceVersion)) this.#overlay.set(k, obj);
  }
}

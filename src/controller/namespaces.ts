/**
 * Which namespaces the controller watches (`--watch-namespaces`): all of them (one cluster-wide
 * cache per kind, the default), or a list, each with its own namespaced cache per kind so that the
 * controller needs no cluster-wide read permission (RoleBindings per namespace suffice).
 * `NamespacedCache` gives either the same surface as one `Informer`, so the reconciler and the
 * controller read it the same way; an object of a namespace outside the list is never seen.
 */

import { Informer, type InformerHandler, type InformerOptions } from '../kube/informer.ts';
import { apiPath, type ResourceRef } from '../kube/paths.ts';
import type { ListWatchClient } from '../kube/reflector.ts';
import type { KubeObject } from '../kube/types.ts';

/** A DNS-1123 label: what a namespace name must be (at most 63 characters). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * `a,b,c` → the namespaces, in the order given; '' (or only spaces) → null: every namespace.
 * Throws with what to change when a name cannot be a namespace, is empty or is given twice.
 */
export function parseWatchNamespaces(value: string): string[] | null {
  if (value.trim() === '') return null;
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const ns = raw.trim();
    if (ns === '')
      throw new Error(
        `"${value}" has an empty namespace name: give names separated by single commas (e.g. lab,team-a), or nothing to watch every namespace`,
      );
    if (ns.length > 63 || !DNS_LABEL.test(ns))
      throw new Error(
        `"${ns}" is not a namespace name: use a DNS-1123 label (at most 63 characters: lower-case letters, digits and -, starting and ending with a letter or digit)`,
      );
    if (out.includes(ns)) throw new Error(`namespace "${ns}" is given twice`);
    out.push(ns);
  }
  return out;
}

/**
 * The cache of one kind across the watched namespaces: one Informer for all of them (`namespaces`
 * null), or one per namespace. Reads of a namespace not watched are empty; writes observed there
 * are dropped.
 */
export class NamespacedCache<T extends KubeObject> {
  readonly #all: Informer<T> | null;
  readonly #byNs: Map<string, Informer<T>>;

  constructor(
    client: ListWatchClient,
    resource: ResourceRef,
    namespaces: readonly string[] | null | undefined,
    options: Omit<InformerOptions<T>, 'path'>,
  ) {
    if (!namespaces) {
      this.#all = new Informer<T>(client, { ...options, path: apiPath(resource) });
      this.#byNs = new Map();
    } else {
      this.#all = null;
      this.#byNs = new Map(
        namespaces.map((ns) => [
          ns,
          new Informer<T>(client, { ...options, path: apiPath(resource, { namespace: ns }) }),
        ]),
      );
    }
  }

  /** Every Informer behind this cache. */
  get informers(): Informer<T>[] {
    return this.#all ? [this.#all] : [...this.#byNs.values()];
  }

  /** Null: every namespace. */
  get namespaces(): string[] | null {
    return this.#all ? null : [...this.#byNs.keys()];
  }

  #of(namespace: string | undefined): Informer<T> | undefined {
    return this.#all ?? this.#byNs.get(namespace ?? '');
  }

  get synced(): boolean {
    return this.informers.every((i) => i.synced);
  }

  /** The first error of a cache not synced yet (or of any), for logs. */
  get lastError(): string | null {
    for (const i of this.informers) if (i.lastError) return i.lastError;
    return null;
  }

  on(handler: InformerHandler<T>): () => void {
    const offs = this.informers.map((i) => i.on(handler));
    return () => {
      for (const off of offs) off();
    };
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#of(namespace)?.get(namespace, name);
  }

  list(namespace?: string): T[] {
    if (namespace !== undefined) return this.#of(namespace)?.list(namespace) ?? [];
    return this.informers.flatMap((i) => i.list());
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.waitForSync()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  observe(object: T | undefined): void {
    if (object) this.#of(object.metadata?.namespace)?.observe(object);
  }

  forget(namespace: string | undefined, name: string): void {
    this.#of(namespace)?.forget(namespace, name);
  }

  /** Whether objects of `namespace` are watched. */
  watches(namespace: string): boolean {
    return this.#of(namespace) !== undefined;
  }
}

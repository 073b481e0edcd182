/**
 * Lists in pages, as client-go's pager does: each request asks for at most `limit` items and the
 * next one continues from the `metadata.continue` token of the last, so a large collection never
 * comes as one huge answer (which kube-apiserver has to build in memory, and which can time out).
 * All pages are one consistent snapshot (the first page's resourceVersion).
 *
 * A continue token expires (410 Expired) when etcd compacts the revision it names, which happens
 * every 5 minutes on a real cluster: then, as client-go's pager with FullListIfExpired (the
 * informers' setting), the list is asked again whole, without `limit`, which cannot expire.
 */

import { isExpired } from './errors.ts';

export const DEFAULT_PAGE_SIZE = 500;

export interface ListOptions {
  /** labelSelector, fieldSelector, resourceVersion… (`limit` and `continue` are set here). */
  query?: Record<string, string | number | boolean | undefined>;
  /** Items per page (default 500); 0 asks for the whole list at once. */
  limit?: number;
  signal?: AbortSignal;
  /** Per request (page). */
  timeoutMs?: number;
}

export interface ListResult<T> {
  apiVersion?: string;
  kind?: string;
  /** The snapshot's resourceVersion, to watch from. */
  metadata: { resourceVersion?: string };
  items: T[];
}

interface Page<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[] | null;
}

/** What the pager needs of a client (KubeClient's `request`). */
export interface Requester {
  request<R = unknown>(
    method: string,
    path: string,
    options?: {
      query?: Record<string, string | number | boolean | undefined>;
      signal?: AbortSignal;
      timeoutMs?: number;
    },
  ): Promise<R>;
}

/** Every item of the collection at `path`, page by page; see the module comment. */
export async function listAll<T = unknown>(
  client: Requester,
  path: string,
  options: ListOptions = {},
): Promise<ListResult<T>> {
  const limit = options.limit ?? DEFAULT_PAGE_SIZE;
  const base = { ...(options.query ?? {}) };
  delete base.limit;
  delete base.continue;
  const request = (query: ListOptions['query']) =>
    client.request<Page<T>>('GET', path, {
      query,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
  const whole = (page: Page<T>): ListResult<T> => ({
    ...(page.apiVersion ? { apiVersion: page.apiVersion } : {}),
    ...(page.kind ? { kind: page.kind } : {}),
    metadata: page.metadata?.resourceVersion ? { resourceVersion: page.metadata.resourceVersion } : {},
    items: page.items ?? [],
  });
  if (!(limit > 0)) return whole(await request(base));

  const items: T[] = [];
  let first: Page<T> | undefined;
  let token: string | undefined;
  for (;;) {
    let page: Page<T>;
    try {
      page = await request({ ...base, limit, ...(token ? { continue: token } : {}) });
    } catch (err) {
      // an expired continue token: the whole list at once (a 410 on the first page is the
      // caller's resourceVersion being too old, theirs to handle)
      if (token && isExpired(err)) return whole(await request(base));
      throw err;
    }
    first ??= page;
    for (const item of page.items ?? []) items.push(item);
    token = page.metadata?.continue || undefined;
    if (!token) {
      const rv = page.metadata?.resourceVersion ?? first.metadata?.resourceVersion;
      return {
        ...(first.apiVersion ? { apiVersion: first.apiVersion } : {}),
        ...(first.kind ? { kind: first.kind } : {}),
        metadata: rv ? { resourceVersion: rv } : {},
        items,
      };
    }
  }
}

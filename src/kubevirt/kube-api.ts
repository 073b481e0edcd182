import { KubeClient } from '../kube/client.ts';
import type { KubeAccess } from '../kube/config.ts';
import { isForbidden, isNotFound, KubeApiError } from '../kube/errors.ts';
import { apiPath, KINDS, type Query } from '../kube/paths.ts';
import type { ListWatchClient } from '../kube/reflector.ts';
import type { PatchOp } from './json-patch.ts';
import type { ResourceKind } from './types.ts';

const USER_AGENT = 'kubevirtbmc';

export interface KubeApiOptions {
  /** Per-request timeout for non-watch requests (default 30 s). */
  timeoutMs?: number;
  /**
   * The client to send requests with (its connections are shared: over HTTP/2 every watch and
   * request of the process travels on one connection). Default: a client of its own.
   */
  client?: KubeClient;
  /** Called before every request leaves (diagnostics, and tests that act in that instant). */
  beforeRequest?: (method: string, path: string) => Promise<void> | void;
}

/**
 * The few API calls this backend makes, over the project's Kubernetes client (`src/kube/client.ts`).
 * One generic request function serves the built-in verbs and KubeVirt's subresources, and counts
 * every request, so tests can prove that reads cost nothing. It is also the list-watch client of
 * the backend's caches (`listAll`, `stream`), so their lists and watches are counted too.
 */
export class KubeApi implements ListWatchClient {
  readonly #kc: KubeAccess;
  readonly #client: KubeClient;
  readonly #timeoutMs: number;
  readonly #before: KubeApiOptions['beforeRequest'];
  #whoAmI: Promise<string | undefined> | undefined;
  #count = 0;

  constructor(kc: KubeAccess, { timeoutMs = 30_000, client, beforeRequest }: KubeApiOptions = {}) {
    this.#kc = kc;
    this.#client = client ?? new KubeClient(kc, USER_AGENT);
    this.#timeoutMs = timeoutMs;
    this.#before = beforeRequest;
  }

  get kubeConfig(): KubeAccess {
    return this.#kc;
  }

  /** Requests made so far (lists, watches, writes, console connections). */
  get requestCount(): number {
    return this.#count;
  }

  countRequest(): void {
    this.#count++;
  }

  server(): string {
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new KubeApiError(0, 'NoCluster', 'the kubeconfig has no current cluster');
    return cluster.server.replace(/\/+$/, '');
  }

  /** `/apis/subresources.kubevirt.io/v1/namespaces/<ns>/<plural>/<name>/<action>` */
  static kubevirtSubresourcePath(plural: string, namespace: string, name: string, action: string): string {
    return apiPath(
      { group: 'subresources.kubevirt.io', version: 'v1', plural },
      { namespace, name, subresource: action },
    );
  }

  async request<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: {
      query?: Record<string, string | undefined>;
      body?: unknown;
      contentType?: string;
      /** Aborts the request early (e.g. the backend is stopping). */
      signal?: AbortSignal;
    } = {},
  ): Promise<T> {
    this.#count++;
    try {
      await this.#before?.(method, path);
      return await this.#client.request<T>(method, path, {
        ...(options.query ? { query: options.query } : {}),
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.contentType ? { contentType: options.contentType } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        timeoutMs: this.#timeoutMs,
      });
    } catch (err) {
      throw unreachable(err);
    }
  }

  /**
   * Who this client is to the API server (a SelfSubjectReview, GA since Kubernetes 1.28), asked once
   * and remembered; undefined when the server cannot say.
   */
  whoAmI(): Promise<string | undefined> {
    this.#whoAmI ??= this.request<{ status?: { userInfo?: { username?: string } } }>(
      'POST',
      apiPath(KINDS.SelfSubjectReview),
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    ).then(
      (r) => r.status?.userInfo?.username || undefined,
      (err) => {
        // a server without SelfSubjectReview (or that forbids it) never will; anything else is asked again
        if (isNotFound(err) || isForbidden(err)) return undefined;
        this.#whoAmI = undefined;
        throw err;
      },
    );
    return this.#whoAmI;
  }

  /** Every item of a collection, in pages (`KubeClient.listAll`); counted as one request. */
  async listAll<T>(
    path: string,
    options: { query?: Query; signal?: AbortSignal } = {},
  ): Promise<{ metadata?: { resourceVersion?: string }; items?: T[] | null }> {
    this.#count++;
    try {
      await this.#before?.('GET', path);
      return await this.#client.listAll<T>(path, { ...options, timeoutMs: this.#timeoutMs });
    } catch (err) {
      throw unreachable(err);
    }
  }

  /** A watch stream (`KubeClient.stream`): resolves when it ends, rejects when it fails. */
  async stream(
    path: string,
    query: Query | undefined,
    onObject: (obj: unknown) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.#count++;
    try {
      await this.#before?.('WATCH', path);
      await this.#client.stream(path, query, onObject, signal);
    } catch (err) {
      throw unreachable(err);
    }
  }

  get<T>(kind: ResourceKind, namespace: string, name: string): Promise<T> {
    return this.request<T>('GET', apiPath(kind, { namespace, name }));
  }

  create<T>(kind: ResourceKind, namespace: string, body: unknown): Promise<T> {
    return this.request<T>('POST', apiPath(kind, { namespace }), { body });
  }

  jsonPatch<T>(kind: ResourceKind, namespace: string, name: string, ops: readonly PatchOp[]): Promise<T> {
    return this.request<T>('PATCH', apiPath(kind, { namespace, name }), {
      body: ops,
      contentType: 'application/json-patch+json',
    });
  }

  delete(kind: ResourceKind, namespace: string, name: string): Promise<unknown> {
    return this.request('DELETE', apiPath(kind, { namespace, name }), {
      body: { propagationPolicy: 'Background' },
    });
  }

  /** PUT to a KubeVirt subresource (`start`, `stop`, `restart`, `pause`…) with its options body. */
  kubevirtAction(
    plural: 'virtualmachines' | 'virtualmachineinstances',
    namespace: string,
    name: string,
    action: string,
    body: Record<string, unknown> = {},
  ): Promise<unknown> {
    return this.request('PUT', KubeApi.kubevirtSubresourcePath(plural, namespace, name, action), { body });
  }
}

/** A request that got no answer becomes a KubeApiError of status 0; the server's own errors pass. */
function unreachable(err: unknown): unknown {
  if (err instanceof KubeApiError) return err;
  if (err instanceof Error && err.name === 'AbortError') return err;
  const message = err instanceof Error ? err.message : String(err);
  return new KubeApiError(0, 'Unreachable', `the API server is unreachable: ${message}`);
}

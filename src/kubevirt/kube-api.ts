import { KubeClient, KubeApiError as KubeRequestError } from '../kube/client.ts';
import type { KubeAccess } from '../kube/config.ts';
import { KubeApiError } from './errors.ts';
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
 * every request, so tests can prove that reads cost nothing.
 */
export class KubeApi {
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

  static collectionPath(kind: ResourceKind, namespace: string): string {
    const prefix = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
    return `${prefix}/namespaces/${encodeURIComponent(namespace)}/${kind.plural}`;
  }

  static objectPath(kind: ResourceKind, namespace: string, name: string, subresource?: string): string {
    const base = `${KubeApi.collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
    return subresource ? `${base}/${subresource}` : base;
  }

  /** `/apis/subresources.kubevirt.io/v1/namespaces/<ns>/<plural>/<name>/<action>` */
  static kubevirtSubresourcePath(plural: string, namespace: string, name: string, action: string): string {
    return `/apis/subresources.kubevirt.io/v1/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}/${action}`;
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
      if (err instanceof KubeRequestError)
        throw new KubeApiError(err.code, err.reason, err.message, err.details);
      const message = err instanceof Error ? err.message : String(err);
      throw new KubeApiError(0, 'Unreachable', `the API server is unreachable: ${message}`);
    }
  }

  /**
   * Who this client is to the API server (a SelfSubjectReview, GA since Kubernetes 1.28), asked once
   * and remembered; undefined when the server cannot say.
   */
  whoAmI(): Promise<string | undefined> {
    this.#whoAmI ??= this.request<{ status?: { userInfo?: { username?: string } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    ).then(
      (r) => r.status?.userInfo?.username || undefined,
      (err) => {
        // a server without SelfSubjectReview (or that forbids it) never will; anything else is asked again
        if (err instanceof KubeApiError && (err.status === 404 || err.status === 403)) return undefined;
        this.#whoAmI = undefined;
        throw err;
      },
    );
    return this.#whoAmI;
  }

  list<T>(
    kind: ResourceKind,
    namespace: string,
    query: Record<string, string | undefined>,
    signal?: AbortSignal,
  ): Promise<T> {
    return this.request<T>('GET', KubeApi.collectionPath(kind, namespace), {
      query,
      ...(signal ? { signal } : {}),
    });
  }

  get<T>(kind: ResourceKind, namespace: string, name: string): Promise<T> {
    return this.request<T>('GET', KubeApi.objectPath(kind, namespace, name));
  }

  create<T>(kind: ResourceKind, namespace: string, body: unknown): Promise<T> {
    return this.request<T>('POST', KubeApi.collectionPath(kind, namespace), { body });
  }

  jsonPatch<T>(kind: ResourceKind, namespace: string, name: string, ops: readonly PatchOp[]): Promise<T> {
    return this.request<T>('PATCH', KubeApi.objectPath(kind, namespace, name), {
      body: ops,
      contentType: 'application/json-patch+json',
    });
  }

  delete(kind: ResourceKind, namespace: string, name: string): Promise<unknown> {
    return this.request('DELETE', KubeApi.objectPath(kind, namespace, name), {
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

  /**
   * Starts a watch (newline-delimited JSON events). `done` is called once when the stream ends
   * (null: closed cleanly or aborted) or fails (an error with `statusCode` for HTTP errors).
   */
  async watch(
    path: string,
    query: Record<string, string | undefined>,
    onEvent: (type: string, object: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.#count++;
    const controller = new AbortController();
    await this.#before?.('WATCH', path);
    this.#client
      .stream(
        path,
        { ...query, watch: 'true' },
        (line) => {
          const e = line as { type?: unknown; object?: unknown } | null;
          if (e && typeof e.type === 'string') onEvent(e.type, e.object);
        },
        controller.signal,
      )
      .then(
        () => done(null),
        (err) =>
          done(
            err instanceof KubeRequestError
              ? Object.assign(new Error(err.message), { statusCode: err.code, reason: err.reason })
              : err,
          ),
      );
    return controller;
  }
}

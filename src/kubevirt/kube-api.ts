import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  RequestContext,
  Watch,
} from '@kubernetes/client-node';
import { KubeApiError } from './errors.ts';
import type { PatchOp } from './json-patch.ts';
import type { ResourceKind } from './types.ts';

const USER_AGENT = 'kubevirtbmc';

/**
 * The few API calls this backend makes, over @kubernetes/client-node's own HTTP stack (its KubeConfig
 * authentication and TLS, its fetch library, its `Watch`). One generic request function serves the
 * built-in verbs and KubeVirt's subresources (which the generated clients do not know), and counts
 * every request, so tests can prove that reads cost nothing.
 */
export class KubeApi {
  readonly #kc: KubeConfig;
  readonly #http = new IsomorphicFetchHttpLibrary();
  readonly #timeoutMs: number;
  #count = 0;

  constructor(kc: KubeConfig, { timeoutMs = 30_000 }: { timeoutMs?: number } = {}) {
    this.#kc = kc;
    this.#timeoutMs = timeoutMs;
  }

  get kubeConfig(): KubeConfig {
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
    const url = new URL(this.server() + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const ctx = new RequestContext(url.toString(), HttpMethod[method]);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setHeaderParam('User-Agent', USER_AGENT);
    if (options.body !== undefined) {
      ctx.setHeaderParam('Content-Type', options.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(options.body));
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    ctx.setSignal(options.signal ? AbortSignal.any([timeout, options.signal]) : timeout);
    this.#count++;
    let status: number;
    let text: string;
    try {
      await this.#kc.applySecurityAuthentication(ctx);
      const response = await this.#http.send(ctx).toPromise();
      status = response.httpStatusCode;
      text = await response.body.text();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new KubeApiError(0, 'Unreachable', `the API server is unreachable: ${message}`);
    }
    if (status < 200 || status >= 300) throw KubeApiError.fromResponse(status, text);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
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
   * Starts a watch with client-node's `Watch` (newline-delimited JSON events). `done` is called once
   * when the stream ends (null: closed cleanly) or fails (an error with `statusCode` for HTTP errors).
   */
  async watch(
    path: string,
    query: Record<string, string | undefined>,
    onEvent: (type: string, object: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.#count++;
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params[key] = value;
    return new Watch(this.#kc).watch(path, params, (type, object) => onEvent(type, object), done);
  }
}

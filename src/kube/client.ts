/**
 * A small JSON client for the Kubernetes API over any path (core, apps, rbac, CRDs, /status), with
 * the credentials and TLS settings of a kubeconfig (`KubeAccess`). Every request is counted, so tests
 * and metrics can tell how many requests the controller makes.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeAccess } from './config.ts';

export class KubeApiError extends Error {
  readonly code: number;
  readonly reason: string;
  /** The `Status` body's details (name and kind of the object concerned), when it had them. */
  readonly details: { name?: string; kind?: string } | undefined;
  constructor(code: number, reason: string, message: string, details?: { name?: string; kind?: string }) {
    super(message);
    this.name = 'KubeApiError';
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

interface Prepared {
  base: URL;
  agent: http.Agent;
  headers: Record<string, string>;
  at: number;
}

export class KubeClient {
  readonly #kc: KubeAccess;
  readonly #userAgent: string;
  #prepared: Prepared | null = null;
  #requests = 0;
  readonly #listeners = new Set<(method: string, path: string, status: number) => void>();

  constructor(kc: KubeAccess, userAgent = 'kubevirtbmc') {
    this.#kc = kc;
    this.#userAgent = userAgent;
  }

  get requestCount(): number {
    return this.#requests;
  }

  get kubeConfig(): KubeAccess {
    return this.#kc;
  }

  onRequest(listener: (method: string, path: string, status: number) => void): void {
    this.#listeners.add(listener);
  }

  async #prepare(): Promise<Prepared> {
    // Credentials are refreshed every minute (projected ServiceAccount tokens rotate on disk).
    if (this.#prepared && Date.now() - this.#prepared.at < 60_000) return this.#prepared;
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const opts: https.RequestOptions & { headers?: Record<string, string> } = {};
    await this.#kc.applyToHTTPSOptions(opts);
    const base = new URL(cluster.server);
    const agent =
      this.#prepared?.agent ??
      (base.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ca: opts.ca,
            cert: opts.cert,
            key: opts.key,
            rejectUnauthorized: cluster.skipTLSVerify ? false : opts.rejectUnauthorized !== false,
            servername: (opts as { servername?: string }).servername,
          })
        : new http.Agent({ keepAlive: true }));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k] = String(v);
    if ((opts as { auth?: string }).auth) {
      headers.Authorization = `Basic ${Buffer.from((opts as { auth: string }).auth).toString('base64')}`;
    }
    this.#prepared = { base, agent, headers, at: Date.now() };
    return this.#prepared;
  }

  #url(base: URL, path: string, query?: RequestOptions['query']): URL {
    const url = new URL(base.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** One request; resolves with the parsed JSON body; non-2xx rejects with `KubeApiError`. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const p = await this.#prepare();
    const url = this.#url(p.base, path, options.query);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const lib = url.protocol === 'https:' ? https : http;
    this.#requests++;
    // A kept-alive connection the server has just closed (a restart, an idle timeout) fails the
    // request before any answer: send it once more on a fresh connection, as client-go does. Not a
    // POST, which could have been acted on.
    const send = (retry: boolean): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const req = lib.request(
          url,
          {
            method,
            agent: p.agent,
            headers: {
              ...p.headers,
              Accept: 'application/json',
              'User-Agent': this.#userAgent,
              ...(payload
                ? {
                    'Content-Type': options.contentType ?? 'application/json',
                    'Content-Length': payload.length,
                  }
                : {}),
            },
            signal: options.signal,
            timeout: options.timeoutMs ?? 30_000,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const status = res.statusCode ?? 0;
              for (const l of this.#listeners) l(method, path, status);
              const text = Buffer.concat(chunks).toString('utf8');
              let body: unknown;
              try {
                body = text ? JSON.parse(text) : undefined;
              } catch {
                body = text;
              }
              if (status >= 200 && status < 300) resolve(body as T);
              else {
                const s = (body && typeof body === 'object' ? body : {}) as {
                  reason?: string;
                  message?: string;
                  details?: { name?: string; kind?: string };
                };
                reject(
                  new KubeApiError(
                    status,
                    s.reason ?? String(status),
                    s.message ?? `HTTP ${status} on ${method} ${path}`,
                    s.details,
                  ),
                );
              }
            });
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`timeout on ${method} ${path}`)));
        req.on('error', (e: NodeJS.ErrnoException) => {
          const stale = req.reusedSocket && (e.code === 'ECONNRESET' || e.message === 'socket hang up');
          if (retry && stale && method !== 'POST' && !options.signal?.aborted) resolve(send(false));
          else reject(e);
        });
        req.end(payload);
      });
    return send(true);
  }

  /**
   * A streaming GET (watch): calls `onLine` for every newline-terminated JSON line; resolves when
   * the server ends the stream, rejects on a non-200 answer or a network error.
   */
  async stream(
    path: string,
    query: RequestOptions['query'],
    onObject: (obj: unknown) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const p = await this.#prepare();
    const url = this.#url(p.base, path, query);
    const lib = url.protocol === 'https:' ? https : http;
    this.#requests++;
    return new Promise<void>((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method: 'GET',
          agent: p.agent,
          headers: { ...p.headers, Accept: 'application/json', 'User-Agent': this.#userAgent },
          signal,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          for (const l of this.#listeners) l('WATCH', path, status);
          if (status !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              let reason = String(status);
              let message = `HTTP ${status} on watch ${path}`;
              try {
                const s = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
                  reason?: string;
                  message?: string;
                };
                reason = s.reason ?? reason;
                message = s.message ?? message;
              } catch {}
              reject(new KubeApiError(status, reason, message));
            });
            return;
          }
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl = buf.indexOf('\n');
            while (nl >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (line) {
                try {
                  onObject(JSON.parse(line));
                } catch {
                  // a line that is not JSON is skipped, as client-go does
                }
              }
              nl = buf.indexOf('\n');
            }
          });
          res.on('end', () => resolve());
          res.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
          res.on('aborted', () => resolve());
        },
      );
      req.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
      req.end();
    });
  }

  close(): void {
    this.#prepared?.agent.destroy();
    this.#prepared = null;
  }
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}
export function isConflict(err: unknown): boolean {
  return (err as { code?: number }).code === 409;
}

/**
 * A small JSON client for the Kubernetes API over any path (core, apps, rbac, CRDs, /status), with
 * the credentials and TLS settings of a kubeconfig (`KubeAccess`). Every request is counted, so tests
 * and metrics can tell how many requests the controller makes.
 *
 * Over TLS it speaks HTTP/2 when the server picks `h2` by ALPN (kube-apiserver does), and then carries
 * every request and watch as a stream of one connection, as client-go does: a thousand watches cost
 * one TLS connection instead of a thousand. When a connection holds as many streams as the server
 * allows (SETTINGS_MAX_CONCURRENT_STREAMS), another one is opened. Servers that do not offer h2, and
 * plain `http:` servers, get HTTP/1.1 with a keep-alive agent.
 *
 * What real clusters ask of a client, as client-go does it: 429 (and 503 with `Retry-After`) is sent
 * again after the server's `Retry-After` (retry.ts); lists come in pages (`listAll`, pager.ts);
 * HTTPS_PROXY/HTTP_PROXY/NO_PROXY and a kubeconfig's `proxy-url` are honoured with CONNECT tunnels
 * on both paths (proxy.ts); a rotated client certificate (an exec plugin's) is used by new
 * connections of both paths, the old connections serving only what they carry already.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import tls from 'node:tls';
import type { KubeAccess } from './config.ts';
import { KubeApiError } from './errors.ts';
import { type ListOptions, type ListResult, listAll } from './pager.ts';
import { openTunnel, proxyFor, tunnelAgent } from './proxy.ts';
import {
  DEFAULT_MAX_RETRIES,
  DEFAULT_MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  type RetryPolicy,
  retryDelayMs,
  sleep,
} from './retry.ts';

/**
 * The error class and its predicates live in errors.ts; these names stay importable from here for
 * the code that imported them from the client (packages/kube-sim among it).
 */
export { isConflict, isNotFound, KubeApiError } from './errors.ts';

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
  /** Where and how to open a TLS connection of our own (HTTP/2 sessions). */
  tls: tls.ConnectionOptions;
  headers: Record<string, string>;
  at: number;
  /** When the credentials are to be applied again. */
  until: number;
  /** The CA, client certificate and key, verification and proxy: what a connection is made with. */
  identity: string;
  proxy: URL | undefined;
}

/** One HTTP/2 connection and the streams it carries. */
interface Session {
  h2: http2.ClientHttp2Session;
  /** Streams open or about to be opened on it. */
  active: number;
  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS. */
  max: number;
  usable: boolean;
  /** `Prepared.identity` of the TLS settings it was opened with. */
  identity: string;
  /** Liveness pings while streams are open. */
  pinger?: NodeJS.Timeout;
}

type Protocol = 'h1' | 'h2';

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2) or carries as pseudo-headers. */
const NOT_ON_H2 = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'te',
]);

const TLS_CONNECT_TIMEOUT_MS = 30_000;
/**
 * While a connection carries streams it is pinged this often, and dropped when an answer takes
 * longer than PING_TIMEOUT_MS: a watch on a connection that died silently (a NAT or a load balancer
 * forgot it) would otherwise wait for nothing. client-go does the same (30 s / 15 s).
 */
const PING_INTERVAL_MS = 30_000;
const PING_TIMEOUT_MS = 15_000;
/** Flow-control windows: how much the server may send before we acknowledge (per stream, per connection). */
const STREAM_WINDOW = 1 << 20;
const CONNECTION_WINDOW = 16 << 20;

export interface KubeClientOptions {
  /** How often a connection carrying streams is pinged (HTTP/2); default 30 s. */
  pingIntervalMs?: number;
  /** How long a ping may go unanswered before the connection is dropped; default 15 s. */
  pingTimeoutMs?: number;
  /** false: HTTP/1.1 only, even when the server offers h2 (as client-go's DISABLE_HTTP2). */
  http2?: boolean;
  /** How often a 429 (or 503 with Retry-After) is sent again; default 10. */
  maxRetries?: number;
  /** The longest one Retry-After is waited for; default 10 s. */
  maxRetryAfterMs?: number;
  /** Where HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** A digest of TLS material (string, Buffer or a list of them), to tell when it changed. */
function digest(v: unknown): string {
  if (v === undefined || v === null) return '';
  const h = createHash('sha256');
  for (const part of Array.isArray(v) ? v : [v])
    h.update(typeof part === 'string' ? part : Buffer.from(part as Buffer));
  return h.digest('hex').slice(0, 16);
}

/** A request the server refused before processing it (REFUSED_STREAM, or past a GOAWAY): safe to retry. */
class RefusedStream extends Error {}
/** A request whose stream ended without any answer (its connection went away). */
class NoAnswer extends Error {}

function statusError(
  status: number,
  text: string,
  fallback: string,
  retryAfter?: string | string[],
): KubeApiError {
  const err = KubeApiError.fromResponse(status, text, fallback);
  // the header wins over the Status' details.retryAfterSeconds (a proxy may send only the header)
  const after = parseRetryAfter(retryAfter);
  if (after === undefined) return err;
  return new KubeApiError(err.status, err.reason, err.message, {
    ...err.details,
    retryAfterSeconds: Math.ceil(after / 1000),
  });
}

/** Splits a watch body into lines and hands each JSON line on; lines that are not JSON are skipped. */
function lineParser(onObject: (obj: unknown) => void): (chunk: string) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) {
        let obj: unknown;
        let ok = true;
        try {
          obj = JSON.parse(line);
        } catch {
          ok = false; // a line that is not JSON is skipped, as client-go does
        }
        if (ok) onObject(obj);
      }
      nl = buf.indexOf('\n');
    }
  };
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  (e as { code?: string }).code = 'ABORT_ERR';
  return e;
}

export class KubeClient {
  readonly #kc: KubeAccess;
  readonly #userAgent: string;
  readonly #pingIntervalMs: number;
  readonly #pingTimeoutMs: number;
  #prepared: Prepared | null = null;
  #requests = 0;
  readonly #listeners = new Set<(method: string, path: string, status: number) => void>();
  /** What each server spoke on its first TLS connection (keyed by origin). */
  readonly #protocols = new Map<string, Protocol>();
  #sessions: Session[] = [];
  #opening: Promise<Session | null> | null = null;
  /** TLS connections still shaking hands (closed by `close()`). */
  readonly #connecting = new Set<tls.TLSSocket>();
  /** Bumped by `close()`, so a connection that was being opened meanwhile is dropped. */
  #generation = 0;
  /** CONNECT tunnels being opened for HTTP/2 connections (aborted by `close()`). */
  readonly #tunnelling = new Set<AbortController>();
  /** Agents and HTTP/2 connections of TLS settings no longer current, finishing what they carry. */
  readonly #retired = new Set<http.Agent>();
  readonly #draining = new Set<Session>();
  readonly #http2: boolean;
  readonly #retry: RetryPolicy;
  readonly #env: NodeJS.ProcessEnv;

  constructor(kc: KubeAccess, userAgent = 'kubevirtbmc', options: KubeClientOptions = {}) {
    this.#kc = kc;
    this.#userAgent = userAgent;
    this.#pingIntervalMs = options.pingIntervalMs ?? PING_INTERVAL_MS;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? PING_TIMEOUT_MS;
    this.#http2 = options.http2 ?? true;
    this.#retry = {
      maxRetries: options.maxRetries ?? DEFAULT_MAX_RETRIES,
      maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS,
    };
    this.#env = options.env ?? process.env;
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

  #notify(method: string, path: string, status: number): void {
    for (const l of this.#listeners) l(method, path, status);
  }

  async #prepare(): Promise<Prepared> {
    // Credentials are refreshed every minute (projected ServiceAccount tokens rotate on disk), and
    // when an exec plugin's credential nears its expiry.
    if (this.#prepared && Date.now() < this.#prepared.until) return this.#prepared;
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const opts: https.RequestOptions & { headers?: Record<string, string> } = {};
    await this.#kc.applyToHTTPSOptions(opts);
    const at = Date.now();
    const base = new URL(cluster.server);
    const proxy = proxyFor(base, cluster.proxyUrl, this.#env);
    const rejectUnauthorized = cluster.skipTLSVerify ? false : opts.rejectUnauthorized !== false;
    const servername = (opts as { servername?: string }).servername;
    const identity = [
      digest(opts.ca),
      digest(opts.cert),
      digest(opts.key),
      rejectUnauthorized,
      servername ?? '',
      proxy?.href ?? '',
    ].join('|');
    const previous = this.#prepared;
    let agent = previous?.identity === identity ? previous.agent : undefined;
    if (!agent) {
      // New TLS material (a rotated client certificate) or another proxy: new connections use it;
      // the old agent's connections finish what they carry and are closed (as client-go closes
      // its connections when an exec plugin's certificate changes). HTTP/2 sessions: `#acquire`.
      if (previous) {
        retireAgent(previous.agent);
        this.#retired.add(previous.agent);
        for (const a of this.#retired) if (Object.keys(a.sockets).length === 0) this.#retired.delete(a);
      }
      const options: https.AgentOptions =
        base.protocol === 'https:'
          ? { keepAlive: true, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized, servername }
          : { keepAlive: true };
      agent = proxy
        ? tunnelAgent(base, proxy, options)
        : base.protocol === 'https:'
          ? new https.Agent(options)
          : new http.Agent(options);
    }
    const host = base.hostname.replace(/^\[(.*)\]$/, '$1');
    const tlsOptions: tls.ConnectionOptions = {
      host,
      port: Number(base.port || 443),
      rejectUnauthorized,
      ALPNProtocols: ['h2', 'http/1.1'],
    };
    if (opts.ca) tlsOptions.ca = opts.ca;
    if (opts.cert) tlsOptions.cert = opts.cert;
    if (opts.key) tlsOptions.key = opts.key;
    // SNI carries host names only, never addresses.
    const sni = servername ?? (isIP(host) ? undefined : host);
    if (sni) tlsOptions.servername = sni;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k] = String(v);
    if ((opts as { auth?: string }).auth) {
      headers.Authorization = `Basic ${Buffer.from((opts as { auth: string }).auth).toString('base64')}`;
    }
    const refresh = this.#kc.refreshAt?.() ?? Number.POSITIVE_INFINITY;
    // at most a minute; at least a second, so an already-expiring credential is not asked per request
    const until = Math.min(at + 60_000, Math.max(at + 1_000, refresh));
    this.#prepared = { base, agent, tls: tlsOptions, headers, at, until, identity, proxy };
    return this.#prepared;
  }

  #url(base: URL, path: string, query?: RequestOptions['query']): URL {
    const url = new URL(base.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  // ---- HTTP/2 sessions ----

  /**
   * A session with room for one more stream (counted as taken), or null when this server is to be
   * spoken to over HTTP/1.1.
   */
  async #acquire(p: Prepared): Promise<Session | null> {
    if (p.base.protocol !== 'https:' || !this.#http2) return null;
    for (;;) {
      if (this.#protocols.get(p.base.origin) === 'h1') return null;
      // connections made with TLS settings that are no longer current (a rotated certificate)
      // take no new streams and close once their streams end
      const current = this.#prepared?.identity ?? p.identity;
      for (const s of [...this.#sessions]) {
        if (s.identity === current) continue;
        this.#drop(s);
        if (s.h2.closed || s.h2.destroyed) continue;
        this.#draining.add(s);
        s.h2.once('close', () => this.#draining.delete(s));
        s.h2.close();
      }
      const free = this.#sessions.find(
        (s) => s.identity === p.identity && s.usable && !s.h2.closed && !s.h2.destroyed && s.active < s.max,
      );
      if (free) {
        this.#take(free);
        return free;
      }
      if (!this.#opening) {
        this.#opening = this.#open(p).finally(() => {
          this.#opening = null;
        });
      }
      const opened = await this.#opening;
      if (!opened) return null;
      if (opened.identity !== p.identity) continue; // opened with other TLS settings: not ours
      if (opened.usable && opened.active < opened.max) {
        this.#take(opened);
        return opened;
      }
      if (!opened.usable) throw new Error(`connection to ${p.base.origin} closed`);
      // full already (others took its streams): open another
    }
  }

  /**
   * `#acquire`, given up when `signal` aborts or `timeoutMs` passes (a server that accepts TCP
   * connections and never finishes the TLS handshake must not hold a request past its bounds). A
   * session that comes after that is handed back.
   */
  #acquireWithin(
    p: Prepared,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<Session | null> {
    const acquiring = this.#acquire(p);
    return new Promise<Session | null>((resolve, reject) => {
      let done = false;
      const end = (fn: () => void): boolean => {
        if (done) return false;
        done = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn();
        return true;
      };
      const onAbort = () => end(() => reject(abortError()));
      const timer =
        timeoutMs > 0
          ? setTimeout(() => end(() => reject(new Error(`timeout on ${what}`))), timeoutMs)
          : undefined;
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      acquiring.then(
        (s) => {
          if (!end(() => resolve(s)) && s) this.#release(s);
        },
        (err: unknown) => end(() => reject(err)),
      );
    });
  }

  #take(s: Session): void {
    if (s.active++ === 0) s.h2.ref();
  }

  #release(s: Session): void {
    // an idle session must not keep the process alive
    if (--s.active === 0) s.h2.unref();
  }

  #drop(s: Session): void {
    s.usable = false;
    if (s.pinger) clearInterval(s.pinger);
    this.#sessions = this.#sessions.filter((x) => x !== s);
  }

  async #open(p: Prepared): Promise<Session | null> {
    const generation = this.#generation;
    const tunnel = p.proxy ? await this.#tunnel(p, p.proxy) : undefined;
    if (tunnel && generation !== this.#generation) {
      tunnel.destroy();
      throw new Error('the client was closed');
    }
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const sock = tls.connect(tunnel ? { ...p.tls, socket: tunnel } : p.tls);
      this.#connecting.add(sock);
      sock.once('close', () => this.#connecting.delete(sock));
      sock.setTimeout(TLS_CONNECT_TIMEOUT_MS, () =>
        sock.destroy(new Error(`TLS connection to ${p.base.origin} timed out`)),
      );
      sock.once('secureConnect', () => {
        this.#connecting.delete(sock);
        sock.setTimeout(0);
        sock.off('error', reject);
        resolve(sock);
      });
      sock.once('error', reject);
    });
    if (generation !== this.#generation) {
      socket.destroy();
      throw new Error('the client was closed');
    }
    if (socket.alpnProtocol !== 'h2') {
      // The server did not offer HTTP/2: remember it and use the HTTP/1.1 agent from now on.
      socket.destroy();
      this.#protocols.set(p.base.origin, 'h1');
      return null;
    }
    this.#protocols.set(p.base.origin, 'h2');
    const h2 = http2.connect(p.base.origin, {
      createConnection: () => socket,
      // buffered, unacknowledged data over all streams; many watches may each hold a little
      maxSessionMemory: 64,
      settings: { initialWindowSize: STREAM_WINDOW },
    });
    const session: Session = { h2, active: 0, max: 0, usable: true, identity: p.identity };
    h2.on('error', () => this.#drop(session));
    h2.on('close', () => this.#drop(session));
    // A server going away lets the streams it has accepted finish; new ones go to a new connection.
    h2.on('goaway', () => this.#drop(session));
    // Until the server's SETTINGS arrive, its stream limit is unknown: wait for them, so a full
    // connection never queues a stream behind watches that do not end.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => h2.destroy(new Error(`no HTTP/2 SETTINGS from ${p.base.origin}`)),
        TLS_CONNECT_TIMEOUT_MS,
      );
      const fail = (err?: Error) => {
        cleanup();
        reject(err ?? new Error(`connection to ${p.base.origin} closed`));
      };
      const ok = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        clearTimeout(timer);
        h2.off('remoteSettings', ok);
        h2.off('error', fail);
        h2.off('close', fail);
      };
      h2.once('remoteSettings', ok);
      h2.once('error', fail);
      h2.once('close', fail);
    });
    session.max = Math.max(1, h2.remoteSettings.maxConcurrentStreams ?? 100);
    h2.on('remoteSettings', (settings) => {
      if (settings.maxConcurrentStreams !== undefined)
        session.max = Math.max(1, settings.maxConcurrentStreams);
    });
    if (generation !== this.#generation) {
      h2.destroy();
      throw new Error('the client was closed');
    }
    try {
      h2.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      // not fatal: the default window only slows large answers down
    }
    session.pinger = setInterval(() => this.#ping(session), this.#pingIntervalMs);
    session.pinger.unref();
    h2.unref();
    this.#sessions.push(session);
    return session;
  }

  /** A CONNECT tunnel through `proxy` to the API server, for an HTTP/2 connection. */
  async #tunnel(p: Prepared, proxy: URL): Promise<Duplex> {
    const abort = new AbortController();
    this.#tunnelling.add(abort);
    try {
      return await openTunnel(proxy, String(p.tls.host), Number(p.tls.port), {
        timeoutMs: TLS_CONNECT_TIMEOUT_MS,
        signal: abort.signal,
      });
    } finally {
      this.#tunnelling.delete(abort);
    }
  }

  #ping(s: Session): void {
    if (s.active === 0 || !s.usable) return;
    const timer = setTimeout(() => s.h2.destroy(new Error('HTTP/2 ping timed out')), this.#pingTimeoutMs);
    timer.unref();
    try {
      s.h2.ping((err) => {
        clearTimeout(timer);
        if (err && !s.h2.destroyed) s.h2.destroy(err);
      });
    } catch {
      clearTimeout(timer);
    }
  }

  /** Opens a stream on `s`; the session's count is released when the stream closes. */
  #h2Stream(
    s: Session,
    method: string,
    url: URL,
    headers: Record<string, string | number>,
  ): http2.ClientHttp2Stream {
    const h: http2.OutgoingHttpHeaders = { ':method': method, ':path': url.pathname + url.search };
    for (const [k, v] of Object.entries(headers)) {
      const name = k.toLowerCase();
      if (!NOT_ON_H2.has(name)) h[name] = v;
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = s.h2.request(h, { endStream: method === 'GET' || method === 'HEAD' });
    } catch (err) {
      this.#release(s);
      this.#drop(s);
      throw err;
    }
    stream.once('close', () => this.#release(s));
    return stream;
  }

  // ---- requests ----

  /**
   * One request; resolves with the parsed JSON body; non-2xx rejects with `KubeApiError`. A 429
   * (or 503 with Retry-After) is sent again after the server's Retry-After (retry.ts).
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#requestOnce<T>(method, path, options);
      } catch (err) {
        const wait = retryDelayMs(err, method.toUpperCase(), attempt, this.#retry);
        if (wait === undefined || options.signal?.aborted) throw err;
        await sleep(wait, options.signal);
      }
    }
  }

  /**
   * Every item of a collection, asked in pages of `limit` (default 500) that follow
   * `metadata.continue`; an expired continue token (410) makes it ask for the whole list (pager.ts).
   */
  listAll<T = unknown>(path: string, options: ListOptions = {}): Promise<ListResult<T>> {
    return listAll<T>(this, path, options);
  }

  async #requestOnce<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const p = await this.#prepare();
    const url = this.#url(p.base, path, options.query);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string | number> = {
      ...p.headers,
      Accept: 'application/json',
      'User-Agent': this.#userAgent,
      ...(payload
        ? {
            'Content-Type': options.contentType ?? 'application/json',
            'Content-Length': payload.length,
          }
        : {}),
    };
    const timeoutMs = options.timeoutMs ?? 30_000;
    const signal = options.signal;
    if (signal?.aborted) throw abortError();
    this.#requests++;
    const finish = (status: number, chunks: Buffer[], retryAfter?: string | string[]): T => {
      this.#notify(method, path, status);
      const text = Buffer.concat(chunks).toString('utf8');
      if (status >= 200 && status < 300) {
        try {
          return (text ? JSON.parse(text) : undefined) as T;
        } catch {
          return text as T;
        }
      }
      throw statusError(status, text, `HTTP ${status} on ${method} ${path}`, retryAfter);
    };
    // A connection the server has just closed (a restart, an idle timeout) fails the request before
    // any answer: send it once more on a fresh connection, as client-go does. Not a POST, which
    // could have been acted on. A stream the server refused unprocessed is always safe to resend.
    let resent = false;
    for (let attempt = 1; ; attempt++) {
      const session = await this.#acquireWithin(p, signal, timeoutMs, `${method} ${path}`);
      if (!session) break;
      try {
        return await this.#h2Request(session, method, path, url, headers, payload, signal, timeoutMs, finish);
      } catch (err) {
        if (err instanceof RefusedStream && attempt < 3) continue;
        if (err instanceof NoAnswer && !resent && method !== 'POST' && !signal?.aborted) {
          resent = true;
          continue;
        }
        throw err;
      }
    }
    const lib = url.protocol === 'https:' ? https : http;
    const send = (retry: boolean): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const req = lib.request(
          url,
          { method, agent: p.agent, headers, ...(signal ? { signal } : {}), timeout: timeoutMs },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              try {
                resolve(finish(res.statusCode ?? 0, chunks, res.headers['retry-after']));
              } catch (err) {
                reject(err);
              }
            });
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`timeout on ${method} ${path}`)));
        req.on('error', (e: NodeJS.ErrnoException) => {
          // the same for a kept-alive HTTP/1.1 connection the server has just closed
          const stale = req.reusedSocket && (e.code === 'ECONNRESET' || e.message === 'socket hang up');
          if (retry && stale && method !== 'POST' && !signal?.aborted) resolve(send(false));
          else reject(e);
        });
        req.end(payload);
      });
    return send(true);
  }

  #h2Request<T>(
    session: Session,
    method: string,
    path: string,
    url: URL,
    headers: Record<string, string | number>,
    payload: Buffer | undefined,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    finish: (status: number, chunks: Buffer[], retryAfter?: string | string[]) => T,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.#h2Stream(session, method, url, headers);
      } catch (err) {
        reject(new RefusedStream(`${method} ${path} not sent: ${(err as Error).message}`)); // nothing went out
        return;
      }
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const cancel = (err: Error) => {
        settle(() => reject(err));
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      const onAbort = () => cancel(abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.setTimeout(timeoutMs, () => cancel(new Error(`timeout on ${method} ${path}`)));
      let status = 0;
      let retryAfter: string | string[] | undefined;
      const chunks: Buffer[] = [];
      let answered = false;
      const refused = () =>
        !answered && stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM
          ? new RefusedStream(`${method} ${path} refused by the server`)
          : undefined;
      stream.on('response', (h) => {
        answered = true;
        status = Number(h[':status'] ?? 0);
        retryAfter = h['retry-after'];
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      const lost = () => {
        const r = refused();
        if (r) return r;
        const msg = `connection lost on ${method} ${path} (HTTP/2 stream closed, code ${stream.rstCode ?? 0})`;
        return answered ? new Error(msg) : new NoAnswer(msg);
      };
      stream.on('end', () =>
        settle(() => {
          // an end without an answer, or with a reset code: the stream was cut short (the
          // connection went away); the body may be incomplete
          if (!answered || (stream.rstCode ?? 0) !== 0) {
            reject(lost());
            return;
          }
          try {
            resolve(finish(status, chunks, retryAfter));
          } catch (err) {
            reject(err);
          }
        }),
      );
      stream.on('error', (err) =>
        settle(() =>
          reject(refused() ?? (answered ? err : new NoAnswer(`${err.message} on ${method} ${path}`))),
        ),
      );
      stream.on('close', () => settle(() => reject(lost())));
      stream.end(payload);
    });
  }

  /**
   * A streaming GET (watch): calls `onObject` for every newline-terminated JSON line; resolves when
   * the server ends the stream (or the connection drops after it answered, or `signal` aborts),
   * rejects on a non-200 answer or when no answer came. A 429 (or 503 with Retry-After) is asked
   * again after the server's Retry-After, as `request` does.
   */
  async stream(
    path: string,
    query: RequestOptions['query'],
    onObject: (obj: unknown) => void,
    signal: AbortSignal,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#streamOnce(path, query, onObject, signal);
      } catch (err) {
        const wait = retryDelayMs(err, 'GET', attempt, this.#retry);
        if (wait === undefined || signal.aborted) throw err;
        try {
          await sleep(wait, signal);
        } catch {
          return; // aborted while waiting
        }
      }
    }
  }

  async #streamOnce(
    path: string,
    query: RequestOptions['query'],
    onObject: (obj: unknown) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const p = await this.#prepare();
    const url = this.#url(p.base, path, query);
    const headers = { ...p.headers, Accept: 'application/json', 'User-Agent': this.#userAgent };
    if (signal.aborted) return;
    this.#requests++;
    let session: Session | null;
    try {
      session = await this.#acquireWithin(p, signal, 0, `watch ${path}`);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    if (session) return this.#h2Watch(session, path, url, headers, onObject, signal);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      const req = lib.request(url, { method: 'GET', agent: p.agent, headers, signal }, (res) => {
        const status = res.statusCode ?? 0;
        this.#notify('WATCH', path, status);
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            reject(
              statusError(
                status,
                Buffer.concat(chunks).toString('utf8'),
                `HTTP ${status} on watch ${path}`,
                res.headers['retry-after'],
              ),
            ),
          );
          return;
        }
        res.setEncoding('utf8');
        res.on('data', lineParser(onObject));
        res.on('end', () => resolve());
        res.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
        res.on('aborted', () => resolve());
      });
      req.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
      req.end();
    });
  }

  #h2Watch(
    session: Session,
    path: string,
    url: URL,
    headers: Record<string, string>,
    onObject: (obj: unknown) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.#h2Stream(session, 'GET', url, headers);
      } catch (err) {
        reject(err);
        return;
      }
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = () => {
        settle(resolve);
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let status = 0;
      let retryAfter: string | string[] | undefined;
      const errorBody: Buffer[] = [];
      const parse = lineParser(onObject);
      const utf8 = new StringDecoder('utf8');
      // Under load Node's HTTP/2 client can emit a stream's first 'data' before its 'response':
      // those bytes wait for the status instead of being taken for an error body (a lost event).
      const early: Buffer[] = [];
      const take = (c: Buffer) => {
        if (status === 200) parse(utf8.write(c));
        else errorBody.push(c);
      };
      stream.on('response', (h) => {
        status = Number(h[':status'] ?? 0);
        retryAfter = h['retry-after'];
        this.#notify('WATCH', path, status);
        if (!settled) for (const c of early.splice(0)) take(c);
      });
      stream.on('data', (c: Buffer) => {
        if (settled) return;
        if (status === 0) early.push(c);
        else take(c);
      });
      stream.on('end', () =>
        settle(() =>
          status === 200
            ? resolve()
            : status === 0
              ? reject(new Error(`connection lost on watch ${path} (code ${stream.rstCode ?? 0})`))
              : reject(
                  statusError(
                    status,
                    Buffer.concat(errorBody).toString('utf8'),
                    `HTTP ${status} on watch ${path}`,
                    retryAfter,
                  ),
                ),
        ),
      );
      // The connection dropped or the stream was reset: after a 200 the watch simply ended (the
      // caller watches again from its last resourceVersion), before any answer it failed.
      const ended = (err?: Error) =>
        settle(() =>
          status === 200 || signal.aborted
            ? resolve()
            : reject(err ?? new Error(`connection lost on watch ${path} (code ${stream.rstCode ?? 0})`)),
        );
      stream.on('error', ended);
      stream.on('close', () => ended());
    });
  }

  /** Closes every connection; requests and watches still running on them end. */
  close(): void {
    this.#generation++;
    for (const abort of this.#tunnelling) abort.abort();
    this.#tunnelling.clear();
    for (const sock of this.#connecting) sock.destroy(new Error('the client was closed'));
    this.#connecting.clear();
    for (const s of [...this.#sessions]) {
      this.#drop(s);
      s.h2.destroy();
    }
    for (const s of this.#draining) s.h2.destroy();
    this.#draining.clear();
    for (const a of this.#retired) a.destroy();
    this.#retired.clear();
    this.#prepared?.agent.destroy();
    this.#prepared = null;
  }
}

/**
 * An agent no longer used for new requests: its idle connections close now, the others once their
 * request or watch ends.
 */
function retireAgent(agent: http.Agent): void {
  agent.maxFreeSockets = 0;
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
}

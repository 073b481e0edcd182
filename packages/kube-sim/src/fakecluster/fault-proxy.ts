/**
 * A fault-injecting proxy between clients and any Kubernetes API server (kube-apiserver or the
 * embedded one), for tests that need what a real server cannot be told to do: end every watch,
 * answer the next requests with 410/429/500, add latency, hold new requests as an unreachable server
 * would, and record every request and TLS connection.
 *
 * Client side: TLS on 127.0.0.1 with HTTP/2 (ALPN `h2`) and HTTP/1.1, as kube-apiserver; HTTP/1.1
 * upgrades (WebSocket and SPDY: the VM console, exec, port-forward) are tunnelled byte for byte.
 * Upstream: HTTP/2 when the server picks `h2` by ALPN (streams of a few connections, each holding at
 * most the server's SETTINGS_MAX_CONCURRENT_STREAMS), else HTTP/1.1 with a keep-alive agent.
 * Request bodies are read whole (API requests are small) and sent on unchanged with their
 * Content-Type; responses, watches and other streams are relayed as they arrive, with backpressure.
 * Credentials pass through: the proxy adds no header, keeps nothing and presents no client
 * certificate, so clients authenticate with bearer tokens.
 *
 * Failures look as they would without the proxy: an upstream that breaks a stream off breaks the
 * client's off too (HTTP/2 stream reset, HTTP/1.1 connection closed), so clients resend or rewatch
 * as they would; only a stream the upstream refused unprocessed (REFUSED_STREAM, past a GOAWAY, or
 * a stale keep-alive connection for a non-POST) is sent again by the proxy. An upstream that cannot
 * be reached gives a 503 Status. The proxy's own answers (faults, 503) are JSON, also to a client
 * that asked for protobuf.
 */
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { selfSignedCert } from '../embedded/tls.ts';

export type FaultStatus = 410 | 429 | 500;

export interface FaultMatch {
  /** Tested against the path without its query string. */
  path?: RegExp;
  /** HTTP method, any case. */
  method?: string;
}

export interface FaultProxyOptions {
  /** The API server, `https://127.0.0.1:PORT` (an `http:` URL is spoken to over HTTP/1.1). */
  upstream: string;
  /** PEM of the CA (or self-signed certificate) the upstream's serving certificate chains to. */
  upstreamCa: string;
  /** The proxy's own serving certificate (default: a fresh self-signed one for 127.0.0.1). */
  tls?: { cert: string; key: string };
  /** HTTP/2 streams a client may open on one connection (default 100, as kube-apiserver). */
  http2MaxStreamsPerConnection?: number;
  /**
   * Who sent a request, from its Authorization header (e.g. a cached TokenReview); recorded as
   * `user` once known. Never delays the request.
   */
  identify?: (authorization: string) => Promise<string | undefined>;
  /** The port to listen on (default: a free one). */
  port?: number;
}

export interface ProxiedRequest {
  method: string;
  /** Without the query string. */
  path: string;
  /** The query string, without `?` (e.g. `labelSelector=a%3Db&watch=true`). */
  query: string;
  /** As Kubernetes' RequestInfo: get, list, watch, create, update, patch, delete, deletecollection… */
  verb: string;
  /**
   * The HTTP status the client got (101 for a tunnelled upgrade; 200 for a watch, also one the
   * proxy answered with a 410 ERROR event); 0 when no answer was given (the client or the upstream
   * went away first).
   */
  status: number;
  userAgent?: string;
  /** The user, when `identify` was given and could tell (filled in shortly after the answer). */
  user?: string;
}

export interface FaultProxy {
  /** `https://127.0.0.1:PORT`. */
  readonly url: string;
  /** PEM clients must trust. */
  readonly caCert: string;
  /** Ends every open watch stream cleanly (at an event boundary), as an API server restart would. */
  dropWatches(): void;
  /**
   * The next `count` requests matching `match` are answered by the proxy with a metav1.Status:
   * 410 Expired (a watch gets HTTP 200 and one ERROR event carrying it, then the end), 429
   * TooManyRequests with `Retry-After: 1`, 500 InternalError.
   */
  failNext(count: number, status: FaultStatus, match?: FaultMatch): void;
  /** Every request (and upgrade) waits this long before it is answered or forwarded. */
  setLatency(ms: number): void;
  /**
   * Watches asked from a resourceVersion below `revision` (after an etcd compaction) get the 410
   * ERROR event, as a server whose history starts there answers.
   */
  expireWatchesBelow(revision: string | number): void;
  /** Holds new connections and requests until `resume()` (an unreachable API server). */
  pause(): void;
  resume(): void;
  requests(): readonly ProxiedRequest[];
  /** Each TLS connection accepted, with the protocol ALPN chose (`h2`, `http/1.1`, or `none`). */
  connections(): ReadonlyArray<{ alpn: string }>;
  /** Forgets the recorded requests and connections (faults stay armed). */
  reset(): void;
  close(): Promise<void>;
}

/** Connection-specific headers (RFC 9110 §7.6.1, RFC 9113 §8.2.2): never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  'host',
]);

const WATCH_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-cache, private' };
const CONNECT_TIMEOUT_MS = 10_000;
const MAX_BODY = 64 * 1024 * 1024;
const MAX_RECORDS = 100_000;
/** Upstream HTTP/2 flow-control windows (per stream, per connection), as our client uses. */
const STREAM_WINDOW = 1 << 20;
const CONNECTION_WINDOW = 16 << 20;

const noop = () => {};

function lower(method: string | undefined): string {
  return (method ?? 'GET').toLowerCase();
}

/** `watch` as Kubernetes reads a bool query parameter: present and not "0", "f" or "false". */
function truthy(v: string | null): boolean {
  if (v === null || v === '') return false;
  return !['0', 'f', 'false'].includes(v.toLowerCase());
}

/**
 * The verb Kubernetes' RequestInfoFactory gives a request: resource requests get get, list, watch,
 * create, update, patch, delete or deletecollection (watch for `?watch=true` on a collection or a
 * `/watch/` path; proxy for a `/proxy/` path); other paths (`/version`, `/api`, `/healthz`…) the
 * lower-case method.
 */
export function requestVerb(method: string, path: string, query: URLSearchParams): string {
  const m = method.toUpperCase();
  const parts = path.split('/').filter(Boolean);
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) rest = parts.slice(3);
  else return lower(m);
  if (rest.length === 0) return lower(m);
  let verb: string;
  if (rest[0] === 'watch' || rest[0] === 'proxy') {
    if (rest.length < 2) return lower(m);
    verb = rest[0];
    rest = rest.slice(1);
  } else {
    const byMethod: Record<string, string> = {
      GET: 'get',
      HEAD: 'get',
      POST: 'create',
      PUT: 'update',
      PATCH: 'patch',
      DELETE: 'delete',
    };
    verb = byMethod[m] ?? lower(m);
  }
  // /namespaces/{ns}/{resource}... names a namespaced resource; /namespaces/{ns}[/status|/finalize]
  // is the namespace itself
  if (rest[0] === 'namespaces' && rest.length > 2 && rest[2] !== 'status' && rest[2] !== 'finalize') {
    rest = rest.slice(2);
  }
  if (rest.length < 2 && verb === 'get') verb = truthy(query.get('watch')) ? 'watch' : 'list';
  if (rest.length < 2 && verb === 'delete') verb = 'deletecollection';
  return verb;
}

/** A metav1.Status failure body. */
function statusBody(code: number, reason: string, message: string, details?: object): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

function faultBody(status: FaultStatus, rv: string): object {
  switch (status) {
    case 410: {
      const n = /^\d+$/.test(rv) ? BigInt(rv) : 1n;
      return statusBody(410, 'Expired', `too old resource version: ${n} (${n + 1n})`);
    }
    case 429:
      return statusBody(429, 'TooManyRequests', 'Too many requests, please try again later.', {
        retryAfterSeconds: 1,
      });
    default:
      return statusBody(500, 'InternalError', 'Internal error occurred: injected fault', {
        causes: [{ message: 'injected fault' }],
      });
  }
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The headers named by a Connection header (themselves connection-specific). */
function connectionTokens(v: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const line of Array.isArray(v) ? v : v ? [v] : [])
    for (const t of line.split(',')) if (t.trim()) out.add(t.trim().toLowerCase());
  return out;
}

/**
 * Headers from their raw list (name, value, name, value…), a repeated one as an array: Node joins
 * repeated headers with commas in `headers`, which would make `Impersonate-Group: a` and
 * `Impersonate-Group: b` one group "a, b".
 */
function fromRaw(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const had = out[name];
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

/** End-to-end headers of a request or response: pseudo-headers and hop-by-hop ones removed. */
function endToEnd(raw: readonly string[]): Record<string, string | string[]> {
  const all = fromRaw(raw);
  const named = connectionTokens(all.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, v] of Object.entries(all)) {
    if (name.startsWith(':') || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = v;
  }
  return out;
}

type ClientRequest = http.IncomingMessage | http2.Http2ServerRequest;
type ClientResponse = http.ServerResponse | http2.Http2ServerResponse;

/** The client's side is closed (an HTTP/2 compatibility response has no `destroyed` of its own). */
function gone(res: ClientResponse): boolean {
  if (res instanceof http2.Http2ServerResponse) return res.stream.destroyed || res.stream.closed;
  return res.destroyed;
}

/** What both kinds of response offer alike (TypeScript cannot call a method of a union of overloads). */
function out(res: ClientResponse): http.ServerResponse {
  return res as http.ServerResponse;
}

/** Path and query of a request target (not through `URL`, which would read `//x` as a host). */
function splitTarget(target: string): { pathname: string; searchParams: URLSearchParams } {
  const q = target.indexOf('?');
  return {
    pathname: q < 0 ? target : target.slice(0, q),
    searchParams: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
  };
}

class TooLarge extends Error {}

function readBody(req: ClientRequest, res: ClientResponse): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (req.destroyed || gone(res)) {
      reject(new Error('client closed'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      reject(err);
    };
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) fail(new TooLarge(`the request body is larger than ${MAX_BODY} bytes`));
      else chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', fail);
    req.on('aborted', () => fail(new Error('client aborted')));
    req.on('close', () => fail(new Error('client closed')));
    res.on('close', () => fail(new Error('client closed')));
  });
}

/** Sends a JSON answer of the proxy's own. */
function answer(res: ClientResponse, code: number, body: object, extra: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded || gone(res)) return;
  const text = JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    'cache-control': 'no-cache, private',
    'content-length': String(Buffer.byteLength(text)),
    ...extra,
  };
  if (sendHead(res, code, headers)) res.end(text);
}

/** Sends the upstream's status and headers to the client; false when it is gone or they cannot be sent. */
function sendHead(res: ClientResponse, status: number, headers: Record<string, string | string[]>): boolean {
  if (res.headersSent || res.writableEnded || gone(res)) return false;
  try {
    res.writeHead(status, headers);
    out(res).flushHeaders();
    return true;
  } catch {
    // headers HTTP/2 cannot carry (a repeated single-value header): the answer cannot be passed on
    cutShort(res);
    return false;
  }
}

/** Ends a client response abruptly, as a dropped connection would: HTTP/2 resets the stream, HTTP/1.1 closes the socket. */
function cutShort(res: ClientResponse): void {
  if (res instanceof http2.Http2ServerResponse) {
    const s = res.stream;
    if (!s.destroyed && !s.closed) s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  } else if (!res.writableFinished) {
    res.destroy();
  }
}

/** Relays a response body to the client, for JSON watches whole lines only (so a drop ends between events). */
class Relay {
  #tail: Buffer[] = [];
  readonly #res: ClientResponse;
  readonly #lines: boolean;
  constructor(res: ClientResponse, lines: boolean) {
    this.#res = res;
    this.#lines = lines;
  }
  get open(): boolean {
    return !this.#res.writableEnded && !gone(this.#res);
  }
  /** false: wait for 'drain'. */
  write(chunk: Buffer): boolean {
    if (!this.open) return true;
    if (!this.#lines) return out(this.#res).write(chunk);
    const nl = chunk.lastIndexOf(10);
    if (nl < 0) {
      this.#tail.push(chunk);
      return true;
    }
    const lines = this.#tail.length
      ? Buffer.concat([...this.#tail, chunk.subarray(0, nl + 1)])
      : chunk.subarray(0, nl + 1);
    this.#tail = nl + 1 < chunk.length ? [chunk.subarray(nl + 1)] : [];
    return out(this.#res).write(lines);
  }
  /** The upstream ended: everything it sent goes out. */
  end(): void {
    if (!this.open) return;
    const tail = Buffer.concat(this.#tail);
    this.#tail = [];
    if (tail.length) this.#res.end(tail);
    else this.#res.end();
  }
  /** Ends at the last whole event (a partial line is dropped). */
  endClean(): void {
    this.#tail = [];
    if (this.open) this.#res.end();
  }
}

interface UpSession {
  h2: http2.ClientHttp2Session;
  active: number;
  max: number;
  usable: boolean;
}

/** The connections to the API server: HTTP/2 sessions when it offers h2, else an HTTP/1.1 agent. */
class Upstream {
  readonly base: URL;
  readonly host: string;
  readonly port: number;
  readonly #ca: string;
  readonly #servername: string | undefined;
  readonly agent: http.Agent;
  #protocol: 'h1' | 'h2' | undefined;
  #sessions: UpSession[] = [];
  #opening: Promise<UpSession | null> | null = null;
  readonly #connecting = new Set<tls.TLSSocket>();
  #closed = false;

  constructor(upstream: string, ca: string) {
    this.base = new URL(upstream);
    this.host = this.base.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(this.base.port || (this.base.protocol === 'https:' ? 443 : 80));
    this.#ca = ca;
    this.#servername = net.isIP(this.host) ? undefined : this.host;
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ...this.tlsOptions(['http/1.1']) })
        : new http.Agent({ keepAlive: true });
  }

  get secure(): boolean {
    return this.base.protocol === 'https:';
  }

  tlsOptions(alpn: string[]): tls.ConnectionOptions {
    return {
      host: this.host,
      port: this.port,
      ca: this.#ca,
      ALPNProtocols: alpn,
      ...(this.#servername ? { servername: this.#servername } : {}),
    };
  }

  /** A session with a stream reserved on it, or null for HTTP/1.1. Rejects when the server is unreachable. */
  async acquire(): Promise<UpSession | null> {
    if (!this.secure) return null;
    for (;;) {
      if (this.#closed) throw new Error('the proxy is closed');
      if (this.#protocol === 'h1') return null;
      const free = this.#sessions.find(
        (s) => s.usable && !s.h2.closed && !s.h2.destroyed && s.active < s.max,
      );
      if (free) {
        free.active++;
        return free;
      }
      if (!this.#opening) {
        this.#opening = this.#open().finally(() => {
          this.#opening = null;
        });
      }
      const s = await this.#opening;
      if (!s) return null;
      if (s.usable && s.active < s.max) {
        s.active++;
        return s;
      }
      if (!s.usable) throw new Error('the connection to the API server closed at once');
    }
  }

  release(s: UpSession): void {
    s.active = Math.max(0, s.active - 1);
  }

  drop(s: UpSession): void {
    s.usable = false;
    this.#sessions = this.#sessions.filter((x) => x !== s);
  }

  async #open(): Promise<UpSession | null> {
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const sock = tls.connect(this.tlsOptions(['h2', 'http/1.1']));
      this.#connecting.add(sock);
      sock.once('close', () => this.#connecting.delete(sock));
      sock.setTimeout(CONNECT_TIMEOUT_MS, () => sock.destroy(new Error('TLS handshake timed out')));
      sock.once('error', reject);
      sock.once('secureConnect', () => {
        this.#connecting.delete(sock);
        sock.setTimeout(0);
        sock.off('error', reject);
        resolve(sock);
      });
    });
    if (this.#closed) {
      socket.destroy();
      throw new Error('the proxy is closed');
    }
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      this.#protocol = 'h1';
      return null;
    }
    this.#protocol = 'h2';
    const h2 = http2.connect(this.base.origin, {
      createConnection: () => socket,
      settings: { initialWindowSize: STREAM_WINDOW },
    });
    const session: UpSession = { h2, active: 0, max: 100, usable: true };
    h2.on('error', () => this.drop(session));
    h2.on('close', () => this.drop(session));
    // after a GOAWAY the streams the server accepted finish; new ones go to a new connection
    h2.on('goaway', () => this.drop(session));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => h2.destroy(new Error('no HTTP/2 SETTINGS from the API server')),
        CONNECT_TIMEOUT_MS,
      );
      const done = (err?: Error) => {
        clearTimeout(timer);
        h2.off('remoteSettings', ok);
        h2.off('error', fail);
        h2.off('close', fail);
        if (err) reject(err);
        else resolve();
      };
      const ok = () => done();
      const fail = (err?: Error) => done(err ?? new Error('the API server closed the connection'));
      h2.once('remoteSettings', ok);
      h2.once('error', fail);
      h2.once('close', fail);
    });
    const max = (n: number | undefined) => Math.max(1, Math.min(n ?? 100, 1000));
    session.max = max(h2.remoteSettings.maxConcurrentStreams);
    h2.on('remoteSettings', (s) => {
      if (s.maxConcurrentStreams !== undefined) session.max = max(s.maxConcurrentStreams);
    });
    try {
      h2.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      // the default window only slows large answers down
    }
    if (this.#closed) {
      h2.destroy();
      throw new Error('the proxy is closed');
    }
    this.#sessions.push(session);
    return session;
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#connecting) s.destroy();
    this.#connecting.clear();
    for (const s of [...this.#sessions]) {
      this.drop(s);
      s.h2.destroy();
    }
    this.agent.destroy();
  }
}

interface FailRule {
  remaining: number;
  status: FaultStatus;
  match?: FaultMatch;
}

/** A request being forwarded, for dropWatches and close. */
interface Exchange {
  watch: boolean;
  /** Ends the client's response cleanly and cancels the upstream side. */
  drop(): void;
  /** Cuts both sides (the proxy is closing). */
  abort(): void;
}

/** How one forwarding attempt ended: 'retry' when the upstream refused it unprocessed. */
type Outcome = 'done' | 'retry';

/**
 * One forwarding attempt, whatever the upstream protocol: relays the answer to the client, ends or
 * cuts it as the upstream does, and takes part in dropWatches and close.
 */
class Forwarding implements Exchange {
  answered = false;
  finished = false;
  #relay: Relay | null = null;
  /**
   * Body bytes that came before the answer's head: under load Node's HTTP/2 client can emit a
   * stream's first 'data' before its 'response'. Dropping them ended the client's answer short of
   * its content-length, which its HTTP/2 layer refused as PROTOCOL_ERROR.
   */
  #early: Buffer[] = [];
  readonly watch: boolean;
  readonly #res: ClientResponse;
  readonly #done: (status: number) => void;
  readonly #resolve: (o: Outcome) => void;
  readonly #cancel: () => void;
  readonly #registry: Set<Exchange>;
  readonly #onClientClose = () => {
    // after our own end the attempt is finished already: a close now means the client went away
    if (this.finished) return;
    this.#cancel();
    this.finish('done');
  };

  constructor(
    registry: Set<Exchange>,
    res: ClientResponse,
    watch: boolean,
    done: (status: number) => void,
    resolve: (o: Outcome) => void,
    cancel: () => void,
  ) {
    this.#res = res;
    this.watch = watch;
    this.#done = done;
    this.#resolve = resolve;
    this.#cancel = cancel;
    this.#registry = registry;
    registry.add(this);
    res.on('close', this.#onClientClose);
  }

  /** The upstream's answer; false when it cannot be passed on (the upstream side is then cancelled). */
  head(status: number, headers: Record<string, string | string[]>, json: boolean): boolean {
    if (this.finished) return false;
    this.answered = true;
    if (!sendHead(this.#res, status, headers)) {
      this.#cancel();
      this.#done(0);
      this.finish('done');
      return false;
    }
    this.#done(status);
    this.#relay = new Relay(this.#res, this.watch && status === 200 && json);
    for (const c of this.#early.splice(0)) this.#relay.write(c);
    return true;
  }

  data(chunk: Buffer, pause: () => void, resume: () => void): void {
    if (this.finished) return;
    if (!this.#relay) {
      this.#early.push(chunk);
      return;
    }
    if (!this.#relay.write(chunk)) {
      pause();
      this.#res.once('drain', resume);
    }
  }

  /** The upstream ended its answer. */
  end(): void {
    if (this.finished) return;
    this.#relay?.end();
    this.finish('done');
  }

  /** The upstream broke off: so does the client's answer. */
  cut(): void {
    if (this.finished) return;
    cutShort(this.#res);
    if (!this.answered) this.#done(0);
    this.finish('done');
  }

  finish(o: Outcome): void {
    if (this.finished) return;
    this.finished = true;
    this.#registry.delete(this);
    this.#res.off('close', this.#onClientClose);
    this.#resolve(o);
  }

  drop(): void {
    if (this.finished) return;
    this.#cancel();
    if (this.#relay) this.#relay.endClean();
    else if (sendHead(this.#res, 200, WATCH_HEADERS)) {
      // not answered yet: an empty watch that ended at once
      this.#res.end();
      this.#done(200);
    }
    this.finish('done');
  }

  abort(): void {
    if (this.finished) return;
    this.#cancel();
    cutShort(this.#res);
    this.finish('done');
  }
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const serving = options.tls ?? selfSignedCert('kubevirtbmc-fault-proxy');
  const upstream = new Upstream(options.upstream, options.upstreamCa);
  let records: ProxiedRequest[] = [];
  let conns: Array<{ alpn: string }> = [];
  let rules: FailRule[] = [];
  let latencyMs = 0;
  let expiredBelow = 0n;
  let paused = false;
  let resumed: { promise: Promise<void>; resolve: () => void } | null = null;
  let closed = false;
  const exchanges = new Set<Exchange>();
  const tunnels = new Set<Duplex>();
  const sockets = new Set<net.Socket>();
  const held = new Set<net.Socket>();

  const record = (r: ProxiedRequest, authorization?: string) => {
    if (authorization && options.identify)
      options.identify(authorization).then(
        (user) => {
          if (user) r.user = user;
        },
        () => {},
      );
    records.push(r);
    if (records.length > MAX_RECORDS) records.splice(0, MAX_RECORDS / 2);
  };

  /** A request as the records name it, and `done(status)`, which records its answer once. */
  const received = (req: ClientRequest) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const target = req.url ?? '/';
    const url = splitTarget(target);
    const verb = requestVerb(method, url.pathname, url.searchParams);
    const ua = one(req.headers['user-agent']);
    const auth = one(req.headers.authorization);
    let recorded = false;
    const done = (status: number) => {
      if (recorded) return;
      recorded = true;
      record(
        {
          method,
          path: url.pathname,
          query: url.searchParams.toString(),
          verb,
          status,
          ...(ua ? { userAgent: ua } : {}),
        },
        auth,
      );
    };
    return { method, target, url, verb, done };
  };

  const takeFault = (method: string, path: string): FailRule | undefined => {
    for (const rule of rules) {
      if (rule.remaining <= 0) continue;
      if (rule.match?.method && rule.match.method.toUpperCase() !== method) continue;
      if (rule.match?.path) {
        rule.match.path.lastIndex = 0;
        if (!rule.match.path.test(path)) continue;
      }
      rule.remaining--;
      rules = rules.filter((r) => r.remaining > 0);
      return rule;
    }
    return undefined;
  };

  /** Waits while paused, then for the latency. */
  const hold = async () => {
    while (paused && resumed) await resumed.promise;
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    while (paused && resumed) await resumed.promise;
  };

  const unreachable = (err: unknown) =>
    statusBody(
      503,
      'ServiceUnavailable',
      `the API server ${upstream.base.origin} is unreachable: ${(err as Error)?.message ?? String(err)}`,
    );

  // ---- plain requests ----

  const onRequest = async (req: ClientRequest, res: ClientResponse): Promise<void> => {
    const { method, target, url, verb, done } = received(req);
    req.on('error', noop);
    res.on('error', noop);
    // a client gone before its answer is recorded without one
    res.on('close', () => {
      if (!res.headersSent) done(0);
    });
    await hold();
    if (closed) {
      cutShort(res);
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, res);
    } catch (err) {
      if (err instanceof TooLarge) {
        answer(res, 413, statusBody(413, 'RequestEntityTooLarge', err.message));
        done(413);
        return;
      }
      done(0);
      cutShort(res);
      return;
    }
    if (closed || gone(res) || res.writableEnded) {
      done(0);
      return;
    }
    const watch = verb === 'watch';
    const rv = url.searchParams.get('resourceVersion') ?? '';
    const fault = takeFault(method, url.pathname);
    if (fault) {
      if (fault.status === 410 && watch) {
        expiredEvent(res, faultBody(410, rv));
        done(200);
      } else {
        answer(
          res,
          fault.status,
          faultBody(fault.status, rv),
          fault.status === 429 ? { 'retry-after': '1' } : {},
        );
        done(fault.status);
      }
      return;
    }
    if (watch && /^\d+$/.test(rv) && rv !== '0' && BigInt(rv) < expiredBelow) {
      expiredEvent(res, statusBody(410, 'Expired', `too old resource version: ${rv} (${expiredBelow})`));
      done(200);
      return;
    }
    const headers = endToEnd(req.rawHeaders);
    delete headers['content-length'];
    // the body is read already: nothing is to wait for a 100 Continue
    delete headers.expect;
    if (body.length > 0 || req.headers['content-length'] !== undefined)
      headers['content-length'] = String(body.length);
    let resent = false;
    for (let attempt = 1; ; attempt++) {
      let session: UpSession | null;
      try {
        session = await upstream.acquire();
      } catch (err) {
        if (closed) cutShort(res);
        else answer(res, 503, unreachable(err));
        done(closed ? 0 : 503);
        return;
      }
      if (closed || gone(res)) {
        // the client went away meanwhile (its close event is past: nothing would cancel the attempt)
        if (session) upstream.release(session);
        cutShort(res);
        done(0);
        return;
      }
      const outcome = session
        ? await viaH2(session, method, target, headers, body, watch, res, done)
        : await viaH1(method, target, headers, body, watch, res, done, !resent);
      if (outcome === 'done') return;
      if (!session) resent = true;
      if (attempt >= 3) {
        answer(res, 503, unreachable(new Error('the connection was refused three times')));
        done(503);
        return;
      }
    }
  };

  /** HTTP 200 with one ERROR event carrying a 410 Status, then the end (kube-apiserver's answer to an expired watch). */
  const expiredEvent = (res: ClientResponse, status: object) => {
    if (sendHead(res, 200, WATCH_HEADERS)) res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
  };

  /** A JSON watch is relayed line by line (not when compressed: its lines are not to be seen). */
  const isJson = (h: http.IncomingHttpHeaders | http2.IncomingHttpHeaders) =>
    /^application\/json\b/i.test(String(h['content-type'] ?? '')) &&
    /^(identity)?$/i.test(String(h['content-encoding'] ?? ''));

  /** Forwards one request as a stream of an upstream HTTP/2 session. */
  const viaH2 = (
    session: UpSession,
    method: string,
    target: string,
    headers: Record<string, string | string[]>,
    body: Buffer,
    watch: boolean,
    res: ClientResponse,
    done: (status: number) => void,
  ): Promise<Outcome> =>
    new Promise<Outcome>((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.h2.request(
          { ...headers, ':method': method, ':path': target },
          { endStream: body.length === 0 },
        );
      } catch {
        upstream.release(session);
        if (session.h2.closed || session.h2.destroyed) {
          upstream.drop(session);
          resolve('retry');
        } else {
          // headers HTTP/2 cannot carry
          answer(res, 400, statusBody(400, 'BadRequest', 'the request headers cannot be sent over HTTP/2'));
          done(400);
          resolve('done');
        }
        return;
      }
      const f = new Forwarding(exchanges, res, watch, done, resolve, () => {
        if (!stream.destroyed && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      });
      let failure: NodeJS.ErrnoException | undefined;
      stream.once('close', () => upstream.release(session));
      stream.on('error', (err: NodeJS.ErrnoException) => {
        failure = err;
      });
      // Node passes the raw header list third (repeated headers stay apart there)
      const onResponse = (
        h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
        _flags: number,
        raw?: string[],
      ) => {
        const headers = raw ?? Object.entries(h).flatMap(([k, v]) => [k, String(v)]);
        f.head(Number(h[':status'] ?? 502), endToEnd(headers), isJson(h));
      };
      stream.on(
        'response',
        onResponse as (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) => void,
      );
      stream.on('data', (c: Buffer) =>
        f.data(
          c,
          () => stream.pause(),
          () => stream.resume(),
        ),
      );
      // Whether the stream ended well is known only at its close: a connection that goes away ends
      // its streams too (with a reset code).
      stream.on('close', () => {
        if (f.finished) return;
        const code = stream.rstCode ?? 0;
        const refused =
          code === http2.constants.NGHTTP2_REFUSED_STREAM ||
          failure?.code === 'ERR_HTTP2_GOAWAY_SESSION' ||
          stream.id === undefined;
        if (!f.answered && refused)
          f.finish('retry'); // refused before processing, or never sent
        else if (f.answered && code === http2.constants.NGHTTP2_NO_ERROR && stream.readableEnded) f.end();
        else f.cut();
      });
      if (body.length > 0) stream.end(body);
    });

  /** Forwards one request over HTTP/1.1 (keep-alive agent). */
  const viaH1 = (
    method: string,
    target: string,
    headers: Record<string, string | string[]>,
    body: Buffer,
    watch: boolean,
    res: ClientResponse,
    done: (status: number) => void,
    mayResend: boolean,
  ): Promise<Outcome> =>
    new Promise<Outcome>((resolve) => {
      const lib = upstream.secure ? https : http;
      const up = lib.request({
        host: upstream.host,
        port: upstream.port,
        method,
        path: target,
        headers,
        agent: upstream.agent,
      });
      const f = new Forwarding(exchanges, res, watch, done, resolve, () => up.destroy());
      up.on('response', (r) => {
        r.on('error', noop);
        if (f.finished) {
          r.destroy();
          return;
        }
        if (!f.head(r.statusCode ?? 502, endToEnd(r.rawHeaders), isJson(r.headers))) return;
        r.on('data', (c: Buffer) =>
          f.data(
            c,
            () => r.pause(),
            () => r.resume(),
          ),
        );
        r.on('end', () => f.end());
        r.on('close', () => (r.complete ? f.end() : f.cut()));
      });
      up.on('error', (err: NodeJS.ErrnoException) => {
        if (f.finished) return;
        if (f.answered) {
          f.cut();
          return;
        }
        // a kept-alive connection the server had just closed: the request never got there
        const stale = up.reusedSocket && (err.code === 'ECONNRESET' || err.message === 'socket hang up');
        if (stale && mayResend && method !== 'POST') {
          f.finish('retry');
          return;
        }
        const connectFailed =
          !up.reusedSocket &&
          ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EADDRNOTAVAIL'].includes(
            err.code ?? '',
          );
        if (connectFailed || /certificate|self.signed|SSL|TLS/i.test(`${err.code} ${err.message}`)) {
          answer(res, 503, unreachable(err));
          done(503);
          f.finish('done');
        } else f.cut();
      });
      up.end(body.length > 0 ? body : undefined);
    });

  // ---- upgrades (WebSocket, SPDY) ----

  const rawResponse = (socket: Duplex, code: number, reason: string, body: object, extra: string[] = []) => {
    const text = JSON.stringify(body);
    socket.end(
      [
        `HTTP/1.1 ${code} ${reason}`,
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(text)}`,
        'Connection: close',
        ...extra,
        '',
        text,
      ].join('\r\n'),
    );
  };

  const onUpgrade = async (req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    socket.on('error', noop);
    const { method, target, url, done } = received(req);
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    await hold();
    if (closed || socket.destroyed) {
      socket.destroy();
      done(0);
      return;
    }
    const fault = takeFault(method, url.pathname);
    if (fault) {
      const reason = { 410: 'Gone', 429: 'Too Many Requests', 500: 'Internal Server Error' }[fault.status];
      rawResponse(
        socket,
        fault.status,
        reason,
        faultBody(fault.status, ''),
        fault.status === 429 ? ['Retry-After: 1'] : [],
      );
      done(fault.status);
      return;
    }
    // the upgrade's own Connection and Upgrade headers go on; the Host is the upstream's
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(fromRaw(req.rawHeaders))) {
      if (['host', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding'].includes(k)) continue;
      headers[k] = v;
    }
    const lib = upstream.secure ? https : http;
    const up = lib.request({
      ...(upstream.secure ? upstream.tlsOptions(['http/1.1']) : { host: upstream.host, port: upstream.port }),
      method,
      path: target,
      headers,
      agent: false,
    });
    let settled = false;
    up.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (!settled) up.destroy(new Error('the API server did not answer the upgrade'));
    });
    const onClientGone = () => {
      if (!settled) {
        settled = true;
        up.destroy();
        done(0);
      }
    };
    socket.once('close', onClientGone);
    up.on('upgrade', (upRes, upSocket, upHead) => {
      socket.off('close', onClientGone);
      if (settled) {
        upSocket.destroy();
        return;
      }
      settled = true;
      up.setTimeout(0);
      // a console may stay quiet for as long as it likes
      (upSocket as net.Socket).setTimeout?.(0);
      upSocket.on('error', noop);
      tunnels.add(upSocket);
      const lines = [`HTTP/1.1 ${upRes.statusCode ?? 101} ${upRes.statusMessage ?? 'Switching Protocols'}`];
      for (let i = 0; i + 1 < upRes.rawHeaders.length; i += 2)
        lines.push(`${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      const teardown = () => {
        tunnels.delete(upSocket);
        tunnels.delete(socket);
        socket.destroy();
        upSocket.destroy();
      };
      socket.on('close', teardown);
      upSocket.on('close', teardown);
      // a half-close is passed on, as TCP does
      upSocket.pipe(socket);
      socket.pipe(upSocket);
      done(upRes.statusCode ?? 101);
    });
    up.on('response', (upRes) => {
      socket.off('close', onClientGone);
      if (settled) {
        upRes.destroy();
        return;
      }
      settled = true;
      up.setTimeout(0);
      // refused (401, 403, 404, 400…): the answer goes back whole, then the connection closes
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('error', noop);
      upRes.on('end', () => {
        const bodyBuf = Buffer.concat(chunks);
        const lines = [`HTTP/1.1 ${upRes.statusCode ?? 502} ${upRes.statusMessage ?? ''}`];
        for (let i = 0; i + 1 < upRes.rawHeaders.length; i += 2) {
          const name = upRes.rawHeaders[i]!;
          if (
            ['connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(name.toLowerCase())
          )
            continue;
          lines.push(`${name}: ${upRes.rawHeaders[i + 1]}`);
        }
        lines.push(`Content-Length: ${bodyBuf.length}`, 'Connection: close');
        socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), bodyBuf]));
        done(upRes.statusCode ?? 502);
      });
      upRes.on('aborted', () => socket.destroy());
    });
    up.on('error', (err) => {
      socket.off('close', onClientGone);
      if (settled) return;
      settled = true;
      if (closed) socket.destroy();
      else rawResponse(socket, 503, 'Service Unavailable', unreachable(err));
      done(closed ? 0 : 503);
    });
    up.end();
  };

  // ---- the server ----

  const server = http2.createSecureServer(
    {
      cert: serving.cert,
      key: serving.key,
      allowHTTP1: true,
      settings: { maxConcurrentStreams: options.http2MaxStreamsPerConnection ?? 100 },
    },
    (req, res) => void onRequest(req, res).catch(() => cutShort(res)),
  );
  // kube-apiserver's idle timeout for HTTP/1.1 keep-alive connections
  (server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 90_000;
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    void onUpgrade(req, socket, head).catch(() => socket.destroy());
  });
  server.on('secureConnection', (s: tls.TLSSocket) => {
    conns.push({ alpn: s.alpnProtocol || 'none' });
    if (conns.length > MAX_RECORDS) conns.splice(0, MAX_RECORDS / 2);
  });
  server.on('session', (session) => session.on('error', noop));
  server.on('sessionError', noop);
  server.on('tlsClientError', noop);
  server.on('clientError', (_err: Error, socket: Duplex) => socket.destroy());

  // TCP connections arrive here first, so that a paused proxy can hold them before TLS
  const front = net.createServer((socket) => {
    socket.on('error', noop);
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      held.delete(socket);
    });
    if (closed) socket.destroy();
    else if (paused) held.add(socket);
    else server.emit('connection', socket);
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(options.port ?? 0, '127.0.0.1', () => {
      front.off('error', reject);
      resolve();
    });
  });
  const port = (front.address() as net.AddressInfo).port;

  return {
    url: `https://127.0.0.1:${port}`,
    caCert: serving.cert,
    dropWatches: () => {
      for (const x of [...exchanges]) if (x.watch) x.drop();
    },
    failNext: (count, status, match) => {
      if (!Number.isInteger(count) || count < 1) throw new Error('count must be a positive integer');
      if (![410, 429, 500].includes(status)) throw new Error('status must be 410, 429 or 500');
      rules.push({ remaining: count, status, ...(match ? { match } : {}) });
    },
    setLatency: (ms) => {
      latencyMs = Math.max(0, Number.isFinite(ms) ? ms : 0);
    },
    expireWatchesBelow: (revision) => {
      const r = BigInt(String(revision));
      if (r > expiredBelow) expiredBelow = r;
    },
    pause: () => {
      if (paused) return;
      paused = true;
      let resolve = noop;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      resumed = { promise, resolve };
    },
    resume: () => {
      if (!paused) return;
      paused = false;
      resumed?.resolve();
      resumed = null;
      for (const s of [...held]) {
        held.delete(s);
        if (!s.destroyed) server.emit('connection', s);
      }
    },
    requests: () => records,
    connections: () => conns,
    reset: () => {
      records = [];
      conns = [];
    },
    close: async () => {
      if (closed) return;
      closed = true;
      // held requests wake up and find the proxy closed
      paused = false;
      resumed?.resolve();
      resumed = null;
      const stopped = new Promise<void>((r) => front.close(() => r()));
      for (const x of [...exchanges]) x.abort();
      for (const t of [...tunnels]) t.destroy();
      for (const s of [...sockets]) s.destroy();
      upstream.close();
      server.close();
      await stopped;
    },
  };
}

/** The HTTP front of the API server: routing, auth, faults, stats, list/watch, Table output. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { readBody } from '../fakecluster/http-body.ts';
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  type ExtraGroupVersion,
  openApiV3Document,
  openApiV3Index,
  VERSION_INFO,
} from './discovery.ts';
import {
  ApiError,
  badRequest,
  expired,
  type FieldError,
  internalError,
  invalid,
  methodNotAllowed,
  notFound,
  unsupportedMediaType,
} from './errors.ts';
import {
  decodeKubeProtobuf,
  PROTOBUF_CONTENT_TYPE,
  ProtobufDecodeError,
  protobufKinds,
} from './protobuf/decode.ts';
import type { Registry } from './registry.ts';
import { apiVersionOf, type ResourceType, storageKey } from './resources.ts';
import { unknownBuiltinFields, unknownFields, unknownMetadataFields } from './schema.ts';
import type { Obj, StoreEvent } from './store.ts';
import { toTable } from './table.ts';

export interface User {
  name: string;
  groups: string[];
  admin: boolean;
  /** As SelfSubjectReview reports it (a ServiceAccount's uid; the name for token-file users). */
  uid?: string;
  extra?: Record<string, string[]>;
  /**
   * A component of the cluster itself (the fake node and KubeVirt): its requests reach the server
   * past the fault layer, as the fake components reach the real kube-apiserver directly while
   * clients go through the fault proxy. They are not delayed, failed, counted, or have their
   * watches dropped; a restart still closes their connections.
   */
  component?: boolean;
}

export interface RequestInfo {
  method: string;
  path: string;
  query: URLSearchParams;
  verb: string;
  group: string;
  version: string;
  namespace?: string;
  resource?: string;
  name?: string;
  subresource?: string;
  /** Path segments after the subresource (e.g. portforward port). */
  rest: string[];
  isResource: boolean;
}

export interface RequestRecord {
  method: string;
  path: string;
  /** The query string, without `?` (e.g. `labelSelector=a%3Db&watch=true`). */
  query: string;
  verb: string;
  status: number;
  userAgent?: string;
  user: string;
}

export type SubresourceHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  info: RequestInfo,
  body: Buffer,
  user: User,
) => Promise<void> | void;

export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  info: RequestInfo,
  user: User,
) => void;

export type Authorizer = (user: User, info: RequestInfo) => ApiError | undefined;

interface FailRule {
  remaining: number;
  status: 410 | 429 | 500;
  match?: { path?: RegExp; method?: string };
}

export interface ApiServerOptions {
  registry: Registry;
  authenticate: (token: string | undefined) => User | undefined;
  authorize?: Authorizer;
  bookmarkIntervalMs: number;
  /** Server-side max duration of a watch (seconds); each watch gets a random value in [max/2, max]. */
  maxWatchSeconds: number;
  extraGroups: () => ExtraGroupVersion[];
  faultControl: (body: Obj) => Promise<Obj> | Obj;
  podLog?: (ns: string, name: string, query: URLSearchParams) => string | undefined;
  /** POST serviceaccounts/<name>/token: answers the TokenRequest (throws ApiErrors). */
  tokenRequest?: (ns: string, name: string, body: Obj) => Obj;
  /** POST pods/<name>/binding: binds the pod, answers a Status (throws ApiErrors). */
  podBinding?: (ns: string, name: string, body: Obj) => Obj;
  /** Serving certificate: the port speaks HTTPS too (detected from the first byte). */
  tls: { cert: string; key: string };
  /**
   * HTTP/2 streams a client may have open on one connection (SETTINGS_MAX_CONCURRENT_STREAMS).
   * kube-apiserver's default is 100 (it was 250 before the HTTP/2 rapid-reset fixes of 2023).
   */
  maxStreamsPerConnection?: number;
}

/** One TLS connection the server accepted, with the protocol ALPN chose (`h2`, `http/1.1` or `none`). */
export interface ConnectionRecord {
  alpn: string;
}

/** A body over 3 MiB gets 413, as from kube-apiserver (its MaxRequestBodyBytes is 3 MiB). */
function readRequestBody(req: IncomingMessage): Promise<Buffer> {
  return readBody(
    req,
    3 * 1024 * 1024,
    () => new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'),
  );
}

function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): number {
  const e = err instanceof ApiError ? err : internalError(err instanceof Error ? err.message : String(err));
  sendJson(res, e.code, e.status, headers);
  return e.code;
}

/** Parses an API path into its parts (k8s.io/apiserver RequestInfoFactory rules). */
export function parseRequestInfo(method: string, url: URL): RequestInfo {
  const parts = url.pathname.split('/').filter(Boolean);
  const q = url.searchParams;
  const base: RequestInfo = {
    method,
    path: url.pathname,
    query: q,
    verb: method.toLowerCase(),
    group: '',
    version: '',
    rest: [],
    isResource: false,
  };
  let i: number;
  if (parts[0] === 'api' && parts.length >= 2) {
    base.version = parts[1]!;
    i = 2;
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    base.group = parts[1]!;
    base.version = parts[2]!;
    i = 3;
  } else {
    return base;
  }
  if (parts.length === i) return base;
  base.isResource = true;
  if (parts[i] === 'namespaces' && parts.length > i + 2) {
    base.namespace = parts[i + 1];
    i += 2;
  }
  base.resource = parts[i];
  base.name = parts[i + 1];
  base.subresource = parts[i + 2];
  base.rest = parts.slice(i + 3);
  if (base.resource === 'namespaces' && base.name && !base.group) {
    // /api/v1/namespaces/{name}[/status]
  }
  const watch = q.get('watch') === 'true' || q.get('watch') === '1';
  switch (method) {
    case 'GET':
    case 'HEAD':
      base.verb = base.name ? 'get' : watch ? 'watch' : 'list';
      break;
    case 'POST':
      base.verb = 'create';
      break;
    case 'PUT':
      base.verb = 'update';
      break;
    case 'PATCH':
      base.verb = 'patch';
      break;
    case 'DELETE':
      base.verb = base.name ? 'delete' : 'deletecollection';
      break;
  }
  return base;
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
function parseJsonBody(buf: Buffer): any {
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw badRequest(`the object provided is unrecognized: ${(e as Error).message}`);
  }
}

/**
 * A create or update body: JSON, or protobuf as kubectl 1.32 sends built-in kinds from its
 * imperative commands (`kubectl create secret generic`, `create namespace`, `expose`, …).
 */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
function parseObjectBody(buf: Buffer, contentType: string): any {
  if (contentType !== PROTOBUF_CONTENT_TYPE) return parseJsonBody(buf);
  if (buf.length === 0) return undefined;
  try {
    return decodeKubeProtobuf(buf);
  } catch (err) {
    if (!(err instanceof ProtobufDecodeError)) throw err;
    if (!err.unsupported) throw badRequest(`the object provided is unrecognized (protobuf): ${err.message}`);
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the embedded cluster decodes protobuf bodies only for ${protobufKinds().join(', ')} and their common fields (${err.message}); send the object as JSON or YAML instead, e.g. kubectl apply -f`,
    );
  }
}

/** A copy with object keys in sorted order (how Go serialises an unstructured object). */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortedKeys((v as Obj)[k])]),
    );
  return v;
}

/** What Go's strconv says about a resourceVersion that is not an unsigned decimal. */
function resourceVersionSyntax(rv: string): string {
  return `resourceVersion: Invalid value: "${rv}": strconv.ParseUint: parsing "${rv}": invalid syntax`;
}

/**
 * ListOptions validation of list and watch requests, in upstream's order and wording (one 422
 * Invalid listing every error).
 */
function validateListOptions(q: URLSearchParams, watch: boolean): void {
  const rv = q.get('resourceVersion') ?? '';
  const match = q.get('resourceVersionMatch') ?? '';
  const cont = q.get('continue') ?? '';
  const sendInitial = q.has('sendInitialEvents');
  const errs: FieldError[] = [];
  const forbid = (field: string, why: string) =>
    errs.push({ type: 'FieldValueForbidden', field, detail: `Forbidden: ${why}` });
  const unsupported = (value: string, allowed: string[]) =>
    errs.push({
      type: 'FieldValueNotSupported',
      field: 'resourceVersionMatch',
      detail: `Unsupported value: "${value}": supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`,
    });
  if (watch) {
    if (sendInitial && match !== 'NotOlderThan')
      forbid(
        'resourceVersionMatch',
        'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
      );
    if (match) {
      if (!sendInitial)
        forbid(
          'resourceVersionMatch',
          'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
        );
      if (match !== 'NotOlderThan') unsupported(match, ['NotOlderThan']);
      if (cont) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    }
  } else {
    if (match) {
      if (!rv)
        forbid(
          'resourceVersionMatch',
          'resourceVersionMatch is forbidden unless resourceVersion is provided',
        );
      if (cont) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
      if (match === 'Exact') {
        if (rv === '0')
          forbid('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
      } else if (match !== 'NotOlderThan') unsupported(match, ['Exact', 'NotOlderThan', '']);
    }
    if (sendInitial) forbid('sendInitialEvents', 'sendInitialEvents is forbidden for list');
  }
  if (errs.length) throw invalid('meta.k8s.io', 'ListOptions', '', errs);
}

/** The API's 404 for a path in a served group that names nothing (kube-apiserver sends empty details). */
function noSuchResource(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

/** kube-apiserver's answer for paths outside every API group it serves: Go's plain NotFound handler. */
function pageNotFound(res: ServerResponse): number {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end('404 page not found\n');
  return 404;
}

function wantsTable(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  const first = accept.split(',')[0] ?? '';
  return /as=Table/.test(first) && /g=meta\.k8s\.io/.test(first);
}

export class ApiServer {
  readonly server: Server;
  /** TLS side: HTTP/2 chosen by ALPN, HTTP/1.1 for clients that do not offer h2 (as kube-apiserver). */
  private readonly tlsServer: Http2SecureServer;
  private net: NetServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private tlsConnections: ConnectionRecord[] = [];
  /** Open watches: their closer, and whether a cluster component holds it (spared by dropWatches). */
  private readonly watches = new Map<() => void, boolean>();
  private readonly subHandlers = new Map<string, SubresourceHandler>();
  private readonly upgradeHandlers = new Map<string, UpgradeHandler>();
  private failRules: FailRule[] = [];
  private latencyMs = 0;
  private records: RequestRecord[] = [];
  private port = 0;

  constructor(private readonly o: ApiServerOptions) {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = createServer(handler);
    // The handlers use the HTTP/1 request/response API; node's HTTP/2 compatibility layer provides
    // the parts they use (headers, url, method, statusCode, writeHead, write, end, 'close' events).
    this.tlsServer = createSecureServer(
      {
        cert: o.tls.cert,
        key: o.tls.key,
        allowHTTP1: true,
        settings: { maxConcurrentStreams: o.maxStreamsPerConnection ?? 100 },
      },
      (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) =>
        handler(req as IncomingMessage, res as ServerResponse),
    );
    this.server.keepAliveTimeout = 30_000;
    (this.tlsServer as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 30_000;
    for (const srv of [this.server, this.tlsServer]) {
      // HTTP/1.1 upgrades (exec, port-forward, the VM console): on the TLS side they arrive on
      // connections that chose http/1.1 (SPDY and WebSocket clients offer only that).
      srv.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
        this.handleUpgrade(req, socket, head),
      );
    }
    this.tlsServer.on('secureConnection', (s) => {
      this.tlsConnections.push({ alpn: s.alpnProtocol || 'none' });
      if (this.tlsConnections.length > 100_000) this.tlsConnections.splice(0, 50_000);
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.tlsServer.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => {});
    });
  }

  private newNetServer(): NetServer {
    return createNetServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
      socket.once('data', (first: Buffer) => {
        socket.pause();
        socket.unshift(first);
        (first[0] === 0x16 ? this.tlsServer : this.server).emit('connection', socket);
        process.nextTick(() => socket.resume());
      });
    });
  }

  /** Routes `/apis/<group>/...` (a non-CRUD group such as subresources.kubevirt.io) to a handler. */
  addGroupHandler(group: string, fn: SubresourceHandler): void {
    this.subHandlers.set(group, fn);
  }

  addUpgradeHandler(group: string, fn: UpgradeHandler): void {
    this.upgradeHandlers.set(group, fn);
  }

  async listen(port: number): Promise<number> {
    const net = this.newNetServer();
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => reject(e);
      net.once('error', onErr);
      net.listen(port, '127.0.0.1', () => {
        net.off('error', onErr);
        resolve();
      });
    });
    this.net = net;
    const addr = net.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    return this.port;
  }

  get listeningPort(): number {
    return this.port;
  }

  async close(): Promise<void> {
    for (const w of [...this.watches.keys()]) w();
    const net = this.net;
    this.net = undefined;
    await new Promise<void>((resolve) => {
      if (!net) {
        resolve();
        return;
      }
      net.close(() => resolve());
      for (const s of this.sessions) s.destroy();
      this.sessions.clear();
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
    });
  }

  async restart(): Promise<void> {
    await this.close();
    await this.listen(this.port);
  }

  dropWatches(): void {
    for (const [w, component] of [...this.watches]) if (!component) w();
  }

  failNext(count: number, status: 410 | 429 | 500, match?: { path?: RegExp; method?: string }): void {
    this.failRules.push({ remaining: count, status, ...(match ? { match } : {}) });
  }

  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  requests(): ReadonlyArray<RequestRecord> {
    return this.records;
  }

  /** TLS connections accepted since the start (or the last `resetStats`), oldest first. */
  connections(): ReadonlyArray<ConnectionRecord> {
    return this.tlsConnections;
  }

  resetStats(): void {
    this.records = [];
    this.tlsConnections = [];
  }

  private record(r: RequestRecord): void {
    this.records.push(r);
    if (this.records.length > 100_000) this.records.splice(0, 50_000);
  }

  private takeFault(info: RequestInfo): FailRule | undefined {
    for (const rule of this.failRules) {
      if (rule.remaining <= 0) continue;
      if (rule.match?.method && rule.match.method.toUpperCase() !== info.method) continue;
      if (rule.match?.path && !rule.match.path.test(info.path)) continue;
      rule.remaining--;
      this.failRules = this.failRules.filter((r) => r.remaining > 0);
      return rule;
    }
    return undefined;
  }

  private authn(req: IncomingMessage): User | undefined {
    const h = req.headers.authorization;
    const m = h ? /^Bearer\s+(.+)$/i.exec(h) : null;
    return this.o.authenticate(m ? m[1]!.trim() : undefined);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const info = parseRequestInfo(method, url);
    const ua = req.headers['user-agent'];
    let userName = 'system:anonymous';
    // authentication is a table lookup (or a JWT check): done first, so a cluster component's
    // requests can pass the fault layer
    const user = this.authn(req);
    const component = user?.component === true;
    const done = (status: number) =>
      component ||
      this.record({
        method,
        path: url.pathname,
        query: url.search.slice(1),
        verb: info.verb,
        status,
        ...(ua ? { userAgent: ua } : {}),
        user: userName,
      });
    try {
      if (this.latencyMs > 0 && !component) await new Promise((r) => setTimeout(r, this.latencyMs));
      if (url.pathname === '/sim/faults' && method === 'POST') {
        const body = parseJsonBody(await readRequestBody(req)) ?? {};
        if (!user?.admin) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
        userName = user.name;
        const out = await this.o.faultControl(body);
        sendJson(res, 200, out);
        done(200);
        return;
      }
      if (url.pathname === '/version' && method === 'GET') {
        // readable without credentials, like the real server's system:public-info-viewer
        sendJson(res, 200, VERSION_INFO);
        done(200);
        return;
      }
      if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        done(200);
        return;
      }
      if (!user) {
        done(sendError(res, new ApiError(401, 'Unauthorized', 'Unauthorized')));
        return;
      }
      userName = user.name;
      const fault = component ? undefined : this.takeFault(info);
      if (fault) {
        const e =
          fault.status === 410
            ? expired('too old resource version: 1 (2)')
            : fault.status === 429
              ? new ApiError(
                  429,
                  'TooManyRequests',
                  'The server has received too many requests and has asked us to try again later',
                  { retryAfterSeconds: 1 },
                )
              : internalError('injected fault');
        done(sendError(res, e, fault.status === 429 ? { 'Retry-After': '1' } : {}));
        return;
      }
      const denied = this.o.authorize?.(user, info);
      if (denied) {
        done(sendError(res, denied));
        return;
      }
      const status = await this.route(req, res, info, user);
      done(status);
    } catch (err) {
      done(sendError(res, err));
    }
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    user: User,
  ): Promise<number> {
    const reg = this.o.registry;
    const p = info.path;
    const get = info.method === 'GET' || info.method === 'HEAD';
    if (get && p === '/version') return this.ok(res, VERSION_INFO);
    if (get && p === '/api') return this.ok(res, apiVersions(`127.0.0.1:${this.port}`));
    if (get && p === '/apis') return this.ok(res, apiGroupList(reg.allTypes(), this.o.extraGroups()));
    if (get && p === '/openapi/v3') return this.ok(res, openApiV3Index(reg.allTypes()));
    if (get && p.startsWith('/openapi/v3/')) {
      const rest = p.slice('/openapi/v3/'.length).split('/');
      const doc =
        rest[0] === 'api'
          ? openApiV3Document(reg.allTypes(), '', rest[1] ?? '')
          : openApiV3Document(reg.allTypes(), rest[1] ?? '', rest[2] ?? '');
      if (!doc) throw notFound('', '', p);
      return this.ok(res, doc);
    }
    if (get && p === '/openapi/v2') {
      throw noSuchResource();
    }
    const groupOnly = /^\/apis\/([^/]+)\/?$/.exec(p);
    if (get && groupOnly) {
      const g = apiGroup(reg.allTypes(), this.o.extraGroups(), groupOnly[1]!);
      return g ? this.ok(res, g) : pageNotFound(res);
    }
    if (!info.version) return pageNotFound(res);
    if (
      info.group &&
      !reg.allTypes().some((t) => t.group === info.group) &&
      !this.o.extraGroups().some((g) => g.group === info.group)
    )
      return pageNotFound(res);
    if (!info.isResource) {
      if (get && (p === `/apis/${info.group}/${info.version}` || p === `/api/${info.version}`)) {
        const list = apiResourceList(reg.allTypes(), this.o.extraGroups(), info.group, info.version);
        if (!list) throw noSuchResource();
        return this.ok(res, list);
      }
      if (get && p === `/apis/${info.group}`) {
        const g = apiGroup(reg.allTypes(), this.o.extraGroups(), info.group);
        if (!g) throw noSuchResource();
        return this.ok(res, g);
      }
      throw noSuchResource();
    }
    const handler = this.subHandlers.get(info.group);
    if (handler && info.isResource) {
      const body = await readRequestBody(req);
      await handler(req, res, info, body, user);
      return res.statusCode;
    }
    // /api/v1/namespaces/{name} and /api/v1/namespaces/{name}/status are the namespace object itself
    if (!info.group && info.resource === 'namespaces' && info.namespace === undefined) {
      // parsed correctly already
    } else if (
      !info.group &&
      info.namespace &&
      info.resource &&
      !info.name &&
      info.path.split('/').length === 5
    ) {
      // /api/v1/namespaces/{ns}/{x}? handled by parser
    }
    let ri = info;
    // "/api/v1/namespaces/foo" parses as namespace=undefined resource=namespaces name=foo; "/api/v1/namespaces/foo/status"
    // parses as namespace="foo" resource="status": fix that up.
    if (!info.group && info.namespace && info.resource === 'status' && info.name === undefined) {
      ri = {
        ...info,
        resource: 'namespaces',
        name: info.namespace,
        subresource: 'status',
        verb: info.verb === 'list' ? 'get' : info.verb,
      };
      delete ri.namespace;
    } else if (!info.group && info.namespace && info.resource === 'finalize' && info.name === undefined) {
      ri = { ...info, resource: 'namespaces', name: info.namespace, subresource: 'finalize', verb: 'update' };
      delete ri.namespace;
    }
    const t = reg.lookup(ri.group, ri.version, ri.resource!);
    if (!t) throw noSuchResource();
    if (!t.namespaced && ri.namespace) throw noSuchResource();
    return this.resource(req, res, ri, t, user);
  }

  private ok(res: ServerResponse, body: unknown, code = 200): number {
    sendJson(res, code, body);
    return code;
  }

  private async resource(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    t: ResourceType,
    user: User,
  ): Promise<number> {
    const reg = this.o.registry;
    const bodyType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (
      (info.verb === 'create' || info.verb === 'update') &&
      bodyType &&
      !['application/json', '*/*', PROTOBUF_CONTENT_TYPE].includes(bodyType)
    ) {
      throw unsupportedMediaType(['application/json', 'application/yaml', PROTOBUF_CONTENT_TYPE]);
    }
    const q = info.query;
    const ns = info.namespace;
    const sub = info.subresource;
    const dryRun = q.getAll('dryRun').includes('All');
    const fieldManager = q.get('fieldManager') ?? undefined;
    if (
      sub &&
      sub !== 'status' &&
      !(sub === 'log' && storageKey(t) === '/pods') &&
      !(sub === 'binding' && storageKey(t) === '/pods') &&
      sub !== 'scale' &&
      sub !== 'finalize' &&
      !(sub === 'token' && storageKey(t) === '/serviceaccounts')
    ) {
      throw noSuchResource();
    }
    if (sub === 'status' && !t.status) throw noSuchResource();
    if (sub === 'log') {
      reg.get(t, ns, info.name!);
      const text = this.o.podLog?.(ns!, info.name!, q) ?? '';
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(text);
      return 200;
    }
    if (sub === 'scale') return this.scale(req, res, info, t);
    if (sub === 'binding') {
      if (info.verb !== 'create' || !this.o.podBinding) throw methodNotAllowed();
      const body = parseJsonBody(await readRequestBody(req)) ?? {};
      return this.ok(res, this.o.podBinding(ns!, info.name!, body), 201);
    }
    if (sub === 'token') {
      if (info.verb !== 'create' || !this.o.tokenRequest) throw methodNotAllowed();
      const body = parseJsonBody(await readRequestBody(req)) ?? {};
      return this.ok(res, this.o.tokenRequest(ns!, info.name!, body), 201);
    }
    const wopts = {
      user,
      ...(sub === 'status' ? { subresource: 'status' } : {}),
      ...(dryRun ? { dryRun } : {}),
      ...(fieldManager ? { fieldManager } : {}),
    };
    switch (info.verb) {
      case 'get':
        return this.ok(res, this.maybeTable(req, t, [reg.get(t, ns, info.name!)], q, true));
      case 'list':
        return this.list(req, res, info, t);
      case 'watch':
        this.watch(req, res, info, t, user.component === true);
        return 200;
      case 'create': {
        if (info.name) throw methodNotAllowed();
        const body = parseObjectBody(await readRequestBody(req), bodyType);
        this.unknownFields(t, q, res, body);
        const created = reg.create(t, ns, body, wopts);
        return this.ok(res, created, 201);
      }
      case 'update': {
        if (!info.name) throw methodNotAllowed();
        const body = parseObjectBody(await readRequestBody(req), bodyType);
        if (body === undefined) throw badRequest('the body of the request was empty');
        this.unknownFields(t, q, res, body);
        if (sub === 'finalize') {
          // namespace finalize: treat as update of spec.finalizers
          return this.ok(res, reg.update(t, undefined, info.name!, body, { internal: true }));
        }
        return this.ok(res, reg.update(t, ns, info.name!, body, wopts));
      }
      case 'patch': {
        if (!info.name) throw methodNotAllowed();
        const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const raw = await readRequestBody(req);
        let body: unknown;
        if (ct === 'application/apply-patch+yaml') {
          try {
            body = parseYaml(raw.toString('utf8'));
          } catch (e) {
            throw badRequest(`error decoding YAML: ${(e as Error).message}`);
          }
        } else if (
          [
            'application/json-patch+json',
            'application/merge-patch+json',
            'application/strategic-merge-patch+json',
          ].includes(ct)
        ) {
          try {
            body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
          } catch {
            throw badRequest('invalid JSON patch');
          }
        } else {
          body = undefined;
        }
        if (ct === 'application/apply-patch+yaml' && body && typeof body === 'object' && !Array.isArray(body))
          this.unknownFields(t, q, res, body);
        const r = reg.patch(t, ns, info.name!, ct, body, {
          ...wopts,
          force: q.get('force') === 'true',
          // other patch types are checked on the patched object, as upstream decodes that
          ...(ct === 'application/apply-patch+yaml'
            ? {}
            : { inspectPatched: (patched: Obj) => this.unknownFields(t, q, res, patched, true) }),
        });
        return this.ok(res, r.obj, r.created ? 201 : 200);
      }
      case 'delete': {
        const opts = this.deleteOptions(await readRequestBody(req), q);
        const r = reg.delete(t, ns, info.name!, opts);
        return this.ok(res, r.body);
      }
      case 'deletecollection': {
        const opts = this.deleteOptions(await readRequestBody(req), q);
        const listed = reg.list(t, ns, {
          labelSelector: q.get('labelSelector') ?? '',
          fieldSelector: q.get('fieldSelector') ?? '',
        });
        const items: Obj[] = [];
        for (const o of listed.items) {
          try {
            items.push(reg.delete(t, o.metadata.namespace, o.metadata.name, opts).body);
          } catch {
            // already gone
          }
        }
        return this.ok(res, {
          apiVersion: apiVersionOf(t),
          kind: `${t.kind}List`,
          metadata: { resourceVersion: String(reg.store.resourceVersion) },
          items,
        });
      }
      default:
        throw methodNotAllowed();
    }
  }

  /**
   * fieldValidation for custom resources: Strict refuses unknown fields (400 for a body, 422 naming
   * the patched object for a patch), Warn (the default) drops them with a Warning header each,
   * Ignore drops them silently.
   */
  private unknownFields(
    t: ResourceType,
    q: URLSearchParams,
    res: ServerResponse,
    obj: unknown,
    patched = false,
  ): void {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return;
    const mode = q.get('fieldValidation') ?? 'Warn';
    // built-in kinds: their top-level and metadata fields are known here (and pruned unless Strict);
    // custom resources: the schema (pruning happens in validation)
    const unknown = (
      t.builtin
        ? unknownBuiltinFields(storageKey(t), obj, mode !== 'Strict')
        : [
            ...(t.schema ? unknownFields(t.schema, obj) : []),
            ...unknownMetadataFields(obj, mode !== 'Strict'),
          ]
    ).sort();
    if (mode === 'Ignore' || !unknown.length) return;
    const list = unknown.map((f) => `unknown field "${f}"`);
    if (mode === 'Strict') {
      if (!patched)
        throw badRequest(
          `${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${list.join(', ')}`,
        );
      throw invalid('', '', '', [
        {
          type: 'FieldValueInvalid',
          field: 'patch',
          detail: `Invalid value: ${JSON.stringify(JSON.stringify(sortedKeys(obj)))}: strict decoding error: ${list.join(', ')}`,
        },
      ]);
    }
    res.setHeader(
      'Warning',
      list.map((w) => `299 - ${JSON.stringify(w)}`),
    );
  }

  private scale(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    t: ResourceType,
  ): Promise<number> {
    const reg = this.o.registry;
    const toScale = (o: Obj) => ({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: o.spec?.replicas ?? 1 },
      status: {
        replicas: o.status?.replicas ?? 0,
        selector: Object.entries(o.spec?.selector?.matchLabels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      },
    });
    return (async () => {
      const cur = reg.get(t, info.namespace, info.name!);
      if (info.verb === 'get') return this.ok(res, toScale(cur));
      const body = parseJsonBody(await readRequestBody(req)) ?? {};
      let replicas: number | undefined;
      if (info.verb === 'update') replicas = body.spec?.replicas;
      else if (Array.isArray(body)) {
        const op = body.find((o: Obj) => o.path === '/spec/replicas');
        replicas = op?.value;
      } else replicas = body.spec?.replicas;
      if (typeof replicas !== 'number') throw badRequest('spec.replicas is required');
      const next = reg.patch(t, info.namespace, info.name!, 'application/merge-patch+json', {
        spec: { replicas },
      }).obj;
      return this.ok(res, toScale(next));
    })();
  }

  private deleteOptions(buf: Buffer, q: URLSearchParams): import('./registry.ts').DeleteOptions {
    const body = parseJsonBody(buf) ?? {};
    const pp = body.propagationPolicy ?? q.get('propagationPolicy') ?? undefined;
    if (pp !== undefined && !['Background', 'Foreground', 'Orphan'].includes(pp)) {
      throw invalid('meta.k8s.io', 'DeleteOptions', '', [
        {
          type: 'FieldValueNotSupported',
          field: 'propagationPolicy',
          detail: `Unsupported value: "${pp}": supported values: "Foreground", "Background", "Orphan", "nil"`,
        },
      ]);
    }
    const orphan = body.orphanDependents ?? (q.get('orphanDependents') === 'true' ? true : undefined);
    const gs =
      body.gracePeriodSeconds ??
      (q.get('gracePeriodSeconds') !== null ? Number(q.get('gracePeriodSeconds')) : undefined);
    return {
      ...(pp ? { propagationPolicy: pp } : orphan ? { propagationPolicy: 'Orphan' as const } : {}),
      ...(gs !== undefined ? { gracePeriodSeconds: gs } : {}),
      ...(body.preconditions ? { preconditions: body.preconditions } : {}),
      ...((body.dryRun ?? q.getAll('dryRun')).includes?.('All') ? { dryRun: true } : {}),
    };
  }

  private maybeTable(
    req: IncomingMessage,
    t: ResourceType,
    items: Obj[],
    q: URLSearchParams,
    single: boolean,
    rv?: string,
  ): Obj {
    if (wantsTable(req))
      return toTable(t, items, rv ?? String(this.o.registry.store.resourceVersion), q.get('includeObject'));
    return single ? items[0]! : {};
  }

  private list(req: IncomingMessage, res: ServerResponse, info: RequestInfo, t: ResourceType): number {
    const reg = this.o.registry;
    const q = info.query;
    const rv = q.get('resourceVersion');
    const match = q.get('resourceVersionMatch');
    validateListOptions(q, false);
    if (rv && rv !== '0' && !/^\d+$/.test(rv))
      throw badRequest(`invalid resource version: ${resourceVersionSyntax(rv)}`);
    if (rv && rv !== '0' && Number(rv) > reg.store.resourceVersion) {
      throw new ApiError(
        504,
        'Timeout',
        `Timeout: Too large resource version: ${rv}, current: ${reg.store.resourceVersion}`,
        {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          retryAfterSeconds: 1,
        },
      );
    }
    const ls = q.get('labelSelector') ?? '';
    const fs = q.get('fieldSelector') ?? '';
    const cont = q.get('continue');
    let tok: { rv: string; start: string } | undefined;
    if (cont) {
      try {
        tok = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8'));
      } catch {
        throw badRequest('continue key is not valid');
      }
      if (!tok || typeof tok.rv !== 'string' || typeof tok.start !== 'string')
        throw badRequest('continue key is not valid');
    }
    // Exact lists and continued pages read the snapshot of their resourceVersion
    const at = tok ? Number(tok.rv) : match === 'Exact' ? Number(rv) : undefined;
    const listed =
      at !== undefined && at !== reg.store.resourceVersion
        ? reg.listAt(t, info.namespace, { labelSelector: ls, fieldSelector: fs }, at)
        : reg.list(t, info.namespace, { labelSelector: ls, fieldSelector: fs });
    if (!listed) {
      throw expired(
        tok
          ? 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response, but this will not be a consistent snapshot.'
          : 'The resourceVersion for the provided list is too old.',
      );
    }
    const { items } = listed;
    const resourceVersion = at !== undefined ? String(at) : listed.resourceVersion;
    // pagination
    const limit = Number(q.get('limit') ?? 0);
    let start = 0;
    const listRv = resourceVersion;
    if (tok) {
      const from = tok.start;
      const idx = items.findIndex((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > from);
      start = idx < 0 ? items.length : idx;
    }
    let page = items.slice(start);
    let next: string | undefined;
    if (limit > 0 && page.length > limit) {
      page = page.slice(0, limit);
      const last = page[page.length - 1]!;
      next = Buffer.from(
        JSON.stringify({ rv: listRv, start: `${last.metadata.namespace ?? ''}/${last.metadata.name}` }),
      ).toString('base64url');
    }
    if (wantsTable(req)) {
      const table = toTable(t, page, listRv, q.get('includeObject'));
      if (next) (table.metadata as Obj).continue = next;
      return this.ok(res, table);
    }
    return this.ok(res, {
      apiVersion: apiVersionOf(t),
      kind: `${t.kind}List`,
      metadata: {
        resourceVersion: listRv,
        ...(next
          ? { continue: next, remainingItemCount: items.length - start - page.length }
          : // custom resource lists are unstructured upstream: an empty continue is kept
            t.builtin
            ? {}
            : { continue: '' }),
      },
      items: page,
    });
  }

  private watch(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    t: ResourceType,
    component: boolean,
  ): void {
    const reg = this.o.registry;
    const q = info.query;
    const filter = reg.compileFilter(t, {
      labelSelector: q.get('labelSelector') ?? '',
      fieldSelector: q.get('fieldSelector') ?? '',
    });
    const rvParam = q.get('resourceVersion') ?? '';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    validateListOptions(q, true);
    // upstream's watch path fails this one as an internal error without a reason
    if (rvParam && !/^\d+$/.test(rvParam)) throw new ApiError(500, '', resourceVersionSyntax(rvParam));
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const table = wantsTable(req);
    const key = storageKey(t);
    const ns = t.namespaced ? info.namespace : undefined;
    // No Transfer-Encoding header: HTTP/1.1 chunks a body of unknown length by itself, and HTTP/2
    // forbids connection-specific headers.
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();
    const present = (o: Obj) => {
      const p = reg.present(t, o);
      return table ? toTable(t, [p], p.metadata.resourceVersion, q.get('includeObject')) : p;
    };
    const send = (type: string, object: unknown) => {
      if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    let lastRv = reg.store.resourceVersion;
    const bookmark = (annotations?: Record<string, string>) => {
      send('BOOKMARK', {
        kind: t.kind,
        apiVersion: apiVersionOf(t),
        metadata: { resourceVersion: String(lastRv), ...(annotations ? { annotations } : {}) },
      });
    };
    const deliver = (e: StoreEvent) => {
      if (e.key !== key) return;
      if (ns !== undefined && e.obj.metadata?.namespace !== ns) return;
      lastRv = e.rv;
      const now = e.type !== 'DELETED' && filter(e.obj);
      const before = e.old !== undefined && filter(e.old);
      if (e.type === 'DELETED') {
        if (before || filter(e.obj)) send('DELETED', present(e.obj));
      } else if (now && before) send('MODIFIED', present(e.obj));
      else if (now) send('ADDED', present(e.obj));
      else if (before) {
        const gone = { ...e.old!, metadata: { ...e.old!.metadata, resourceVersion: String(e.rv) } };
        send('DELETED', present(gone));
      }
    };
    if (!rvParam || rvParam === '0' || sendInitial) {
      const items = reg.store.list(key, ns).filter(filter);
      lastRv = reg.store.resourceVersion;
      for (const o of items) send('ADDED', present(o));
      if (sendInitial) bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else {
      const from = Number(rvParam);
      if (from < reg.store.oldestWatchable) {
        send('ERROR', expired(`too old resource version: ${from} (${reg.store.oldestWatchable + 1})`).status);
        res.end();
        return;
      }
      for (const e of reg.store.eventsSince(from)) deliver(e);
      lastRv = Math.max(from, lastRv);
    }
    const unsubscribe = reg.store.subscribe(deliver);
    const timers: NodeJS.Timeout[] = [];
    const close = () => {
      unsubscribe();
      for (const tm of timers) clearTimeout(tm);
      this.watches.delete(close);
      if (!res.writableEnded) res.end();
    };
    this.watches.set(close, component);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const max = this.o.maxWatchSeconds;
    const limit = timeout > 0 ? timeout : max > 0 ? max / 2 + (Math.random() * max) / 2 : 0;
    if (limit > 0) timers.push(setTimeout(close, limit * 1000));
    if (bookmarks && this.o.bookmarkIntervalMs > 0) {
      const iv = setInterval(() => {
        lastRv = Math.max(lastRv, reg.store.resourceVersion);
        bookmark();
      }, this.o.bookmarkIntervalMs);
      timers.push(iv as unknown as NodeJS.Timeout);
    }
    req.on('close', close);
    res.on('close', close);
  }

  private handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const info = parseRequestInfo('GET', url);
    const user = this.authn(req);
    const fail = (code: number, status: object) => {
      const text = JSON.stringify(status);
      socket.end(
        `HTTP/1.1 ${code} ${code === 401 ? 'Unauthorized' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
      this.record({
        method: 'GET',
        path: url.pathname,
        query: url.search.slice(1),
        verb: 'get',
        status: code,
        user: user?.name ?? 'system:anonymous',
      });
    };
    if (!user) {
      fail(401, new ApiError(401, 'Unauthorized', 'Unauthorized').status);
      return;
    }
    const denied = this.o.authorize?.(user, info);
    if (denied) {
      fail(denied.code, denied.status);
      return;
    }
    const h = this.upgradeHandlers.get(info.group);
    if (!h) {
      fail(404, notFound('', '', url.pathname).status);
      return;
    }
    this.sockets.add(socket);
    this.record({
      method: 'GET',
      path: url.pathname,
      query: url.search.slice(1),
      verb: 'get',
      status: 101,
      user: user.name,
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
    });
    h(req, socket, head, info, user);
  }
}

import { createHash, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import { type AccountSource, isMachineError, type MachineError } from '../machine/index.ts';
import { LoginGuard, type LoginLimits } from '../machine/login-limits.ts';
import { etagListMatches, render } from './etag.ts';
import { EventEngine, type EventServiceOptions } from './events/engine.ts';
import type { SubscriptionStore } from './events/store.ts';
import { type LoginFailure, loginRefused, RedfishLogin } from './login-guard.ts';
import { errorBody, fail, message, RedfishError } from './messages.ts';
import { applyPaging, applySelect, expand, NO_QUERY, parseQuery, type QueryOptions } from './query.ts';
import {
  type Ctx,
  type Json,
  type Principal,
  type Privilege,
  type Reply,
  type ResourceDef,
  ROLE_PRIVILEGES,
  type ServiceState,
} from './resource.ts';
import { RESOURCES } from './resources/index.ts';
import { schemaUriForType } from './schemas.ts';
import { AccountChecker, parseBasic, SessionStore } from './sessions.ts';
import { TaskStore } from './tasks.ts';
import { resolveTls, type TlsServerSettings, type TlsSettings } from './tls.ts';
import { type RedfishSystems, Topology } from './topology.ts';

export type { RedfishSystems } from './topology.ts';

/**
 * The Redfish service: HTTP(S) on node:http directly (no framework: it is faster for this traffic
 * and lets the 'clientError' hook answer request methods Node's parser refuses). This file owns
 * the protocol: authentication (Basic and sessions), routing to the resource files, headers
 * (OData-Version, ETag, Allow, Link), conditional requests, query options, body limits and the
 * DMTF error format. What each URI serves lives in `resources/`, one file per resource.
 */
export interface RedfishServerOptions {
  systems: RedfishSystems;
  accounts: AccountSource;
  logger?: Logger;
  sessionTimeoutSeconds?: number; // default 1800
  tls?: { cert: string | Buffer; key: string | Buffer }; // HTTPS when given
  /** TLS versions and suites (`tls.ts`; default Mozilla intermediate); bad settings throw. */
  tlsSettings?: TlsSettings;
  /** Most sessions open at once (default 256); login beyond it is 503 SessionLimitExceeded. */
  maxSessions?: number;
  /**
   * Failed-login budgets per source address and per user name (`src/machine/login-limits.ts`; defaults: 6
   * failures then one per 5 s per source, 10 then one per 6 s per name). Over budget, a login is
   * answered 503 with `Retry-After` without its password being checked.
   */
  loginLimits?: LoginLimits;
  /** Each failed or refused login (the agent counts them in `kubevirtbmc_login_failures_total`). */
  onLoginFailure?: (e: LoginFailure) => void;
  // --- events (EventService, subscriptions, SSE; src/redfish/events/) ---
  /** Where event subscriptions persist across restarts (default: in memory). */
  subscriptionStore?: SubscriptionStore;
  /** Event service tuning: retries, SSE heartbeat, buffer and subscription limits, self endpoints. */
  events?: Omit<EventServiceOptions, 'store'>;
}

/** The client closed the connection before its request body was complete. */
export class ClientHungUp extends Error {}

const MAX_BODY_BYTES = 64 * 1024;
const JSON_TYPE = 'application/json;charset=utf-8';
const REALM = 'Basic realm="kubevirtbmc Redfish"';

interface Route {
  readonly def: ResourceDef;
  readonly re: RegExp;
  readonly names: string[];
  readonly literal: string | null;
}

let routes: { literal: Map<string, Route>; patterns: Route[] } | null = null;

/** The routes, compiled once for every service of the process (an agent runs a thousand). */
function routeTable(): { literal: Map<string, Route>; patterns: Route[] } {
  if (routes) return routes;
  const literal = new Map<string, Route>();
  const patterns: Route[] = [];
  for (const def of RESOURCES) {
    const route = compile(def);
    if (route.literal) literal.set(route.literal, route);
    else patterns.push(route);
  }
  routes = { literal, patterns };
  return routes;
}

function compile(def: ResourceDef): Route {
  const names: string[] = [];
  const source = def.uri
    .replace(/[.$]/g, (c) => `\\${c}`)
    .replace(/\{(\w+)\}/g, (_, n: string) => {
      names.push(n);
      return '([^/]+)';
    });
  return { def, re: new RegExp(`^${source}$`), names, literal: names.length === 0 ? def.uri : null };
}

export function allowedMethods(def: ResourceDef): string[] {
  const m: string[] = [];
  if (def.get || def.raw || def.monitor || def.stream) m.push('GET', 'HEAD');
  if (def.post) m.push('POST');
  if (def.patch) m.push('PATCH');
  if (def.delete) m.push('DELETE');
  return m;
}

/** `/redfish/v1/Systems/` → `/redfish/v1/Systems`; the service root keeps its slash. */
export function normalisePath(raw: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (p.includes('/../') || p.endsWith('/..') || p.includes('//')) return null;
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  if (p === '/redfish/v1') return '/redfish/v1/';
  return p;
}

/** The request target split at `?`: the path as sent, and the query string with its `?`. */
function splitTarget(url: string): { rawPath: string; search: string } {
  const qmark = url.indexOf('?');
  return qmark < 0
    ? { rawPath: url, search: '' }
    : { rawPath: url.slice(0, qmark), search: url.slice(qmark) };
}

/** A request may name OData version 4.0 or none; anything else is 412. */
function checkODataVersion(req: IncomingMessage): void {
  const version = req.headers['odata-version'];
  if (version !== undefined && version !== '4.0') throw fail(412, 'HeaderInvalid', ['OData-Version']);
}

function isRead(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

function isJsonObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A request routed to its resource, with its context: what the method steps work on. */
interface Routed {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly def: ResourceDef;
  readonly ctx: Ctx;
}

export class RedfishServer {
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly #log: Logger;
  readonly #topology: Topology;
  readonly #login: RedfishLogin;
  readonly #state: ServiceState;
  readonly #literal: Map<string, Route>;
  readonly #patterns: Route[];
  readonly #tls: RedfishServerOptions['tls'];
  readonly #tlsSettings: TlsServerSettings;
  #server: http.Server | https.Server | null = null;
  readonly #sockets = new Set<Socket>();
  readonly #events: EventEngine;
  #listenPort: number | null = null;
  /** Stops ending sessions on account changes (see `SessionStore.follow`). */
  readonly #unfollow: () => void;

  constructor(options: RedfishServerOptions) {
    this.#log = options.logger ?? pino({ level: 'silent' });
    this.#topology = new Topology(options.systems);
    this.#tls = options.tls;
    this.#tlsSettings = resolveTls(options.tlsSettings).options;
    const guard = new LoginGuard(options.loginLimits ?? {}, options.accounts);
    this.#login = new RedfishLogin({
      checker: new AccountChecker(options.accounts),
      guard,
      log: this.#log,
      onFailure: options.onLoginFailure,
    });
    const timeout = options.sessionTimeoutSeconds ?? 1800;
    if (!(timeout >= 1)) throw new Error('sessionTimeoutSeconds must be at least 1');
    const topology = this.#topology;
    const login = this.#login;
    // --- events: the engine shares the task store with the TaskService ---
    const tasks = new TaskStore();
    this.#events = new EventEngine(
      { ...options.events, ...(options.subscriptionStore ? { store: options.subscriptionStore } : {}) },
      { systems: () => topology.all(), fixedSystems: topology.kind === 'single', tasks, log: this.#log },
    );
    this.#state = {
      uuid: serviceUuid(options.systems),
      sessionTimeoutSeconds: timeout,
      maxSessions: options.maxSessions ?? 256,
      loginLimits: guard.limits,
      tls: !!options.tls,
      systems: () => topology.all(),
      findSystem: (id) => topology.bySystem(id),
      findByManager: (id) => topology.byManager(id),
      findByChassis: (id) => topology.byChassis(id),
      sessions: new SessionStore(timeout, options.maxSessions ?? 256),
      tasks,
      accounts: options.accounts,
      login,
      events: this.#events,
    };
    // A changed password (or user name) ends the sessions opened with the old one.
    this.#unfollow = this.#state.sessions.follow(options.accounts);
    // Started here too, so a service used through `handler` alone (no listen()) has events.
    void this.#events.start();
    const routes = routeTable();
    this.#literal = routes.literal;
    this.#patterns = routes.patterns;
    this.handler = (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#log.error({ err }, 'redfish: unhandled error');
        if (!res.headersSent) this.#sendError(res, new RedfishError(500, message('InternalError')), 'GET');
        else res.destroy();
      });
    };
  }

  async listen(port: number, host = '127.0.0.1'): Promise<{ address: string; port: number }> {
    if (this.#server) throw new Error('RedfishServer is already listening');
    const server = this.#tls
      ? https.createServer({ cert: this.#tls.cert, key: this.#tls.key, ...this.#tlsSettings }, this.handler)
      : http.createServer(this.handler);
    server.keepAliveTimeout = 30_000;
    server.headersTimeout = 20_000;
    server.requestTimeout = 60_000;
    server.maxHeadersCount = 100;
    server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) =>
      this.#clientError(err, socket),
    );
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.on('secureConnection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await this.#events.start();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    const a = server.address() as AddressInfo;
    this.#events.guard.addListener(a.port);
    this.#listenPort = a.port;
    this.#log.info({ address: a.address, port: a.port, tls: !!this.#tls }, 'redfish: listening');
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    this.#unfollow();
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    if (this.#listenPort !== null) this.#events.guard.removeListener(this.#listenPort);
    await this.#events.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await closed;
  }

  // --- request handling ------------------------------------------------------------------------

  #route(path: string): { route: Route; params: Record<string, string> } | null {
    const literal = this.#literal.get(path);
    if (literal) return { route: literal, params: {} };
    for (const route of this.#patterns) {
      const m = route.re.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.names.forEach((n, i) => {
        params[n] = m[i + 1] ?? '';
      });
      return { route, params };
    }
    return null;
  }

  /**
   * One request, in steps: resolve the path, authenticate, check the method against what the
   * resource answers, then read or write it. Every failure becomes a DMTF error reply.
   */
  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    res.setHeader('OData-Version', '4.0');
    const { rawPath, search } = splitTarget(req.url ?? '/');
    try {
      const path = normalisePath(rawPath);
      if (path === null) throw fail(404, 'ResourceMissingAtURI', [rawPath.slice(0, 200)]);
      checkODataVersion(req);
      const found = this.#route(path);
      // Authentication comes first: without credentials an unknown URI is 401, not 404.
      const principal = this.#principalFor(req, method, found?.route.def);
      if (!found) throw fail(404, 'ResourceMissingAtURI', [path]);
      const call: Routed = {
        req,
        res,
        method,
        def: found.route.def,
        ctx: this.#context(req, path, found.params, principal),
      };
      this.#checkMethod(call);
      if (!isRead(method)) this.#logWrite(call);
      await this.#dispatch(call, search);
    } catch (err) {
      this.#answerError(req, res, err, method, rawPath);
    }
  }

  /**
   * Who is asking. Credentials are required except to read an open URI (service root, $metadata)
   * and to POST where anonymous login is allowed (session login). There, valid credentials still
   * count (for $expand and privileges) and stale ones are ignored, so a client holding an expired
   * token can still read the root and log in again.
   */
  #principalFor(req: IncomingMessage, method: string, def: ResourceDef | undefined): Principal | null {
    const anonymousRead = def?.auth === false && isRead(method);
    const anonymousPost = def?.post?.anonymous === true && method === 'POST';
    if (!anonymousRead && !anonymousPost) return this.#authenticate(req);
    if (!req.headers['x-auth-token'] && !req.headers.authorization) return null;
    try {
      return this.#authenticate(req);
    } catch {
      return null;
    }
  }

  #context(
    req: IncomingMessage,
    path: string,
    params: Record<string, string>,
    principal: Principal | null,
  ): Ctx {
    return {
      path,
      params,
      service: this.#state,
      principal,
      actor: {
        actor: principal?.user ?? 'anonymous',
        source: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
        protocol: 'redfish',
      },
    };
  }

  /** Sets `Allow` to the methods the resource answers; any other method is 405. */
  #checkMethod({ res, def, method }: Routed): void {
    const allow = allowedMethods(def);
    res.setHeader('Allow', allow.join(', '));
    if (!allow.includes(method)) throw fail(405, 'OperationNotAllowed');
  }

  /** Every change is logged (who, what, outcome); bodies and headers never are (they hold secrets). */
  #logWrite({ res, ctx, method }: Routed): void {
    res.once('finish', () =>
      this.#log.info(
        {
          user: ctx.principal?.user ?? null,
          source: ctx.actor.source,
          method,
          path: ctx.path,
          status: res.statusCode,
        },
        'redfish: request',
      ),
    );
  }

  async #dispatch(call: Routed, search: string): Promise<void> {
    if (isRead(call.method)) {
      await this.#drain(call.req);
      this.#read(call, search, call.method === 'HEAD');
      return;
    }
    const body = await this.#readBody(call.req);
    switch (call.method) {
      case 'PATCH':
        return this.#patch(call, body);
      case 'POST':
        return this.#post(call, body);
      case 'DELETE':
        return this.#delete(call);
      default:
        throw fail(405, 'OperationNotAllowed');
    }
  }

  /** PATCH: a JSON object, checked against If-Match; answers with the run's reply or the new state. */
  async #patch(call: Routed, body: Buffer): Promise<void> {
    const { req, res, ctx, def, method } = call;
    const patch = def.patch!;
    this.#authorize(ctx, patch.privilege);
    const parsed = this.#parseJson(req, body);
    if (parsed === undefined) throw fail(400, 'NoOperation');
    if (!isJsonObject(parsed)) throw fail(400, 'UnrecognizedRequestBody');
    if (def.get) this.#checkIfMatch(req, def.get(ctx));
    const reply = await this.#guard(() => patch.run(ctx, parsed));
    if (reply) this.#sendReply(res, reply, method);
    else this.#read(call, '', false);
  }

  /** POST: an action or a creation; the body is a JSON object or empty. */
  async #post({ req, res, ctx, def, method }: Routed, body: Buffer): Promise<void> {
    const post = def.post!;
    if (!post.anonymous) this.#authorize(ctx, post.privilege);
    const parsed = this.#parseJson(req, body);
    if (parsed !== undefined && !isJsonObject(parsed)) throw fail(400, 'UnrecognizedRequestBody');
    const reply = await this.#guard(() => post.run(ctx, parsed));
    this.#sendReply(res, reply ?? { status: 204 }, method);
  }

  async #delete({ res, ctx, def, method }: Routed): Promise<void> {
    const del = def.delete!;
    this.#authorize(ctx, del.privilege);
    const reply = await this.#guard(() => del.run(ctx, undefined));
    this.#sendReply(res, reply ?? { status: 204 }, method);
  }

  /** The reply to a failed request: its DMTF error, or nothing when the client has gone. */
  #answerError(
    req: IncomingMessage,
    res: ServerResponse,
    err: unknown,
    method: string,
    rawPath: string,
  ): void {
    if (err instanceof ClientHungUp) {
      // Nobody is left to answer: not a server error.
      this.#log.debug({ method, path: rawPath }, 'redfish: client hung up before sending its whole body');
      req.socket.destroy();
      return;
    }
    const e = this.#toRedfishError(err);
    if (e.status >= 500) this.#log.error({ err, method, path: rawPath }, 'redfish: request failed');
    this.#sendError(res, e, method);
    if (e.status === 413) req.socket.end();
  }

  /** GET or HEAD: a task monitor, an event stream, a raw document, or JSON with ETag and query options. */
  #read({ req, res, ctx, def }: Routed, search: string, head: boolean): void {
    if (def.monitor) {
      this.#sendReply(res, def.monitor(ctx), head ? 'HEAD' : 'GET');
      return;
    }
    if (def.stream) {
      if (def.getPrivilege) this.#authorize(ctx, def.getPrivilege);
      if (head) {
        res.writeHead(200, {
          'Content-Type': 'text/event-stream;charset=utf-8',
          'Cache-Control': 'no-cache',
        });
        res.end();
        return;
      }
      def.stream(ctx, req, res, search);
      return;
    }
    if (def.raw) {
      const raw = def.raw(ctx);
      res.statusCode = 200;
      res.setHeader('Content-Type', raw.contentType);
      res.setHeader('Cache-Control', 'no-cache');
      res.setHeader('Content-Length', Buffer.byteLength(raw.body));
      res.end(head ? undefined : raw.body);
      return;
    }
    if (def.getPrivilege) this.#authorize(ctx, def.getPrivilege);
    const body = def.get!(ctx);
    const query = search ? parseQuery(search) : NO_QUERY;
    const { json, etag } = render(body);
    if (ctx.principal && etagListMatches(req.headers['if-none-match'], etag)) {
      res.statusCode = 304;
      res.setHeader('ETag', etag);
      res.end();
      return;
    }
    const out =
      query === NO_QUERY ? json : JSON.stringify(this.#applyQuery(ctx, body, etag, ctx.path, query));
    const link = typeof body['@odata.type'] === 'string' ? linkHeader(body['@odata.type']) : null;
    // One writeHead with every header (OData-Version and Allow were set before) is the hot path.
    res.writeHead(200, {
      'Content-Type': JSON_TYPE,
      ETag: etag,
      'Cache-Control': 'no-cache',
      ...(link ? { Link: link } : {}),
      'Content-Length': Buffer.byteLength(out),
    });
    res.end(head ? undefined : out);
  }

  #applyQuery(ctx: Ctx, body: Json, etag: string, path: string, q: QueryOptions): Json {
    let out: Json = '@odata.id' in body ? { '@odata.etag': etag, ...body } : body;
    out = applyPaging(out, path, q);
    if (q.expand) {
      out = expand(out, q.expand.mode, q.expand.levels, (uri) => this.#renderFor(ctx, uri));
    }
    if (q.select) out = applySelect(out, q.select);
    return out;
  }

  /** A resource as `ctx.principal` may read it, for `$expand`; null when absent or forbidden. */
  #renderFor(ctx: Ctx, uri: string): Json | null {
    const path = normalisePath(uri);
    if (!path) return null;
    const found = this.#route(path);
    if (!found?.route.def.get) return null;
    const sub: Ctx = { ...ctx, path, params: found.params };
    try {
      if (found.route.def.getPrivilege) this.#authorize(sub, found.route.def.getPrivilege);
      const body = found.route.def.get(sub);
      return { ...body, '@odata.etag': render(body).etag };
    } catch {
      return null;
    }
  }

  #authenticate(req: IncomingMessage): Principal {
    const token = req.headers['x-auth-token'];
    if (typeof token === 'string' && token.length > 0) {
      const session = token.length <= 256 ? this.#state.sessions.touch(token) : undefined;
      const account = session ? this.#login.find(session.username) : undefined;
      if (!session || !account) {
        if (session) this.#state.sessions.delete(session.id);
        throw this.#unauthorized();
      }
      return { user: account.username, role: account.role, sessionId: session.id };
    }
    const basic = parseBasic(req.headers.authorization);
    if (basic) {
      // Budgets, constant-time check, log line and metric: login-guard.ts.
      const source = `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`;
      const result = this.#login.attempt(basic.username, basic.password, source, 'basic');
      if (result.ok) return { user: result.account.username, role: result.account.role, sessionId: null };
      if (result.retryAfterSeconds !== null) throw loginRefused(result.retryAfterSeconds);
    }
    throw this.#unauthorized();
  }

  #unauthorized(): RedfishError {
    return new RedfishError(401, message('NoValidSession'), { 'WWW-Authenticate': REALM });
  }

  #authorize(ctx: Ctx, privilege: Privilege | ((ctx: Ctx) => Privilege)): void {
    const p = ctx.principal;
    const needed = typeof privilege === 'function' ? privilege(ctx) : privilege;
    if (!p) throw this.#unauthorized();
    if (!ROLE_PRIVILEGES[p.role].includes(needed)) throw fail(403, 'InsufficientPrivilege');
  }

  #checkIfMatch(req: IncomingMessage, current: Json): void {
    const header = req.headers['if-match'];
    if (header === undefined) return;
    const { etag } = render(current);
    if (!etagListMatches(header, etag)) throw fail(412, 'PreconditionFailed');
  }

  #parseJson(req: IncomingMessage, body: Buffer): unknown {
    if (body.length === 0) return undefined;
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    const media = type.split(';')[0]?.trim() ?? '';
    if (media !== 'application/json') {
      throw new RedfishError(415, message('HeaderInvalid', ['Content-Type']));
    }
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      throw fail(400, 'MalformedJSON');
    }
  }

  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#toRedfishError(err);
    }
  }

  #readBody(req: IncomingMessage): Promise<Buffer> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      req.resume();
      return Promise.reject(fail(413, 'PayloadTooLarge'));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          over = true;
          chunks.length = 0;
          return;
        }
        if (!over) chunks.push(chunk);
      });
      req.on('end', () => (over ? reject(fail(413, 'PayloadTooLarge')) : resolve(Buffer.concat(chunks))));
      req.on('error', () => reject(new ClientHungUp()));
      req.on('close', () => {
        if (!req.complete) reject(new ClientHungUp());
      });
    });
  }

  /** GET ignores a body, but it must be consumed (bounded) to keep the connection usable. */
  #drain(req: IncomingMessage): Promise<void> {
    if (
      req.readableEnded ||
      (req.headers['content-length'] === undefined && !req.headers['transfer-encoding'])
    ) {
      req.resume();
      return Promise.resolve();
    }
    return this.#readBody(req).then(() => undefined);
  }

  #toRedfishError(err: unknown): RedfishError {
    if (err instanceof RedfishError) return err;
    if (isMachineError(err)) return machineErrorToRedfish(err);
    return new RedfishError(500, message('InternalError'));
  }

  #sendReply(res: ServerResponse, reply: Reply, method: string): void {
    res.statusCode = reply.status;
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
    if (reply.body === undefined || reply.status === 204) {
      res.removeHeader('Content-Type');
      res.end();
      return;
    }
    const json = JSON.stringify(reply.body);
    res.setHeader('Content-Type', JSON_TYPE);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Length', Buffer.byteLength(json));
    res.end(method === 'HEAD' ? undefined : json);
  }

  #sendError(res: ServerResponse, err: RedfishError, method: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.removeHeader('ETag');
    if (err.status !== 405) res.removeHeader('Allow');
    this.#sendReply(res, { status: err.status, body: errorBody(err.infos), headers: err.headers }, method);
  }

  #clientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    let infos = [message('UnrecognizedRequestBody')];
    let allow: string[] | null = null;
    const line = failedRequestLine(err);
    const request = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ (\/\S*) HTTP\/1\.[01]$/.exec(line);
    if (err.code === 'HPE_INVALID_METHOD' && request) {
      // Node's parser refuses method tokens it does not know; a well-formed request line with
      // such a method still gets the methods its URI supports.
      const target = request[1] ?? '';
      const path = normalisePath(target.split('?')[0] ?? '');
      const found = path ? this.#route(path) : null;
      if (found) {
        status = 405;
        allow = allowedMethods(found.route.def);
        infos = [message('OperationNotAllowed')];
      } else {
        status = 404;
        infos = [message('ResourceMissingAtURI', [path ?? target.slice(0, 200)])];
      }
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      infos = [message('HeaderInvalid', ['(too large)'])];
    }
    const body = JSON.stringify(errorBody(infos));
    const reason = http.STATUS_CODES[status] ?? 'Error';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nOData-Version: 4.0\r\nContent-Type: ${JSON_TYPE}\r\n` +
        (allow ? `Allow: ${allow.join(', ')}\r\n` : '') +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
}

const linkCache = new Map<string, string | null>();

/** `Link: <schema>; rel=describedby` for an `@odata.type` (memoised: the set of types is small). */
function linkHeader(type: string): string | null {
  let link = linkCache.get(type);
  if (link === undefined) {
    const uri = schemaUriForType(type);
    link = uri ? `<${uri}>; rel=describedby` : null;
    if (linkCache.size < 512) linkCache.set(type, link);
  }
  return link;
}

/** Maps a Machine error to a status and Base message (the table in `src/machine/errors.ts`). */
export function machineErrorToRedfish(err: MachineError): RedfishError {
  const withDetail = (
    status: number,
    info: ReturnType<typeof message>,
    headers: Record<string, string> = {},
  ) => new RedfishError(status, { ...info, Resolution: err.message }, headers);
  switch (err.code) {
    case 'NotSupported':
      return withDetail(400, message('GeneralError'));
    case 'InvalidState':
    case 'Conflict':
      return withDetail(409, message('ResourceInUse'));
    case 'InvalidArgument':
      return withDetail(400, message('GeneralError'));
    case 'NotFound':
      return withDetail(404, message('GeneralError'));
    case 'BackendUnavailable':
      return withDetail(503, message('ServiceTemporarilyUnavailable', ['5']), { 'Retry-After': '5' });
  }
}

/** Stable per machine in single mode (derived from its UUID), random per process otherwise. */
function serviceUuid(systems: RedfishSystems): string {
  let seed: string;
  try {
    if (systems.kind === 'aggregate') return randomUUID();
    seed = systems.machine.getIdentity().uuid;
  } catch {
    return randomUUID();
  }
  const h = createHash('sha256').update(`kubevirtbmc-redfish:${seed}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * The request line the parser failed on. `rawPacket` is the whole read, which on a kept-alive
 * connection may begin with the end of the request before (its body, or a whole pipelined
 * request); `bytesParsed` is where in it the parser stopped, inside the refused method token. The
 * line runs from the start of that token (walking back over token characters; a body ending in
 * such characters only lengthens the token, not the target) to the next CRLF.
 */
function failedRequestLine(
  err: NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number },
): string {
  const raw = err.rawPacket;
  if (!raw) return '';
  const text = raw.toString('latin1');
  let start = Math.min(Math.max(err.bytesParsed ?? 0, 0), text.length);
  while (start > 0 && TCHAR.test(text[start - 1] ?? '')) start--;
  const end = text.indexOf('\r\n', start);
  return text.slice(start, end < 0 ? text.length : end);
}

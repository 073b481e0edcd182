import http from 'node:http';
import https from 'node:https';
import type { BmcAccount } from '../../src/machine/index.ts';
import { RedfishServer, type RedfishServerOptions } from '../../src/redfish/server.ts';
import { MemoryMachine, type MemoryMachineOptions } from './memory-machine.ts';

/**
 * A Redfish service on 127.0.0.1:0 backed by MemoryMachines, and a raw HTTP client for it (raw so
 * tests control every header, the method token and whether a body or Content-Type is sent).
 */
export const ADMIN: BmcAccount = { username: 'admin', password: 'Adm1n-pass', role: 'Administrator' };
export const OPERATOR: BmcAccount = { username: 'oper', password: 'Oper-pass1', role: 'Operator' };
export const READER: BmcAccount = { username: 'reader', password: 'Read-pass1', role: 'ReadOnly' };

export interface RedfishFixture {
  readonly url: string;
  readonly port: number;
  readonly server: RedfishServer;
  readonly machine: MemoryMachine;
  readonly machines: MemoryMachine[];
  accounts: BmcAccount[];
  request(method: string, path: string, options?: RequestOptions): Promise<RawResponse>;
  close(): Promise<void>;
}

export interface RequestOptions {
  /** Basic credentials; default ADMIN. `null` sends none. */
  auth?: BmcAccount | { username: string; password: string } | null;
  token?: string;
  /** A JSON value (sent with Content-Type: application/json) or raw text/bytes. */
  json?: unknown;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience for reading JSON bodies
  readonly json: any;
}

export interface FixtureOptions {
  machine?: MemoryMachineOptions;
  /** Aggregate mode with these machines (identity namespace/name each). */
  aggregate?: MemoryMachineOptions[];
  accounts?: BmcAccount[];
  tls?: { cert: string; key: string };
  server?: Partial<RedfishServerOptions>;
}

export async function startRedfish(options: FixtureOptions = {}): Promise<RedfishFixture> {
  const machines = options.aggregate
    ? options.aggregate.map(
        (o) =>
          new MemoryMachine({
            timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 20 },
            ...o,
          }),
      )
    : [
        new MemoryMachine({
          timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 20 },
          ...options.machine,
        }),
      ];
  const state = { accounts: options.accounts ?? [ADMIN, OPERATOR, READER] };
  const server = new RedfishServer({
    systems: options.aggregate
      ? { kind: 'aggregate', machines: () => machines }
      : { kind: 'single', machine: machines[0]! },
    accounts: () => state.accounts,
    ...(options.tls ? { tls: options.tls } : {}),
    ...options.server,
    // Test subscribers listen on 127.0.0.1, which the default destination policy refuses.
    events: { destinations: { allow: ['127.0.0.1/32'] }, ...options.server?.events },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const scheme = options.tls ? 'https' : 'http';
  const fixture: RedfishFixture = {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    server,
    machine: machines[0]!,
    machines,
    get accounts() {
      return state.accounts;
    },
    set accounts(a) {
      state.accounts = a;
    },
    request: (method, path, ro = {}) => rawRequest(scheme, port, method, path, ro),
    close: async () => {
      await server.close();
      for (const m of machines) m.dispose();
    },
  };
  return fixture;
}

export function basic(a: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
}

export function rawRequest(
  scheme: 'http' | 'https',
  port: number,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...options.headers };
  const auth = options.auth === undefined ? ADMIN : options.auth;
  if (auth && !options.token) headers.Authorization = basic(auth);
  if (options.token) headers['X-Auth-Token'] = options.token;
  let payload: Buffer | undefined;
  if (options.json !== undefined) {
    payload = Buffer.from(JSON.stringify(options.json));
    headers['Content-Type'] ??= 'application/json';
  } else if (options.body !== undefined) {
    payload = Buffer.from(options.body);
  }
  if (payload) headers['Content-Length'] = String(payload.length);
  const lib = scheme === 'https' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers,
        agent: false,
        rejectUnauthorized: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Every URI reachable from the service root by following `@odata.id` links (GET only). */
export async function crawl(fx: RedfishFixture, start = '/redfish/v1/'): Promise<Map<string, RawResponse>> {
  const seen = new Map<string, RawResponse>();
  const queue = [start];
  while (queue.length > 0) {
    const uri = queue.shift()!;
    if (seen.has(uri)) continue;
    const res = await fx.request('GET', uri);
    seen.set(uri, res);
    if (res.status !== 200 || !res.json) continue;
    const walk = (v: unknown, top: boolean): void => {
      if (Array.isArray(v)) for (const x of v) walk(x, false);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === '@odata.id' && typeof x === 'string' && !top && !seen.has(x)) queue.push(x);
          else if (k === 'target' && typeof x === 'string') continue;
          else walk(x, false);
        }
      }
    };
    walk(res.json, true);
  }
  return seen;
}

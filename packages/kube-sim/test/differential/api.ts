/**
 * The client the differential checks drive both servers with: raw HTTPS requests and watch streams
 * with the admin token (or any other bearer token) and the server's CA from its kubeconfig, plus the
 * real kubectl with that kubeconfig.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { RunResult } from '../../../../test/support/run.ts';
import { kubectl as runKubectl } from '../../../../test/support/sim-kubectl.ts';
import { kubeconfigYaml } from '../../src/embedded/kubeconfig.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export type Obj = Record<string, any>;

export interface Resp {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  contentType: string;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  // biome-ignore lint/suspicious/noExplicitAny: schemaless JSON
  json: any;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** Another bearer token; null sends none. */
  token?: string | null;
}

export interface WatchEvent {
  type: string;
  object: Obj;
}

export interface Watch {
  /** HTTP status of the watch response. */
  readonly status: Promise<number>;
  readonly events: WatchEvent[];
  /** Resolves when the server ends the stream (or stop() is called). */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  /** Waits until `pred` holds for the events so far (or the stream closes, or the time runs out). */
  until(pred: (events: WatchEvent[]) => boolean, timeoutMs: number): Promise<boolean>;
  stop(): void;
}

export interface Api {
  readonly kind: 'embedded' | 'real';
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly caCert: string;
  readonly adminToken: string;
  req(method: string, path: string, opts?: RequestOptions): Promise<Resp>;
  get(path: string, opts?: RequestOptions): Promise<Resp>;
  post(path: string, body: unknown, opts?: RequestOptions): Promise<Resp>;
  put(path: string, body: unknown, opts?: RequestOptions): Promise<Resp>;
  patch(path: string, body: unknown, contentType: string, opts?: RequestOptions): Promise<Resp>;
  del(path: string, body?: unknown, opts?: RequestOptions): Promise<Resp>;
  watch(path: string, opts?: { token?: string }): Watch;
  kubectl(
    args: string[],
    opts?: { input?: string; kubeconfig?: string; env?: Record<string, string> },
  ): Promise<RunResult>;
  /** Writes a kubeconfig for another bearer token and returns its path. */
  kubeconfigFor(user: string, token: string, namespace?: string): string;
  /**
   * Drops the history older than now: the embedded server compacts its event log, the real one
   * compacts etcd (its watch cache starts well after revision 1 anyway).
   */
  expireHistory(): Promise<void>;
  /**
   * Resolves once the garbage collector follows owner references to Widgets (the real one learns of
   * a new CRD from discovery, which it rereads every 30 s); checks of garbage collection await it.
   */
  gcReady: Promise<void>;
}

function parseKubeconfig(path: string): { server: string; ca: string; token: string } {
  const kc = parseYaml(readFileSync(path, 'utf8')) as Obj;
  const ctxName = kc['current-context'];
  const ctx = (kc.contexts as Obj[]).find((c) => c.name === ctxName)?.context ?? kc.contexts[0].context;
  const cluster = (kc.clusters as Obj[]).find((c) => c.name === ctx.cluster)?.cluster;
  const user = (kc.users as Obj[]).find((u) => u.name === ctx.user)?.user;
  return {
    server: cluster.server,
    ca: Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8'),
    token: user.token,
  };
}

export function makeApi(
  kind: 'embedded' | 'real',
  kubeconfigPath: string,
  expireHistory: () => Promise<void> | void,
): Api {
  const { server, ca, token: adminToken } = parseKubeconfig(kubeconfigPath);
  const agent = new Agent({ ca, keepAlive: true, maxSockets: 32 });
  const base = new URL(server);
  const dir = mkdtempSync(join(tmpdir(), `kubevirtbmc-diff-${kind}-`));
  const cacheDir = join(dir, 'kubectl-cache');
  let kubeconfigs = 0;

  const req = (method: string, path: string, opts: RequestOptions = {}): Promise<Resp> =>
    new Promise((resolve, reject) => {
      const token = opts.token === undefined ? adminToken : opts.token;
      let payload: Buffer | undefined;
      if (opts.body !== undefined) {
        payload = Buffer.isBuffer(opts.body)
          ? opts.body
          : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      }
      const headers: Record<string, string> = {
        Accept: opts.accept ?? 'application/json',
        'User-Agent': 'kubevirtbmc-differential',
      };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (payload) {
        headers['Content-Type'] = opts.contentType ?? 'application/json';
        headers['Content-Length'] = String(payload.length);
      }
      const r = request({ host: base.hostname, port: base.port, path, method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const contentType = String(res.headers['content-type'] ?? '');
          let json: unknown;
          // kube-apiserver serves some JSON (the OpenAPI v3 index) as text/plain
          if (/json/.test(contentType) || /^\s*[[{]/.test(text)) {
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, contentType, text, json });
        });
        res.on('error', reject);
      });
      r.setTimeout(30_000, () => r.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      r.on('error', reject);
      r.end(payload);
    });

  const watch = (path: string, opts: { token?: string } = {}): Watch => {
    const events: WatchEvent[] = [];
    let closed = false;
    let resolveClosed!: () => void;
    let resolveStatus!: (n: number) => void;
    const closedP = new Promise<void>((r) => {
      resolveClosed = r;
    });
    const statusP = new Promise<number>((r) => {
      resolveStatus = r;
    });
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const w of [...waiters]) w();
    };
    const finish = () => {
      if (closed) return;
      closed = true;
      resolveStatus(0);
      resolveClosed();
      wake();
    };
    const r = request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: 'GET',
        headers: {
          Accept: 'application/json',
          Authorization: `Bearer ${opts.token ?? adminToken}`,
          'User-Agent': 'kubevirtbmc-differential',
        },
        // a watch holds its connection: never share it with requests
        agent: false,
        ca,
      },
      (res) => {
        resolveStatus(res.statusCode ?? 0);
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString('utf8');
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (!line) continue;
            try {
              events.push(JSON.parse(line) as WatchEvent);
            } catch {
              events.push({ type: 'UNPARSEABLE', object: { line } });
            }
          }
          wake();
        });
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
      },
    );
    r.on('error', finish);
    r.end();
    return {
      status: statusP,
      events,
      closed: closedP,
      isClosed: () => closed,
      until: (pred, timeoutMs) =>
        new Promise<boolean>((resolve) => {
          const check = () => {
            if (pred(events)) done(true);
            else if (closed) done(false);
          };
          const timer = setTimeout(() => done(false), timeoutMs);
          const done = (v: boolean) => {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(v);
          };
          waiters.add(check);
          check();
        }),
      stop: () => {
        r.destroy();
        finish();
      },
    };
  };

  return {
    kind,
    url: server,
    kubeconfigPath,
    caCert: ca,
    adminToken,
    req,
    get: (path, opts) => req('GET', path, opts),
    post: (path, body, opts) => req('POST', path, { ...opts, body }),
    put: (path, body, opts) => req('PUT', path, { ...opts, body }),
    patch: (path, body, contentType, opts) => req('PATCH', path, { ...opts, body, contentType }),
    del: (path, body, opts) => req('DELETE', path, body === undefined ? opts : { ...opts, body }),
    watch,
    kubectl: (args, opts = {}) =>
      runKubectl(opts.kubeconfig ?? kubeconfigPath, args, {
        cacheDir,
        timeoutMs: 30_000,
        ...(opts.input !== undefined ? { input: opts.input } : {}),
        ...(opts.env ? { env: opts.env } : {}),
      }),
    kubeconfigFor: (user, token, namespace) => {
      const path = join(dir, `kubeconfig-${++kubeconfigs}`);
      writeFileSync(path, kubeconfigYaml(server, ca, user, token, namespace), { mode: 0o600 });
      return path;
    },
    expireHistory: async () => {
      await expireHistory();
    },
    gcReady: Promise.resolve(),
  };
}

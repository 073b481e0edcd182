/**
 * How to reach the Kubernetes API: the server, TLS settings and credentials, from a kubeconfig file
 * or from inside a pod. The agent and the controller load it with this module rather than with
 * @kubernetes/client-node, whose generated API models cost about 70 MiB of memory to import and
 * of which they used nothing else. client-node's `KubeConfig` satisfies `KubeAccess` too, so tests
 * and callers may pass either.
 *
 * Supported: `server`, `certificate-authority(-data)`, `insecure-skip-tls-verify`,
 * `tls-server-name`, `proxy-url` (an HTTP(S) proxy; see proxy.ts for the environment's); `token`, `tokenFile`, `client-certificate(-data)`, `client-key(-data)`,
 * `username`/`password`; `exec` credential plugins (client.authentication.k8s.io v1 and v1beta1,
 * re-run when the credential expires); `KUBECONFIG` lists (first definition of a name wins, as in
 * kubectl); in-cluster ServiceAccount credentials (the token re-read from disk, as it rotates).
 * Not supported: the removed `auth-provider` plugins (an error says so).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type https from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { ProxyConfigError, parseProxyUrl } from './proxy.ts';

/** What the project's Kubernetes clients need from a kubeconfig. */
export interface KubeAccess {
  /** `proxyUrl`: the cluster's `proxy-url`, which wins over HTTPS_PROXY/HTTP_PROXY. */
  getCurrentCluster(): { server: string; skipTLSVerify?: boolean; proxyUrl?: string } | null;
  /** Adds CA, client certificate and key, TLS verification and the Authorization header. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
  /**
   * When (ms since the epoch) the credentials `applyToHTTPSOptions` gave last stop being the ones
   * it gives (an exec plugin's credential nearing its expiry); undefined or Infinity when never.
   */
  refreshAt?(): number | undefined;
}

interface Named<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

interface ClusterEntry {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}

interface UserEntry {
  token?: string;
  tokenFile?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  'auth-provider'?: unknown;
}

interface ExecConfig {
  apiVersion?: string;
  command?: string;
  args?: string[];
  env?: Array<{ name: string; value: string }> | null;
  installHint?: string;
}

interface ExecPlugin {
  apiVersion: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  installHint?: string;
}

interface ExecResult {
  token?: string;
  cert?: Buffer;
  key?: Buffer;
  /** ms since the epoch; Infinity when the credential does not expire. */
  expires: number;
}

interface ContextEntry {
  cluster?: string;
  user?: string;
  namespace?: string;
}

interface Loaded {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  skipTLSVerify: boolean;
  servername?: string;
  proxyUrl?: string;
  token?: string;
  tokenFile?: string;
  basic?: string;
  exec?: ExecPlugin;
  namespace?: string;
}

export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

/** Runs an exec credential plugin once (kubectl's protocol: ExecCredential in, ExecCredential out). */
function runPlugin(plugin: ExecPlugin, server: string): Promise<ExecResult> {
  const info = {
    apiVersion: plugin.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false },
  };
  return new Promise((resolve, reject) => {
    execFile(
      plugin.command,
      plugin.args,
      {
        env: { ...process.env, ...plugin.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) },
        timeout: 60_000,
        maxBuffer: 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          const hint = plugin.installHint ? ` (${plugin.installHint.trim()})` : '';
          const detail =
            (err as NodeJS.ErrnoException).code === 'ENOENT'
              ? 'not found'
              : String(stderr).trim() || err.message;
          return reject(
            new KubeConfigError(
              `the credential plugin ${plugin.command} failed for ${server}: ${detail}${hint}`,
            ),
          );
        }
        try {
          const cred = JSON.parse(String(stdout)) as {
            status?: {
              token?: string;
              clientCertificateData?: string;
              clientKeyData?: string;
              expirationTimestamp?: string;
            };
          };
          const st = cred.status ?? {};
          if (!st.token && !(st.clientCertificateData && st.clientKeyData))
            throw new Error('its ExecCredential has neither a token nor a client certificate and key');
          const expires = st.expirationTimestamp
            ? Date.parse(st.expirationTimestamp)
            : Number.POSITIVE_INFINITY;
          resolve({
            ...(st.token ? { token: st.token } : {}),
            ...(st.clientCertificateData ? { cert: Buffer.from(st.clientCertificateData) } : {}),
            ...(st.clientKeyData ? { key: Buffer.from(st.clientKeyData) } : {}),
            expires: Number.isNaN(expires) ? 0 : expires,
          });
        } catch (e) {
          reject(new KubeConfigError(`the credential plugin ${plugin.command}: ${(e as Error).message}`));
        }
      },
    );
  });
}

/** An exec credential is asked for anew this long before it expires. */
const EXPIRY_MARGIN_MS = 10_000;

export class KubeConfigAccess implements KubeAccess {
  readonly #c: Loaded;
  /** The exec plugin's credential, shared by concurrent callers while the plugin runs. */
  #exec: Promise<ExecResult> | null = null;
  /** When the exec credential applied last expires (ms since the epoch). */
  #execExpires = Number.POSITIVE_INFINITY;

  private constructor(loaded: Loaded) {
    this.#c = loaded;
  }

  /** The namespace of the current context (kubeconfig) or of the pod (in-cluster), if any. */
  get namespace(): string | undefined {
    return this.#c.namespace;
  }

  get server(): string {
    return this.#c.server;
  }

  getCurrentCluster(): { server: string; skipTLSVerify: boolean; proxyUrl?: string } {
    return {
      server: this.#c.server,
      skipTLSVerify: this.#c.skipTLSVerify,
      ...(this.#c.proxyUrl ? { proxyUrl: this.#c.proxyUrl } : {}),
    };
  }

  refreshAt(): number {
    return this.#c.exec ? this.#execExpires - EXPIRY_MARGIN_MS : Number.POSITIVE_INFINITY;
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const c = this.#c;
    if (c.ca) opts.ca = c.ca;
    if (c.cert) opts.cert = c.cert;
    if (c.key) opts.key = c.key;
    if (c.servername) opts.servername = c.servername;
    opts.rejectUnauthorized = !c.skipTLSVerify;
    const headers = (opts.headers ?? {}) as Record<string, string>;
    let token = c.token;
    if (c.tokenFile) {
      try {
        token = readFileSync(c.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new KubeConfigError(`cannot read the token file ${c.tokenFile}: ${(err as Error).message}`);
      }
    }
    if (c.exec) {
      // Re-run when the credential has expired (or is about to), as kubectl does.
      const cached = await this.#exec?.catch(() => null);
      if (!cached || cached.expires - EXPIRY_MARGIN_MS <= Date.now())
        this.#exec = runPlugin(c.exec, c.server);
      const cred = await this.#exec!.catch((err) => {
        this.#exec = null;
        throw err;
      });
      this.#execExpires = cred.expires;
      if (cred.cert) opts.cert = cred.cert;
      if (cred.key) opts.key = cred.key;
      token = cred.token ?? token;
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (c.basic) headers.Authorization = `Basic ${c.basic}`;
    opts.headers = headers;
  }

  /** In a pod: the ServiceAccount's token (re-read as it rotates) and CA, the API from the env. */
  static inCluster(dir = IN_CLUSTER_DIR, env: NodeJS.ProcessEnv = process.env): KubeConfigAccess {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) {
      throw new KubeConfigError(
        'not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset',
      );
    }
    const tokenFile = join(dir, 'token');
    if (!existsSync(tokenFile)) throw new KubeConfigError(`not in a cluster: ${tokenFile} does not exist`);
    const caFile = join(dir, 'ca.crt');
    const nsFile = join(dir, 'namespace');
    return new KubeConfigAccess({
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      ...(existsSync(caFile) ? { ca: readFileSync(caFile) } : {}),
      skipTLSVerify: false,
      tokenFile,
      ...(existsSync(nsFile) ? { namespace: readFileSync(nsFile, 'utf8').trim() } : {}),
    });
  }

  /** One kubeconfig file, or several merged as kubectl merges a KUBECONFIG list. */
  static fromFiles(paths: readonly string[], context?: string): KubeConfigAccess {
    const clusters = new Map<string, { entry: ClusterEntry; dir: string }>();
    const users = new Map<string, { entry: UserEntry; dir: string }>();
    const contexts = new Map<string, ContextEntry>();
    let current: string | undefined;
    for (const path of paths) {
      let doc: {
        clusters?: Named<ClusterEntry>[];
        users?: Named<UserEntry>[];
        contexts?: Named<ContextEntry>[];
        'current-context'?: string;
      } | null;
      try {
        doc = parse(readFileSync(path, 'utf8'));
      } catch (err) {
        throw new KubeConfigError(`cannot read the kubeconfig ${path}: ${(err as Error).message}`);
      }
      if (!doc || typeof doc !== 'object') continue;
      const dir = dirname(path);
      for (const c of doc.clusters ?? [])
        if (c?.name && c.cluster && !clusters.has(c.name)) clusters.set(c.name, { entry: c.cluster, dir });
      for (const u of doc.users ?? [])
        if (u?.name && !users.has(u.name)) users.set(u.name, { entry: u.user ?? {}, dir });
      for (const c of doc.contexts ?? [])
        if (c?.name && c.context && !contexts.has(c.name)) contexts.set(c.name, c.context);
      current ??= doc['current-context'] || undefined;
    }
    const where = paths.join(':');
    const name = context ?? current;
    if (!name) throw new KubeConfigError(`the kubeconfig ${where} has no current-context`);
    const ctx = contexts.get(name);
    if (!ctx) throw new KubeConfigError(`the kubeconfig ${where} has no context "${name}"`);
    const cluster = ctx.cluster ? clusters.get(ctx.cluster) : undefined;
    if (!cluster?.entry.server) {
      throw new KubeConfigError(`the kubeconfig ${where}: context "${name}" names no cluster with a server`);
    }
    const user = ctx.user ? users.get(ctx.user) : undefined;
    const u = user?.entry ?? {};
    if (u['auth-provider']) {
      throw new KubeConfigError(
        `the kubeconfig ${where}: user "${ctx.user}" uses an auth-provider plugin (removed from Kubernetes clients); use an exec plugin, a token, a token file or a client certificate`,
      );
    }
    let exec: ExecPlugin | undefined;
    if (u.exec) {
      const e = u.exec;
      if (!e.command)
        throw new KubeConfigError(
          `the kubeconfig ${where}: user "${ctx.user}" has an exec plugin without a command`,
        );
      // A command with a path separator is relative to the kubeconfig; a bare name is looked up on PATH.
      const command =
        e.command.includes('/') && !isAbsolute(e.command) ? join(user?.dir ?? '.', e.command) : e.command;
      exec = {
        apiVersion: e.apiVersion ?? 'client.authentication.k8s.io/v1',
        command,
        args: e.args ?? [],
        env: Object.fromEntries((e.env ?? []).map((v) => [v.name, v.value])),
        ...(e.installHint ? { installHint: e.installHint } : {}),
      };
    }
    const file = (p: string, dir: string) => readFileSync(isAbsolute(p) ? p : join(dir, p));
    const data = (b64: string) => Buffer.from(b64, 'base64');
    const cl = cluster.entry;
    if (cl['proxy-url']) {
      try {
        parseProxyUrl(cl['proxy-url']);
      } catch (err) {
        if (err instanceof ProxyConfigError)
          throw new KubeConfigError(`the kubeconfig ${where}: cluster "${ctx.cluster}": ${err.message}`);
        throw err;
      }
    }
    const ca = cl['certificate-authority-data']
      ? data(cl['certificate-authority-data'])
      : cl['certificate-authority']
        ? file(cl['certificate-authority'], cluster.dir)
        : undefined;
    const udir = user?.dir ?? '.';
    const cert = u['client-certificate-data']
      ? data(u['client-certificate-data'])
      : u['client-certificate']
        ? file(u['client-certificate'], udir)
        : undefined;
    const key = u['client-key-data']
      ? data(u['client-key-data'])
      : u['client-key']
        ? file(u['client-key'], udir)
        : undefined;
    return new KubeConfigAccess({
      server: cl.server!,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      skipTLSVerify: cl['insecure-skip-tls-verify'] === true,
      ...(cl['tls-server-name'] ? { servername: cl['tls-server-name'] } : {}),
      ...(cl['proxy-url'] ? { proxyUrl: cl['proxy-url'] } : {}),
      ...(u.token ? { token: u.token } : {}),
      ...(u.tokenFile ? { tokenFile: isAbsolute(u.tokenFile) ? u.tokenFile : join(udir, u.tokenFile) } : {}),
      ...(u.username !== undefined && u.password !== undefined
        ? { basic: Buffer.from(`${u.username}:${u.password}`).toString('base64') }
        : {}),
      ...(exec ? { exec } : {}),
      ...(ctx.namespace ? { namespace: ctx.namespace } : {}),
    });
  }

  /**
   * As kubectl: the given file; else $KUBECONFIG (a ':'-separated list); else ~/.kube/config; else
   * the in-cluster ServiceAccount.
   */
  static load(path?: string, env: NodeJS.ProcessEnv = process.env): KubeConfigAccess {
    if (path) return KubeConfigAccess.fromFiles([path]);
    const list = (env.KUBECONFIG ?? '').split(':').filter((p) => p.length > 0 && existsSync(p));
    if (list.length > 0) return KubeConfigAccess.fromFiles(list);
    const home = join(env.HOME ?? homedir(), '.kube', 'config');
    if (existsSync(home)) return KubeConfigAccess.fromFiles([home]);
    if (env.KUBERNETES_SERVICE_HOST) return KubeConfigAccess.inCluster(IN_CLUSTER_DIR, env);
    throw new KubeConfigError(
      'no kubeconfig: give --kubeconfig, set KUBECONFIG, create ~/.kube/config or run in a pod',
    );
  }
}

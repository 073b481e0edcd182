/**
 * HTTP proxies between the client and the API server, as kubectl and client-go use them:
 *
 * - a kubeconfig cluster's `proxy-url` applies to every request to that cluster (client-go's
 *   `http.ProxyURL`), and wins over the environment;
 * - else `HTTPS_PROXY` (for `https:` servers) or `HTTP_PROXY` (for `http:` ones), upper case first,
 *   then lower case, with `NO_PROXY`/`no_proxy` as Go's `golang.org/x/net/http/httpproxy` reads
 *   them: `*`; an IP address or CIDR range; a host name, matching itself and its subdomains
 *   (`example.com`), or only subdomains (`.example.com`, `*.example.com`); each optionally with a
 *   `:port`. As in Go, `localhost` and loopback addresses are never proxied from the environment.
 *
 * Requests go through an HTTP CONNECT tunnel (to an `http:` or `https:` proxy, with Basic
 * credentials from the proxy URL's user info), inside which TLS to the API server is spoken as
 * without a proxy: the proxy sees only the server's name and port.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export class ProxyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProxyConfigError';
  }
}

/**
 * A proxy URL as Go parses one: without a scheme `http://` is assumed; `http:` and `https:` are
 * supported; `socks5:` (which kubectl also takes) is refused with an error saying so.
 */
export function parseProxyUrl(value: string): URL {
  const v = value.trim();
  let url: URL | undefined;
  try {
    url = new URL(v);
    if (!url.host) url = undefined;
  } catch {
    url = undefined;
  }
  // "proxy:3128" parses as a URL with the scheme "proxy:" and no host: Go retries such values
  // with http://, and refuses other schemes
  if (url && !['http:', 'https:', 'socks5:', 'socks5h:'].includes(url.protocol))
    throw new ProxyConfigError(
      `the proxy URL "${value}": unsupported scheme ${url.protocol} (http: or https:)`,
    );
  if (!url) {
    try {
      url = new URL(`http://${v}`);
    } catch {
      throw new ProxyConfigError(`the proxy URL "${value}" is not a URL`);
    }
  }
  if (url.protocol === 'socks5:' || url.protocol === 'socks5h:')
    throw new ProxyConfigError(
      `the proxy URL "${value}": SOCKS5 proxies are not supported (use an HTTP proxy)`,
    );
  if (!url.hostname) throw new ProxyConfigError(`the proxy URL "${value}" has no host`);
  return url;
}

interface Rule {
  /** `*` */
  all?: boolean;
  /** An IP address (with `port`) or a CIDR range. */
  ip?: { bytes: Buffer; prefix: number };
  /** A domain with its leading dot, e.g. `.example.com`; `matchHost`: also `example.com` itself. */
  domain?: string;
  matchHost?: boolean;
  port?: string;
}

/** The 16 bytes of an address (IPv4 as IPv4-mapped IPv6), or undefined when not an address. */
function ipBytes(addr: string): Buffer | undefined {
  const a = addr.replace(/^\[(.*)\]$/, '$1');
  if (net.isIPv4(a)) {
    const b = Buffer.alloc(16);
    b[10] = 0xff;
    b[11] = 0xff;
    a.split('.').forEach((p, i) => {
      b[12 + i] = Number(p);
    });
    return b;
  }
  if (!net.isIPv6(a)) return undefined;
  // let the URL parser expand the address (zero runs, embedded IPv4)
  let expanded: string;
  try {
    expanded = new URL(`http://[${a.replace(/%.*$/, '')}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head, tail] = expanded.includes('::') ? expanded.split('::') : [expanded, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) b.writeUInt16BE(Number.parseInt(g || '0', 16), i * 2);
  return b;
}

function inPrefix(addr: Buffer, network: Buffer, prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((addr[byte]! & mask) !== (network[byte]! & mask)) return false;
  }
  return true;
}

function isLoopback(b: Buffer): boolean {
  const v4mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (v4mapped) return b[12] === 127;
  return b.subarray(0, 15).every((x) => x === 0) && b[15] === 1;
}

/** NO_PROXY parsed as Go's httpproxy parses it. */
export function parseNoProxy(value: string): Rule[] {
  const rules: Rule[] = [];
  for (const raw of value.split(',')) {
    const p = raw.trim().toLowerCase();
    if (!p) continue;
    if (p === '*') return [{ all: true }];
    const cidr = /^(.+)\/(\d{1,3})$/.exec(p);
    if (cidr) {
      const bytes = ipBytes(cidr[1]!);
      const bits = Number(cidr[2]);
      const v4 = net.isIPv4(cidr[1]!);
      if (bytes && bits <= (v4 ? 32 : 128)) {
        rules.push({ ip: { bytes, prefix: v4 ? 96 + bits : bits } });
        continue;
      }
    }
    // host:port, [v6]:port, v4:port; a bare IPv6 address has colons but no port
    let host = p;
    let port: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(p);
    if (bracketed) {
      host = bracketed[1]!;
      port = bracketed[2];
    } else if (!net.isIPv6(p)) {
      const hp = /^(.*):(\d+)$/.exec(p);
      if (hp) {
        host = hp[1]!;
        port = hp[2];
      }
    }
    if (!host) continue;
    const bytes = ipBytes(host);
    if (bytes) {
      rules.push({ ip: { bytes, prefix: 128 }, ...(port ? { port } : {}) });
      continue;
    }
    let domain = host.startsWith('*.') ? host.slice(1) : host;
    const matchHost = !domain.startsWith('.');
    if (matchHost) domain = `.${domain}`;
    rules.push({ domain, matchHost, ...(port ? { port } : {}) });
  }
  return rules;
}

/**
 * Whether a request to `host:port` goes to the proxy given NO_PROXY `noProxy` (Go's
 * httpproxy `useProxy`): false for `localhost` and loopback addresses, and for hosts NO_PROXY names.
 */
export function useProxy(host: string, port: string | number, noProxy: string): boolean {
  const h = host
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
  if (!h) return true;
  if (h === 'localhost') return false;
  const ip = ipBytes(h);
  if (ip && isLoopback(ip)) return false;
  const p = String(port);
  for (const r of parseNoProxy(noProxy)) {
    if (r.all) return false;
    if (r.ip) {
      if (ip && inPrefix(ip, r.ip.bytes, r.ip.prefix) && (!r.port || r.port === p)) return false;
      continue;
    }
    if (r.domain && (h.endsWith(r.domain) || (r.matchHost && h === r.domain.slice(1))))
      if (!r.port || r.port === p) return false;
  }
  return true;
}

function env(e: NodeJS.ProcessEnv, ...names: string[]): string {
  for (const n of names) {
    const v = e[n];
    if (v) return v;
  }
  return '';
}

/**
 * The proxy for requests to `server`: the kubeconfig's `proxy-url` when given, else the one the
 * environment names for the server's scheme unless NO_PROXY (or loopback) exempts it.
 */
export function proxyFor(
  server: URL,
  proxyUrl: string | undefined,
  environment: NodeJS.ProcessEnv = process.env,
): URL | undefined {
  if (proxyUrl) return parseProxyUrl(proxyUrl);
  const value =
    server.protocol === 'https:'
      ? env(environment, 'HTTPS_PROXY', 'https_proxy')
      : env(environment, 'HTTP_PROXY', 'http_proxy');
  if (!value) return undefined;
  const port = server.port || (server.protocol === 'https:' ? '443' : '80');
  if (!useProxy(server.hostname, port, env(environment, 'NO_PROXY', 'no_proxy'))) return undefined;
  return parseProxyUrl(value);
}

export interface TunnelOptions {
  /** How long the proxy may take to answer the CONNECT (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** TLS settings for an `https:` proxy (default: the system's CAs, verification on). */
  proxyTls?: tls.ConnectionOptions;
}

/** `host:port` as a CONNECT target (IPv6 in brackets). */
function authority(host: string, port: number | string): string {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return `${net.isIPv6(h) ? `[${h}]` : h}:${port}`;
}

/**
 * Opens a CONNECT tunnel through `proxy` to `host:port`; resolves with the socket carrying it (the
 * caller then speaks TLS over it), or rejects when the proxy cannot be reached or refuses.
 */
export function openTunnel(
  proxy: URL,
  host: string,
  port: number | string,
  options: TunnelOptions = {},
): Promise<Duplex> {
  const target = authority(host, port);
  const headers: Record<string, string> = { Host: target };
  if (proxy.username || proxy.password) {
    const cred = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['Proxy-Authorization'] = `Basic ${Buffer.from(cred).toString('base64')}`;
  }
  const secure = proxy.protocol === 'https:';
  const proxyHost = proxy.hostname.replace(/^\[(.*)\]$/, '$1');
  const proxyPort = Number(proxy.port || (secure ? 443 : 80));
  return new Promise<Duplex>((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(new Error(`CONNECT to ${target} through ${proxy.host} aborted`));
      return;
    }
    const common = {
      host: proxyHost,
      port: proxyPort,
      method: 'CONNECT',
      path: target,
      headers,
      agent: false as const,
    };
    const req = secure
      ? https.request({
          ...options.proxyTls,
          ...common,
          ...(net.isIP(proxyHost) ? {} : { servername: proxyHost }),
        })
      : http.request(common);
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      finish(() => reject(new Error(`CONNECT to ${target} through ${proxy.host} aborted`)));
      req.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timeoutMs = options.timeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      finish(() =>
        reject(
          new Error(`the proxy ${proxy.host} did not answer the CONNECT to ${target} in ${timeoutMs} ms`),
        ),
      );
      req.destroy();
    }, timeoutMs);
    req.once('connect', (res, socket, head) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        socket.destroy();
        finish(() =>
          reject(
            new Error(
              `the proxy ${proxy.host} refused the CONNECT to ${target}: ${status} ${res.statusMessage ?? ''}`.trim(),
            ),
          ),
        );
        return;
      }
      if (head.length > 0) socket.unshift(head);
      finish(() => resolve(socket));
    });
    // any answer but one to the CONNECT (should not happen): a refusal
    req.once('response', (res) => {
      res.resume();
      finish(() =>
        reject(new Error(`the proxy ${proxy.host} refused the CONNECT to ${target}: ${res.statusCode}`)),
      );
    });
    req.once('error', (err) =>
      finish(() =>
        reject(
          new Error(`cannot reach the proxy ${proxy.host} for ${target}: ${err.message}`, { cause: err }),
        ),
      ),
    );
    req.end();
  });
}

type ConnectCallback = (err: Error | null, socket?: Duplex) => void;

/** An HTTPS keep-alive agent whose connections are TLS inside CONNECT tunnels through `proxy`. */
export class HttpsTunnelAgent extends https.Agent {
  readonly proxy: URL;
  readonly #tunnel: TunnelOptions;
  constructor(proxy: URL, options: https.AgentOptions = {}, tunnel: TunnelOptions = {}) {
    super(options);
    this.proxy = proxy;
    this.#tunnel = tunnel;
  }

  override createConnection(options: tls.ConnectionOptions, callback: ConnectCallback): Duplex {
    openTunnel(this.proxy, options.host ?? 'localhost', options.port ?? 443, this.#tunnel).then(
      (socket) => {
        const tlsSocket = tls.connect({ ...options, socket });
        callback(null, tlsSocket);
      },
      (err: Error) => callback(err),
    );
    // the connection comes through the callback (Node's Agent accepts that)
    return undefined as unknown as Duplex;
  }
}

/** A plain-HTTP keep-alive agent whose connections are CONNECT tunnels through `proxy`. */
export class HttpTunnelAgent extends http.Agent {
  readonly proxy: URL;
  readonly #tunnel: TunnelOptions;
  constructor(proxy: URL, options: http.AgentOptions = {}, tunnel: TunnelOptions = {}) {
    super(options);
    this.proxy = proxy;
    this.#tunnel = tunnel;
  }

  override createConnection(options: net.NetConnectOpts, callback: ConnectCallback): Duplex {
    const o = options as { host?: string; port?: number };
    openTunnel(this.proxy, o.host ?? 'localhost', o.port ?? 80, this.#tunnel).then(
      (socket) => callback(null, socket),
      (err: Error) => callback(err),
    );
    return undefined as unknown as Duplex;
  }
}

/** An agent for requests to `server` through `proxy` (`keepAlive` as given in `options`). */
export function tunnelAgent(
  server: URL,
  proxy: URL,
  options: https.AgentOptions = {},
): HttpsTunnelAgent | HttpTunnelAgent {
  return server.protocol === 'https:'
    ? new HttpsTunnelAgent(proxy, options)
    : new HttpTunnelAgent(proxy, options);
}

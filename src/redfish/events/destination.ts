import { lookup as dnsLookup } from 'node:dns/promises';
import { isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Where events may go. Destinations are `http://` or `https://` URLs without credentials (those go
 * in `HttpHeaders`). Every address a destination names or resolves to is first brought to one
 * canonical form (`normaliseHost`: IPv4 in any of the forms `inet_aton` and URL parsers accept —
 * decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`, short `127.1` — and IPv6 with any
 * IPv4-mapped address turned into that IPv4 address), then judged by the `DestinationGuard`:
 *
 * 1. the service's own listeners (a local address with a port the service listens on, or an
 *    endpoint declared with `addEndpoint`) are always refused: delivery would be a request from
 *    the BMC to itself;
 * 2. otherwise the most specific matching rule decides (longest prefix; at equal length a rule
 *    with a port beats one without, an administrator's rule beats a built-in one, deny beats
 *    allow). Built-in deny rules cover the agent's own host (loopback, unspecified, this host's
 *    interface addresses), link-local and cloud-metadata addresses, multicast and reserved ranges
 *    and the Kubernetes API server; everything else (private ranges included: a BMC's receivers
 *    live on the management network) is allowed. `allow` and `deny` add rules.
 *
 * Checked when a subscription is created (names are resolved then, and every address must pass)
 * and again at every delivery, where the name is resolved afresh, every address checked, and the
 * connection made to the checked address (so DNS cannot point a name at a refused address later).
 */
export type DestinationCheck = { ok: true; url: URL } | { ok: false; reason: string };

export const MAX_DESTINATION_LENGTH = 2048;

export function parseDestination(raw: string): DestinationCheck {
  if (raw.length > MAX_DESTINATION_LENGTH) return { ok: false, reason: 'too long' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: 'only http and https destinations are supported' };
  }
  if (url.username || url.password) {
    return { ok: false, reason: 'credentials belong in HttpHeaders, not in the URL' };
  }
  if (!url.hostname) return { ok: false, reason: 'no host' };
  return { ok: true, url };
}

export function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

// --- addresses ---------------------------------------------------------------------------------

/** An IP address as bytes: 4 (IPv4) or 16 (IPv6). */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/**
 * One part of an IPv4 address as `inet_aton` (and the URL standard) read it: decimal, octal with
 * a leading 0, hex with 0x. `null` when the part is not a number.
 */
function ipv4Part(part: string): number | null {
  if (/^0[xX][0-9a-fA-F]*$/.test(part)) return part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  if (/^0[0-7]*$/.test(part)) return Number.parseInt(part, 8);
  if (/^[1-9][0-9]*$/.test(part)) return Number(part);
  return null;
}

/**
 * IPv4 in every form a resolver or URL parser takes for an address: 1 to 4 parts, each decimal,
 * octal or hex, the last filling the remaining bytes (`127.1` = 127.0.0.1, `2130706433` =
 * 127.0.0.1); one trailing dot allowed. `undefined` when the text is not numeric at all (a name),
 * `null` when it looks like an address but is not a valid one (`1.2.3.256`).
 */
export function parseIpv4(text: string): IpAddress | null | undefined {
  let parts = text.split('.');
  if (parts.length > 1 && parts.at(-1) === '') parts = parts.slice(0, -1);
  const last = parts.at(-1) ?? '';
  // The URL standard's rule: a host whose last label is a number is an IPv4 address or invalid.
  if (!/^(0[xX][0-9a-fA-F]*|[0-9]+)$/.test(last)) return undefined;
  if (parts.length > 4) return null;
  const values = parts.map(ipv4Part);
  if (values.some((v) => v === null)) return null;
  const nums = values as number[];
  for (const v of nums.slice(0, -1)) if (v > 255) return null;
  const tail = nums.at(-1)!;
  if (tail >= 256 ** (5 - nums.length)) return null;
  let n = tail;
  nums.slice(0, -1).forEach((v, i) => {
    n += v * 256 ** (3 - i);
  });
  const bytes = new Uint8Array(4);
  for (let i = 3; i >= 0; i--) {
    bytes[i] = n % 256;
    n = Math.floor(n / 256);
  }
  return { family: 4, bytes };
}

/** IPv6 text (brackets and a `%zone` allowed) to bytes; `null` when it is not IPv6. */
export function parseIpv6(text: string): IpAddress | null {
  let t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  if (!isIPv6(t)) return null;
  const groups: number[] = [];
  const expand = (side: string): number[] => {
    if (side === '') return [];
    const out: number[] = [];
    for (const g of side.split(':')) {
      if (g.includes('.')) {
        const v4 = g.split('.').map(Number);
        out.push(v4[0]! * 256 + v4[1]!, v4[2]! * 256 + v4[3]!);
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const gap = t.indexOf('::');
  if (gap >= 0) {
    const head = expand(t.slice(0, gap));
    const tail = expand(t.slice(gap + 2));
    groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else groups.push(...expand(t));
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return { family: 6, bytes };
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

const MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** `::ffff:a.b.c.d` is the IPv4 address a.b.c.d (a dual-stack socket connects to it over IPv4). */
function unmap(ip: IpAddress): IpAddress {
  if (ip.family === 6 && startsWith(ip.bytes, MAPPED)) return { family: 4, bytes: ip.bytes.slice(12) };
  return ip;
}

/**
 * The IPv4 address other IPv6 forms carry, which a tunnel or translator may lead to: IPv4-compatible
 * `::a.b.c.d` (deprecated), SIIT `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and `64:ff9b:1::/48`,
 * and 6to4 `2002:AABB:CCDD::`. Judged too, so none of them leads around a rule.
 */
export function embeddedIpv4(ip: IpAddress): IpAddress | null {
  if (ip.family !== 6) return null;
  const b = ip.bytes;
  const v4 = (at: number): IpAddress => ({ family: 4, bytes: b.slice(at, at + 4) });
  if (startsWith(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])) {
    // :: and ::1 are themselves, not 0.0.0.0 and 0.0.0.1.
    return b[12] === 0 && b[13] === 0 && b[14] === 0 ? null : v4(12);
  }
  if (startsWith(b, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0])) return v4(12);
  if (startsWith(b, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) return v4(12);
  if (startsWith(b, [0, 0x64, 0xff, 0x9b, 0, 1])) return v4(12);
  if (startsWith(b, [0x20, 0x02])) return v4(2);
  return null;
}

/** The canonical text of an address: dotted decimal, or RFC 5952 IPv6 (lower case, `::` once). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [...ip.bytes].join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(ip.bytes[i]! * 256 + ip.bytes[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export type NormalisedHost =
  | { readonly kind: 'ip'; readonly ip: IpAddress; readonly address: string }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'invalid' };

/**
 * A URL host, a resolver's answer or a configured address in canonical form: an IP address
 * (IPv4-mapped IPv6 becomes IPv4; every IPv4 spelling becomes dotted decimal) or a lower-case
 * name without its trailing dot.
 */
export function normaliseHost(host: string): NormalisedHost {
  const h = host.trim();
  if (h.startsWith('[') || h.includes(':')) {
    const v6 = parseIpv6(h);
    if (!v6) return { kind: 'invalid' };
    const ip = unmap(v6);
    return { kind: 'ip', ip, address: formatIp(ip) };
  }
  const v4 = parseIpv4(h);
  if (v4 === null) return { kind: 'invalid' };
  if (v4) return { kind: 'ip', ip: v4, address: formatIp(v4) };
  const name = h.toLowerCase().replace(/\.$/, '');
  if (name === '' || name.startsWith('.') || name.includes('..')) return { kind: 'invalid' };
  return { kind: 'name', name };
}

/** `[::1]` → `::1`; any spelling of an address → its canonical form; names lower-cased. */
export function bareHost(host: string): string {
  const n = normaliseHost(host);
  if (n.kind === 'ip') return n.address;
  if (n.kind === 'name') return n.name;
  return host.toLowerCase();
}

function isLoopbackOrUnspecified(ip: IpAddress): boolean {
  const b = ip.bytes;
  if (ip.family === 4) return b[0] === 127 || b[0] === 0;
  return b.slice(0, 15).every((x) => x === 0) && (b[15] === 0 || b[15] === 1);
}

/** RFC 6761: these names are the loopback interface and are never looked up. */
function isLocalhostName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost');
}

let interfaceCache: { at: number; addresses: Set<string> } | null = null;

/** This host's interface addresses (re-read at most every 5 s: pods get new addresses rarely). */
function interfaceAddresses(): Set<string> {
  const now = Date.now();
  if (interfaceCache && now - interfaceCache.at < 5000) return interfaceCache.addresses;
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) addresses.add(bareHost(i.address));
  }
  interfaceCache = { at: now, addresses };
  return addresses;
}

/** True when `ip` (any spelling) reaches this host: loopback, unspecified, or an interface address. */
export function isLocalAddress(ip: string): boolean {
  const n = normaliseHost(ip);
  if (n.kind !== 'ip') return false;
  const forms = [n.ip, embeddedIpv4(n.ip)].filter((x): x is IpAddress => x !== null);
  return forms.some((f) => isLoopbackOrUnspecified(f) || interfaceAddresses().has(formatIp(f)));
}

// --- rules -------------------------------------------------------------------------------------

/** Why an address is refused or allowed: the built-in categories, or the administrator's lists. */
export type RuleSource =
  | 'loopback'
  | 'unspecified'
  | 'this host'
  | 'link-local'
  | 'cloud metadata'
  | 'multicast'
  | 'reserved'
  | 'Kubernetes API'
  | 'allow list'
  | 'deny list';

export interface DestinationRule {
  readonly action: 'allow' | 'deny';
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
  readonly port: number | null;
  readonly source: RuleSource;
  /** The rule as written (for messages). */
  readonly text: string;
}

export class DestinationPolicyError extends Error {}

const BUILT_IN: readonly [string, RuleSource][] = [
  ['127.0.0.0/8', 'loopback'],
  ['::1/128', 'loopback'],
  ['0.0.0.0/8', 'unspecified'],
  ['::/128', 'unspecified'],
  ['169.254.0.0/16', 'link-local'],
  ['fe80::/10', 'link-local'],
  ['169.254.169.254/32', 'cloud metadata'],
  ['169.254.170.2/32', 'cloud metadata'],
  ['100.100.100.200/32', 'cloud metadata'],
  ['fd00:ec2::254/128', 'cloud metadata'],
  ['224.0.0.0/4', 'multicast'],
  ['ff00::/8', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
];

/**
 * An address rule: `ADDRESS[/PREFIX]` with an optional port, written `10.0.0.0/8`, `127.0.0.1:9000`,
 * `fd00::/8`, `[::1]:9000` or `[fd00::/8]:443`. IPv4 in dotted decimal only (no octal or hex
 * spellings in configuration); IPv4-mapped IPv6 is read as the IPv4 address. Bits beyond the
 * prefix must be zero, so a typo does not silently widen or move the range.
 */
export function parseRule(text: string, action: 'allow' | 'deny', source: RuleSource): DestinationRule {
  const t = text.trim();
  const bad = (why: string) => new DestinationPolicyError(`event destination rule "${text}": ${why}`);
  let body = t;
  let port: number | null = null;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (bracket) {
    body = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (!t.includes('::') && (t.match(/:/g) ?? []).length === 1) {
    const [h, p] = t.split(':');
    body = h!;
    if (!/^\d+$/.test(p!)) throw bad('the port must be a number');
    port = Number(p);
  }
  if (port !== null && !(Number.isInteger(port) && port >= 1 && port <= 65535))
    throw bad('the port must be 1-65535');
  const slash = body.indexOf('/');
  const addrText = slash >= 0 ? body.slice(0, slash) : body;
  let ip: IpAddress | null = null;
  if (addrText.includes(':')) ip = parseIpv6(addrText);
  else if (/^\d{1,3}(\.\d{1,3}){3}$/.test(addrText) && !/(^|\.)0\d/.test(addrText)) {
    ip = parseIpv4(addrText) ?? null;
  }
  if (!ip) {
    throw bad(
      /[a-z]/i.test(addrText) && !addrText.includes(':')
        ? 'give an IP address or CIDR, not a name (names are resolved when events are sent and judged by address)'
        : 'not an IP address in dotted decimal (IPv4) or IPv6 form',
    );
  }
  const width = ip.family === 4 ? 32 : 128;
  let prefix = width;
  if (slash >= 0) {
    const p = body.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > width) throw bad(`the prefix length must be 0-${width}`);
    prefix = Number(p);
  }
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8.
  if (ip.family === 6 && startsWith(ip.bytes, MAPPED) && prefix >= 96) {
    ip = unmap(ip);
    prefix -= 96;
  }
  for (let bit = prefix; bit < ip.bytes.length * 8; bit++) {
    if ((ip.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) {
      throw bad(`bits beyond /${prefix} are set; did you mean ${formatIp(mask(ip, prefix))}/${prefix}?`);
    }
  }
  return { action, family: ip.family, bytes: ip.bytes, prefix, port, source, text: t };
}

function mask(ip: IpAddress, prefix: number): IpAddress {
  const bytes = ip.bytes.slice();
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(1 << (7 - (bit & 7)));
  return { family: ip.family, bytes };
}

function ruleMatches(rule: DestinationRule, ip: IpAddress, port: number): boolean {
  if (rule.family !== ip.family) return false;
  if (rule.port !== null && rule.port !== port) return false;
  for (let bit = 0; bit < rule.prefix; bit++) {
    const i = bit >> 3;
    const m = 1 << (7 - (bit & 7));
    if ((rule.bytes[i]! & m) !== (ip.bytes[i]! & m)) return false;
  }
  return true;
}

/** Higher is more specific: prefix, then a port, then the administrator's rule, then deny. */
function rank(r: DestinationRule): number {
  const admin = r.source === 'allow list' || r.source === 'deny list';
  return r.prefix * 8 + (r.port !== null ? 4 : 0) + (admin ? 2 : 0) + (r.action === 'deny' ? 1 : 0);
}

export interface DestinationPolicyOptions {
  /** Rules that allow addresses the built-in rules refuse, e.g. `127.0.0.1:9000`, `169.254.10.0/24`. */
  readonly allow?: readonly string[];
  /** Rules that refuse more, e.g. `10.96.0.0/12` (the cluster's Services) or `0.0.0.0/0`. */
  readonly deny?: readonly string[];
  /**
   * The Kubernetes API server, `ADDRESS` or `ADDRESS:PORT` (names are ignored: give addresses).
   * Default: `$KUBERNETES_SERVICE_HOST` (the `kubernetes` Service's ClusterIP, all ports) when set.
   */
  readonly kubernetesApi?: readonly string[];
  /** Name resolution (default `dns.lookup`, every address); tests inject answers here. */
  readonly lookup?: (name: string) => Promise<readonly string[]>;
  /** Longest wait for a name to resolve (default 5000 ms). */
  readonly lookupTimeoutMs?: number;
}

/** Builds every rule of a policy; throws DestinationPolicyError naming the bad entry. */
export function policyRules(options: DestinationPolicyOptions = {}): DestinationRule[] {
  const rules = BUILT_IN.map(([cidr, source]) => parseRule(cidr, 'deny', source));
  const env = process.env.KUBERNETES_SERVICE_HOST;
  const api = options.kubernetesApi ?? (env ? [env] : []);
  for (const a of api) {
    const n = normaliseHost(a);
    if (n.kind === 'ip') {
      rules.push(parseRule(n.ip.family === 6 ? `[${n.address}]` : n.address, 'deny', 'Kubernetes API'));
      continue;
    }
    // ADDRESS:PORT and [ADDRESS]:PORT; a name is not an address rule.
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(a) ?? /^([^:]+):(\d+)$/.exec(a);
    const h = m ? normaliseHost(m[1]!) : null;
    if (m && h?.kind === 'ip') {
      const host = h.ip.family === 6 ? `[${h.address}]` : h.address;
      rules.push(parseRule(`${host}:${m[2]}`, 'deny', 'Kubernetes API'));
    }
  }
  for (const r of options.allow ?? []) rules.push(parseRule(r, 'allow', 'allow list'));
  for (const r of options.deny ?? []) rules.push(parseRule(r, 'deny', 'deny list'));
  return rules;
}

export type Verdict =
  | { readonly ok: true; readonly address: string; readonly addresses: readonly string[] }
  | {
      readonly ok: false;
      /** `self` and `policy` are final; `unresolved` may succeed later. */
      readonly kind: 'self' | 'policy' | 'unresolved';
      readonly reason: string;
    };

const defaultLookup = async (name: string): Promise<readonly string[]> =>
  (await dnsLookup(name, { all: true, verbatim: true })).map((a) => a.address);

/**
 * The service's own endpoints and the destination policy. One per Redfish service: the server
 * adds its listeners as it starts.
 */
export class DestinationGuard {
  readonly #ports = new Set<number>();
  readonly #extra = new Set<string>();
  readonly #rules: DestinationRule[];
  readonly #lookup: (name: string) => Promise<readonly string[]>;
  readonly #lookupTimeoutMs: number;

  constructor(options: DestinationPolicyOptions = {}) {
    this.#rules = policyRules(options);
    this.#lookup = options.lookup ?? defaultLookup;
    this.#lookupTimeoutMs = options.lookupTimeoutMs ?? 5000;
  }

  addListener(port: number): void {
    this.#ports.add(port);
  }

  removeListener(port: number): void {
    this.#ports.delete(port);
  }

  /** An address the service is reachable as besides its listeners, e.g. a Service `10.96.0.12:80`. */
  addEndpoint(hostPort: string): void {
    try {
      const u = new URL(`http://${hostPort}`);
      this.#extra.add(`${bareHost(u.hostname)} ${u.port || '80'}`);
    } catch {
      this.#extra.add(hostPort.toLowerCase());
    }
  }

  /** Is this canonical host (address or name) with this port one of the service's own endpoints? */
  #isSelf(host: string, port: number): boolean {
    if (this.#extra.has(`${host} ${port}`)) return true;
    if (!this.#ports.has(port)) return false;
    const n = normaliseHost(host);
    if (n.kind === 'name') return isLocalhostName(n.name);
    return n.kind === 'ip' && isLocalAddress(n.address);
  }

  /** The rule that decides for one address (the most specific); `null`: allowed by default. */
  ruleFor(ip: IpAddress, port: number): DestinationRule | null {
    let best: DestinationRule | null = null;
    const consider = (r: DestinationRule) => {
      if (ruleMatches(r, ip, port) && (!best || rank(r) > rank(best))) best = r;
    };
    for (const r of this.#rules) consider(r);
    // This host's interface addresses other than loopback (a pod's address is known only at run
    // time): a built-in deny rule for the address itself.
    const address = formatIp(ip);
    if (!isLoopbackOrUnspecified(ip) && interfaceAddresses().has(address)) {
      consider({
        action: 'deny',
        family: ip.family,
        bytes: ip.bytes,
        prefix: ip.bytes.length * 8,
        port: null,
        source: 'this host',
        text: address,
      });
    }
    return best;
  }

  /** The verdict on one resolved address (canonical form). */
  checkAddress(address: string, port: number): Verdict {
    const n = normaliseHost(address);
    if (n.kind !== 'ip') return { ok: false, kind: 'policy', reason: `${address} is not an IP address` };
    if (this.#isSelf(n.address, port)) {
      return { ok: false, kind: 'self', reason: 'the destination is this Redfish service itself' };
    }
    const forms = [n.ip, embeddedIpv4(n.ip)].filter((x): x is IpAddress => x !== null);
    for (const f of forms) {
      if (f !== n.ip && this.#isSelf(formatIp(f), port)) {
        return { ok: false, kind: 'self', reason: 'the destination is this Redfish service itself' };
      }
      const rule = this.ruleFor(f, port);
      if (rule?.action === 'deny') {
        const why = rule.source === 'deny list' ? `the deny list (${rule.text})` : `${rule.source} addresses`;
        return {
          ok: false,
          kind: 'policy',
          reason: `events are not delivered to ${why} (${formatIp(f)})`,
        };
      }
    }
    return { ok: true, address: n.address, addresses: [n.address] };
  }

  /**
   * Judges a destination URL: its host if it is an address, else every address the name
   * resolves to now (all must pass). On success, `address` is the one to connect to.
   */
  async check(url: URL): Promise<Verdict> {
    const n = normaliseHost(url.hostname);
    const port = portOf(url);
    if (n.kind === 'invalid') return { ok: false, kind: 'policy', reason: 'the host is not valid' };
    if (n.kind === 'ip') return this.checkAddress(n.address, port);
    if (this.#isSelf(n.name, port)) {
      return { ok: false, kind: 'self', reason: 'the destination is this Redfish service itself' };
    }
    let answers: readonly string[];
    if (isLocalhostName(n.name)) answers = ['127.0.0.1', '::1'];
    else {
      try {
        answers = await this.#resolve(n.name);
      } catch (err) {
        return {
          ok: false,
          kind: 'unresolved',
          reason: `cannot resolve ${n.name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        };
      }
    }
    const addresses: string[] = [];
    for (const a of answers) {
      const v = this.checkAddress(a, port);
      if (!v.ok) {
        return v.kind === 'self'
          ? { ok: false, kind: 'self', reason: 'the destination resolves to this Redfish service' }
          : { ...v, reason: `${n.name} resolves to a refused address: ${v.reason}` };
      }
      addresses.push(v.address);
    }
    if (addresses.length === 0) return { ok: false, kind: 'unresolved', reason: `${n.name} has no address` };
    return { ok: true, address: addresses[0]!, addresses };
  }

  #resolve(name: string): Promise<readonly string[]> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' })),
        this.#lookupTimeoutMs,
      );
      this.#lookup(name).then(
        (a) => {
          clearTimeout(t);
          resolve(a);
        },
        (err: unknown) => {
          clearTimeout(t);
          reject(err);
        },
      );
    });
  }
}

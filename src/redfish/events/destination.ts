import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Where events may go. Destinations are `http://` or `https://` URLs without credentials (those go
 * in `HttpHeaders`), and never the service's own listeners: a subscription pointing at the BMC
 * itself would make every event a request to the BMC (a loop, and a way to make the BMC call its
 * own API). Checked when a subscription is created (literal addresses and `localhost`) and again at
 * every delivery, on the address the name resolved to (so DNS cannot point a name back at us later).
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

/** `[::1]` → `::1`; IPv4-mapped IPv6 → IPv4. */
export function bareHost(host: string): string {
  let h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(h);
  if (mapped) h = mapped[1]!;
  return h.toLowerCase();
}

function isLoopbackOrUnspecified(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip === '0.0.0.0' || ip === '::';
}

/** True when `ip` is an address of this host. */
export function isLocalAddress(ip: string): boolean {
  const a = bareHost(ip);
  if (isLoopbackOrUnspecified(a)) return true;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (bareHost(i.address) === a) return true;
  }
  return false;
}

/** The service's own endpoints: its listeners and any extra `host:port` it is reachable as. */
export class SelfGuard {
  readonly #ports = new Set<number>();
  readonly #extra = new Set<string>();

  addListener(port: number): void {
    this.#ports.add(port);
  }

  removeListener(port: number): void {
    this.#ports.delete(port);
  }

  /** An address the service is reachable as besides its listeners, e.g. a Service `10.96.0.12:80`. */
  addEndpoint(hostPort: string): void {
    this.#extra.add(hostPort.toLowerCase());
  }

  /** Before any DNS: is this host (name or literal) and port one of ours? */
  isSelfHost(host: string, port: number): boolean {
    const h = bareHost(host);
    if (this.#extra.has(`${h}:${port}`) || this.#extra.has(`[${h}]:${port}`)) return true;
    if (!this.#ports.has(port)) return false;
    if (h === 'localhost' || h.endsWith('.localhost')) return true;
    return isIP(h) !== 0 && isLocalAddress(h);
  }

  /** Resolves `url`'s host and returns the address to connect to, or a reason to refuse. */
  async resolve(
    url: URL,
  ): Promise<{ ok: true; address: string } | { ok: false; reason: string; permanent: boolean }> {
    const host = bareHost(url.hostname);
    const port = portOf(url);
    if (this.isSelfHost(host, port))
      return { ok: false, reason: 'the destination is this service', permanent: true };
    let address = host;
    if (isIP(host) === 0) {
      try {
        address = (await lookup(host)).address;
      } catch (err) {
        return {
          ok: false,
          reason: `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
          permanent: false,
        };
      }
      if (this.isSelfHost(address, port))
        return { ok: false, reason: 'the destination resolves to this service', permanent: true };
    }
    return { ok: true, address };
  }
}

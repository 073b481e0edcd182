/**
 * How a virtual-media DataVolume fits the cluster: per-BMC storage and TLS settings
 * (`spec.redfish.virtualMedia` of the VirtualMachineBMC), the claim size from the image's
 * `Content-Length` (a HEAD request from the agent), and when CDI's retried import errors count as a
 * failed insert. Facts about CDI are cited in docs/kubevirt.md ("CDI import errors and claims").
 */
import http from 'node:http';
import https from 'node:https';
import { parseQuantity } from '../kube/quantity.ts';

/** `spec.redfish.virtualMedia` of a VirtualMachineBMC, as the agent uses it. All optional. */
export interface MediaSettings {
  readonly storage?: {
    /** The StorageClass of the claim; CDI's default class when omitted. */
    readonly storageClassName?: string;
    readonly volumeMode?: 'Filesystem' | 'Block';
    /** E.g. `[ReadWriteOnce]`; CDI takes them from the class's StorageProfile when omitted. */
    readonly accessModes?: readonly string[];
    /** The claim size when the image server does not tell the image size (default 4Gi). */
    readonly size?: string;
    /** The largest claim an insert may ask for (default 64Gi); a larger image is refused. */
    readonly maxSize?: string;
  };
  readonly tls?: {
    /** A ConfigMap, in the VM's namespace, whose values are PEM CAs trusted for HTTPS images (CDI `certConfigMap`). */
    readonly certConfigMap?: string;
    /** Do not verify the image server's certificate (CDI `insecureSkipVerify`, CDI v1.64.0 and later). */
    readonly insecureSkipVerify?: boolean;
  };
  /** Importer restarts after which a repeated import error fails the insert (default 3, 1-20). */
  readonly importRetries?: number;
}

export const DEFAULT_MEDIA_SIZE = '4Gi';
export const DEFAULT_MEDIA_MAX_SIZE = '64Gi';
export const DEFAULT_IMPORT_RETRIES = 3;
/** CDI's default filesystem overhead (6 % since v1.63.0, 5.5 % before): we add the larger. */
export const FILESYSTEM_OVERHEAD = 0.06;
/** Room on top of the overhead: the filesystem's own metadata and rounding. */
export const SIZE_MARGIN_BYTES = 64 * 1024 * 1024;
/** The HEAD request: bounded in time and redirects. */
export const HEAD_TIMEOUT_MS = 5_000;
export const HEAD_MAX_REDIRECTS = 5;

const MIB = 1024 * 1024;
/** A Kubernetes quantity ("4Gi", "1500M", "3221225472") in bytes, or null when not one. */
export function quantityBytes(q: string | undefined): number | null {
  const v = parseQuantity(typeof q === 'string' ? q : q === undefined ? undefined : String(q));
  return v === null || v < 0 ? null : Math.ceil(v);
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/**
 * The claim for an image of `imageBytes` (null: unknown): the image plus CDI's filesystem overhead
 * plus `SIZE_MARGIN_BYTES`, rounded up to a MiB, as `<n>Mi`; the configured size when unknown.
 * Throws `TooLarge` when that exceeds the configured maximum.
 */
export function claimSize(imageBytes: number | null, settings: MediaSettings | undefined): string {
  const fallback = settings?.storage?.size ?? DEFAULT_MEDIA_SIZE;
  const maxText = settings?.storage?.maxSize ?? DEFAULT_MEDIA_MAX_SIZE;
  const max = quantityBytes(maxText) ?? (quantityBytes(DEFAULT_MEDIA_MAX_SIZE) as number);
  if (imageBytes === null) return fallback;
  const bytes = Math.ceil((imageBytes * (1 + FILESYSTEM_OVERHEAD) + SIZE_MARGIN_BYTES) / MIB) * MIB;
  if (bytes > max) {
    throw new TooLarge(
      `The image is ${gib(imageBytes)} (its Content-Length); with room for the filesystem it needs a ${gib(bytes)} volume, more than this BMC allows for virtual media (${maxText}, spec.redfish.virtualMedia.storage.maxSize).`,
    );
  }
  return `${bytes / MIB}Mi`;
}

export class TooLarge extends Error {}

/**
 * Names that never reach an image server (RFC 2606, RFC 6761: `invalid` never resolves; `example`,
 * `example.com`, `.net` and `.org` are for documentation): no request, not even a name lookup.
 */
function reservedHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return ['invalid', 'example', 'example.com', 'example.net', 'example.org'].some(
    (d) => h === d || h.endsWith(`.${d}`),
  );
}

export interface HeadOptions {
  /** Sent only to the URL's own host (never after a redirect to another one). */
  readonly credentials?: { user: string; password: string } | null;
  readonly insecureSkipVerify?: boolean;
  readonly timeoutMs?: number;
  readonly maxRedirects?: number;
}

/**
 * The image size from a HEAD request (`Content-Length` of a 200 answer), following at most
 * `maxRedirects` redirects, within `timeoutMs` in all; null when the server does not say, refuses,
 * or cannot be reached (CDI's importer then reports the real error). The body is never read. HTTPS
 * is verified against the system CAs (the agent does not read the `certConfigMap`), unless
 * `insecureSkipVerify`: an image server with a private CA is then sized by the fallback size.
 */
export async function headContentLength(url: string, o: HeadOptions = {}): Promise<number | null> {
  const deadline = Date.now() + (o.timeoutMs ?? HEAD_TIMEOUT_MS);
  const origin = new URL(url).host;
  if (reservedHost(new URL(url).hostname)) return null;
  let current = url;
  for (let hop = 0; hop <= (o.maxRedirects ?? HEAD_MAX_REDIRECTS); hop++) {
    const left = deadline - Date.now();
    if (left <= 0) return null;
    let u: URL;
    try {
      u = new URL(current);
    } catch {
      return null;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    const auth =
      o.credentials && u.host === origin
        ? {
            Authorization: `Basic ${Buffer.from(`${o.credentials.user}:${o.credentials.password}`).toString('base64')}`,
          }
        : {};
    const res = await new Promise<{ status: number; location?: string; length?: string } | null>(
      (resolve) => {
        const req = (u.protocol === 'https:' ? https : http).request(
          u,
          {
            method: 'HEAD',
            timeout: left,
            agent: false,
            headers: { 'User-Agent': 'kubevirtbmc', ...auth },
            ...(u.protocol === 'https:' ? { rejectUnauthorized: o.insecureSkipVerify !== true } : {}),
          },
          (r) => {
            resolve({
              status: r.statusCode ?? 0,
              ...(r.headers.location ? { location: r.headers.location } : {}),
              ...(r.headers['content-length'] !== undefined ? { length: r.headers['content-length'] } : {}),
            });
            r.destroy();
          },
        );
        const timer = setTimeout(() => req.destroy(), left);
        timer.unref();
        req.on('close', () => clearTimeout(timer));
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(null));
        req.end();
      },
    );
    if (!res) return null;
    if ([301, 302, 303, 307, 308].includes(res.status) && res.location) {
      current = new URL(res.location, current).toString();
      continue;
    }
    if (res.status !== 200 || res.length === undefined || !/^\d+$/.test(res.length)) return null;
    const n = Number(res.length);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * `spec.redfish.virtualMedia` of a VirtualMachineBMC object as settings: the fields of the right
 * type (the CRD schema validates them; an object that bypassed it loses the bad ones), or
 * undefined when there are none.
 */
export function parseMediaSettings(raw: unknown, upstreamStorageClass?: unknown): MediaSettings | undefined {
  // upstream KubeVirtBMC's spec.storageClassName: used when storage.storageClassName is not set
  if (str(upstreamStorageClass) && (!raw || typeof raw !== 'object')) raw = {};
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, Record<string, unknown> | undefined>;
  const st: Record<string, unknown> = {
    ...(str(upstreamStorageClass) ? { storageClassName: upstreamStorageClass } : {}),
    ...(r.storage && typeof r.storage === 'object' ? r.storage : {}),
  };
  const tl = r.tls && typeof r.tls === 'object' ? r.tls : {};
  const modes = Array.isArray(st.accessModes)
    ? st.accessModes.filter((m): m is string => typeof m === 'string')
    : [];
  const volumeMode: 'Block' | 'Filesystem' | undefined =
    st.volumeMode === 'Block' || st.volumeMode === 'Filesystem' ? st.volumeMode : undefined;
  const storage = {
    ...(str(st.storageClassName) ? { storageClassName: str(st.storageClassName) } : {}),
    ...(volumeMode ? { volumeMode } : {}),
    ...(modes.length ? { accessModes: modes } : {}),
    ...(quantityBytes(str(st.size)) ? { size: str(st.size) } : {}),
    ...(quantityBytes(str(st.maxSize)) ? { maxSize: str(st.maxSize) } : {}),
  };
  const tls = {
    // caBundleConfigMapRef: upstream KubeVirtBMC's spelling of certConfigMap
    ...(str(tl.certConfigMap) || str((tl.caBundleConfigMapRef as { name?: unknown } | undefined)?.name)
      ? {
          certConfigMap:
            str(tl.certConfigMap) ?? str((tl.caBundleConfigMapRef as { name?: unknown } | undefined)?.name),
        }
      : {}),
    ...(tl.insecureSkipVerify === true ? { insecureSkipVerify: true } : {}),
  };
  const retries = (raw as { importRetries?: unknown }).importRetries;
  const out: MediaSettings = {
    ...(Object.keys(storage).length ? { storage } : {}),
    ...(Object.keys(tls).length ? { tls } : {}),
    ...(typeof retries === 'number' && Number.isInteger(retries) && retries >= 1 && retries <= 20
      ? { importRetries: retries }
      : {}),
  };
  return Object.keys(out).length ? out : undefined;
}

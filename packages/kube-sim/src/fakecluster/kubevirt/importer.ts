/**
 * The fake CDI importer's look at an image URL, for loopback URLs only (a test's own server): what
 * CDI's importer does before it copies (pkg/importer/http-datasource.go `createHTTPReader`, v1.66.0):
 * a GET following up to 10 redirects (Go's http.Client default), status 200 required, the server
 * certificate checked against the system CAs plus those of the DataVolume's `certConfigMap`, or not
 * at all with `insecureSkipVerify`. The error texts are the importer's termination messages
 * (`errorCannotConnectDataSource`: "Unable to connect to http data source: …" around Go's errors).
 * The body is never read: only the status and `Content-Length` matter here.
 */
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { ImportProbe } from './logic.ts';

const MAX_REDIRECTS = 10;
const TIMEOUT_MS = 10_000;
const PREFIX = 'Unable to connect to http data source: ';

export interface FetchOptions {
  /** PEM CAs trusted besides the system ones (the certConfigMap's values). */
  readonly ca?: readonly string[];
  readonly insecure?: boolean;
}

function goError(url: string, err: NodeJS.ErrnoException): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const where = `${u.hostname.replace(/^\[|\]$/g, '')}:${port}`;
  let cause: string;
  switch (err.code) {
    case 'ECONNREFUSED':
      cause = `dial tcp ${where}: connect: connection refused`;
      break;
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      cause = 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
      break;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      cause = `tls: failed to verify certificate: x509: certificate is valid for other names, not ${u.hostname}`;
      break;
    case 'CERT_HAS_EXPIRED':
      cause = 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
      break;
    case 'ETIMEDOUT':
      cause = 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)';
      break;
    default:
      cause = err.message;
  }
  return `${PREFIX}HTTP request errored: Get "${url}": ${cause}`;
}

function getOnce(
  url: string,
  options: FetchOptions,
): Promise<{ status: number; statusText: string; location?: string; length: number | null }> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      {
        method: 'GET',
        timeout: TIMEOUT_MS,
        headers: { 'User-Agent': 'cdi-golang-importer' },
        ...(u.protocol === 'https:'
          ? {
              rejectUnauthorized: !options.insecure,
              ...(options.ca ? { ca: [...rootCertificates, ...options.ca] } : {}),
            }
          : {}),
      },
      (res) => {
        const length = Number(res.headers['content-length']);
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          ...(res.headers.location ? { location: res.headers.location } : {}),
          length: Number.isFinite(length) && res.headers['content-length'] !== undefined ? length : null,
        });
        res.destroy();
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

/** What the importer finds at `url`: its size, or the error its pod terminates with. */
export async function fetchImage(url: string, options: FetchOptions = {}): Promise<ImportProbe> {
  let current = url;
  for (let hop = 0; ; hop++) {
    let res: Awaited<ReturnType<typeof getOnce>>;
    try {
      res = await getOnce(current, options);
    } catch (err) {
      return { error: goError(current, err as NodeJS.ErrnoException) };
    }
    if ([301, 302, 303, 307, 308].includes(res.status) && res.location) {
      if (hop + 1 >= MAX_REDIRECTS) {
        return { error: `${PREFIX}HTTP request errored: Get "${res.location}": stopped after 10 redirects` };
      }
      current = new URL(res.location, current).toString();
      continue;
    }
    if (res.status !== 200) {
      return {
        error: `${PREFIX}expected status code 200, got ${res.status}. Status: ${res.status} ${res.statusText}`,
      };
    }
    return { size: res.length };
  }
}

/**
 * The fake virt-api's HTTPS server on 127.0.0.1: the admission webhooks (called by kube-apiserver,
 * which presents no client certificate to webhooks), and `subresources.kubevirt.io` as an
 * aggregated API server. Aggregated requests must come from the API server's front proxy: a client
 * certificate signed by the requestheader CA with an allowed common name, the user in
 * X-Remote-User and groups in X-Remote-Group (kube-apiserver has already authenticated the caller
 * and authorized `subresources.kubevirt.io` `virtualmachines/start` etc.; virt-api does not check
 * RBAC again). Anything else gets 401.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { readBody } from '../http-body.ts';
import { reviewAdmission, WEBHOOK_PATHS } from './admission.ts';
import type { FeatureGates } from './feature-gates.ts';
import type { VirtApi } from './virt-api.ts';

export interface FrontProxy {
  readonly caCert: string;
  readonly allowedNames: readonly string[];
  readonly usernameHeader: string;
  readonly groupHeader: string;
  readonly extraHeaderPrefix?: string;
}

export interface AggregatedUser {
  name: string;
  groups: string[];
}

export interface VirtApiRequest {
  method: string;
  path: string;
  /** The user the API server forwarded (undefined for webhooks and refused requests). */
  user?: string;
  groups?: string[];
  status: number;
}

function headerValues(req: IncomingMessage, name: string): string[] {
  const v = req.headersDistinct[name.toLowerCase()];
  return (v ?? []).flatMap((x) => x.split(',').map((s) => s.trim())).filter(Boolean);
}

/** The user of a request proxied by kube-apiserver's aggregator, or undefined when it is not one. */
export function aggregatedUser(req: IncomingMessage, fp: FrontProxy): AggregatedUser | undefined {
  const socket = req.socket as TLSSocket;
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  const cns = Array.isArray(cn) ? cn : cn ? [cn] : [];
  if (fp.allowedNames.length && !cns.some((c) => fp.allowedNames.includes(c))) return undefined;
  const name = req.headersDistinct[fp.usernameHeader.toLowerCase()]?.[0];
  if (!name) return undefined;
  return { name, groups: headerValues(req, fp.groupHeader) };
}

function unauthorized(): { status: number; body: object } {
  return {
    status: 401,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export interface VirtApiServerOptions {
  cert: string;
  key: string;
  frontProxy: FrontProxy;
  api: VirtApi;
  /** The feature gates of the KubeVirt CR now (the webhooks' answers depend on them). */
  gates?: () => FeatureGates;
  logger?: { warn(obj: object, msg: string): void };
  /** Keeps the last requests (default 500) for `requests()`. */
  keep?: number;
}

export interface VirtApiServer {
  readonly port: number;
  requests(): readonly VirtApiRequest[];
  close(): Promise<void>;
}

export async function startVirtApiServer(options: VirtApiServerOptions): Promise<VirtApiServer> {
  const { frontProxy: fp, api } = options;
  const log: VirtApiRequest[] = [];
  const keep = options.keep ?? 500;
  const record = (r: VirtApiRequest) => {
    log.push(r);
    if (log.length > keep) log.shift();
  };
  const server = https.createServer(
    {
      cert: options.cert,
      key: options.key,
      ca: fp.caCert,
      requestCert: true,
      rejectUnauthorized: false,
      // the aggregator speaks HTTP/1.1 to us; websocket upgrades need it anyway
      ALPNProtocols: ['http/1.1'],
    },
    (req, res) => {
      const path = new URL(req.url ?? '/', 'https://x').pathname;
      const method = req.method ?? 'GET';
      void (async () => {
        try {
          if (path === '/healthz' || path === '/readyz' || path === '/livez') {
            res.writeHead(200, { 'Content-Type': 'text/plain' });
            res.end('ok');
            return;
          }
          if (method === 'POST' && WEBHOOK_PATHS[path]) {
            let review: unknown;
            try {
              review = JSON.parse(
                (await readBody(req, 8 << 20, () => new Error('request body too large'))).toString('utf8'),
              );
            } catch {
              send(res, 400, { message: 'the body is not an AdmissionReview' });
              record({ method, path, status: 400 });
              return;
            }
            send(res, 200, reviewAdmission(path, review as Record<string, unknown>, options.gates?.()));
            record({ method, path, status: 200 });
            return;
          }
          const user = aggregatedUser(req, fp);
          if (!user) {
            const u = unauthorized();
            send(res, u.status, u.body);
            record({ method, path, status: 401 });
            return;
          }
          await api.handle(req, res);
          record({ method, path, user: user.name, groups: user.groups, status: res.statusCode });
        } catch (err) {
          options.logger?.warn({ path, err: String(err) }, 'fake virt-api: request failed');
          if (!res.headersSent) send(res, 500, { message: String(err) });
          else res.destroy();
        }
      })();
    },
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    const user = aggregatedUser(req, fp);
    if (!user) {
      const text = JSON.stringify(unauthorized().body);
      socket.end(
        `HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
      record({ method: 'GET', path, status: 401 });
      return;
    }
    void api
      .upgrade(req, socket, head)
      .then((status) => record({ method: 'GET', path, user: user.name, groups: user.groups, status }));
  });
  server.on('tlsClientError', () => {
    // a client that gave up during the handshake
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    requests: () => [...log],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

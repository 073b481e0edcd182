/**
 * The fake kubelet's HTTPS API on 127.0.0.1, the part kube-apiserver proxies `pods/log` to
 * (`GET /containerLogs/{namespace}/{pod}/{container}` with follow, previous, tailLines,
 * limitBytes, sinceSeconds, sinceTime, timestamps), so `kubectl logs` works through a real API
 * server. Found on kube-apiserver v1.37: it reaches the kubelet at the Node's InternalIP
 * (127.0.0.1 is accepted) and `daemonEndpoints.kubeletEndpoint.Port` over HTTPS, presenting its
 * `--kubelet-client-certificate`, and without `--kubelet-certificate-authority` it does not verify
 * the kubelet's certificate; so a self-signed serving certificate (made with `openssl`) does.
 *
 * Clients authenticate with a client certificate signed by the cluster CA (the `ca.crt` of the
 * `kube-root-ca.crt` ConfigMap, which kube-controller-manager publishes; kube-apiserver's kubelet
 * client certificate is signed by it in our control plane). When that CA cannot be read, any
 * client certificate is accepted (the server only listens on 127.0.0.1). There is no authorization
 * (a real kubelet asks the API server with a SubjectAccessReview), and no exec, attach,
 * port-forward, metrics or stats.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { KubeClient } from '../../../../../src/kube/client.ts';
import type { Kubelet } from './kubelet.ts';
import type { LogQuery } from './logs.ts';
import type { Logger } from './types.ts';

export interface KubeletServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A self-signed serving certificate for 127.0.0.1 and the node name, in dir (cert.pem, key.pem). */
function selfSigned(dir: string, nodeName: string): { cert: Buffer; key: Buffer } {
  const key = join(dir, 'kubelet.key');
  const cert = join(dir, 'kubelet.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '365',
      '-subj',
      `/CN=${nodeName}`,
      '-addext',
      `subjectAltName=IP:127.0.0.1,DNS:${nodeName}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

/** The cluster CA as published for pods, or undefined. */
async function clusterCa(client: KubeClient, waitMs: number): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    for (const ns of ['kube-public', 'default', 'kube-system']) {
      try {
        const cm = await client.request<{ data?: Record<string, string> }>(
          'GET',
          `/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`,
        );
        if (cm.data?.['ca.crt']) return cm.data['ca.crt'];
      } catch {
        // not there (yet)
      }
    }
    // kube-controller-manager publishes it shortly after it starts
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The query of a `pods/log` or `containerLogs` request, as the kubelet reads it. */
export function logQuery(params: URLSearchParams): LogQuery & { follow: boolean; previous: boolean } {
  const u = { searchParams: params };
  const num = (k: string) => {
    const v = u.searchParams.get(k);
    return v === null || v === '' || !/^-?\d+$/.test(v) ? undefined : Number(v);
  };
  const bool = (k: string) => ['true', '1'].includes(u.searchParams.get(k) ?? '');
  const q: LogQuery & { follow: boolean; previous: boolean } = {
    follow: bool('follow'),
    previous: bool('previous'),
    timestamps: bool('timestamps'),
  };
  const tail = num('tailLines');
  if (tail !== undefined) q.tailLines = tail;
  const limit = num('limitBytes');
  if (limit !== undefined) q.limitBytes = limit;
  const since = num('sinceSeconds');
  const sinceTime = u.searchParams.get('sinceTime');
  if (since !== undefined) q.sinceMs = Date.now() - since * 1000;
  else if (sinceTime && !Number.isNaN(Date.parse(sinceTime))) q.sinceMs = Date.parse(sinceTime);
  return q;
}

export async function startKubeletServer(opts: {
  client: KubeClient;
  kubelet: Kubelet;
  nodeName: string;
  dir: string;
  logger?: Logger;
}): Promise<KubeletServer> {
  const { cert, key } = selfSigned(opts.dir, opts.nodeName);
  const ca = await clusterCa(opts.client, 3000);
  if (!ca)
    opts.logger?.warn(
      { node: opts.nodeName },
      'fake kubelet API: cannot read the cluster CA (kube-root-ca.crt); any client certificate is accepted',
    );
  const server = https.createServer(
    { cert, key, requestCert: true, rejectUnauthorized: !!ca, ...(ca ? { ca } : {}) },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      if (!ca && !socket.getPeerCertificate()?.subject) {
        res.writeHead(401, { 'Content-Type': 'text/plain' }).end('Unauthorized\n');
        return;
      }
      const u = new URL(req.url ?? '/', 'https://kubelet');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET' }).end('Method Not Allowed\n');
        return;
      }
      if (u.pathname === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
        return;
      }
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(u.pathname);
      if (!m) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n');
        return;
      }
      const [ns, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
      const q = logQuery(u.searchParams);
      const buf = opts.kubelet.logBuffer(ns, pod, container, q.previous);
      if (!('text' in buf)) {
        res.writeHead(buf.status, { 'Content-Type': 'text/plain' }).end(`${buf.message}\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache' });
      res.write(buf.text(q));
      if (!q.follow || buf.closed || req.method === 'HEAD') {
        res.end();
        return;
      }
      let sent = 0;
      const unsubscribe = buf.follow(q.timestamps, (line) => {
        if (line !== null) sent += Buffer.byteLength(line);
        if (line === null || (q.limitBytes && sent > q.limitBytes)) {
          unsubscribe();
          res.end();
        } else res.write(line);
      });
      res.on('close', () => unsubscribe());
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

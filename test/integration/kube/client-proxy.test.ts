// KubeClient through an HTTP proxy, against the real kube-apiserver: HTTPS_PROXY (with NO_PROXY as
// kubectl reads it) and a kubeconfig's proxy-url, which wins over them; HTTP/2 (one tunnel carrying
// requests and watches) and HTTP/1.1 (a tunnel per connection). The proxy is a small CONNECT proxy
// (test/support/connect-proxy.ts) that records each tunnel. The API server is reached by the names
// and addresses of its serving certificate (kubernetes.default.svc, 10.96.0.1): the proxy routes
// them to 127.0.0.1, and for requests that bypass it this process resolves kubernetes.default.svc
// to 127.0.0.1, as an /etc/hosts entry would.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RealCluster } from '../../../packages/kube-sim/src/fakecluster/index.ts';
import { KubeClient, type KubeClientOptions } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import { realOnly, startCluster } from '../../support/cluster.ts';
import { type ConnectProxy, startConnectProxy } from '../../support/connect-proxy.ts';
import { waitFor } from '../../support/wait.ts';

const NAME = 'kubernetes.default.svc';
const NS = 'proxied';
const CM = `/api/v1/namespaces/${NS}/configmaps`;

let cluster: RealCluster;
let apiPort: number;
let proxy: ConnectProxy;
let dir: string;
const lookup = dns.lookup;

/** A kubeconfig for the admin, straight to kube-apiserver at `server`. */
function kubeconfig(server: string, proxyUrl?: string): KubeConfigAccess {
  const path = join(dir, `kc-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
current-context: c
clusters:
- name: c
  cluster:
    server: ${server}
    certificate-authority-data: ${Buffer.from(cluster.controlPlane.caCert).toString('base64')}
${proxyUrl ? `    proxy-url: ${proxyUrl}\n` : ''}users:
- name: u
  user:
    token: ${cluster.controlPlane.adminToken}
contexts:
- name: c
  context:
    cluster: c
    user: u
`,
  );
  return KubeConfigAccess.fromFiles([path]);
}

/** A request, a list and a watch that sees an object created meanwhile. */
async function exercise(client: KubeClient, tag: string): Promise<void> {
  const version = await client.request<{ gitVersion: string }>('GET', '/version');
  assert.match(version.gitVersion, /^v1\./);
  const abort = new AbortController();
  const events: string[] = [];
  let answered = false;
  const onRequest = (method: string, _path: string, status: number) => {
    if (method === 'WATCH' && status === 200) answered = true;
  };
  client.onRequest(onRequest);
  const watch = client.stream(
    CM,
    { watch: 1, fieldSelector: `metadata.name=${tag}` },
    (ev) => events.push((ev as { type: string }).type),
    abort.signal,
  );
  await waitFor(() => answered, { timeoutMs: 15_000, what: `the watch of ${tag} answered` });
  await client.request('POST', CM, { body: { metadata: { name: tag } } });
  await waitFor(() => events.includes('ADDED'), { timeoutMs: 15_000, what: `ADDED ${tag} on the watch` });
  const list = await client.listAll<{ metadata: { name: string } }>(CM, { limit: 2 });
  assert.ok(list.items.some((i) => i.metadata.name === tag));
  abort.abort();
  await watch;
}

describe('through an HTTP proxy', { ...realOnly(), timeout: 180_000 }, () => {
  before(async () => {
    cluster = (await startCluster()) as RealCluster;
    apiPort = Number(new URL(cluster.controlPlane.url).port);
    dir = mkdtempSync(join(tmpdir(), 'kube-proxy-'));
    proxy = await startConnectProxy({ routes: { [NAME]: '127.0.0.1', '10.96.0.1': '127.0.0.1' } });
    // kubernetes.default.svc → 127.0.0.1 for this process (what bypasses the proxy connects there)
    (dns as { lookup: unknown }).lookup = (host: string, options: unknown, callback?: unknown) => {
      if (host !== NAME) return (lookup as (...a: unknown[]) => void)(host, options, callback);
      const cb = (typeof options === 'function' ? options : callback) as (...a: unknown[]) => void;
      const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
      process.nextTick(() =>
        all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4),
      );
    };
    const admin = new KubeClient(kubeconfig(cluster.controlPlane.url), 'proxy-setup');
    await admin.request('POST', '/api/v1/namespaces', { body: { metadata: { name: NS } } });
    admin.close();
  });
  after(async () => {
    (dns as { lookup: unknown }).lookup = lookup;
    await proxy?.close();
    await cluster?.stop();
  });

  const named = () => `https://${NAME}:${apiPort}`;
  const client = (access: KubeConfigAccess, ua: string, options: KubeClientOptions = {}) =>
    new KubeClient(access, ua, options);
  const since = (n: number) => proxy.connects.slice(n);

  test('HTTPS_PROXY from the environment: HTTP/2 carries requests and the watch in one tunnel', async () => {
    const names = ['HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'];
    const saved = names.map((n) => process.env[n]);
    for (const n of names) delete process.env[n];
    process.env.HTTPS_PROXY = proxy.url;
    const n = proxy.connects.length;
    const c = client(kubeconfig(named()), 'proxy-env-h2');
    try {
      await exercise(c, 'env-h2');
      assert.deepEqual(since(n), [{ target: `${NAME}:${apiPort}`, status: 200 }]);
    } finally {
      c.close();
      for (const [i, name] of names.entries()) {
        const v = saved[i];
        if (v === undefined) delete process.env[name];
        else process.env[name] = v;
      }
    }
  });

  test('https_proxy (lower case) on the HTTP/1.1 path: the watch and the requests each tunnel', async () => {
    const n = proxy.connects.length;
    const c = client(kubeconfig(named()), 'proxy-env-h1', { http2: false, env: { https_proxy: proxy.url } });
    try {
      await exercise(c, 'env-h1');
      const tunnels = since(n);
      assert.ok(tunnels.length >= 2, `${tunnels.length} tunnels: the watch holds one, the requests another`);
      for (const t of tunnels) assert.deepEqual(t, { target: `${NAME}:${apiPort}`, status: 200 });
    } finally {
      c.close();
    }
  });

  test('NO_PROXY by host, domain suffix, parent domain and *: straight to the server, not the proxy', async () => {
    for (const noProxy of [
      NAME,
      '.svc',
      'default.svc',
      '*.default.svc',
      '*',
      `example.com, ${NAME}:${apiPort}`,
    ]) {
      for (const http2 of [true, false]) {
        const n = proxy.connects.length;
        const c = client(kubeconfig(named()), 'proxy-bypassed', {
          http2,
          env: { HTTPS_PROXY: proxy.url, NO_PROXY: noProxy },
        });
        try {
          await exercise(c, `bypass-${proxy.connects.length}-${http2 ? 'h2' : 'h1'}-${noProxy.length}`);
          assert.deepEqual(since(n), [], `NO_PROXY=${noProxy} (${http2 ? 'HTTP/2' : 'HTTP/1.1'})`);
        } finally {
          c.close();
        }
      }
    }
  });

  test('NO_PROXY entries that do not match (another domain, a port, a range) leave the proxy in use', async () => {
    const n = proxy.connects.length;
    const c = client(kubeconfig(named()), 'proxy-not-bypassed', {
      env: { HTTPS_PROXY: proxy.url, no_proxy: `.example.com,${NAME}:1,10.0.0.0/8,svc.local` },
    });
    try {
      await exercise(c, 'not-bypassed');
      assert.deepEqual(since(n), [{ target: `${NAME}:${apiPort}`, status: 200 }]);
    } finally {
      c.close();
    }
  });

  test('an address: proxied unless a CIDR in NO_PROXY covers it (then nothing reaches 10.96.0.1 here)', async () => {
    const n = proxy.connects.length;
    const viaProxy = client(kubeconfig(`https://10.96.0.1:${apiPort}`), 'proxy-ip', {
      env: { HTTPS_PROXY: proxy.url, NO_PROXY: '192.168.0.0/16' },
    });
    try {
      await exercise(viaProxy, 'by-address');
      assert.deepEqual(since(n), [{ target: `10.96.0.1:${apiPort}`, status: 200 }]);
    } finally {
      viaProxy.close();
    }
    const m = proxy.connects.length;
    const direct = client(kubeconfig(`https://10.96.0.1:${apiPort}`), 'proxy-ip-bypassed', {
      env: { HTTPS_PROXY: proxy.url, NO_PROXY: '10.96.0.0/12' },
    });
    try {
      await assert.rejects(direct.request('GET', '/version', { timeoutMs: 3000 }));
      assert.deepEqual(since(m), [], 'the proxy saw nothing');
    } finally {
      direct.close();
    }
  });

  test('a loopback server is never proxied from the environment (as kubectl)', async () => {
    const n = proxy.connects.length;
    const c = client(kubeconfig(cluster.controlPlane.url), 'proxy-loopback', {
      env: { HTTPS_PROXY: proxy.url },
    });
    try {
      await exercise(c, 'loopback');
      assert.deepEqual(since(n), []);
    } finally {
      c.close();
    }
  });

  test("a kubeconfig's proxy-url wins over HTTPS_PROXY and NO_PROXY, loopback included; its credentials are sent", async () => {
    const own = await startConnectProxy({ credentials: 'kube:s3cret' });
    const n = proxy.connects.length;
    const env = { HTTPS_PROXY: proxy.url, NO_PROXY: '*' };
    const proxyUrl = `http://kube:s3cret@127.0.0.1:${own.port}`;
    try {
      for (const http2 of [true, false]) {
        const c = client(kubeconfig(cluster.controlPlane.url, proxyUrl), 'proxy-url', { http2, env });
        try {
          await exercise(c, `proxy-url-${http2 ? 'h2' : 'h1'}`);
        } finally {
          c.close();
        }
      }
      assert.ok(own.connects.length >= 3, 'HTTP/2: one tunnel; HTTP/1.1: two or more');
      for (const t of own.connects)
        assert.deepEqual(t, {
          target: `127.0.0.1:${apiPort}`,
          auth: `Basic ${Buffer.from('kube:s3cret').toString('base64')}`,
          status: 200,
        });
      assert.deepEqual(since(n), [], 'the environment’s proxy saw nothing');
    } finally {
      await own.close();
    }
  });

  test('a proxy that refuses the tunnel: the error says so', async () => {
    const strict = await startConnectProxy({ credentials: 'someone:else' });
    try {
      for (const http2 of [true, false]) {
        const c = client(kubeconfig(named(), strict.url), 'proxy-refused', { http2 });
        try {
          await assert.rejects(c.request('GET', '/version', { timeoutMs: 5000 }), /407/);
        } finally {
          c.close();
        }
      }
      assert.deepEqual(
        strict.connects.map((t) => t.status),
        [407, 407],
      );
    } finally {
      await strict.close();
    }
  });
});

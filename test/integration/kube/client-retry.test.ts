// 429 Too Many Requests against the cluster (the real control plane when built, its fault proxy
// answering as kube-apiserver's priority-and-fairness does: 429, `Retry-After: 1`, a Status with
// retryAfterSeconds): reads, writes and watch starts are sent again after Retry-After, a bounded
// number of times, then the 429 surfaces. A small HTTPS server stands in for what the fault proxy
// cannot say: 503 with and without Retry-After, and Retry-After as an HTTP-date.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { selfSignedCert } from '../../../packages/kube-sim/src/embedded/tls.ts';
import { KubeApiError, KubeClient } from '../../../src/kube/client.ts';
import { type KubeAccess, KubeConfigAccess } from '../../../src/kube/config.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { waitFor } from '../../support/wait.ts';

const NS = 'retry';
const CM = `/api/v1/namespaces/${NS}/configmaps`;

let cluster: TestCluster;
let admin: KubeClient;

before(async () => {
  cluster = await startCluster();
  admin = new KubeClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), 'retry-setup');
  await admin.request('POST', '/api/v1/namespaces', { body: { metadata: { name: NS } } });
  await admin.request('POST', CM, { body: { metadata: { name: 'existing' }, data: { a: '1' } } });
});

after(async () => {
  admin?.close();
  await cluster?.stop();
});

/** A client whose answers are recorded with the time they came. */
function recordingClient(userAgent: string, options: ConstructorParameters<typeof KubeClient>[2] = {}) {
  const client = new KubeClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), userAgent, options);
  const seen: Array<{ method: string; status: number; at: number }> = [];
  client.onRequest((method, _path, status) => seen.push({ method, status, at: Date.now() }));
  return { client, seen };
}

const served = (userAgent: string) =>
  cluster.stats
    .requests()
    .filter((r) => r.userAgent === userAgent)
    .map((r) => `${r.verb} ${r.status}`);

describe('429 from the API server', { timeout: 120_000 }, () => {
  test('a read is sent again after Retry-After (1 s) until it is answered', async () => {
    const { client, seen } = recordingClient('retry-read');
    try {
      cluster.faults.failNext(2, 429, { path: /\/configmaps\/existing$/, method: 'GET' });
      const t0 = Date.now();
      const cm = await client.request<{ data: Record<string, string> }>('GET', `${CM}/existing`);
      assert.deepEqual(cm.data, { a: '1' });
      assert.deepEqual(
        seen.map((s) => s.status),
        [429, 429, 200],
      );
      // each attempt waited for the server's Retry-After: 1
      assert.ok(
        seen[1]!.at - seen[0]!.at >= 900,
        `second attempt ${seen[1]!.at - seen[0]!.at} ms after the first`,
      );
      assert.ok(seen[2]!.at - seen[1]!.at >= 900);
      assert.ok(Date.now() - t0 >= 1900);
      assert.deepEqual(served('retry-read'), ['get 429', 'get 429', 'get 200']);
    } finally {
      client.close();
    }
  });

  test('a write is sent again too (a 429 was not processed) and applied once', async () => {
    const { client, seen } = recordingClient('retry-write');
    try {
      cluster.faults.failNext(1, 429, { path: /\/configmaps$/, method: 'POST' });
      const created = await client.request<{ metadata: { name: string } }>('POST', CM, {
        body: { metadata: { name: 'written-after-429' }, data: { b: '2' } },
      });
      assert.equal(created.metadata.name, 'written-after-429');
      assert.deepEqual(
        seen.map((s) => `${s.method} ${s.status}`),
        ['POST 429', 'POST 201'],
      );
      assert.deepEqual(served('retry-write'), ['create 429', 'create 201']);
      const got = await admin.request<{ data: Record<string, string> }>('GET', `${CM}/written-after-429`);
      assert.deepEqual(got.data, { b: '2' });
    } finally {
      client.close();
    }
  });

  test('after the last allowed attempt the 429 surfaces as a KubeApiError with its Retry-After', async () => {
    const { client, seen } = recordingClient('retry-exhausted', { maxRetries: 2 });
    try {
      cluster.faults.failNext(3, 429, { path: /\/configmaps\/existing$/, method: 'GET' });
      await assert.rejects(client.request('GET', `${CM}/existing`), (err: unknown) => {
        assert.ok(err instanceof KubeApiError);
        assert.equal(err.code, 429);
        assert.equal(err.reason, 'TooManyRequests');
        assert.equal((err.details as { retryAfterSeconds?: number }).retryAfterSeconds, 1);
        return true;
      });
      assert.deepEqual(
        seen.map((s) => s.status),
        [429, 429, 429],
      );
      assert.deepEqual(served('retry-exhausted'), ['get 429', 'get 429', 'get 429']);
      // the faults are used up: the next request goes through
      await client.request('GET', `${CM}/existing`);
    } finally {
      client.close();
    }
  });

  test('a watch answered 429 is started again after Retry-After, and then delivers events', async () => {
    const { client, seen } = recordingClient('retry-watch');
    const abort = new AbortController();
    try {
      cluster.faults.failNext(2, 429, { path: /\/configmaps$/, method: 'GET' });
      const events: Array<{ type: string; object: { metadata: { name: string } } }> = [];
      const watch = client.stream(
        CM,
        { watch: 1, fieldSelector: 'metadata.name=watched-after-429' },
        (ev) => events.push(ev as (typeof events)[number]),
        abort.signal,
      );
      await waitFor(() => seen.some((s) => s.method === 'WATCH' && s.status === 200), {
        timeoutMs: 20_000,
        what: 'the watch answered 200',
      });
      assert.deepEqual(
        seen.map((s) => `${s.method} ${s.status}`),
        ['WATCH 429', 'WATCH 429', 'WATCH 200'],
      );
      assert.ok(seen[1]!.at - seen[0]!.at >= 900);
      await admin.request('POST', CM, { body: { metadata: { name: 'watched-after-429' } } });
      await waitFor(() => events.length > 0, { timeoutMs: 20_000, what: 'the ADDED event' });
      assert.equal(events[0]!.type, 'ADDED');
      assert.equal(events[0]!.object.metadata.name, 'watched-after-429');
      abort.abort();
      await watch;
      assert.deepEqual(served('retry-watch'), ['watch 429', 'watch 429', 'watch 200']);
    } finally {
      abort.abort();
      client.close();
    }
  });

  test('an abort while waiting for Retry-After ends the request at once', async () => {
    const { client } = recordingClient('retry-abort', { maxRetryAfterMs: 60_000 });
    try {
      cluster.faults.failNext(1, 429, { path: /\/configmaps\/existing$/, method: 'GET' });
      const abort = new AbortController();
      const t0 = Date.now();
      setTimeout(() => abort.abort(), 200);
      await assert.rejects(client.request('GET', `${CM}/existing`, { signal: abort.signal }), {
        name: 'AbortError',
      });
      assert.ok(Date.now() - t0 < 900, 'did not wait the whole Retry-After');
    } finally {
      client.close();
    }
  });
});

describe('503 and HTTP-date Retry-After (a small HTTPS server)', () => {
  const cert = selfSignedCert();
  let server: https.Server;
  let port: number;
  /** What each request to /x is answered with, in order; then 200. */
  let script: Array<{ status: number; headers?: Record<string, string> }> = [];
  const times: number[] = [];
  before(async () => {
    server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
      req.resume();
      times.push(Date.now());
      const next = script.shift();
      if (next) {
        res.writeHead(next.status, { 'Content-Type': 'application/json', ...next.headers });
        res.end(
          JSON.stringify({
            kind: 'Status',
            code: next.status,
            reason: 'ServiceUnavailable',
            message: 'busy',
          }),
        );
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const access = (): KubeAccess => ({
    getCurrentCluster: () => ({ server: `https://127.0.0.1:${port}` }),
    applyToHTTPSOptions: async (opts) => {
      opts.ca = cert.cert;
    },
  });

  test('503 with Retry-After is retried, for a POST too; without one it is not', async () => {
    const client = new KubeClient(access(), 'retry-503');
    try {
      times.length = 0;
      script = [{ status: 503, headers: { 'Retry-After': '1' } }];
      assert.deepEqual(await client.request('POST', '/x', { body: {} }), { ok: true });
      assert.equal(times.length, 2);
      assert.ok(times[1]! - times[0]! >= 900);

      times.length = 0;
      script = [{ status: 503 }];
      await assert.rejects(client.request('GET', '/x'), { code: 503 });
      assert.equal(times.length, 1);

      // another 5xx with Retry-After: reads only
      times.length = 0;
      script = [{ status: 500, headers: { 'Retry-After': '0' } }];
      assert.deepEqual(await client.request('GET', '/x'), { ok: true });
      script = [{ status: 500, headers: { 'Retry-After': '0' } }];
      await assert.rejects(client.request('POST', '/x', { body: {} }), { code: 500 });
      assert.equal(times.length, 3);
    } finally {
      client.close();
    }
  });

  test('Retry-After as an HTTP-date is waited for; a long one is capped', async () => {
    const client = new KubeClient(access(), 'retry-date', { maxRetryAfterMs: 1500 });
    try {
      times.length = 0;
      const in2s = new Date(Date.now() + 2500).toUTCString();
      script = [{ status: 429, headers: { 'Retry-After': in2s } }];
      await client.request('GET', '/x');
      assert.equal(times.length, 2);
      const waited = times[1]! - times[0]!;
      assert.ok(waited >= 1000, `waited ${waited} ms`);
      assert.ok(waited < 2400, `capped at 1.5 s, waited ${waited} ms`);

      times.length = 0;
      script = [{ status: 429, headers: { 'Retry-After': '3600' } }];
      await client.request('GET', '/x');
      assert.ok(times[1]! - times[0]! < 2400, 'an hour is capped too');
    } finally {
      client.close();
    }
  });
});

// KubeClient against the sim's HTTP/2 API port: many watches and requests over one TLS connection,
// faults that end the connection's watches, idle connections that must not hold a process, errors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { type SimCluster, startSimCluster } from '../../../packages/kube-sim/src/embedded/index.ts';
import { KubeApiError, KubeClient } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import { Informer, type WatchedObject } from '../../../src/kube/informer.ts';
import { waitFor } from '../../support/wait.ts';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const NS = 'default';
const CM = `/api/v1/namespaces/${NS}/configmaps`;

interface WatchEvent {
  type: string;
  object: { metadata: { name: string; resourceVersion?: string }; data?: Record<string, string> };
}

let cluster: SimCluster;

before(async () => {
  cluster = await startSimCluster({ timing: 'fast' });
});
after(async () => {
  await cluster?.stop();
});

const newClient = () => new KubeClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), 'h2-test');

/**
 * Opens `n` watches, each on one configmap (fieldSelector metadata.name), then creates and patches
 * each of those configmaps and reads one: every watch must see exactly its ADDED and MODIFIED.
 */
async function manyWatches(
  sim: SimCluster,
  n: number,
  prefix: string,
  whenOpen?: (opened: number) => Promise<void>,
): Promise<void> {
  const client = new KubeClient(KubeConfigAccess.fromFiles([sim.kubeconfigPath]), 'h2-test');
  sim.stats.reset();
  const opened = new Set<string>();
  client.onRequest((method, path, status) => {
    if (method === 'WATCH' && status === 200) opened.add(path);
  });
  let watchResponses = 0;
  client.onRequest((method, _path, status) => {
    if (method === 'WATCH' && status === 200) watchResponses++;
  });
  const abort = new AbortController();
  setMaxListeners(n + 1, abort.signal); // one signal stops every watch
  const seen: WatchEvent[][] = Array.from({ length: n }, () => []);
  const watches = seen.map((events, i) =>
    client.stream(
      CM,
      { watch: 1, fieldSelector: `metadata.name=${prefix}-${i}` },
      (ev) => events.push(ev as WatchEvent),
      abort.signal,
    ),
  );
  await waitFor(() => watchResponses === n, { timeoutMs: 20_000, what: 'every watch answered 200' });
  assert.equal(opened.size, 1, 'all watches are on the configmaps collection');
  await whenOpen?.(watchResponses);

  await Promise.all(
    seen.map((_, i) =>
      client.request('POST', CM, { body: { metadata: { name: `${prefix}-${i}` }, data: { n: String(i) } } }),
    ),
  );
  await Promise.all(
    seen.map((_, i) =>
      client.request('PATCH', `${CM}/${prefix}-${i}`, {
        body: { data: { n: String(i), patched: 'yes' } },
        contentType: 'application/merge-patch+json',
      }),
    ),
  );
  const got = await client.request<{ data: Record<string, string> }>('GET', `${CM}/${prefix}-7`);
  assert.deepEqual(got.data, { n: '7', patched: 'yes' });

  await waitFor(() => seen.every((events) => events.length >= 2), {
    timeoutMs: 20_000,
    what: 'ADDED and MODIFIED on every watch',
  });
  for (const [i, events] of seen.entries()) {
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.data?.patched ?? '-'}`),
      [`ADDED ${prefix}-${i} -`, `MODIFIED ${prefix}-${i} yes`],
    );
  }
  abort.abort();
  await Promise.all(watches);

  const served = sim.stats.requests().filter((r) => r.userAgent === 'h2-test');
  assert.equal(served.filter((r) => r.verb === 'watch').length, n);
  assert.equal(served.filter((r) => r.verb === 'create' && r.status === 201).length, n);
  assert.equal(served.filter((r) => r.verb === 'patch' && r.status === 200).length, n);
  assert.equal(client.requestCount, 3 * n + 1);
  client.close();
}

describe('KubeClient over HTTP/2 with the sim', () => {
  test('200 watches, creates, patches and gets share one TLS connection (ALPN h2); each watch sees only its object', async () => {
    // as a cluster run with --http2-max-streams-per-connection=1000
    const roomy = await startSimCluster({ timing: 'fast', http2MaxStreamsPerConnection: 1000 });
    try {
      await manyWatches(roomy, 200, 'roomy');
      assert.deepEqual(roomy.stats.connections(), [{ alpn: 'h2' }], 'one TLS connection, HTTP/2');
    } finally {
      await roomy.stop();
    }
  });

  test("at kube-apiserver's default of 100 streams per connection, 250 watches take 3 connections", async () => {
    cluster.stats.reset();
    await manyWatches(cluster, 250, 'dflt', async (opened) => {
      // every watch is open: 100 + 100 + 50 streams, before any other request was made
      assert.equal(opened, 250);
      assert.equal(cluster.stats.connections().length, 3);
    });
    // the creates and patches that found no room opened more connections, all HTTP/2
    assert.ok(cluster.stats.connections().every((c) => c.alpn === 'h2'));
  });

  test('errors keep their code over HTTP/2: 404, 403 (RBAC), 410 (on a request and on a watch)', async () => {
    const client = newClient();
    const notFound = await client.request('GET', `${CM}/no-such-map`).catch((e: unknown) => e);
    assert.ok(notFound instanceof KubeApiError);
    assert.equal(notFound.code, 404);
    assert.equal(notFound.reason, 'NotFound');
    assert.deepEqual(notFound.details?.name, 'no-such-map');

    await client.request('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, {
      body: { metadata: { name: 'h2-nobody' } },
    });
    const kc = new KubeConfig();
    kc.loadFromString(cluster.serviceAccountKubeconfig(NS, 'h2-nobody'));
    const limited = new KubeClient(kc);
    const forbidden = await limited.request('GET', `${CM}`).catch((e: unknown) => e);
    assert.ok(forbidden instanceof KubeApiError);
    assert.equal(forbidden.code, 403);
    assert.equal(forbidden.reason, 'Forbidden');
    const forbiddenWatch = await limited
      .stream(CM, { watch: 1 }, () => {}, new AbortController().signal)
      .catch((e: unknown) => e);
    assert.ok(forbiddenWatch instanceof KubeApiError);
    assert.equal(forbiddenWatch.code, 403);
    limited.close();

    cluster.faults.failNext(1, 410, { path: /\/configmaps$/, method: 'GET' });
    const gone = await client.request('GET', CM).catch((e: unknown) => e);
    assert.ok(gone instanceof KubeApiError);
    assert.equal(gone.code, 410);
    assert.equal(gone.reason, 'Expired');
    cluster.faults.failNext(1, 410, { path: /\/configmaps$/, method: 'GET' });
    const goneWatch = await client
      .stream(CM, { watch: 1 }, () => {}, new AbortController().signal)
      .catch((e: unknown) => e);
    assert.ok(goneWatch instanceof KubeApiError);
    assert.equal(goneWatch.code, 410);
    // the connection is still good after error answers
    const list = await client.request<{ items: unknown[] }>('GET', CM);
    assert.ok(Array.isArray(list.items));
    client.close();
  });

  test('dropWatches and restart end the HTTP/2 watches; an informer resyncs and sees later changes', async () => {
    const client = newClient();
    cluster.stats.reset();
    const informer = new Informer<WatchedObject & { data?: Record<string, string> }>(client, {
      path: CM,
      labelSelector: 'h2-fault=yes',
    });
    const mk = (name: string) =>
      client.request('POST', CM, {
        body: { metadata: { name, labels: { 'h2-fault': 'yes' } }, data: { v: name } },
      });
    await informer.start();
    const watchCount = () =>
      cluster.stats.requests().filter((r) => r.verb === 'watch' && r.userAgent === 'h2-test').length;
    await waitFor(() => watchCount() === 1, { what: 'the informer watching' });
    await mk('before-drop');
    await waitFor(() => informer.get(NS, 'before-drop'), { what: 'the first object in the cache' });

    // a plain watch ends when the server drops it (the stream resolves)
    const dropped = client.stream(CM, { watch: 1 }, () => {}, new AbortController().signal);
    await waitFor(() => watchCount() === 2, { what: 'the second watch' });
    cluster.faults.dropWatches();
    await dropped;
    await waitFor(() => watchCount() === 3, { timeoutMs: 10_000, what: 'the informer watching again' });
    await mk('after-drop');
    await waitFor(() => informer.get(NS, 'after-drop'), {
      timeoutMs: 10_000,
      what: 'a change after the drop',
    });
    assert.deepEqual(cluster.stats.connections(), [{ alpn: 'h2' }], 'the drop kept the connection');

    await cluster.faults.restart();
    await waitFor(() => watchCount() >= 4, {
      timeoutMs: 20_000,
      what: 'the informer watching after the restart',
    });
    await mk('after-restart');
    await waitFor(() => informer.get(NS, 'after-restart'), {
      timeoutMs: 20_000,
      what: 'a change after the restart',
    });
    const conns = cluster.stats.connections();
    assert.ok(conns.length >= 2, 'a new connection after the restart');
    assert.ok(conns.every((c) => c.alpn === 'h2'));
    await informer.stop();
    client.close();
  });

  test('close() ends running watches', async () => {
    const client = newClient();
    let answered = false;
    client.onRequest((m, _p, s) => {
      if (m === 'WATCH' && s === 200) answered = true;
    });
    const w = client.stream(CM, { watch: 1 }, () => {}, new AbortController().signal);
    await waitFor(() => answered, { what: 'the watch answered' });
    client.close();
    await w;
  });

  test('an idle client does not keep its process alive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeclient-idle-'));
    const script = join(dir, 'once.mts');
    const src = (p: string) => JSON.stringify(pathToFileURL(join(REPO, p)).href);
    writeFileSync(
      script,
      [
        `import { KubeClient } from ${src('src/kube/client.ts')};`,
        `import { KubeConfigAccess } from ${src('src/kube/config.ts')};`,
        `const client = new KubeClient(KubeConfigAccess.fromFiles([process.argv[2]]));`,
        `const ns = await client.request('GET', '/api/v1/namespaces/default');`,
        `let events = 0;`,
        `await client.stream('${CM}', { watch: 1, timeoutSeconds: 1 }, () => events++, new AbortController().signal);`,
        `console.log('namespace', ns.metadata.name, 'watch ended');`,
      ].join('\n'),
    );
    cluster.stats.reset();
    const child = spawn(process.execPath, ['--import', 'tsx', script, cluster.kubeconfigPath], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    clearTimeout(killer);
    assert.equal(signal, null, `the process had to be killed; stderr: ${err}`);
    assert.equal(code, 0, err);
    assert.match(out, /namespace default watch ended/);
    assert.deepEqual(cluster.stats.connections(), [{ alpn: 'h2' }]);
  });
});

// Lists in pages against the cluster (the real control plane when built): `listAll` asks for
// `limit` items at a time and follows `metadata.continue` until the whole collection is read; a
// continue token that expired (410 Expired) makes it ask for the whole list at once, as client-go's
// pager does.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KubeClient, type RequestOptions } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import { Informer, type WatchedObject } from '../../../src/kube/informer.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { waitFor } from '../../support/wait.ts';

const NS = 'paging';
const CM = `/api/v1/namespaces/${NS}/configmaps`;
/** More than two default pages (500). */
const COUNT = 1100;

interface Sent {
  method: string;
  path: string;
  query: Record<string, unknown>;
  status: number | string;
}

/** A KubeClient that records each request's query and outcome (what the pager asked). */
class RecordingClient extends KubeClient {
  readonly sent: Sent[] = [];
  /** Called after each answered request, before the pager sees it. */
  afterEach?: (s: Sent) => Promise<void>;
  override async request<T = unknown>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const s: Sent = { method, path, query: { ...(options.query ?? {}) }, status: 0 };
    this.sent.push(s);
    try {
      const out = await super.request<T>(method, path, options);
      s.status = 200;
      await this.afterEach?.(s);
      return out;
    } catch (err) {
      s.status = (err as { code?: number }).code ?? String(err);
      throw err;
    }
  }
}

let cluster: TestCluster;
let admin: KubeClient;

before(async () => {
  cluster = await startCluster();
  admin = new KubeClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), 'paging-setup');
  await admin.request('POST', '/api/v1/namespaces', { body: { metadata: { name: NS } } });
  // created 50 at a time: the client's HTTP/2 connection carries them as concurrent streams
  for (let i = 0; i < COUNT; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, COUNT - i) }, (_, j) =>
        admin.request('POST', CM, {
          body: { metadata: { name: `cm-${String(i + j).padStart(4, '0')}`, labels: { paged: 'yes' } } },
        }),
      ),
    );
  }
});

after(async () => {
  admin?.close();
  await cluster?.stop();
});

const names = (items: Array<{ metadata: { name: string } }>) => items.map((i) => i.metadata.name);
const expected = Array.from({ length: COUNT }, (_, i) => `cm-${String(i).padStart(4, '0')}`);

describe('listAll', { timeout: 180_000 }, () => {
  test(`${COUNT} ConfigMaps come in pages of 500 that follow metadata.continue`, async () => {
    const client = new RecordingClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), 'paging');
    try {
      cluster.stats.reset();
      const list = await client.listAll<{ metadata: { name: string } }>(CM, {
        query: { labelSelector: 'paged=yes' },
      });
      assert.deepEqual(names(list.items), expected);
      assert.match(list.metadata.resourceVersion ?? '', /^\d+$/);
      assert.equal(list.kind, 'ConfigMapList');
      assert.equal(client.sent.length, 3, 'three pages');
      assert.deepEqual(client.sent[0]!.query, { labelSelector: 'paged=yes', limit: 500 });
      for (const s of client.sent.slice(1)) {
        assert.equal(s.query.limit, 500);
        assert.equal(s.query.labelSelector, 'paged=yes');
        assert.equal(typeof s.query.continue, 'string');
        assert.ok((s.query.continue as string).length > 0);
      }
      const served = cluster.stats.requests().filter((r) => r.userAgent === 'paging');
      assert.deepEqual(
        served.map((r) => `${r.verb} ${r.status}`),
        ['list 200', 'list 200', 'list 200'],
        'the server saw three list requests',
      );
    } finally {
      client.close();
    }
  });

  test("the informer's list is paged too, and its watch starts from the snapshot's resourceVersion", async () => {
    const client = new RecordingClient(
      KubeConfigAccess.fromFiles([cluster.kubeconfigPath]),
      'paging-informer',
    );
    const informer = new Informer<WatchedObject>(client, { path: CM, labelSelector: 'paged=yes' });
    let watchedFrom: string | undefined;
    const original = client.stream.bind(client);
    client.stream = (path, query, onObject, signal) => {
      watchedFrom = String(query?.resourceVersion);
      return original(path, query, onObject, signal);
    };
    try {
      await informer.start();
      assert.deepEqual(names(informer.list(NS)).sort(), expected);
      assert.deepEqual(
        client.sent.map((s) => [s.query.limit, s.query.continue ? 'continue' : null]),
        [
          [500, null],
          [500, 'continue'],
          [500, 'continue'],
        ],
      );
      await waitFor(() => watchedFrom, { what: 'the watch started' });
      assert.match(watchedFrom ?? '', /^\d+$/);
    } finally {
      await informer.stop();
      client.close();
    }
  });

  test('a smaller limit: more pages, the same items; limit 0: one request', async () => {
    const client = new RecordingClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), 'paging-small');
    try {
      const query = { labelSelector: 'paged=yes' };
      const list = await client.listAll<{ metadata: { name: string } }>(CM, { limit: 100, query });
      assert.deepEqual(names(list.items), expected);
      // 11 pages of 100, and possibly an empty 12th: kube-apiserver pages over the namespace's
      // keys, and kube-root-ca.crt (not selected) comes after the last selected one
      const pages = client.sent.length;
      assert.ok(pages === 11 || pages === 12, `${pages} pages`);
      const whole = await client.listAll<{ metadata: { name: string } }>(CM, { limit: 0, query });
      assert.deepEqual(names(whole.items), expected);
      assert.equal(client.sent.length, pages + 1);
      assert.deepEqual(client.sent[pages]!.query, query);
    } finally {
      client.close();
    }
  });

  test('an expired continue token (410 Expired): the whole list is asked again, without limit', async () => {
    // kube-apiserver 1.37 serves continued pages from its watch cache's snapshots, which an etcd
    // compaction does not expire at once (a token is refused only once its revision has left the
    // cache, minutes later on a busy cluster): the fault proxy answers the second page with the
    // 410 Expired Status kube-apiserver sends then.
    const client = new RecordingClient(
      KubeConfigAccess.fromFiles([cluster.kubeconfigPath]),
      'paging-expired',
    );
    try {
      let armed = false;
      client.afterEach = async (s) => {
        if (armed || !s.query.limit) return;
        armed = true;
        // meanwhile the collection changed: the whole list asked again sees it
        await admin.request('POST', CM, {
          body: { metadata: { name: 'cm-late', labels: { paged: 'yes' } } },
        });
        cluster.faults.failNext(1, 410, { path: /\/configmaps$/, method: 'GET' });
      };
      const list = await client.listAll<{ metadata: { name: string } }>(CM, {
        limit: 400,
        query: { labelSelector: 'paged=yes' },
      });
      assert.deepEqual(names(list.items), [...expected, 'cm-late'].sort(), 'everything, the late one too');
      assert.deepEqual(
        client.sent.map((s) => [s.status, s.query.limit ?? null, s.query.continue ? 'continue' : null]),
        [
          [200, 400, null],
          [410, 400, 'continue'],
          [200, null, null],
        ],
      );
      assert.deepEqual(
        cluster.stats
          .requests()
          .filter((r) => r.userAgent === 'paging-expired')
          .map((r) => `${r.verb} ${r.status}`),
        ['list 200', 'list 410', 'list 200'],
      );
    } finally {
      client.close();
      await admin.request('DELETE', `${CM}/cm-late`);
    }
  });
});

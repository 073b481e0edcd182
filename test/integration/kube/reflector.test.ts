// The one list-then-watch loop (src/kube/reflector.ts) against the cluster: the real control plane
// when built, its fault proxy answering as kube-apiserver would. What is checked is what the server
// saw (requests counted by user agent) and what the loop's handler got: repeated 500s, 410s and
// empty closes are answered with fewer and fewer requests, not a hot loop; a 410 after a real etcd
// compaction is followed by a relist and the cache converges; bookmarks move the resourceVersion
// the next watch starts from; a silent stream is ended by the watchdog and watched again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KubeClient } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import { apiPath, KINDS } from '../../../src/kube/paths.ts';
import { Reflector, type ReflectorOptions } from '../../../src/kube/reflector.ts';
import { realOnly, startCluster, type TestCluster } from '../../support/cluster.ts';
import { waitFor } from '../../support/wait.ts';

let cluster: TestCluster;
let admin: KubeClient;

before(async () => {
  cluster = await startCluster();
  admin = new KubeClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), 'reflector-setup');
});

after(async () => {
  admin?.close();
  await cluster?.stop();
});

let counter = 0;
/**
 * A namespace of its own per test, so injected faults (matched by path) touch only that test. It is
 * quiet once the root CA ConfigMap every namespace gets is in place.
 */
async function namespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${process.pid % 10000}-${++counter}`;
  await admin.request('POST', apiPath(KINDS.Namespace), { body: { metadata: { name: ns } } });
  const rootCa = apiPath(KINDS.ConfigMap, { namespace: ns, name: 'kube-root-ca.crt' });
  await waitFor(
    () =>
      admin.request('GET', rootCa).then(
        () => true,
        () => false,
      ),
    { timeoutMs: 15_000, intervalMs: 50, what: `kube-root-ca.crt in ${ns}` },
  );
  return ns;
}

const configMaps = (ns: string) => apiPath(KINDS.ConfigMap, { namespace: ns });
const createConfigMap = (ns: string, name: string) =>
  admin.request('POST', configMaps(ns), { body: { metadata: { name }, data: { v: name } } });

/** A reflector over a client of its own (its user agent tells its requests apart), and what it got. */
function watchConfigMaps(ns: string, userAgent: string, options: Partial<ReflectorOptions> = {}) {
  const client = new KubeClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), userAgent);
  const got = { replaced: [] as string[][], events: [] as string[], bookmarks: [] as string[] };
  const reflector = new Reflector(
    client,
    { path: configMaps(ns), initialBackoffMs: 100, maxBackoffMs: 10_000, ...options },
    {
      replace: (items) => got.replaced.push(items.map((o) => o.metadata?.name ?? '')),
      event: (type, o) => got.events.push(`${type} ${o.metadata?.name}`),
      bookmark: (rv) => got.bookmarks.push(rv),
    },
  );
  const served = () => cluster.stats.requests().filter((r) => r.userAgent === userAgent);
  const count = (verb: 'list' | 'watch') => served().filter((r) => r.verb === verb).length;
  const stop = async () => {
    await reflector.stop();
    client.close();
  };
  return { reflector, got, served, count, stop };
}

/** Waits until the reflector's watch is open on the server. */
const watching = (w: ReturnType<typeof watchConfigMaps>, n = 1) =>
  waitFor(() => w.served().filter((r) => r.verb === 'watch' && r.status === 200).length >= n, {
    timeoutMs: 15_000,
    what: `watch ${n} open on the server`,
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the reflector on the cluster', { timeout: 180_000 }, () => {
  for (const [status, what] of [
    [500, 'lists and watches that keep failing with 500'],
    [410, '410 on every list (HTTP) and watch (an ERROR event)'],
  ] as const) {
    test(`${what}: retried with growing delays, not in a loop`, async (t) => {
      const ns = await namespace(`refl-${status}`);
      const w = watchConfigMaps(ns, `reflector-${status}`);
      w.reflector.start();
      try {
        await watching(w);
        const before = w.served().length;
        // from now on every list and watch of this collection fails, for as long as the test looks
        const path = new RegExp(`/namespaces/${ns}/configmaps$`);
        cluster.faults.failNext(1000, status, { path, method: 'GET' });
        cluster.faults.dropWatches();
        await sleep(5000);
        const tried = w.served().slice(before);
        t.diagnostic(`requests in 5 s: ${tried.map((r) => `${r.verb} ${r.status}`).join(', ')}`);
        assert.ok(tried.length >= 3, `it kept trying: ${tried.length} requests`);
        // 100 ms doubling: about 7 requests fit in 5 s; a loop that reset its backoff would make hundreds
        assert.ok(tried.length <= 10, `no more than 10 requests in 5 s: ${tried.length}`);
        assert.ok(tried.filter((r) => r.verb === 'list').length >= 2, 'it relisted');
        if (status === 410)
          assert.ok(w.reflector.stats.expired >= 1, 'the ERROR event meant an expired version');
        else assert.ok(w.reflector.stats.failures >= 2);
      } finally {
        await w.stop();
      }
    });
  }

  test('streams that keep closing with nothing delivered: watched again with growing delays', async (t) => {
    const ns = await namespace('refl-empty');
    const w = watchConfigMaps(ns, 'reflector-empty');
    w.reflector.start();
    try {
      await watching(w);
      const before = w.count('watch');
      // every open watch of the cluster is ended, ten times a second, for three seconds
      for (let i = 0; i < 30; i++) {
        cluster.faults.dropWatches();
        await sleep(100);
      }
      const watches = w.count('watch') - before;
      t.diagnostic(`watches for 30 empty closes: ${watches}`);
      assert.ok(watches >= 2, `it watched again: ${watches}`);
      assert.ok(watches <= 9, `no more than 9 watches for 30 empty closes: ${watches}`);
      assert.equal(w.count('list'), 1, 'an empty close resumes from the same resourceVersion');
      // and it is healthy again afterwards
      await createConfigMap(ns, 'after-the-closes');
      await waitFor(() => w.got.events.includes('ADDED after-the-closes'), {
        timeoutMs: 20_000,
        what: 'a change after the closes',
      });
    } finally {
      await w.stop();
    }
  });

  test(
    'after an etcd compaction the resumed watch gets 410; it relists and converges',
    realOnly(),
    async () => {
      const ns = await namespace('refl-compact');
      const other = await namespace('refl-compact-other');
      const w = watchConfigMaps(ns, 'reflector-compact', { watchTimeoutSeconds: 300 });
      await createConfigMap(ns, 'before');
      w.reflector.start();
      try {
        await watching(w);
        assert.deepEqual(w.got.replaced, [['before', 'kube-root-ca.crt']]);
        const listedAt = w.reflector.resourceVersion;
        // the cluster moves on (elsewhere), its history is compacted, and the watch is cut: it can
        // only resume from a version the server no longer has
        for (let i = 0; i < 5; i++) await createConfigMap(other, `elsewhere-${i}`);
        await cluster.faults.compact();
        cluster.faults.dropWatches();
        await waitFor(() => w.reflector.stats.expired >= 1, { timeoutMs: 15_000, what: 'the 410' });
        await waitFor(() => w.count('list') >= 2, { timeoutMs: 15_000, what: 'the relist' });
        await createConfigMap(ns, 'after');
        await waitFor(() => w.got.events.includes('ADDED after'), {
          timeoutMs: 20_000,
          what: 'a change after the relist',
        });
        assert.notEqual(w.reflector.resourceVersion, listedAt);
        assert.ok(w.count('list') <= 3, `a bounded number of relists: ${w.count('list')}`);
        const watchesFrom = w
          .served()
          .filter((r) => r.verb === 'watch')
          .map((r) => new URLSearchParams(r.query).get('resourceVersion'));
        assert.equal(watchesFrom[0], listedAt);
        assert.ok(
          watchesFrom.slice(2).every((rv) => rv !== listedAt),
          'after the relist, never the old version',
        );
      } finally {
        await w.stop();
      }
    },
  );

  test('bookmarks move the resourceVersion; the next watch starts from the bookmark', async () => {
    const ns = await namespace('refl-bookmark');
    const other = await namespace('refl-bookmark-other');
    // a short watch: kube-apiserver sends a bookmark shortly before a watch's deadline
    const w = watchConfigMaps(ns, 'reflector-bookmark', { watchTimeoutSeconds: 6 });
    w.reflector.start();
    try {
      await watching(w);
      const listedAt = w.reflector.resourceVersion;
      // configmaps change elsewhere: not an event for this watch, but the collection's version moves
      await createConfigMap(other, 'elsewhere');
      const bookmark = await waitFor(() => w.got.bookmarks.find((rv) => rv !== listedAt), {
        timeoutMs: 30_000,
        what: 'a bookmark with a newer version',
      });
      await waitFor(
        () =>
          w
            .served()
            .filter((r) => r.verb === 'watch')
            .some((r) => new URLSearchParams(r.query).get('resourceVersion') === bookmark),
        { timeoutMs: 30_000, what: 'a watch from the bookmark' },
      );
      assert.deepEqual(w.got.events, [], 'no event: the namespace did not change');
      assert.equal(w.count('list'), 1, 'never relisted');
      const q = new URLSearchParams(w.served().find((r) => r.verb === 'watch')!.query);
      assert.equal(q.get('allowWatchBookmarks'), 'true');
    } finally {
      await w.stop();
    }
  });

  test('the watchdog ends a stream that stays silent, and the watch resumes from the same version', async () => {
    const ns = await namespace('refl-silent');
    // the server would end each watch after 5 minutes; it sends nothing meanwhile (no change, and
    // bookmarks only every minute on kube-apiserver, every second on the embedded cluster)
    const w = watchConfigMaps(ns, 'reflector-silent', { watchTimeoutSeconds: 300, stallTimeoutMs: 700 });
    w.reflector.start();
    try {
      await watching(w);
      const listedAt = w.reflector.resourceVersion;
      await waitFor(() => w.reflector.stats.stalls >= 2, { timeoutMs: 20_000, what: 'two stalls' });
      await waitFor(() => w.count('watch') >= 3, { timeoutMs: 20_000, what: 'watched again' });
      assert.equal(w.count('list'), 1, 'a stall is not a reason to relist');
      const from = w
        .served()
        .filter((r) => r.verb === 'watch')
        .map((r) => new URLSearchParams(r.query).get('resourceVersion'));
      assert.ok(
        from.every((rv) => rv === listedAt),
        `every watch from ${listedAt}: ${from}`,
      );
      // the stream it ended was really open, not refused
      assert.ok(
        w
          .served()
          .filter((r) => r.verb === 'watch')
          .every((r) => r.status === 200 || r.status === 0),
      );
      // and a change is still seen
      await createConfigMap(ns, 'after-the-stalls');
      await waitFor(() => w.got.events.includes('ADDED after-the-stalls'), {
        timeoutMs: 20_000,
        what: 'a change after the stalls',
      });
    } finally {
      await w.stop();
    }
  });
});

// The list-then-watch loop's decisions, as a table and against a scripted client: what it does
// after each way a watch can end, that only delivered events reset its backoff, that bookmarks
// move its resourceVersion, that a 410 relists after a delay, and that the watchdog ends a silent
// stream. Then the cache on top of it: writes put in ahead of the watch, told apart by the
// watch's order and never by comparing resourceVersions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeApiError } from '../../../src/kube/errors.ts';
import { Informer, type WatchedObject } from '../../../src/kube/informer.ts';
import type { Query } from '../../../src/kube/paths.ts';
import {
  backoffDelay,
  classify,
  type ListWatchClient,
  nextStep,
  Reflector,
} from '../../../src/kube/reflector.ts';
import { waitFor } from '../../support/wait.ts';

describe('loop decisions', () => {
  test('after each way a round ends: the failure count and whether to relist', () => {
    const rows: Array<[string, number, boolean, { attempt: number; relist: boolean }]> = [
      ['closed', 3, true, { attempt: 0, relist: false }],
      ['closed', 3, false, { attempt: 4, relist: false }],
      ['stalled', 3, false, { attempt: 4, relist: false }],
      ['stalled', 3, true, { attempt: 1, relist: false }],
      ['unreachable', 2, false, { attempt: 3, relist: false }],
      ['expired', 0, true, { attempt: 1, relist: true }],
      ['expired', 4, false, { attempt: 5, relist: true }],
      ['failed', 4, false, { attempt: 5, relist: true }],
      ['failed', 4, true, { attempt: 1, relist: true }],
      ['missing', 0, false, { attempt: 6, relist: true }],
      ['missing', 7, false, { attempt: 8, relist: true }],
    ];
    for (const [end, attempt, delivered, want] of rows) {
      assert.deepEqual(
        nextStep(attempt, { end: end as never, delivered }),
        want,
        `${end} after ${attempt} failures, delivered ${delivered}`,
      );
    }
  });

  test('a 410 is never followed at once: even after a healthy watch the relist waits', () => {
    const { attempt } = nextStep(0, { end: 'expired', delivered: true });
    assert.ok(backoffDelay(attempt, 200, 30_000, () => 0) >= 100);
  });

  test('backoff: none when healthy, doubling, capped, jittered between 50 and 100 %', () => {
    assert.equal(backoffDelay(0), 0);
    assert.equal(
      backoffDelay(1, 200, 30_000, () => 1),
      200,
    );
    assert.equal(
      backoffDelay(2, 200, 30_000, () => 1),
      400,
    );
    assert.equal(
      backoffDelay(5, 200, 30_000, () => 1),
      3200,
    );
    assert.equal(
      backoffDelay(50, 200, 30_000, () => 1),
      30_000,
    );
    assert.equal(
      backoffDelay(1000, 200, 30_000, () => 1),
      30_000,
      'no overflow',
    );
    assert.equal(
      backoffDelay(3, 200, 30_000, () => 0),
      400,
    );
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(4, 200, 30_000);
      assert.ok(d >= 800 && d <= 1600, String(d));
    }
  });

  test('how a failed request counts', () => {
    assert.equal(classify(new KubeApiError(410, 'Expired', 'gone')), 'expired');
    assert.equal(classify(new KubeApiError(404, 'NotFound', 'no such resource')), 'missing');
    assert.equal(classify(new KubeApiError(404, 'NotFound', 'x', { name: 'x' })), 'failed');
    assert.equal(classify(new KubeApiError(500, 'InternalError', 'boom')), 'failed');
    assert.equal(classify(new KubeApiError(403, 'Forbidden', 'no')), 'failed');
    assert.equal(classify(new KubeApiError(429, 'TooManyRequests', 'later')), 'unreachable');
    assert.equal(classify(new KubeApiError(0, 'Unreachable', 'ECONNREFUSED')), 'unreachable');
    assert.equal(classify(new Error('socket hang up')), 'unreachable');
  });
});

type Emit = (obj: unknown) => void;
type WatchScript = (emit: Emit, signal: AbortSignal, query: Query) => Promise<void>;

/** A stream that stays open, silent, until aborted. */
const idle: WatchScript = (_emit, signal) =>
  new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

const obj = (name: string, rv: string, extra: object = {}) => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
  ...extra,
});

/** A client whose lists and watches follow a script; what it was asked is recorded. */
class ScriptedClient implements ListWatchClient {
  readonly lists: Array<{ query: Query; at: number }> = [];
  readonly watches: Array<{ query: Query; at: number }> = [];
  listAnswers: Array<{ rv: string; items: object[] } | Error> = [];
  lastList: { rv: string; items: object[] } = { rv: '1', items: [] };
  watchScripts: WatchScript[] = [];
  /** When the script runs out. */
  fallback: WatchScript = idle;

  async listAll<T>(_path: string, options: { query?: Query; signal?: AbortSignal } = {}) {
    this.lists.push({ query: options.query ?? {}, at: Date.now() });
    const answer = this.listAnswers.shift() ?? this.lastList;
    if (answer instanceof Error) throw answer;
    this.lastList = answer;
    return { metadata: { resourceVersion: answer.rv }, items: answer.items as T[] };
  }

  stream(_path: string, query: Query | undefined, onObject: Emit, signal: AbortSignal): Promise<void> {
    this.watches.push({ query: query ?? {}, at: Date.now() });
    return (this.watchScripts.shift() ?? this.fallback)(onObject, signal, query ?? {});
  }
}

function reflectorOf(
  client: ScriptedClient,
  options: Partial<ConstructorParameters<typeof Reflector>[1]> = {},
) {
  const seen: string[] = [];
  const r = new Reflector(
    client,
    { path: '/api/v1/namespaces/ns/configmaps', initialBackoffMs: 10, maxBackoffMs: 10_000, ...options },
    {
      replace: (items, rv) => seen.push(`replace ${items.length} @${rv}`),
      event: (type, o) => seen.push(`${type} ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
      bookmark: (rv) => seen.push(`bookmark @${rv}`),
    },
  );
  return { r, seen };
}

const emitting =
  (...events: unknown[]): WatchScript =>
  async (emit) => {
    for (const e of events) emit(e);
  };

describe('the reflector against a scripted client', () => {
  test('lists, then watches from the list, with bookmarks asked for and a randomised timeout', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [{ rv: 'list-7', items: [obj('a', 'x1')] }];
    const { r, seen } = reflectorOf(client, { labelSelector: 'app=x' });
    r.start();
    try {
      await waitFor(() => client.watches.length === 1, { what: 'the watch' });
      assert.deepEqual(seen, ['replace 1 @list-7']);
      assert.equal(client.lists[0]!.query.labelSelector, 'app=x');
      const q = client.watches[0]!.query;
      assert.equal(q.resourceVersion, 'list-7');
      assert.equal(q.allowWatchBookmarks, true);
      assert.equal(q.watch, true);
      assert.equal(q.labelSelector, 'app=x');
      assert.ok(Number(q.timeoutSeconds) >= 240 && Number(q.timeoutSeconds) < 360, String(q.timeoutSeconds));
      assert.ok(r.watching);
    } finally {
      await r.stop();
    }
    assert.ok(!r.watching);
  });

  test('events and bookmarks move the resourceVersion; the next watch resumes there, no relist', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [{ rv: 'L', items: [] }];
    client.watchScripts = [
      emitting(
        { type: 'ADDED', object: obj('a', 'e1') },
        { type: 'BOOKMARK', object: { metadata: { resourceVersion: 'b2' } } },
      ),
      emitting({ type: 'MODIFIED', object: obj('a', 'e3') }),
    ];
    const { r, seen } = reflectorOf(client);
    r.start();
    try {
      await waitFor(() => client.watches.length === 3, { what: 'three watches' });
      assert.deepEqual(
        client.watches.map((w) => w.query.resourceVersion),
        ['L', 'b2', 'e3'],
      );
      assert.equal(client.lists.length, 1, 'a watch that ended after events is resumed, not relisted');
      assert.deepEqual(seen, ['replace 0 @L', 'ADDED a@e1', 'bookmark @b2', 'MODIFIED a@e3']);
      assert.equal(r.resourceVersion, 'e3');
    } finally {
      await r.stop();
    }
  });

  test('streams that close with nothing delivered: backed off, not a hot loop', async () => {
    const client = new ScriptedClient();
    client.fallback = async () => {}; // every watch ends at once, empty
    const { r } = reflectorOf(client);
    r.start();
    await new Promise((res) => setTimeout(res, 600));
    await r.stop();
    // 10 ms doubling: about 7 attempts fit in 600 ms; a loop that reset its backoff would make thousands
    assert.ok(client.watches.length >= 3 && client.watches.length <= 10, `${client.watches.length} watches`);
    assert.equal(client.lists.length, 1, 'an empty close resumes from the same resourceVersion');
    const gaps = client.watches.slice(1).map((w, i) => w.at - client.watches[i]!.at);
    assert.ok(gaps.at(-1)! >= gaps[0]!, `the delays grow: ${gaps.join(', ')}`);
  });

  test('repeated non-410 ERROR events: each relists, with growing delays', async () => {
    const client = new ScriptedClient();
    client.fallback = emitting({
      type: 'ERROR',
      object: { code: 500, reason: 'InternalError', message: 'etcd' },
    });
    const { r } = reflectorOf(client);
    r.start();
    await new Promise((res) => setTimeout(res, 600));
    await r.stop();
    assert.ok(client.watches.length >= 3 && client.watches.length <= 10, `${client.watches.length} watches`);
    assert.equal(client.lists.length, client.watches.length, 'every ERROR event is followed by a relist');
    assert.equal(r.stats.failures, client.watches.length);
    assert.match(r.lastError ?? '', /etcd/);
  });

  test('410 (an ERROR event or the HTTP answer): relisted after a delay, then watched from the new list', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [
      { rv: 'old', items: [] },
      { rv: 'new', items: [obj('a', 'v2')] },
      { rv: 'newer', items: [obj('a', 'v3')] },
    ];
    client.watchScripts = [
      emitting(
        { type: 'ADDED', object: obj('a', 'v1') },
        { type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old' } },
      ),
      async () => {
        throw new KubeApiError(410, 'Expired', 'too old resource version');
      },
    ];
    const { r, seen } = reflectorOf(client, { initialBackoffMs: 40 });
    r.start();
    try {
      await waitFor(() => client.watches.length === 3, { what: 'the watch after two relists' });
      assert.equal(client.lists.length, 3);
      assert.deepEqual(
        client.watches.map((w) => w.query.resourceVersion),
        ['old', 'new', 'newer'],
      );
      // each relist waited (at least half the first delay, the jitter's floor)
      assert.ok(client.lists[1]!.at - client.watches[0]!.at >= 20);
      assert.ok(client.lists[2]!.at - client.watches[1]!.at >= 20);
      assert.equal(r.stats.expired, 2);
      assert.deepEqual(seen, ['replace 0 @old', 'ADDED a@v1', 'replace 1 @new', 'replace 1 @newer']);
    } finally {
      await r.stop();
    }
  });

  test('the watchdog ends a silent stream; the watch resumes from the same resourceVersion', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [{ rv: 'L', items: [] }];
    const { r } = reflectorOf(client, { stallTimeoutMs: 50, initialBackoffMs: 5 });
    r.start();
    try {
      await waitFor(() => client.watches.length >= 3, { what: 'watches after stalls' });
      assert.ok(r.stats.stalls >= 2);
      assert.equal(client.lists.length, 1);
      assert.ok(client.watches.every((w) => w.query.resourceVersion === 'L'));
      assert.match(r.lastError ?? '', /delivered nothing/);
    } finally {
      await r.stop();
    }
  });

  test('a failing list is retried with backoff, a missing resource reported and looked for later', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [
      new KubeApiError(500, 'InternalError', 'boom'),
      new KubeApiError(404, 'NotFound', 'nope'),
    ];
    let missing = 0;
    const r = new Reflector(
      client,
      { path: '/apis/cdi.kubevirt.io/v1beta1/datavolumes', initialBackoffMs: 5 },
      { replace: () => {}, event: () => {}, missing: () => missing++ },
    );
    r.start();
    try {
      await waitFor(() => client.watches.length === 1, {
        timeoutMs: 5000,
        what: 'the watch after the list worked',
      });
      assert.equal(client.lists.length, 3);
      assert.equal(missing, 1);
      // after `missing` it waited at least 6 steps (5 ms · 2^5 · 0.5)
      assert.ok(client.lists[2]!.at - client.lists[1]!.at >= 80);
    } finally {
      await r.stop();
    }
  });
});

describe('the cache on top of it', () => {
  function cacheOf(client: ScriptedClient) {
    const informer = new Informer<WatchedObject & { data?: Record<string, string> }>(client, {
      path: '/api/v1/namespaces/ns/configmaps',
      initialBackoffMs: 5,
    });
    const events: string[] = [];
    informer.on((type, o) => events.push(`${type} ${o.metadata.name}@${o.metadata.resourceVersion}`));
    return { informer, events };
  }

  /** A watch fed by the test. */
  function feed(client: ScriptedClient): { emit: Emit; end: () => void } {
    const ctl = { emit: (() => {}) as Emit, end: () => {} };
    client.watchScripts.push(
      (emit, signal) =>
        new Promise<void>((resolve) => {
          ctl.emit = emit;
          ctl.end = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        }),
    );
    return ctl;
  }

  test('list, events, relist: adds, updates, deletes; the same version again is no change', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [{ rv: 'L1', items: [obj('a', '5'), obj('b', '6')] }];
    const w = feed(client);
    const { informer, events } = cacheOf(client);
    await informer.start();
    await waitFor(() => client.watches.length === 1, { what: 'watching' });
    w.emit({ type: 'MODIFIED', object: obj('a', '7') });
    w.emit({ type: 'MODIFIED', object: obj('a', '7') });
    w.emit({ type: 'DELETED', object: obj('b', '8') });
    w.emit({ type: 'ADDED', object: obj('c', '9') });
    assert.deepEqual(
      informer
        .list('ns')
        .map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`)
        .sort(),
      ['a@7', 'c@9'],
    );
    // a 410 and a relist that no longer has c
    client.listAnswers = [{ rv: 'L2', items: [obj('a', '7'), obj('d', '10')] }];
    feed(client);
    w.emit({ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'gone' } });
    await waitFor(() => informer.get('ns', 'd'), { what: 'the relist' });
    assert.equal(informer.get('ns', 'c'), undefined);
    assert.deepEqual(events, [
      'add a@5',
      'add b@6',
      'update a@7',
      'delete b@6',
      'add c@9',
      'add d@10',
      'delete c@9',
    ]);
    await informer.stop();
  });

  test('a write is seen at once; older watch events do not undo it, whatever their numbers', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [{ rv: 'L', items: [obj('a', '100', { data: { v: 'listed' } })] }];
    const w = feed(client);
    const { informer, events } = cacheOf(client);
    await informer.start();
    await waitFor(() => client.watches.length === 1, { what: 'watching' });
    // our write's answer: version "20" (a smaller number than the listed "100": versions are opaque)
    informer.observe(obj('a', '20', { data: { v: 'ours' } }));
    assert.equal(informer.get('ns', 'a')?.data?.v, 'ours');
    // the watch then brings a change made before ours, then ours, then a later one
    w.emit({ type: 'MODIFIED', object: obj('a', '900', { data: { v: 'before ours' } }) });
    assert.equal(informer.get('ns', 'a')?.data?.v, 'ours', 'an event older than our write is not applied');
    w.emit({ type: 'MODIFIED', object: obj('a', '20', { data: { v: 'ours' } }) });
    w.emit({ type: 'MODIFIED', object: obj('a', '3', { data: { v: 'after ours' } }) });
    assert.equal(
      informer.get('ns', 'a')?.data?.v,
      'after ours',
      'a later event applies, though its number is smaller',
    );
    assert.deepEqual(events, ['add a@100', 'update a@20', 'update a@3']);
    await informer.stop();
  });

  test("a write's answer that comes after the watch moved past it changes nothing", async () => {
    const client = new ScriptedClient();
    client.listAnswers = [{ rv: 'L', items: [obj('a', 'r1')] }];
    const w = feed(client);
    const { informer } = cacheOf(client);
    await informer.start();
    await waitFor(() => client.watches.length === 1, { what: 'watching' });
    w.emit({ type: 'MODIFIED', object: obj('a', 'r2') });
    w.emit({ type: 'MODIFIED', object: obj('a', 'r3') });
    informer.observe(obj('a', 'r2'));
    assert.equal(informer.get('ns', 'a')?.metadata.resourceVersion, 'r3');
    w.emit({ type: 'MODIFIED', object: obj('a', 'r4') });
    assert.equal(informer.get('ns', 'a')?.metadata.resourceVersion, 'r4');
    await informer.stop();
  });

  test('a deletion of ours: gone at once, stays gone until the watch says so, then a new one shows', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [{ rv: 'L', items: [obj('a', 'r1')] }];
    const w = feed(client);
    const { informer, events } = cacheOf(client);
    await informer.start();
    await waitFor(() => client.watches.length === 1, { what: 'watching' });
    informer.forget('ns', 'a');
    assert.equal(informer.get('ns', 'a'), undefined);
    w.emit({ type: 'MODIFIED', object: obj('a', 'r2') });
    assert.equal(informer.get('ns', 'a'), undefined, 'a change from before our deletion');
    w.emit({ type: 'DELETED', object: obj('a', 'r3') });
    w.emit({ type: 'ADDED', object: obj('a', 'r4') });
    assert.equal(informer.get('ns', 'a')?.metadata.resourceVersion, 'r4');
    assert.deepEqual(events, ['add a@r1', 'delete a@r1', 'add a@r4']);
    await informer.stop();
  });

  test('a relist asked for before our write keeps the write; one asked for after it shows the server', async () => {
    const client = new ScriptedClient();
    client.listAnswers = [{ rv: 'L1', items: [obj('a', 'r1')] }];
    const w = feed(client);
    const { informer } = cacheOf(client);
    await informer.start();
    await waitFor(() => client.watches.length === 1, { what: 'watching' });
    // a list that was asked for before the write and answers with the old version
    let answer: (v: { rv: string; items: object[] }) => void = () => {};
    let asked = false;
    const original = client.listAll.bind(client);
    client.listAll = async <T>(path: string, options?: { query?: Query; signal?: AbortSignal }) => {
      const v = await new Promise<{ rv: string; items: object[] }>((r) => {
        answer = r;
        asked = true;
      });
      client.listAnswers = [v];
      return original<T>(path, options);
    };
    w.emit({ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'gone' } });
    await waitFor(() => asked, { what: 'the relist asked for' });
    informer.observe(obj('a', 'r2'));
    answer({ rv: 'L2', items: [obj('a', 'r1')] });
    await waitFor(() => client.watches.length === 2, { what: 'watching again' });
    assert.equal(
      informer.get('ns', 'a')?.metadata.resourceVersion,
      'r2',
      'the older list did not undo our write',
    );
    client.listAll = original;
    await informer.stop();
  });

  test('event order between caches: has this cache heard from the server since that object changed?', async () => {
    const a = new ScriptedClient();
    const b = new ScriptedClient();
    a.listAnswers = [{ rv: 'L', items: [obj('vm', '1')] }];
    b.listAnswers = [{ rv: 'L', items: [] }];
    const wa = feed(a);
    const wb = feed(b);
    const vms = cacheOf(a).informer;
    const vmis = cacheOf(b).informer;
    await vms.start();
    await vmis.start();
    await waitFor(() => a.watches.length === 1 && b.watches.length === 1, { what: 'watching' });
    wa.emit({ type: 'MODIFIED', object: obj('vm', '2') });
    assert.ok(vmis.progress < vms.changedAt('ns', 'vm')!, 'nothing from the other cache since');
    wb.emit({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '1' } } });
    assert.ok(vmis.progress > vms.changedAt('ns', 'vm')!, 'a bookmark since');
    await vms.stop();
    await vmis.stop();
  });
});

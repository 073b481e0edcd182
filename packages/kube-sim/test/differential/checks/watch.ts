/** List and watch semantics: resourceVersions, 410, bookmarks, streaming lists, paging (D1, D2, D10, A11). */
import {
  brief,
  type Check,
  check,
  digits,
  failure,
  names,
  type Obj,
  ok,
  sleep,
  type WatchEvent,
  WIDGETS,
  widget,
  wPath,
} from '../lib.ts';

const MERGE = 'application/merge-patch+json';

function summary(events: WatchEvent[]): Array<[string, string | undefined]> {
  return events.map((e) => [e.type, e.object?.metadata?.name]);
}

export const watchChecks: Check[] = [
  check(
    'watch/resume-from-rv',
    'A watch from the create resourceVersion yields exactly the two later MODIFIED events',
    async (api, { ns }) => {
      const a = ok(await api.post(wPath(ns), widget('w1', { size: 1 })), 'create');
      const b = ok(await api.patch(wPath(ns, 'w1'), { spec: { size: 2 } }, MERGE), 'update 1');
      const c = ok(await api.patch(wPath(ns, 'w1'), { spec: { size: 3 } }, MERGE), 'update 2');
      const w = api.watch(`${wPath(ns)}?watch=true&resourceVersion=${a.metadata.resourceVersion}`);
      const status = await w.status;
      await w.until((es) => es.length >= 2, 5000);
      await sleep(300);
      w.stop();
      return {
        status,
        events: summary(w.events),
        rvs:
          w.events.map((e) => e.object.metadata.resourceVersion).join() ===
          [b.metadata.resourceVersion, c.metadata.resourceVersion].join(),
        sizes: w.events.map((e) => e.object.spec?.size),
        kinds: w.events.map((e) => [e.object.apiVersion, e.object.kind]),
      };
    },
  ),

  check(
    'watch/list-then-watch',
    'Writes between a list and a watch from its resourceVersion are all delivered',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w0')), 'create w0');
      const list = ok(await api.get(wPath(ns)), 'list');
      ok(await api.post(wPath(ns), widget('w1')), 'create w1');
      ok(await api.patch(wPath(ns, 'w0'), { spec: { size: 2 } }, MERGE), 'update w0');
      ok(await api.del(wPath(ns, 'w1')), 'delete w1');
      const w = api.watch(`${wPath(ns)}?watch=true&resourceVersion=${list.metadata.resourceVersion}`);
      await w.until((es) => es.length >= 3, 5000);
      await sleep(300);
      w.stop();
      const deleted = w.events.find((e) => e.type === 'DELETED');
      return {
        events: summary(w.events),
        deletedCarriesNewRv:
          !!deleted &&
          Number(deleted.object.metadata.resourceVersion) > Number(list.metadata.resourceVersion),
      };
    },
  ),

  check(
    'watch/without-rv',
    'A watch without resourceVersion (or 0) starts with synthetic ADDED events, then changes',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create w1');
      ok(await api.post(wPath(ns), widget('w2')), 'create w2');
      const out: Record<string, unknown> = {};
      for (const rv of ['', '0']) {
        const w = api.watch(`${wPath(ns)}?watch=true${rv ? `&resourceVersion=${rv}` : ''}`);
        await w.until((es) => es.length >= 2, 5000);
        ok(await api.patch(wPath(ns, 'w1'), { spec: { size: rv ? 3 : 2 } }, MERGE), 'update');
        await w.until((es) => es.length >= 3, 5000);
        await sleep(200);
        w.stop();
        out[rv || 'unset'] = summary(w.events).slice(0, 2).sort().concat(summary(w.events).slice(2));
      }
      return out;
    },
  ),

  check(
    'watch/too-old',
    'A watch from resourceVersion 1 after many writes: 200, one ERROR 410 Expired, stream closed',
    async (api, { ns }) => {
      for (let i = 0; i < 5; i++) ok(await api.post(wPath(ns), widget(`w${i}`)), 'create');
      await api.expireHistory();
      const w = api.watch(`${wPath(ns)}?watch=true&resourceVersion=1`);
      const status = await w.status;
      const closed = await Promise.race([w.closed.then(() => true), sleep(5000).then(() => false)]);
      w.stop();
      const e = w.events[0];
      return {
        status,
        closed,
        count: w.events.length,
        type: e?.type,
        object: e && { ...e.object, message: digits(e.object.message) },
      };
    },
  ),

  check(
    'watch/bookmarks',
    'allowWatchBookmarks: BOOKMARK events (kind and resourceVersion only); timeoutSeconds ends the stream cleanly',
    async (api, { ns }) => {
      const w0 = ok(await api.post(wPath(ns), widget('w1')), 'create');
      const start = Date.now();
      // kube-apiserver sends its bookmark 2 s before the watch's deadline, from a timer that ticks
      // once a second; a busy machine can push that past a short deadline, so give it 8 s.
      const w = api.watch(
        `${wPath(ns)}?watch=true&allowWatchBookmarks=true&timeoutSeconds=8&resourceVersion=${w0.metadata.resourceVersion}`,
      );
      const closed = await Promise.race([w.closed.then(() => true), sleep(15000).then(() => false)]);
      w.stop();
      const bm = w.events.filter((e) => e.type === 'BOOKMARK');
      const first = bm[0]?.object;
      return {
        closed,
        closedAfterTimeout: Date.now() - start >= 7500,
        types: [...new Set(w.events.map((e) => e.type))],
        someBookmark: bm.length > 0,
        bookmarkKind: first && [first.apiVersion, first.kind],
        bookmarkKeys: first && Object.keys(first).sort(),
        bookmarkMetaKeys: first && Object.keys(first.metadata).sort(),
        bookmarkRvNotOlder:
          !!first && Number(first.metadata.resourceVersion) >= Number(w0.metadata.resourceVersion),
      };
    },
  ),

  check(
    'watch/no-bookmarks-unless-asked',
    'Without allowWatchBookmarks no BOOKMARK is sent',
    async (api, { ns }) => {
      const w0 = ok(await api.post(wPath(ns), widget('w1')), 'create');
      const w = api.watch(
        `${wPath(ns)}?watch=true&timeoutSeconds=3&resourceVersion=${w0.metadata.resourceVersion}`,
      );
      await Promise.race([w.closed, sleep(7000)]);
      w.stop();
      return { types: w.events.map((e) => e.type) };
    },
  ),

  check(
    'watch/send-initial-events',
    'sendInitialEvents=true: ADDED for each object, the initial-events-end BOOKMARK, then changes',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create w1');
      const w2 = ok(await api.post(wPath(ns), widget('w2')), 'create w2');
      const out: Record<string, unknown> = {};
      for (const rv of ['', '0']) {
        const w = api.watch(
          `${wPath(ns)}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true${rv ? `&resourceVersion=${rv}` : ''}`,
        );
        await w.until((es) => es.some((e) => e.type === 'BOOKMARK'), 5000);
        ok(await api.patch(wPath(ns, 'w1'), { spec: { size: rv ? 3 : 2 } }, MERGE), 'update');
        await w.until((es) => es.some((e) => e.type === 'MODIFIED'), 5000);
        w.stop();
        const bmIndex = w.events.findIndex((e) => e.type === 'BOOKMARK');
        const bm = w.events[bmIndex]?.object as Obj | undefined;
        out[rv || 'unset'] = {
          initial: summary(w.events.slice(0, bmIndex)).sort(),
          bookmarkAnnotations: bm?.metadata?.annotations,
          bookmarkCoversItems:
            !!bm && Number(bm.metadata.resourceVersion) >= Number(w2.metadata.resourceVersion),
          after: summary(w.events.slice(bmIndex + 1)).filter(([t]) => t !== 'BOOKMARK'),
        };
      }
      return out;
    },
  ),

  check('watch/parameter-errors', 'Invalid watch parameter combinations are refused', async (api, { ns }) => {
    const q = async (query: string) => brief(await api.get(`${wPath(ns)}?watch=true&${query}`));
    return {
      sendInitialWithoutMatch: await q('sendInitialEvents=true'),
      sendInitialExact: await q('sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=1'),
      matchWithoutSendInitial: await q('resourceVersionMatch=NotOlderThan&resourceVersion=1'),
      badRv: await q('resourceVersion=abc'),
      sendInitialOnList: brief(
        await api.get(`${wPath(ns)}?sendInitialEvents=true&resourceVersionMatch=NotOlderThan`),
      ),
    };
  }),

  check(
    'watch/selector-transitions',
    'A label-filtered watch: entering the selection is ADDED, leaving it is DELETED',
    async (api, { ns }) => {
      const w0 = ok(
        await api.post(wPath(ns), widget('w1', { size: 1 }, { labels: { tier: 'a' } })),
        'create',
      );
      const w = api.watch(
        `${wPath(ns)}?watch=true&labelSelector=tier%3Db&resourceVersion=${w0.metadata.resourceVersion}`,
      );
      ok(await api.patch(wPath(ns, 'w1'), { metadata: { labels: { tier: 'b' } } }, MERGE), 'enter');
      ok(await api.patch(wPath(ns, 'w1'), { spec: { size: 2 } }, MERGE), 'change inside');
      ok(await api.patch(wPath(ns, 'w1'), { metadata: { labels: { tier: 'c' } } }, MERGE), 'leave');
      await w.until((es) => es.length >= 3, 5000);
      await sleep(300);
      w.stop();
      return {
        events: summary(w.events),
        labels: w.events.map((e) => e.object.metadata.labels?.tier),
      };
    },
  ),

  check(
    'watch/field-selector',
    'A metadata.name field-selected watch sees only that object',
    async (api, { ns }) => {
      const w0 = ok(await api.post(wPath(ns), widget('w1')), 'create');
      const w = api.watch(
        `${wPath(ns)}?watch=true&fieldSelector=metadata.name%3Dw2&resourceVersion=${w0.metadata.resourceVersion}`,
      );
      ok(await api.patch(wPath(ns, 'w1'), { spec: { size: 2 } }, MERGE), 'w1');
      ok(await api.post(wPath(ns), widget('w2')), 'w2');
      ok(await api.del(wPath(ns, 'w2')), 'delete w2');
      await w.until((es) => es.length >= 2, 5000);
      await sleep(300);
      w.stop();
      return { events: summary(w.events) };
    },
  ),

  check(
    'watch/all-namespaces',
    'A cluster-wide watch sees objects of every namespace',
    async (api, { ns }) => {
      const w0 = ok(await api.post(wPath(ns), widget('w1')), 'create');
      const w = api.watch(
        `${WIDGETS}/widgets?watch=true&labelSelector=diff%3D${ns}&resourceVersion=${w0.metadata.resourceVersion}`,
      );
      ok(await api.post(wPath(ns), widget('w2', { size: 1 }, { labels: { diff: ns } })), 'w2');
      ok(await api.post(wPath('default'), widget(`${ns}-w3`, { size: 1 }, { labels: { diff: ns } })), 'w3');
      await w.until((es) => es.length >= 2, 5000);
      await api.del(wPath('default', `${ns}-w3`));
      await w.until((es) => es.length >= 3, 5000);
      w.stop();
      return {
        events: w.events.map((e) => [
          e.type,
          e.object.metadata.namespace === ns ? 'own' : e.object.metadata.namespace,
        ]),
      };
    },
  ),

  check(
    'list/resource-version-match',
    'resourceVersionMatch on lists: NotOlderThan and Exact, and the refusals',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create');
      const current = ok(await api.get(wPath(ns)), 'list');
      const rv = current.metadata.resourceVersion;
      const q = async (query: string) => {
        const r = await api.get(`${wPath(ns)}?${query}`);
        return r.status === 200
          ? { http: 200, names: names(r.json), sameRv: r.json.metadata.resourceVersion === rv }
          : brief(r);
      };
      return {
        notOlderThan0: await q('resourceVersionMatch=NotOlderThan&resourceVersion=0'),
        notOlderThanCurrent: await q(`resourceVersionMatch=NotOlderThan&resourceVersion=${rv}`),
        exactCurrent: await q(`resourceVersionMatch=Exact&resourceVersion=${rv}`),
        withoutRv: await q('resourceVersionMatch=NotOlderThan'),
        exactWithoutRv: await q('resourceVersionMatch=Exact'),
        exact0: await q('resourceVersionMatch=Exact&resourceVersion=0'),
        bogus: await q(`resourceVersionMatch=Sometimes&resourceVersion=${rv}`),
        rv0: await q('resourceVersion=0'),
      };
    },
  ),

  check(
    'list/exact-older-snapshot',
    'resourceVersionMatch=Exact at an older resourceVersion lists the state at that version',
    async (api, { ns }) => {
      const a = ok(await api.post(wPath(ns), widget('w1', { size: 1 })), 'create w1');
      ok(await api.post(wPath(ns), widget('w2')), 'create w2');
      ok(await api.patch(wPath(ns, 'w1'), { spec: { size: 5 } }, MERGE), 'update w1');
      const r = await api.get(
        `${wPath(ns)}?resourceVersionMatch=Exact&resourceVersion=${a.metadata.resourceVersion}`,
      );
      return r.status === 200
        ? {
            http: 200,
            items: (r.json.items as Obj[]).map((i) => [i.metadata.name, i.spec.size]),
            rv: r.json.metadata.resourceVersion === a.metadata.resourceVersion,
          }
        : failure(r);
    },
  ),

  check(
    'list/too-large-rv',
    'A list at a resourceVersion far in the future: 504 Timeout (ResourceVersionTooLarge)',
    async (api, { ns }) => {
      const cur = ok(await api.get(wPath(ns)), 'list');
      const r = await api.get(
        `${wPath(ns)}?resourceVersionMatch=NotOlderThan&resourceVersion=${Number(cur.metadata.resourceVersion) + 100000}`,
      );
      const f = failure(r);
      return { ...f, message: digits(f.message) };
    },
  ),

  check(
    'list/paging',
    'limit/continue: pages, remainingItemCount, one resourceVersion, a consistent snapshot',
    async (api, { ns }) => {
      for (const n of ['a', 'b', 'c', 'd', 'e']) ok(await api.post(wPath(ns), widget(n)), `create ${n}`);
      const p1 = ok(await api.get(`${wPath(ns)}?limit=2`), 'page 1');
      ok(await api.post(wPath(ns), widget('f')), 'create f after page 1');
      ok(await api.del(wPath(ns, 'e')), 'delete e after page 1');
      const p2 = ok(
        await api.get(`${wPath(ns)}?limit=2&continue=${encodeURIComponent(p1.metadata.continue)}`),
        'page 2',
      );
      const p3 = ok(
        await api.get(`${wPath(ns)}?limit=2&continue=${encodeURIComponent(p2.metadata.continue)}`),
        'page 3',
      );
      return {
        pages: [names(p1), names(p2), names(p3)],
        remaining: [
          p1.metadata.remainingItemCount,
          p2.metadata.remainingItemCount,
          p3.metadata.remainingItemCount,
        ],
        continues: [!!p1.metadata.continue, !!p2.metadata.continue, p3.metadata.continue],
        sameRv:
          p1.metadata.resourceVersion === p2.metadata.resourceVersion &&
          p2.metadata.resourceVersion === p3.metadata.resourceVersion,
      };
    },
  ),

  check(
    'list/exact-compacted',
    'resourceVersionMatch=Exact and continue after the history was compacted: 410 Expired',
    async (api, { ns }) => {
      const a = ok(await api.post(wPath(ns), widget('a')), 'create a');
      ok(await api.post(wPath(ns), widget('b')), 'create b');
      const p1 = ok(await api.get(`${wPath(ns)}?limit=1`), 'page 1');
      ok(await api.post(wPath(ns), widget('c')), 'create c');
      await api.expireHistory();
      const exact = await api.get(
        `${wPath(ns)}?resourceVersionMatch=Exact&resourceVersion=${a.metadata.resourceVersion}`,
      );
      const cont = await api.get(`${wPath(ns)}?limit=1&continue=${encodeURIComponent(p1.metadata.continue)}`);
      const show = (r: typeof exact) => (r.status === 200 ? { http: 200, names: names(r.json) } : failure(r));
      return { exact: show(exact), continue: show(cont) };
    },
  ),

  check('list/bad-continue', 'A malformed continue token: 400', async (api, { ns }) => {
    const r = await api.get(`${wPath(ns)}?limit=1&continue=not-a-token`);
    return { http: r.status, reason: r.json?.reason };
  }),

  check(
    'list/limit-exact',
    'limit equal to the item count: no continue, no remainingItemCount',
    async (api, { ns }) => {
      for (const n of ['a', 'b']) ok(await api.post(wPath(ns), widget(n)), `create ${n}`);
      const r = ok(await api.get(`${wPath(ns)}?limit=2`), 'list');
      return { names: names(r), meta: Object.keys(r.metadata).sort(), continue: r.metadata.continue };
    },
  ),
];

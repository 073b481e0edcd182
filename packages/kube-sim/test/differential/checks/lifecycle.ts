/**
 * Deletion: finalizers (D7), garbage collection by ownerReferences (D8) and namespaces (D13). The
 * real garbage collector and namespace controller live in kube-controller-manager, so these poll
 * with bounded waits.
 */
import {
  type Api,
  brief,
  type Check,
  check,
  cmPath,
  configMap,
  failure,
  gone,
  type Obj,
  ok,
  poll,
  sleep,
  widget,
  wPath,
} from '../lib.ts';

const MERGE = 'application/merge-patch+json';
const HOLD = 'example.com/hold';

function ownerRef(o: Obj, block?: boolean): Obj {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    name: o.metadata.name,
    uid: o.metadata.uid,
    ...(block !== undefined ? { controller: true, blockOwnerDeletion: block } : {}),
  };
}

async function dependent(
  api: Api,
  ns: string,
  name: string,
  owners: Obj[],
  finalizers?: string[],
): Promise<Obj> {
  return ok(
    await api.post(
      cmPath(ns),
      configMap(name, {}, { ownerReferences: owners, ...(finalizers ? { finalizers } : {}) }),
    ),
    `create dependent ${name}`,
  );
}

/** A namespace for checks that delete it (the check's own namespace stays). */
async function extraNamespace(api: Api, name: string): Promise<void> {
  ok(
    await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }),
    `namespace ${name}`,
  );
}

export const lifecycleChecks: Check[] = [
  check(
    'finalizers/delete-keeps-object',
    'DELETE with a finalizer: 200 with the object, deletionTimestamp set, still readable, MODIFIED',
    async (api, { ns }) => {
      const c = ok(await api.post(cmPath(ns), configMap('c1', {}, { finalizers: [HOLD] })), 'create');
      const w = api.watch(
        `${cmPath(ns)}?watch=true&resourceVersion=${c.metadata.resourceVersion}&fieldSelector=metadata.name%3Dc1`,
      );
      const del = await api.del(cmPath(ns, 'c1'));
      const get = await api.get(cmPath(ns, 'c1'));
      await w.until((es) => es.length >= 1, 5000);
      w.stop();
      const wd = ok(
        await api.post(wPath(ns), widget('w1', { size: 1 }, { finalizers: [HOLD] })),
        'create widget',
      );
      const wdel = await api.del(wPath(ns, 'w1'));
      return {
        http: del.status,
        kind: del.json?.kind,
        deletionTimestamp: typeof del.json?.metadata?.deletionTimestamp,
        grace: del.json?.metadata?.deletionGracePeriodSeconds,
        finalizers: del.json?.metadata?.finalizers,
        readable: [get.status, typeof get.json?.metadata?.deletionTimestamp],
        events: w.events.map((e) => e.type),
        widget: [wdel.status, wdel.json?.kind, wdel.json?.metadata?.deletionGracePeriodSeconds, wd.kind],
      };
    },
  ),

  check(
    'finalizers/remove-last-deletes',
    'Removing the last finalizer of a deleting object deletes it: one DELETED event',
    async (api, { ns }) => {
      const c = ok(
        await api.post(cmPath(ns), configMap('c1', {}, { finalizers: [HOLD, 'example.com/two'] })),
        'create',
      );
      ok(await api.del(cmPath(ns, 'c1')), 'delete');
      const w = api.watch(
        `${cmPath(ns)}?watch=true&resourceVersion=${c.metadata.resourceVersion}&fieldSelector=metadata.name%3Dc1`,
      );
      const one = await api.patch(cmPath(ns, 'c1'), { metadata: { finalizers: ['example.com/two'] } }, MERGE);
      const still = (await api.get(cmPath(ns, 'c1'))).status;
      const last = await api.patch(cmPath(ns, 'c1'), { metadata: { finalizers: null } }, MERGE);
      const after = (await api.get(cmPath(ns, 'c1'))).status;
      await w.until((es) => es.some((e) => e.type === 'DELETED'), 5000);
      w.stop();
      return {
        one: [one.status, one.json?.metadata?.finalizers],
        still,
        last: [last.status, last.json?.kind, last.json?.metadata?.finalizers],
        after,
        events: w.events.map((e) => e.type),
      };
    },
  ),

  check(
    'finalizers/no-new-while-deleting',
    'Adding a finalizer to a deleting object: 422 Invalid',
    async (api, { ns }) => {
      ok(await api.post(cmPath(ns), configMap('c1', {}, { finalizers: [HOLD] })), 'create');
      ok(await api.del(cmPath(ns, 'c1')), 'delete');
      const r = await api.patch(
        cmPath(ns, 'c1'),
        { metadata: { finalizers: [HOLD, 'example.com/new'] } },
        MERGE,
      );
      await api.patch(cmPath(ns, 'c1'), { metadata: { finalizers: null } }, MERGE);
      return failure(r);
    },
  ),

  check(
    'finalizers/second-delete',
    'A second DELETE of a deleting object: 200, nothing changes',
    async (api, { ns }) => {
      ok(await api.post(cmPath(ns), configMap('c1', {}, { finalizers: [HOLD] })), 'create');
      const first = ok(await api.del(cmPath(ns, 'c1')), 'delete');
      const second = await api.del(cmPath(ns, 'c1'));
      await api.patch(cmPath(ns, 'c1'), { metadata: { finalizers: null } }, MERGE);
      return {
        http: second.status,
        sameRv: second.json?.metadata?.resourceVersion === first.metadata.resourceVersion,
        sameTimestamp: second.json?.metadata?.deletionTimestamp === first.metadata.deletionTimestamp,
      };
    },
  ),

  check(
    'finalizers/clear-deletion-timestamp',
    'A deleting object cannot be undeleted (deletionTimestamp stays)',
    async (api, { ns }) => {
      ok(await api.post(cmPath(ns), configMap('c1', {}, { finalizers: [HOLD] })), 'create');
      const d = ok(await api.del(cmPath(ns, 'c1')), 'delete');
      const r = await api.put(cmPath(ns, 'c1'), {
        ...d,
        metadata: { ...d.metadata, deletionTimestamp: undefined },
      });
      const kept =
        ok(await api.get(cmPath(ns, 'c1')), 'get').metadata.deletionTimestamp ===
        d.metadata.deletionTimestamp;
      await api.patch(cmPath(ns, 'c1'), { metadata: { finalizers: null } }, MERGE);
      return { http: r.status, kept };
    },
  ),

  check(
    'gc/background',
    'Background deletion: the owner goes at once, dependents are collected (with DELETED events)',
    async (api, { ns }) => {
      await api.gcReady;
      const owner = ok(await api.post(wPath(ns), widget('owner')), 'owner');
      const d1 = await dependent(api, ns, 'dep1', [ownerRef(owner, true)]);
      await dependent(api, ns, 'dep2', [ownerRef(owner)]);
      const w = api.watch(
        `${cmPath(ns)}?watch=true&resourceVersion=${d1.metadata.resourceVersion}&labelSelector=`,
      );
      const del = await api.del(wPath(ns, 'owner'), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Background',
      });
      const ownerGone = (await api.get(wPath(ns, 'owner'))).status;
      const collected = (await gone(api, cmPath(ns, 'dep1'))) && (await gone(api, cmPath(ns, 'dep2')));
      await w.until((es) => es.filter((e) => e.type === 'DELETED').length >= 2, 5000);
      w.stop();
      return {
        http: del.status,
        answer: del.json?.status,
        ownerGone,
        collected,
        deleted: w.events
          .filter((e) => e.type === 'DELETED')
          .map((e) => e.object.metadata.name)
          .sort(),
      };
    },
  ),

  check(
    'gc/foreground',
    'Foreground deletion: the owner waits (foregroundDeletion) for blocking dependents',
    async (api, { ns }) => {
      await api.gcReady;
      const owner = ok(await api.post(wPath(ns), widget('owner')), 'owner');
      await dependent(api, ns, 'blocking', [ownerRef(owner, true)], [HOLD]);
      await dependent(api, ns, 'plain', [ownerRef(owner, false)]);
      const del = await api.del(wPath(ns, 'owner'), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Foreground',
      });
      const plainGone = await gone(api, cmPath(ns, 'plain'));
      const blockingDeleting = await poll(
        async () => !!(await api.get(cmPath(ns, 'blocking'))).json?.metadata?.deletionTimestamp,
        20_000,
        150,
      );
      await sleep(500);
      const ownerWhileBlocked = ok(await api.get(wPath(ns, 'owner')), 'owner while blocked');
      await api.patch(cmPath(ns, 'blocking'), { metadata: { finalizers: null } }, MERGE);
      const ownerGone = await gone(api, wPath(ns, 'owner'));
      return {
        http: del.status,
        answer: [
          del.json?.kind,
          del.json?.metadata?.finalizers,
          typeof del.json?.metadata?.deletionTimestamp,
        ],
        plainGone,
        blockingDeleting: !!blockingDeleting,
        ownerWhileBlocked: ownerWhileBlocked.metadata.finalizers,
        ownerGone,
      };
    },
  ),

  check(
    'gc/orphan',
    'Orphan deletion: dependents stay, their ownerReferences to the owner are removed',
    async (api, { ns }) => {
      await api.gcReady;
      const owner = ok(await api.post(wPath(ns), widget('owner')), 'owner');
      const other = ok(await api.post(wPath(ns), widget('other')), 'other owner');
      await dependent(api, ns, 'dep1', [ownerRef(owner, true)]);
      await dependent(api, ns, 'dep2', [ownerRef(owner), ownerRef(other)]);
      const del = await api.del(wPath(ns, 'owner'), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Orphan',
      });
      const ownerGone = await gone(api, wPath(ns, 'owner'));
      const d1 = ok(await api.get(cmPath(ns, 'dep1')), 'dep1');
      const d2 = ok(await api.get(cmPath(ns, 'dep2')), 'dep2');
      return {
        http: del.status,
        answer: [del.json?.kind, del.json?.metadata?.finalizers],
        ownerGone,
        dep1Owners: d1.metadata.ownerReferences ?? null,
        dep2Owners: (d2.metadata.ownerReferences ?? []).map((r: Obj) => r.name),
      };
    },
  ),

  check(
    'gc/absent-owner',
    'A dependent whose owner does not exist (or has another uid) is collected',
    async (api, { ns }) => {
      await api.gcReady;
      const owner = ok(await api.post(wPath(ns), widget('owner')), 'owner');
      await dependent(api, ns, 'dangling', [
        { ...ownerRef(owner), name: 'nobody', uid: '11111111-2222-3333-4444-555555555555' },
      ]);
      await dependent(api, ns, 'wrong-uid', [
        { ...ownerRef(owner), uid: '11111111-2222-3333-4444-666666666666' },
      ]);
      await dependent(api, ns, 'alive', [ownerRef(owner)]);
      const dangling = await gone(api, cmPath(ns, 'dangling'));
      const wrongUid = await gone(api, cmPath(ns, 'wrong-uid'));
      await sleep(300);
      return { dangling, wrongUid, alive: (await api.get(cmPath(ns, 'alive'))).status };
    },
  ),

  check(
    'gc/query-propagation',
    'propagationPolicy as a query parameter and kubectl-style body; a bad policy is refused',
    async (api, { ns }) => {
      await api.gcReady;
      const owner = ok(await api.post(wPath(ns), widget('owner')), 'owner');
      await dependent(api, ns, 'dep1', [ownerRef(owner, true)]);
      const bad = await api.del(`${wPath(ns, 'owner')}?propagationPolicy=Sideways`);
      const del = await api.del(`${wPath(ns, 'owner')}?propagationPolicy=Foreground`);
      const ownerGone = await gone(api, wPath(ns, 'owner'));
      const depGone = await gone(api, cmPath(ns, 'dep1'));
      return {
        bad: brief(bad),
        http: del.status,
        finalizers: del.json?.metadata?.finalizers,
        ownerGone,
        depGone,
      };
    },
  ),

  check(
    'gc/deployment',
    'Deleting a Deployment collects its ReplicaSet (controller-made, owned)',
    async (api, { ns }) => {
      ok(
        await api.post(`/apis/apps/v1/namespaces/${ns}/deployments`, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'd1' },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: 'd1' } },
            template: {
              metadata: { labels: { app: 'd1' } },
              spec: { containers: [{ name: 'c', image: 'example.com/x:1' }] },
            },
          },
        }),
        'deployment',
      );
      const rs = await poll(
        async () => (await api.get(`/apis/apps/v1/namespaces/${ns}/replicasets`)).json?.items?.[0],
        20_000,
        150,
      );
      const del = await api.del(`/apis/apps/v1/namespaces/${ns}/deployments/d1`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Background',
      });
      const rsGone = rs
        ? await gone(api, `/apis/apps/v1/namespaces/${ns}/replicasets/${rs.metadata.name}`)
        : false;
      return {
        rsOwner: rs?.metadata?.ownerReferences?.map((r: Obj) => [
          r.kind,
          r.name,
          r.controller,
          r.blockOwnerDeletion,
        ]),
        rsNamed: rs ? rs.metadata.name.startsWith('d1-') : false,
        deleteAnswer: [del.status, del.json?.kind],
        rsGone,
      };
    },
  ),

  check(
    'services/defaults-and-endpoints',
    'A Service: ClusterIP allocated from 10.96.0.0/12, spec defaults, and an Endpoints object of the same name',
    async (api, { ns }) => {
      const r = await api.post(`/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's1' },
        spec: { selector: { app: 's1' }, ports: [{ name: 'http', port: 80 }] },
      });
      const { clusterIP, clusterIPs, ...spec } = r.json?.spec ?? {};
      const inRange = (ip: string) => {
        const [a, b] = String(ip).split('.').map(Number);
        return a === 10 && b! >= 96 && b! <= 111;
      };
      const ep = await poll(async () => {
        const e = await api.get(`/api/v1/namespaces/${ns}/endpoints/s1`);
        return e.status === 200 ? e.json : undefined;
      }, 15_000);
      return {
        http: r.status,
        spec,
        clusterIpInRange: inRange(clusterIP),
        clusterIPs: Array.isArray(clusterIPs) && clusterIPs.length === 1 && clusterIPs[0] === clusterIP,
        status: r.json?.status,
        endpoints: ep
          ? {
              labels: ep.metadata.labels,
              annotations: Object.keys(ep.metadata.annotations ?? {}),
              subsets: ep.subsets ?? null,
            }
          : null,
      };
    },
  ),

  check(
    'namespaces/create',
    'POST a Namespace: the answer has phase Active, the name label and the kubernetes finalizer',
    async (api, { ns }) => {
      const r = await api.post('/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: `${ns}-x` },
      });
      await api.del(`/api/v1/namespaces/${ns}-x`);
      return {
        http: r.status,
        labels: r.json?.metadata?.labels,
        finalizers: r.json?.spec?.finalizers,
        phase: r.json?.status?.phase,
      };
    },
  ),

  check(
    'namespaces/defaults',
    'A new namespace gets the default ServiceAccount and the kube-root-ca.crt ConfigMap',
    async (api, { ns }) => {
      const sa = await poll(
        async () => (await api.get(`/api/v1/namespaces/${ns}/serviceaccounts/default`)).json?.metadata,
        20_000,
      );
      const ca = await poll(async () => {
        const r = await api.get(cmPath(ns, 'kube-root-ca.crt'));
        return r.status === 200 ? r.json : undefined;
      }, 20_000);
      return {
        defaultServiceAccount: !!sa,
        rootCaKeys: Object.keys(ca?.data ?? {}),
        rootCaIsServingCa: (ca?.data?.['ca.crt'] ?? '').trim() === api.caCert.trim(),
        rootCaAnnotations: Object.keys(ca?.metadata?.annotations ?? {}),
      };
    },
  ),

  check(
    'namespaces/delete-cascade',
    'Deleting a namespace: Terminating at once, contents deleted, then the namespace',
    async (api, { ns }) => {
      const name = `${ns}-x`;
      await extraNamespace(api, name);
      ok(await api.post(cmPath(name), configMap('c1')), 'cm');
      ok(await api.post(wPath(name), widget('w1')), 'widget');
      const del = await api.del(`/api/v1/namespaces/${name}`);
      const nsGone = await gone(api, `/api/v1/namespaces/${name}`, 30_000);
      return {
        http: del.status,
        kind: del.json?.kind,
        phase: del.json?.status?.phase,
        deletionTimestamp: typeof del.json?.metadata?.deletionTimestamp,
        nsGone,
        contents: [(await api.get(cmPath(name, 'c1'))).status, (await api.get(wPath(name, 'w1'))).status],
      };
    },
  ),

  check(
    'namespaces/terminating-refuses-creates',
    'Creating in a Terminating namespace: 403 Forbidden with the upstream message',
    async (api, { ns }) => {
      const name = `${ns}-x`;
      await extraNamespace(api, name);
      ok(await api.post(wPath(name), widget('held', { size: 1 }, { finalizers: [HOLD] })), 'held widget');
      ok(await api.del(`/api/v1/namespaces/${name}`), 'delete namespace');
      const terminating = await poll(
        async () => (await api.get(`/api/v1/namespaces/${name}`)).json?.status?.phase === 'Terminating',
        10_000,
      );
      // the held widget is being deleted by the namespace controller
      await poll(
        async () => !!(await api.get(wPath(name, 'held'))).json?.metadata?.deletionTimestamp,
        20_000,
        150,
      );
      const cm = await api.post(cmPath(name), configMap('late'));
      const w = await api.post(wPath(name), widget('late'));
      // the namespace controller reports what holds the namespace once it has tried to empty it
      const withConditions = await poll(async () => {
        const c = ((await api.get(`/api/v1/namespaces/${name}`)).json?.status?.conditions ?? []) as Obj[];
        return c.some((x) => x.type === 'NamespaceFinalizersRemaining') ? c : undefined;
      }, 15_000);
      const conditions = withConditions ?? [];
      await api.patch(wPath(name, 'held'), { metadata: { finalizers: null } }, MERGE);
      const nsGone = await gone(api, `/api/v1/namespaces/${name}`, 30_000);
      return {
        terminating: !!terminating,
        configMap: failure(cm),
        widget: failure(w),
        conditions: conditions
          .map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message }))
          .sort((a, b) => (a.type < b.type ? -1 : 1)),
        nsGone,
      };
    },
  ),

  check('namespaces/delete-missing', 'DELETE of a missing namespace: 404', async (api) => {
    return failure(await api.del('/api/v1/namespaces/no-such-namespace-here'));
  }),
];

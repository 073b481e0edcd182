/** Create, read, update, delete: status codes, error Status bodies, optimistic concurrency (D3, D11). */
import {
  brief,
  type Check,
  check,
  cmPath,
  configMap,
  failure,
  isSecondsTime,
  meta,
  ok,
  shape,
  widget,
  wPath,
} from '../lib.ts';

export const crudChecks: Check[] = [
  check(
    'crud/create-configmap',
    'POST a ConfigMap: 201 and the object with server-owned metadata',
    async (api, { ns }) => {
      const r = await api.post(cmPath(ns), configMap('c1', { a: '1' }, { labels: { x: 'y' } }));
      return {
        http: r.status,
        object: shape(r.json),
        secondsTimestamp: isSecondsTime(r.json?.metadata?.creationTimestamp),
      };
    },
  ),

  check(
    'crud/create-widget',
    'POST a custom resource: 201, generation 1, apiVersion and kind',
    async (api, { ns }) => {
      const r = await api.post(wPath(ns), widget('w1', { size: 2, color: 'red' }));
      return { http: r.status, object: shape(r.json) };
    },
  ),

  check(
    'crud/get-list-kinds',
    'GET and LIST answers carry apiVersion/kind (list items too for CRs)',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create');
      ok(await api.post(cmPath(ns), configMap('c1', {}, { labels: { mine: 'yes' } })), 'create');
      const one = (await api.get(wPath(ns, 'w1'))).json;
      const wl = (await api.get(wPath(ns))).json;
      const cl = (await api.get(`${cmPath(ns)}?labelSelector=mine`)).json;
      return {
        get: [one.apiVersion, one.kind],
        widgetList: [
          wl.apiVersion,
          wl.kind,
          wl.items.map((i: Record<string, string>) => [i.apiVersion, i.kind]),
        ],
        configMapList: [cl.apiVersion, cl.kind, cl.items.length],
        widgetListMeta: Object.keys(wl.metadata).sort(),
        widgetListContinue: wl.metadata.continue,
        configMapListMeta: Object.keys(cl.metadata).sort(),
      };
    },
  ),

  check(
    'crud/stale-put-conflict',
    'PUT with a stale resourceVersion: 409 Conflict, optimistic-lock message',
    async (api, { ns }) => {
      const w = ok(await api.post(wPath(ns), widget('w1')), 'create');
      ok(await api.put(wPath(ns, 'w1'), { ...w, spec: { size: 3 } }), 'first update');
      const stale = await api.put(wPath(ns, 'w1'), { ...w, spec: { size: 4 } });
      const c = ok(await api.post(cmPath(ns), configMap('c1')), 'create cm');
      ok(await api.put(cmPath(ns, 'c1'), { ...c, data: { a: '1' } }), 'cm update');
      const staleCm = await api.put(cmPath(ns, 'c1'), { ...c, data: { a: '2' } });
      return { widget: failure(stale), configMap: failure(staleCm) };
    },
  ),

  check(
    'crud/cr-put-without-rv',
    'PUT of a custom resource without resourceVersion: 422 Invalid',
    async (api, { ns }) => {
      const w = ok(await api.post(wPath(ns), widget('w1')), 'create');
      delete w.metadata.resourceVersion;
      const r = await api.put(wPath(ns, 'w1'), { ...w, spec: { size: 5 } });
      return failure(r);
    },
  ),

  check(
    'crud/builtin-put-without-rv',
    'PUT of a ConfigMap without resourceVersion: an unconditional update (200)',
    async (api, { ns }) => {
      const c = ok(await api.post(cmPath(ns), configMap('c1', { a: '1' })), 'create');
      delete c.metadata.resourceVersion;
      const r = await api.put(cmPath(ns, 'c1'), { ...c, data: { a: '2' } });
      return { http: r.status, data: r.json?.data };
    },
  ),

  check(
    'crud/already-exists',
    'POST of an existing name: 409 AlreadyExists with details',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create');
      ok(await api.post(cmPath(ns), configMap('c1')), 'create');
      return {
        widget: failure(await api.post(wPath(ns), widget('w1'))),
        configMap: failure(await api.post(cmPath(ns), configMap('c1'))),
      };
    },
  ),

  check(
    'crud/not-found',
    'GET/DELETE/PUT/PATCH of a missing object: 404 NotFound with details',
    async (api, { ns }) => {
      return {
        getWidget: failure(await api.get(wPath(ns, 'nope'))),
        deleteWidget: failure(await api.del(wPath(ns, 'nope'))),
        getConfigMap: failure(await api.get(cmPath(ns, 'nope'))),
        putConfigMap: failure(await api.put(cmPath(ns, 'nope'), configMap('nope'))),
        patchWidget: failure(
          await api.patch(wPath(ns, 'nope'), { spec: { size: 2 } }, 'application/merge-patch+json'),
        ),
        getNamespace: failure(await api.get('/api/v1/namespaces/nope-nope')),
      };
    },
  ),

  check(
    'crud/missing-namespace',
    'POST into a namespace that does not exist: 404 namespaces "x" not found',
    async (api) => {
      return {
        configMap: failure(await api.post(cmPath('no-such-ns'), configMap('c1'))),
        widget: failure(await api.post(wPath('no-such-ns'), widget('w1'))),
      };
    },
  ),

  check('crud/name-mismatch', 'PUT whose body names another object: 400 BadRequest', async (api, { ns }) => {
    const c = ok(await api.post(cmPath(ns), configMap('c1')), 'create');
    const r = await api.put(cmPath(ns, 'c1'), { ...c, metadata: { ...c.metadata, name: 'c2' } });
    return brief(r);
  }),

  check(
    'crud/namespace-mismatch',
    'POST whose body names another namespace: 400 BadRequest',
    async (api, { ns }) => {
      const r = await api.post(cmPath(ns), configMap('c1', {}, { namespace: 'default' }));
      return brief(r);
    },
  ),

  check(
    'crud/invalid-name',
    'POST with an invalid name: 422 Invalid with the field cause',
    async (api, { ns }) => {
      return {
        configMap: failure(await api.post(cmPath(ns), configMap('Not_Valid'))),
        widget: failure(await api.post(wPath(ns), widget('Not_Valid'))),
        missing: failure(await api.post(cmPath(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} })),
      };
    },
  ),

  check('crud/invalid-label', 'POST with an invalid label value: 422 Invalid', async (api, { ns }) => {
    return failure(await api.post(cmPath(ns), configMap('c1', {}, { labels: { a: 'not valid!' } })));
  }),

  check('crud/malformed-json', 'POST of a body that is not JSON: 400 BadRequest', async (api, { ns }) => {
    const r = await api.req('POST', cmPath(ns), {
      body: '{"apiVersion": "v1", ',
      contentType: 'application/json',
    });
    return { http: r.status, reason: r.json?.reason };
  }),

  check(
    'crud/wrong-kind-body',
    'POST of a Secret body to configmaps: 400 BadRequest',
    async (api, { ns }) => {
      const r = await api.post(cmPath(ns), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1' } });
      return { http: r.status, reason: r.json?.reason };
    },
  ),

  check(
    'crud/noop-update',
    'PUT of an unchanged object: 200, resourceVersion unchanged',
    async (api, { ns }) => {
      const w = ok(await api.post(wPath(ns), widget('w1')), 'create');
      const same = ok(await api.put(wPath(ns, 'w1'), w), 'put');
      const c = ok(await api.post(cmPath(ns), configMap('c1', { a: '1' })), 'create cm');
      const sameCm = ok(await api.put(cmPath(ns, 'c1'), c), 'put cm');
      const patched = ok(
        await api.patch(cmPath(ns, 'c1'), { data: { a: '1' } }, 'application/merge-patch+json'),
        'noop patch',
      );
      return {
        widgetRvKept: same.metadata.resourceVersion === w.metadata.resourceVersion,
        configMapRvKept: sameCm.metadata.resourceVersion === c.metadata.resourceVersion,
        patchRvKept: patched.metadata.resourceVersion === c.metadata.resourceVersion,
      };
    },
  ),

  check(
    'crud/rv-increases',
    'Every write bumps resourceVersion (a decimal string, increasing)',
    async (api, { ns }) => {
      const a = ok(await api.post(cmPath(ns), configMap('c1', { a: '1' })), 'create');
      const b = ok(
        await api.patch(cmPath(ns, 'c1'), { data: { a: '2' } }, 'application/merge-patch+json'),
        'patch',
      );
      const list = ok(await api.get(cmPath(ns)), 'list');
      return {
        decimal: [a, b].every((o) => /^\d+$/.test(o.metadata.resourceVersion)),
        increasing: Number(b.metadata.resourceVersion) > Number(a.metadata.resourceVersion),
        listNotOlder: Number(list.metadata.resourceVersion) >= Number(b.metadata.resourceVersion),
      };
    },
  ),

  check(
    'crud/delete-answers',
    'DELETE answers: Success Status for CRs and ConfigMaps, with details',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create');
      ok(await api.post(cmPath(ns), configMap('c1')), 'create');
      ok(await api.post(`/api/v1/namespaces/${ns}/secrets`, { metadata: { name: 's1' } }), 'create secret');
      const w = await api.del(wPath(ns, 'w1'));
      const c = await api.del(cmPath(ns, 'c1'));
      const s = await api.del(`/api/v1/namespaces/${ns}/secrets/s1`);
      return {
        widget: [w.status, shape(w.json)],
        configMap: [c.status, shape(c.json)],
        secret: [s.status, shape(s.json)],
      };
    },
  ),

  check(
    'crud/delete-answer-kinds',
    'DELETE answer per built-in kind: the deleted object or a Success Status',
    async (api, { ns }) => {
      const rbac = 'rbac.authorization.k8s.io/v1';
      const kinds: Array<[string, Record<string, unknown>]> = [
        [`/api/v1/namespaces/${ns}/services`, { spec: { ports: [{ port: 80 }] } }],
        [`/api/v1/namespaces/${ns}/serviceaccounts`, {}],
        [`/api/v1/namespaces/${ns}/secrets`, {}],
        [`/api/v1/namespaces/${ns}/configmaps`, {}],
        [`/api/v1/namespaces/${ns}/endpoints`, {}],
        [
          `/api/v1/namespaces/${ns}/events`,
          { involvedObject: { kind: 'ConfigMap', name: 'x', namespace: ns }, reason: 'R', message: 'm' },
        ],
        [
          `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
          { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
        ],
        [
          `/apis/apps/v1/namespaces/${ns}/deployments`,
          {
            spec: {
              replicas: 0,
              selector: { matchLabels: { a: 'b' } },
              template: {
                metadata: { labels: { a: 'b' } },
                spec: { containers: [{ name: 'c', image: 'x' }] },
              },
            },
          },
        ],
        [
          `/apis/apps/v1/namespaces/${ns}/replicasets`,
          {
            spec: {
              replicas: 0,
              selector: { matchLabels: { a: 'b' } },
              template: {
                metadata: { labels: { a: 'b' } },
                spec: { containers: [{ name: 'c', image: 'x' }] },
              },
            },
          },
        ],
        [`/apis/${rbac}/namespaces/${ns}/roles`, { rules: [] }],
        [
          `/apis/${rbac}/namespaces/${ns}/rolebindings`,
          { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x' }, subjects: [] },
        ],
        [`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { spec: {} }],
        [
          `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
          {
            eventTime: '2026-01-01T00:00:00.000000Z',
            reportingController: 'x/y',
            reportingInstance: 'i',
            action: 'A',
            reason: 'R',
            type: 'Normal',
            regarding: { kind: 'ConfigMap', name: 'x', namespace: ns },
          },
        ],
      ];
      const out: Record<string, unknown> = {};
      for (const [path, body] of kinds) {
        const plural = path.split('/').pop()!;
        const key = path.includes('events.k8s.io') ? 'events.k8s.io' : plural;
        const c = await api.post(path, { metadata: { name: 'x1' }, ...body });
        if (c.status !== 201) {
          out[key] = { create: c.status, message: c.json?.message };
          continue;
        }
        const d = await api.del(`${path}/x1`);
        out[key] = [d.status, d.json?.kind];
      }
      return out;
    },
  ),

  check(
    'crud/delete-preconditions',
    'DELETE with a mismatching uid or resourceVersion precondition: 409',
    async (api, { ns }) => {
      const c = ok(await api.post(cmPath(ns), configMap('c1')), 'create');
      const uid = await api.del(cmPath(ns, 'c1'), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: '00000000-0000-0000-0000-000000000000' },
      });
      const rv = await api.del(cmPath(ns, 'c1'), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { resourceVersion: '1' },
      });
      const good = await api.del(cmPath(ns, 'c1'), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: c.metadata.uid, resourceVersion: c.metadata.resourceVersion },
      });
      const w = ok(await api.post(wPath(ns), widget('w1')), 'create widget');
      const wrv = await api.del(wPath(ns, 'w1'), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { resourceVersion: '1' },
      });
      const wgood = await api.del(wPath(ns, 'w1'), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: w.metadata.uid },
      });
      const rvs = (s: string) => s.replace(/\(\d+\)/g, '(N)');
      return {
        uid: failure(uid),
        rv: { ...failure(rv), message: rvs(rv.json?.message ?? '') },
        widgetRv: { ...failure(wrv), message: rvs(wrv.json?.message ?? '') },
        good: good.status,
        widgetGood: [wgood.status, wgood.json?.status],
      };
    },
  ),

  check(
    'crud/generate-name',
    'POST with generateName: the prefix plus 5 random characters',
    async (api, { ns }) => {
      const r = await api.post(cmPath(ns), {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { generateName: 'gen-' },
      });
      const name: string = r.json?.metadata?.name ?? '';
      return {
        http: r.status,
        shape: /^gen-[a-z0-9]{5}$/.test(name),
        generateName: r.json?.metadata?.generateName,
      };
    },
  ),

  check('crud/dry-run', 'POST with dryRun=All: 201 with the object, nothing stored', async (api, { ns }) => {
    const r = await api.post(`${cmPath(ns)}?dryRun=All`, configMap('c1'));
    const after = await api.get(cmPath(ns, 'c1'));
    return {
      http: r.status,
      name: r.json?.metadata?.name,
      uidSet: !!r.json?.metadata?.uid,
      stored: after.status,
    };
  }),

  check(
    'crud/builtin-unknown-fields',
    'Unknown fields in a built-in object: Strict refuses (400), Warn drops with a Warning header, Ignore drops',
    async (api, { ns }) => {
      const body = (name: string) => ({ ...configMap(name, { a: '1' }, { bogus: 1 }), spec: { x: 1 } });
      const strict = await api.post(`${cmPath(ns)}?fieldValidation=Strict`, body('c1'));
      const warn = await api.post(cmPath(ns), body('c2'));
      const ignore = await api.post(`${cmPath(ns)}?fieldValidation=Ignore`, body('c3'));
      return {
        strict: failure(strict),
        warn: [warn.status, warn.json?.spec, warn.json?.metadata?.bogus, warn.headers.warning],
        ignore: [ignore.status, ignore.json?.spec, ignore.headers.warning],
      };
    },
  ),

  check(
    'events/core-event',
    'A core Event as kubevirtbmc posts it: 201; the same Event seen through events.k8s.io/v1',
    async (api, { ns }) => {
      const cm = ok(await api.post(cmPath(ns), configMap('c1')), 'cm');
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const r = await api.post(`/api/v1/namespaces/${ns}/events`, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: 'c1.', namespace: ns },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          name: 'c1',
          namespace: ns,
          uid: cm.metadata.uid,
          resourceVersion: cm.metadata.resourceVersion,
        },
        type: 'Normal',
        reason: 'Tested',
        message: 'a differential check',
        source: { component: 'kubevirtbmc-differential' },
        reportingComponent: 'kubevirtbmc-differential',
        reportingInstance: 'x',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      const name: string = r.json?.metadata?.name ?? '';
      const viaNew = await api.get(`/apis/events.k8s.io/v1/namespaces/${ns}/events/${name}`);
      const bad = await api.post(`/api/v1/namespaces/${ns}/events`, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'bad' },
        involvedObject: { kind: 'ConfigMap', name: 'c1', namespace: 'elsewhere' },
        reason: 'Tested',
      });
      return {
        http: r.status,
        generated: name.startsWith('c1.'),
        fields: r.json && {
          type: r.json.type,
          reason: r.json.reason,
          count: r.json.count,
          source: r.json.source,
          eventTime: r.json.eventTime,
          reportingComponent: r.json.reportingComponent,
        },
        viaEventsK8sIo:
          viaNew.status === 200
            ? [viaNew.json.regarding?.name, viaNew.json.note, viaNew.json.deprecatedCount]
            : brief(viaNew),
        invalid: brief(bad),
      };
    },
  ),

  check(
    'crud/secret-defaults',
    'A Secret: stringData folded into data, type Opaque by default',
    async (api, { ns }) => {
      const r = await api.post(`/api/v1/namespaces/${ns}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's1' },
        data: { a: Buffer.from('x').toString('base64') },
        stringData: { b: 'two', a: 'one' },
      });
      return { http: r.status, type: r.json?.type, data: r.json?.data, stringData: r.json?.stringData };
    },
  ),

  check(
    'crud/unsupported-body-type',
    'POST with Content-Type text/plain: 415 UnsupportedMediaType',
    async (api, { ns }) => {
      const r = await api.req('POST', cmPath(ns), {
        body: JSON.stringify(configMap('c1')),
        contentType: 'text/plain',
      });
      return brief(r);
    },
  ),

  check(
    'crud/method-not-allowed',
    'PUT on a collection, POST to a name: 405 MethodNotAllowed',
    async (api, { ns }) => {
      return {
        putCollection: failure(await api.put(cmPath(ns), configMap('c1'))),
        postNamed: failure(await api.post(cmPath(ns, 'c1'), configMap('c1'))),
      };
    },
  ),

  check(
    'crud/meta',
    'Server-owned metadata: set on create, kept on update; a PUT with another uid is refused',
    async (api, { ns }) => {
      const w = ok(await api.post(wPath(ns), widget('w1', { size: 1 }, { labels: { a: 'b' } })), 'create');
      const w2 = ok(
        await api.put(wPath(ns, 'w1'), {
          ...w,
          metadata: { ...w.metadata, creationTimestamp: '2000-01-01T00:00:00Z' },
          spec: { size: 2 },
        }),
        'update',
      );
      const bodyUid = 'aaaaaaaa-0000-0000-0000-000000000000';
      const otherUid = await api.put(wPath(ns, 'w1'), { ...w2, metadata: { ...w2.metadata, uid: bodyUid } });
      const which = (s: string) => s.replace(bodyUid, '<body-uid>').replace(w.metadata.uid, '<stored-uid>');
      return {
        created: meta(w),
        uidKept: w2.metadata.uid === w.metadata.uid,
        creationKept: w2.metadata.creationTimestamp === w.metadata.creationTimestamp,
        generation: w2.metadata.generation,
        otherUid: { ...failure(otherUid), message: which(otherUid.json?.message ?? '') },
      };
    },
  ),
];

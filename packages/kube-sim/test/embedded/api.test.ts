// Fidelity checks of kube-api-notes.md section D, driven through the real @kubernetes/client-node.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { bytes, entry, envelope, str } from '../../../../test/support/kube-protobuf.ts';
import { kubeConfigFor, WIDGET, WIDGET_CRD } from '../../../../test/support/sim-fixtures.ts';
import { simWait as waitFor } from '../../../../test/support/sim-kubevirt.ts';
import { type SimCluster, startSimCluster } from '../../src/embedded/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

let cluster: SimCluster;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let custom: k8s.CustomObjectsApi;
let apps: k8s.AppsV1Api;
const NS = 'default';
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

async function apiError(p: Promise<unknown>): Promise<{ code: number; body: Obj }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof k8s.ApiException)
      return { code: e.code, body: typeof e.body === 'string' ? JSON.parse(e.body) : e.body };
    throw e;
  }
  throw new Error('expected the request to fail');
}

/** Raw HTTP (for wire-level checks: content types, watch streams). */
async function raw(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  token = true,
): Promise<{ status: number; text: string; json: () => Obj }> {
  const cfg = kc.getCurrentUser()!;
  const res = await fetch(`${cluster.url}${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${cfg.token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': contentType } : {}),
    },
    ...(body !== undefined
      ? { body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) }
      : {}),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

/** Opens a raw watch and collects its events until closed or `stop()`. */
function rawWatch(path: string): { events: Obj[]; closed: Promise<void>; stop: () => void } {
  const ac = new AbortController();
  const events: Obj[] = [];
  const token = kc.getCurrentUser()!.token;
  const closed = (async () => {
    try {
      const res = await fetch(`${cluster.url}${path}`, {
        headers: { Authorization: `Bearer ${token}` },
        signal: ac.signal,
      });
      const reader = res.body!.getReader();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += Buffer.from(value).toString('utf8');
        let i = buf.indexOf('\n');
        while (i >= 0) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
          i = buf.indexOf('\n');
        }
      }
    } catch {
      // aborted by stop(), or the connection was reset (server restart)
    }
  })();
  return { events, closed, stop: () => ac.abort() };
}

function widget(name: string, spec: Obj = { size: 1 }, extra: Obj = {}): Obj {
  return { apiVersion: 'test.kubevirtbmc.io/v1', kind: 'Widget', metadata: { name, ...extra }, spec };
}

before(async () => {
  cluster = await startSimCluster({ timing: 'fast', bookmarkIntervalMs: 50 });
  kc = kubeConfigFor(cluster.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  // raw POST: client-node's typed CRD model would drop keys such as x-kubernetes-validations
  const crd = await raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', WIDGET_CRD);
  assert.equal(crd.status, 201);
  await waitFor(async () => (await raw('GET', '/apis/test.kubevirtbmc.io/v1')).status === 200, {
    what: 'CRD served',
  });
});

after(async () => {
  await cluster?.stop();
});

describe('D1/D2 watch resume, 410 and gap-free list+watch', () => {
  test('a watch from resourceVersion a yields exactly the later MODIFIED events, no synthetic ADDED', async () => {
    const a = await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: widget('w-resume'),
    });
    const rvA = a.metadata.resourceVersion;
    const b = await custom.patchNamespacedCustomObject(
      { ...WIDGET, namespace: NS, name: 'w-resume', body: { spec: { size: 2 } } },
      merge,
    );
    const c = await custom.patchNamespacedCustomObject(
      { ...WIDGET, namespace: NS, name: 'w-resume', body: { spec: { size: 3 } } },
      merge,
    );
    const w = rawWatch(
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets?watch=true&resourceVersion=${rvA}&fieldSelector=metadata.name%3Dw-resume`,
    );
    await waitFor(() => w.events.length >= 2, { what: 'two events' });
    w.stop();
    await w.closed;
    assert.deepEqual(
      w.events.map((e) => [
        e.type,
        e.object.metadata.resourceVersion,
        e.object.spec.size,
        e.object.kind,
        e.object.apiVersion,
      ]),
      [
        ['MODIFIED', b.metadata.resourceVersion, 2, 'Widget', 'test.kubevirtbmc.io/v1'],
        ['MODIFIED', c.metadata.resourceVersion, 3, 'Widget', 'test.kubevirtbmc.io/v1'],
      ],
    );
  });

  test('a too-old resourceVersion gets 200 + one ERROR 410 Expired event, then the stream closes', async () => {
    const o = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'cm-old' }, data: { a: '1' } },
    });
    await core.patchNamespacedConfigMap({ namespace: NS, name: 'cm-old', body: { data: { a: '2' } } }, merge);
    cluster.faults.compact();
    const w = rawWatch(
      `/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=${o.metadata!.resourceVersion}`,
    );
    await w.closed;
    assert.equal(w.events.length, 1);
    const ev = w.events[0]!;
    assert.equal(ev.type, 'ERROR');
    assert.equal(ev.object.kind, 'Status');
    assert.equal(ev.object.code, 410);
    assert.equal(ev.object.reason, 'Expired');
    assert.match(ev.object.message, /^too old resource version: \d+ \(\d+\)$/);
  });

  test('a client-node informer relists after 410 and recovers without a hot loop (< 5 lists)', async () => {
    const path = `/api/v1/namespaces/${NS}/configmaps`;
    const informer = k8s.makeInformer(
      kc,
      path,
      () => core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'inf=yes' }),
      'inf=yes',
    );
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'inf-1', labels: { inf: 'yes' } } },
    });
    await informer.start();
    await waitFor(() => informer.get('inf-1', NS), { what: 'informer sees inf-1' });
    cluster.stats.reset();
    // history lost while the informer's watch is open, then the stream drops: the resume RV is gone
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'inf-other' } } });
    cluster.faults.compact();
    cluster.faults.dropWatches();
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'inf-2', labels: { inf: 'yes' } } },
    });
    await waitFor(() => informer.get('inf-2', NS), { what: 'informer sees inf-2 after relist' });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'inf-3', labels: { inf: 'yes' } } },
    });
    await waitFor(() => informer.get('inf-3', NS), { what: 'informer keeps watching' });
    const errorsBeforeStop = [...errors];
    await informer.stop();
    const lists = cluster.stats.requests().filter((r) => r.path === path && r.verb === 'list');
    assert.ok(lists.length >= 1 && lists.length < 5, `lists after 410: ${lists.length}`);
    assert.deepEqual(errorsBeforeStop, []);
  });

  test('writes between a list and the watch at its resourceVersion are all delivered; a fresh list RV never yields 410', async () => {
    const list = await core.listNamespacedSecret({ namespace: NS });
    const rv = list.metadata!.resourceVersion!;
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'gap-1' }, stringData: { k: 'v' } },
    });
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'gap-2' } } });
    const w = rawWatch(`/api/v1/namespaces/${NS}/secrets?watch=true&resourceVersion=${rv}`);
    await waitFor(() => w.events.length >= 2, { what: 'both ADDED' });
    w.stop();
    await w.closed;
    assert.deepEqual(
      w.events.map((e) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'gap-1'],
        ['ADDED', 'gap-2'],
      ],
    );
  });
});

describe('D3 optimistic concurrency and D11 error shapes', () => {
  test('PUT with a stale resourceVersion → 409 Conflict with the upstream message', async () => {
    const o = await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: widget('w-stale'),
    });
    await custom.patchNamespacedCustomObject(
      { ...WIDGET, namespace: NS, name: 'w-stale', body: { spec: { size: 4 } } },
      merge,
    );
    const e = await apiError(
      custom.replaceNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'w-stale', body: o }),
    );
    assert.equal(e.code, 409);
    assert.deepEqual(e.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Operation cannot be fulfilled on widgets.test.kubevirtbmc.io "w-stale": the object has been modified; please apply your changes to the latest version and try again',
      reason: 'Conflict',
      details: { name: 'w-stale', group: 'test.kubevirtbmc.io', kind: 'widgets' },
      code: 409,
    });
  });

  test('PUT of a custom resource without resourceVersion → 422', async () => {
    const e = await apiError(
      custom.replaceNamespacedCustomObject({
        ...WIDGET,
        namespace: NS,
        name: 'w-stale',
        body: widget('w-stale', { size: 5 }),
      }),
    );
    assert.equal(e.code, 422);
    assert.equal(e.body.reason, 'Invalid');
    assert.equal(
      e.body.message,
      // upstream names the resource (not the kind) in this one, verified against kube-apiserver 1.37
      'widgets.test.kubevirtbmc.io "w-stale" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update',
    );
  });

  test('POST of an existing name → 409 AlreadyExists; GET/DELETE of a missing object → 404 NotFound with details', async () => {
    const dup = await apiError(
      custom.createNamespacedCustomObject({ ...WIDGET, namespace: NS, body: widget('w-stale') }),
    );
    assert.equal(dup.code, 409);
    assert.equal(dup.body.reason, 'AlreadyExists');
    assert.equal(dup.body.message, 'widgets.test.kubevirtbmc.io "w-stale" already exists');
    const get = await apiError(
      custom.getNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'missing' }),
    );
    assert.equal(get.code, 404);
    assert.deepEqual(get.body.details, { name: 'missing', group: 'test.kubevirtbmc.io', kind: 'widgets' });
    assert.equal(get.body.message, 'widgets.test.kubevirtbmc.io "missing" not found');
    const del = await apiError(core.deleteNamespacedPod({ namespace: NS, name: 'missing' }));
    assert.equal(del.code, 404);
    assert.equal(del.body.message, 'pods "missing" not found');
    // Go omits the empty core group from details
    assert.deepEqual(del.body.details, { name: 'missing', kind: 'pods' });
  });

  test('requests without a token are anonymous (403); an invalid token → 401 Status', async () => {
    const anon = await raw('GET', '/api/v1/namespaces', undefined, 'application/json', false);
    assert.equal(anon.status, 403);
    assert.equal(
      anon.json().message,
      'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope',
    );
    const res = await fetch(`${cluster.url}/api/v1/namespaces`, {
      headers: { Authorization: 'Bearer nope' },
    });
    const r = { status: res.status, json: async () => res.json() };
    assert.equal(r.status, 401);
    assert.deepEqual(await r.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
  });
});

describe('D4 status subresource and generation', () => {
  test('spec through /status and status through the main endpoint are ignored; generation bumps on spec only', async () => {
    const o = await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: { ...widget('w-status'), status: { phase: 'Ignored' } },
    });
    assert.equal(o.status, undefined);
    assert.equal(o.metadata.generation, 1);
    const s = await custom.patchNamespacedCustomObjectStatus(
      { ...WIDGET, namespace: NS, name: 'w-status', body: { spec: { size: 9 }, status: { phase: 'Ready' } } },
      merge,
    );
    assert.equal(s.spec.size, 1);
    assert.equal(s.status.phase, 'Ready');
    assert.equal(s.metadata.generation, 1);
    assert.notEqual(s.metadata.resourceVersion, o.metadata.resourceVersion);
    const m = await custom.patchNamespacedCustomObject(
      {
        ...WIDGET,
        namespace: NS,
        name: 'w-status',
        body: { spec: { size: 2 }, status: { phase: 'Hacked' } },
      },
      merge,
    );
    assert.equal(m.status.phase, 'Ready');
    assert.equal(m.metadata.generation, 2);
    const l = await custom.patchNamespacedCustomObject(
      { ...WIDGET, namespace: NS, name: 'w-status', body: { metadata: { labels: { x: 'y' } } } },
      merge,
    );
    assert.equal(l.metadata.generation, 2);
    // a no-op write changes nothing, not even the resourceVersion
    const same = await custom.patchNamespacedCustomObject(
      { ...WIDGET, namespace: NS, name: 'w-status', body: { spec: { size: 2 } } },
      merge,
    );
    assert.equal(same.metadata.resourceVersion, l.metadata.resourceVersion);
  });
});

describe('D6 patch semantics', () => {
  test('JSON patch: test ok applies; failed test → 422; malformed → 400', async () => {
    await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: widget('w-patch', { size: 1, tags: ['a', 'b'] }),
    });
    const ok = await raw(
      'PATCH',
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets/w-patch`,
      [
        { op: 'test', path: '/spec/size', value: 1 },
        { op: 'replace', path: '/spec/size', value: 6 },
      ],
      'application/json-patch+json',
    );
    assert.equal(ok.status, 200);
    assert.equal(ok.json().spec.size, 6);
    const bad = await raw(
      'PATCH',
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets/w-patch`,
      [
        { op: 'test', path: '/spec/size', value: 1 },
        { op: 'replace', path: '/spec/size', value: 7 },
      ],
      'application/json-patch+json',
    );
    assert.equal(bad.status, 422);
    assert.equal(bad.json().reason, 'Invalid');
    // kube-apiserver's generic 422 text (the json-patch library's detail is not in the Status)
    assert.equal(bad.json().message, 'the server rejected our request due to an error in our request');
    const malformed = await raw(
      'PATCH',
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets/w-patch`,
      { spec: { size: 2 } },
      'application/json-patch+json',
    );
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json().kind, 'Status');
    const after = await custom.getNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'w-patch' });
    assert.equal(after.spec.size, 6);
  });

  test('merge patch: null deletes, lists are replaced', async () => {
    const m = await custom.patchNamespacedCustomObject(
      { ...WIDGET, namespace: NS, name: 'w-patch', body: { spec: { tags: ['z'], color: 'red' } } },
      merge,
    );
    assert.deepEqual(m.spec.tags, ['z']);
    const d = await custom.patchNamespacedCustomObject(
      { ...WIDGET, namespace: NS, name: 'w-patch', body: { spec: { color: null } } },
      merge,
    );
    assert.equal('color' in d.spec, false);
  });

  test('strategic merge patch: Deployment containers merge by name, Service ports by port; on a CR → 415', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'smp' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'smp' } },
          template: {
            metadata: { labels: { app: 'smp' } },
            spec: {
              containers: [
                { name: 'a', image: 'busybox:1' },
                { name: 'b', image: 'busybox:1' },
              ],
            },
          },
        },
      },
    });
    const p = await raw(
      'PATCH',
      `/apis/apps/v1/namespaces/${NS}/deployments/smp`,
      { spec: { template: { spec: { containers: [{ name: 'b', image: 'busybox:2' }] } } } },
      'application/strategic-merge-patch+json',
    );
    assert.equal(p.status, 200);
    assert.deepEqual(
      p.json().spec.template.spec.containers.map((c: Obj) => [c.name, c.image]),
      [
        ['a', 'busybox:1'],
        ['b', 'busybox:2'],
      ],
    );
    await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'smp' },
        spec: {
          selector: { app: 'smp' },
          ports: [
            { name: 'a', port: 80 },
            { name: 'b', port: 443 },
          ],
        },
      },
    });
    const sp = await raw(
      'PATCH',
      `/api/v1/namespaces/${NS}/services/smp`,
      { spec: { ports: [{ port: 443, name: 'tls' }] } },
      'application/strategic-merge-patch+json',
    );
    assert.deepEqual(
      sp.json().spec.ports.map((x: Obj) => [x.port, x.name]),
      [
        [80, 'a'],
        [443, 'tls'],
      ],
    );
    const cr = await raw(
      'PATCH',
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets/w-patch`,
      { spec: { size: 2 } },
      'application/strategic-merge-patch+json',
    );
    assert.equal(cr.status, 415);
    assert.equal(cr.json().reason, 'UnsupportedMediaType');
    assert.equal(
      cr.json().message,
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
    );
    const wrong = await raw(
      'PATCH',
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets/w-patch`,
      { spec: { size: 2 } },
      'text/plain',
    );
    assert.equal(wrong.status, 415);
  });

  test('protobuf bodies (as kubectl sends built-in kinds): a Secret is created; an unknown kind gets 415, a broken body 400, and neither creates anything', async () => {
    const PB = 'application/vnd.kubernetes.protobuf';
    const secret = envelope('v1', 'Secret', [
      ...bytes(1, str(1, 'pb-secret')),
      ...entry(2, 'password', bytes(2, [...Buffer.from('s3cret')])),
      ...str(3, 'Opaque'),
    ]);
    const created = await raw('POST', `/api/v1/namespaces/${NS}/secrets`, secret, PB);
    assert.equal(created.status, 201, created.text);
    const got = await raw('GET', `/api/v1/namespaces/${NS}/secrets/pb-secret`);
    assert.equal(Buffer.from(got.json().data.password, 'base64').toString(), 's3cret');
    assert.equal(got.json().type, 'Opaque');

    const job = envelope('batch/v1', 'Job', bytes(1, str(1, 'pb-job')));
    const unsupported = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, job, PB);
    assert.equal(unsupported.status, 415);
    assert.equal(unsupported.json().reason, 'UnsupportedMediaType');
    assert.match(unsupported.json().message, /decodes protobuf bodies only for Namespace, Secret, ConfigMap/);
    assert.match(unsupported.json().message, /batch\/v1 Job cannot be sent as protobuf here/);
    assert.match(unsupported.json().message, /kubectl apply -f/);

    const broken = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, secret.subarray(0, 20), PB);
    assert.equal(broken.status, 400);
    assert.equal(broken.json().reason, 'BadRequest');
    assert.match(broken.json().message, /the object provided is unrecognized \(protobuf\)/);
    const list = await raw('GET', `/api/v1/namespaces/${NS}/configmaps`);
    assert.ok(!list.json().items.some((c: Obj) => /^pb-/.test(c.metadata.name)));
  });

  test('apply-patch+yaml requires fieldManager and creates a missing object', async () => {
    const body =
      'apiVersion: test.kubevirtbmc.io/v1\nkind: Widget\nmetadata:\n  name: w-apply\nspec:\n  size: 3\n';
    const noManager = await raw(
      'PATCH',
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets/w-apply`,
      body,
      'application/apply-patch+yaml',
    );
    assert.equal(noManager.status, 422);
    assert.equal(
      noManager.json().message,
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
    const created = await raw(
      'PATCH',
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets/w-apply?fieldManager=test`,
      body,
      'application/apply-patch+yaml',
    );
    assert.equal(created.status, 201);
    assert.equal(created.json().spec.size, 3);
  });
});

describe('CRD schema validation (types, required, enum, pattern, bounds, CEL)', () => {
  test('invalid objects get 422 with the real server message shapes and are not stored', async () => {
    const e1 = await apiError(
      custom.createNamespacedCustomObject({
        ...WIDGET,
        namespace: NS,
        body: widget('w-bad', { size: 11, color: 'pink' }),
      }),
    );
    assert.equal(e1.code, 422);
    assert.equal(
      e1.body.message,
      // an enum violation blocks the CEL rules, which upstream then reports as not checked
      'Widget.test.kubevirtbmc.io "w-bad" is invalid: [spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10, spec.color: Unsupported value: "pink": supported values: "red", "green", "blue", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]',
    );
    assert.deepEqual(
      e1.body.details.causes.map((c: Obj) => [c.reason, c.field]),
      [
        ['FieldValueInvalid', 'spec.size'],
        ['FieldValueNotSupported', 'spec.color'],
        ['FieldValueInvalid', '<nil>'],
      ],
    );
    const e2 = await apiError(
      custom.createNamespacedCustomObject({
        ...WIDGET,
        namespace: NS,
        body: widget('w-bad', { name: 'ABC' }),
      }),
    );
    assert.match(e2.body.message, /spec\.size: Required value/);
    assert.match(
      e2.body.message,
      /spec\.name: Invalid value: "ABC": spec\.name in body should match '\^\[a-z\]\+\$'/,
    );
    const e3 = await apiError(
      custom.createNamespacedCustomObject({
        ...WIDGET,
        namespace: NS,
        body: widget('w-bad', { size: 'big' }),
      }),
    );
    assert.match(
      e3.body.message,
      // upstream shows the value's type, not the value, in a type error
      /spec\.size: Invalid value: "string": spec\.size in body must be of type integer: "string"/,
    );
    const e4 = await apiError(
      custom.createNamespacedCustomObject({
        ...WIDGET,
        namespace: NS,
        body: widget('w-bad', { size: 1, min: 5, max: 2 }),
      }),
    );
    assert.equal(
      e4.body.message,
      'Widget.test.kubevirtbmc.io "w-bad" is invalid: spec: Invalid value: min must not exceed max',
    );
    const e5 = await apiError(
      custom.createNamespacedCustomObject({
        ...WIDGET,
        namespace: NS,
        body: widget('Bad_Name', { size: 1 }),
      }),
    );
    assert.match(
      e5.body.message,
      /metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    assert.equal(
      (await apiError(custom.getNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'w-bad' }))).code,
      404,
    );
  });

  test('transition rules (oldSelf) apply on update only', async () => {
    await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: widget('w-immut', { size: 1, immutableId: 'a' }),
    });
    const e = await apiError(
      custom.patchNamespacedCustomObject(
        { ...WIDGET, namespace: NS, name: 'w-immut', body: { spec: { immutableId: 'b' } } },
        merge,
      ),
    );
    assert.equal(e.code, 422);
    assert.equal(
      e.body.message,
      'Widget.test.kubevirtbmc.io "w-immut" is invalid: spec.immutableId: Invalid value: "b": immutableId is immutable',
    );
  });

  test('unknown fields are pruned; with fieldValidation=Strict they are a 400', async () => {
    const o = await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: widget('w-prune', { size: 1, bogus: true }),
    });
    assert.equal('bogus' in o.spec, false);
    const strict = await raw(
      'POST',
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets?fieldValidation=Strict`,
      widget('w-strict', { size: 1, bogus: true }),
    );
    assert.equal(strict.status, 400);
    assert.equal(
      strict.json().message,
      'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus"',
    );
  });
});

describe('D7 finalizers and deletion', () => {
  test('DELETE with finalizers keeps the object readable with deletionTimestamp; last finalizer removal deletes it', async () => {
    await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: widget('w-fin', { size: 1 }, { finalizers: ['test/hold'] }),
    });
    const w = rawWatch(
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets?watch=true&fieldSelector=metadata.name%3Dw-fin`,
    );
    await waitFor(() => w.events.length >= 1, { what: 'initial ADDED' });
    const d = await custom.deleteNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'w-fin' });
    assert.equal(d.kind, 'Widget');
    assert.ok(d.metadata.deletionTimestamp);
    const still = await custom.getNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'w-fin' });
    assert.ok(still.metadata.deletionTimestamp);
    const add = await apiError(
      custom.patchNamespacedCustomObject(
        {
          ...WIDGET,
          namespace: NS,
          name: 'w-fin',
          body: { metadata: { finalizers: ['test/hold', 'test/more'] } },
        },
        merge,
      ),
    );
    assert.equal(add.code, 422);
    assert.match(add.body.message, /no new finalizers can be added if the object is being deleted/);
    await custom.patchNamespacedCustomObject(
      { ...WIDGET, namespace: NS, name: 'w-fin', body: { metadata: { finalizers: null } } },
      merge,
    );
    await waitFor(() => w.events.some((e) => e.type === 'DELETED'), { what: 'DELETED' });
    w.stop();
    await w.closed;
    assert.deepEqual(
      w.events.map((e) => e.type),
      ['ADDED', 'MODIFIED', 'DELETED'],
    );
    assert.equal(
      (await apiError(custom.getNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'w-fin' }))).code,
      404,
    );
  });

  test('an immediate custom resource delete returns Status Success', async () => {
    await custom.createNamespacedCustomObject({ ...WIDGET, namespace: NS, body: widget('w-del') });
    const d = await custom.deleteNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'w-del' });
    assert.equal(d.kind, 'Status');
    assert.equal(d.status, 'Success');
    assert.equal(d.details.name, 'w-del');
  });
});

describe('D8 garbage collection', () => {
  async function owned(ownerName: string, block: boolean): Promise<{ uid: string }> {
    const owner = await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: widget(ownerName),
    });
    const ref = {
      apiVersion: 'test.kubevirtbmc.io/v1',
      kind: 'Widget',
      name: ownerName,
      uid: owner.metadata.uid,
      controller: true,
      blockOwnerDeletion: block,
    };
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: `${ownerName}-cm`, ownerReferences: [ref] } },
    });
    await core.createNamespacedServiceAccount({
      namespace: NS,
      body: { metadata: { name: `${ownerName}-sa`, ownerReferences: [ref] } },
    });
    return { uid: owner.metadata.uid };
  }
  const gone = async (p: Promise<unknown>) => (await apiError(p)).code === 404;

  test('Background deletion removes dependents', async () => {
    await owned('gc-bg', true);
    await custom.deleteNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      name: 'gc-bg',
      propagationPolicy: 'Background',
    });
    await waitFor(
      async () =>
        (await gone(core.readNamespacedConfigMap({ namespace: NS, name: 'gc-bg-cm' }))) &&
        (await gone(core.readNamespacedServiceAccount({ namespace: NS, name: 'gc-bg-sa' }))),
      { what: 'dependents collected' },
    );
  });

  test('Foreground keeps the owner (foregroundDeletion) until blocking dependents are gone', async () => {
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'fg-hold' } } });
    const { uid } = await owned('gc-fg', true);
    // a blocking dependent that itself waits on a finalizer
    await core.createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: {
          name: 'gc-fg-secret',
          finalizers: ['test/hold'],
          ownerReferences: [
            {
              apiVersion: 'test.kubevirtbmc.io/v1',
              kind: 'Widget',
              name: 'gc-fg',
              uid,
              blockOwnerDeletion: true,
            },
          ],
        },
      },
    });
    const d = await custom.deleteNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      name: 'gc-fg',
      propagationPolicy: 'Foreground',
    });
    assert.ok(d.metadata.finalizers.includes('foregroundDeletion'));
    await waitFor(async () => gone(core.readNamespacedConfigMap({ namespace: NS, name: 'gc-fg-cm' })), {
      what: 'cm collected',
    });
    const owner = await custom.getNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'gc-fg' });
    assert.ok(owner.metadata.deletionTimestamp, 'owner still present while a blocking dependent remains');
    await core.patchNamespacedSecret(
      { namespace: NS, name: 'gc-fg-secret', body: { metadata: { finalizers: null } } },
      merge,
    );
    await waitFor(
      async () => gone(custom.getNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'gc-fg' })),
      { what: 'owner gone' },
    );
  });

  test('Orphan strips the ownerReferences; a dependent with a dangling owner uid is collected', async () => {
    await owned('gc-or', true);
    await custom.deleteNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      name: 'gc-or',
      propagationPolicy: 'Orphan',
    });
    await waitFor(
      async () => gone(custom.getNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'gc-or' })),
      { what: 'owner gone' },
    );
    const cm = await core.readNamespacedConfigMap({ namespace: NS, name: 'gc-or-cm' });
    assert.equal(cm.metadata!.ownerReferences, undefined);
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: {
          name: 'dangling',
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              name: 'fg-hold',
              uid: '00000000-0000-0000-0000-000000000000',
            },
          ],
        },
      },
    });
    await waitFor(async () => gone(core.readNamespacedConfigMap({ namespace: NS, name: 'dangling' })), {
      what: 'dangling dependent collected',
    });
  });
});

describe('D9 selectors', () => {
  test('label selectors (all operators) and field selectors on list', async () => {
    const mk = (name: string, labels: Record<string, string>) =>
      core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name, labels } } });
    await mk('sel-a', { tier: 'web', env: 'prod' });
    await mk('sel-b', { tier: 'db', env: 'dev' });
    await mk('sel-c', { tier: 'web' });
    const names = async (labelSelector: string, fieldSelector?: string) =>
      (
        await core.listNamespacedConfigMap({
          namespace: NS,
          labelSelector,
          ...(fieldSelector ? { fieldSelector } : {}),
        })
      ).items
        .map((i) => i.metadata!.name)
        .filter((n) => n!.startsWith('sel-'));
    assert.deepEqual(await names('tier=web'), ['sel-a', 'sel-c']);
    assert.deepEqual(await names('tier==web,env=prod'), ['sel-a']);
    assert.deepEqual(await names('tier,env!=prod'), ['sel-b', 'sel-c']);
    assert.deepEqual(await names('env in (dev,prod)'), ['sel-a', 'sel-b']);
    assert.deepEqual(await names('tier,env notin (dev)'), ['sel-a', 'sel-c']);
    assert.deepEqual(await names('tier,!env'), ['sel-c']);
    assert.deepEqual(await names('tier', 'metadata.name=sel-b'), ['sel-b']);
    assert.deepEqual(await names('tier', 'metadata.name!=sel-b,metadata.namespace=default'), [
      'sel-a',
      'sel-c',
    ]);
    const bad = await apiError(
      core.listNamespacedConfigMap({ namespace: NS, fieldSelector: 'spec.foo=bar' }),
    );
    assert.equal(bad.code, 400);
    // kinds with only the metadata field selectors use upstream's newer wording
    assert.equal(
      bad.body.message,
      '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"',
    );
    assert.equal(
      (await apiError(core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'a in (b' }))).code,
      400,
    );
  });

  test('a filtered watch gets ADDED when an object enters and DELETED when it leaves the selection', async () => {
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'move', labels: { stage: 'one' } } },
    });
    const w = rawWatch(`/api/v1/namespaces/${NS}/configmaps?watch=true&labelSelector=stage%3Dtwo`);
    await new Promise((r) => setTimeout(r, 20));
    await core.patchNamespacedConfigMap(
      { namespace: NS, name: 'move', body: { metadata: { labels: { stage: 'two' } } } },
      merge,
    );
    await core.patchNamespacedConfigMap({ namespace: NS, name: 'move', body: { data: { x: '1' } } }, merge);
    await core.patchNamespacedConfigMap(
      { namespace: NS, name: 'move', body: { metadata: { labels: { stage: 'three' } } } },
      merge,
    );
    await waitFor(() => w.events.length >= 3, { what: 'three events' });
    w.stop();
    await w.closed;
    assert.deepEqual(
      w.events.map((e) => [e.type, e.object.metadata.labels.stage]),
      [
        ['ADDED', 'two'],
        ['MODIFIED', 'two'],
        ['DELETED', 'two'],
      ],
    );
  });
});

describe('informers (client-node makeInformer) see selector transitions, GC and finalizer deletions', () => {
  test('a labelled informer gets add when an object enters, delete when it leaves or is collected', async () => {
    const events: string[] = [];
    const informer = k8s.makeInformer(
      kc,
      `/api/v1/namespaces/${NS}/configmaps`,
      () => core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'watched=yes' }),
      'watched=yes',
    );
    for (const ev of ['add', 'update', 'delete'] as const)
      informer.on(ev, (o) => events.push(`${ev}:${o.metadata!.name}`));
    await informer.start();
    const owner = await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: NS,
      body: widget('inf-owner'),
    });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: {
          name: 'inf-dep',
          labels: { watched: 'yes' },
          ownerReferences: [
            {
              apiVersion: 'test.kubevirtbmc.io/v1',
              kind: 'Widget',
              name: 'inf-owner',
              uid: owner.metadata.uid,
            },
          ],
        },
      },
    });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'inf-mover' } } });
    await core.patchNamespacedConfigMap(
      { namespace: NS, name: 'inf-mover', body: { metadata: { labels: { watched: 'yes' } } } },
      merge,
    );
    await core.patchNamespacedConfigMap(
      { namespace: NS, name: 'inf-mover', body: { data: { a: 'b' } } },
      merge,
    );
    await core.patchNamespacedConfigMap(
      { namespace: NS, name: 'inf-mover', body: { metadata: { labels: { watched: 'no' } } } },
      merge,
    );
    await custom.deleteNamespacedCustomObject({ ...WIDGET, namespace: NS, name: 'inf-owner' });
    await waitFor(() => events.includes('delete:inf-dep') && events.includes('delete:inf-mover'), {
      what: 'deletes',
    });
    await informer.stop();
    assert.deepEqual(
      events.filter((e) => e.endsWith('inf-mover')),
      ['add:inf-mover', 'update:inf-mover', 'delete:inf-mover'],
    );
    assert.deepEqual(
      events.filter((e) => e.endsWith('inf-dep')),
      ['add:inf-dep', 'delete:inf-dep'],
    );
    assert.equal(informer.list(NS).length, 0);
  });
});

describe('D10 watch termination, bookmarks, streaming lists', () => {
  test('timeoutSeconds closes the stream cleanly', async () => {
    const w = rawWatch(
      `/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=${(await core.listNamespacedConfigMap({ namespace: NS })).metadata!.resourceVersion}&timeoutSeconds=1`,
    );
    await w.closed;
    assert.equal(w.events.filter((e) => e.type === 'ERROR').length, 0);
  });

  test('allowWatchBookmarks gets BOOKMARK events carrying only kind, apiVersion and resourceVersion', async () => {
    const w = rawWatch(
      `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets?watch=true&allowWatchBookmarks=true&resourceVersion=${(await core.listNamespacedConfigMap({ namespace: NS })).metadata!.resourceVersion}`,
    );
    await waitFor(() => w.events.find((e) => e.type === 'BOOKMARK'), { what: 'a bookmark' });
    w.stop();
    await w.closed;
    const b = w.events.find((e) => e.type === 'BOOKMARK')!;
    assert.deepEqual(Object.keys(b.object).sort(), ['apiVersion', 'kind', 'metadata']);
    assert.equal(b.object.kind, 'Widget');
    assert.deepEqual(Object.keys(b.object.metadata), ['resourceVersion']);
  });

  test('sendInitialEvents streams ADDED then an initial-events-end BOOKMARK', async () => {
    const w = rawWatch(
      `/api/v1/namespaces/${NS}/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=tier`,
    );
    await waitFor(() => w.events.find((e) => e.type === 'BOOKMARK'), { what: 'initial-events-end' });
    w.stop();
    await w.closed;
    const types = w.events.map((e) => e.type);
    const end = types.indexOf('BOOKMARK');
    assert.ok(end >= 3);
    assert.ok(types.slice(0, end).every((t) => t === 'ADDED'));
    assert.equal(w.events[end]!.object.metadata.annotations['k8s.io/initial-events-end'], 'true');
  });
});

describe('D12 leases', () => {
  test('a stale PUT → 409; MicroTime keeps 6 fractional digits', async () => {
    const coord = kc.makeApiClient(k8s.CoordinationV1Api);
    const renew = new k8s.V1MicroTime('2026-01-01T10:00:00.123456Z');
    const l = await coord.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name: 'leader' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: renew },
      },
    });
    const r = await raw('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/leader`);
    assert.match(r.json().spec.renewTime, /^2026-01-01T10:00:00\.\d{6}Z$/);
    l.spec!.holderIdentity = 'b';
    await coord.replaceNamespacedLease({ namespace: NS, name: 'leader', body: l });
    l.spec!.holderIdentity = 'c';
    const e = await apiError(coord.replaceNamespacedLease({ namespace: NS, name: 'leader', body: l }));
    assert.equal(e.code, 409);
    assert.equal(e.body.reason, 'Conflict');
    assert.equal(
      (
        await apiError(
          coord.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'leader' }, spec: {} } }),
        )
      ).body.reason,
      'AlreadyExists',
    );
  });
});

describe('D13 namespaces', () => {
  test('creating in a missing namespace → 404; deleting a namespace cascades and blocks creates', async () => {
    const e = await apiError(
      core.createNamespacedConfigMap({ namespace: 'nope', body: { metadata: { name: 'x' } } }),
    );
    assert.equal(e.code, 404);
    assert.equal(e.body.message, 'namespaces "nope" not found');
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c1' } } });
    await core.createNamespacedConfigMap({
      namespace: 'doomed',
      body: { metadata: { name: 'c2', finalizers: ['test/hold'] } },
    });
    await core.deleteNamespace({ name: 'doomed' });
    const ns = await core.readNamespace({ name: 'doomed' });
    assert.equal(ns.status!.phase, 'Terminating');
    const blocked = await apiError(
      core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c3' } } }),
    );
    assert.equal(blocked.code, 403);
    assert.match(blocked.body.message, /because it is being terminated/);
    await waitFor(
      async () =>
        (await apiError(core.readNamespacedConfigMap({ namespace: 'doomed', name: 'c1' }))).code === 404,
      { what: 'c1 removed' },
    );
    await core.patchNamespacedConfigMap(
      { namespace: 'doomed', name: 'c2', body: { metadata: { finalizers: null } } },
      merge,
    );
    await waitFor(async () => (await apiError(core.readNamespace({ name: 'doomed' }))).code === 404, {
      what: 'namespace gone',
    });
  });
});

describe('D14 discovery', () => {
  test('resource lists carry namespaced, verbs, shortNames, categories and /status entries; unknown group → 404', async () => {
    const r = (await raw('GET', '/apis/test.kubevirtbmc.io/v1')).json();
    const main = r.resources.find((x: Obj) => x.name === 'widgets');
    assert.equal(main.namespaced, true);
    assert.equal(main.kind, 'Widget');
    assert.deepEqual(main.shortNames, ['wdg']);
    assert.deepEqual(main.categories, ['kbmc']);
    assert.ok(main.verbs.includes('watch'));
    assert.deepEqual(r.resources.find((x: Obj) => x.name === 'widgets/status').verbs, [
      'get',
      'patch',
      'update',
    ]);
    const vm = (await raw('GET', '/apis/kubevirt.io/v1'))
      .json()
      .resources.find((x: Obj) => x.name === 'virtualmachines');
    assert.deepEqual(vm.shortNames, ['vm', 'vms']);
    assert.equal((await raw('GET', '/apis/nothing.example/v1')).status, 404);
    // a group the server does not serve at all gets Go's plain "404 page not found"
    assert.equal((await raw('GET', '/apis/nothing.example/v1')).text, '404 page not found\n');
    assert.equal((await raw('GET', '/apis/apps/v9')).json().kind, 'Status');
  });

  test('KubernetesObjectApi resolves plurals through discovery', async () => {
    const objs = k8s.KubernetesObjectApi.makeApiClient(kc);
    const created = await objs.create(widget('w-generic') as k8s.KubernetesObject);
    assert.equal(created.metadata!.name, 'w-generic');
    const read = await objs.read({
      apiVersion: 'test.kubevirtbmc.io/v1',
      kind: 'Widget',
      metadata: { name: 'w-generic', namespace: NS },
    });
    assert.equal((read as Obj).spec.size, 1);
  });

  test('deleting a CRD stops serving it and removes its objects', async () => {
    const crd = JSON.parse(JSON.stringify(WIDGET_CRD));
    crd.metadata.name = 'gadgets.test.kubevirtbmc.io';
    crd.spec.names = { kind: 'Gadget', plural: 'gadgets', singular: 'gadget' };
    assert.equal(
      (await raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status,
      201,
    );
    const path = `/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/gadgets`;
    assert.equal(
      (
        await raw('POST', path, {
          apiVersion: 'test.kubevirtbmc.io/v1',
          kind: 'Gadget',
          metadata: { name: 'g1' },
          spec: { size: 1 },
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await raw(
          'DELETE',
          '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.test.kubevirtbmc.io',
        )
      ).status,
      200,
    );
    assert.equal((await raw('GET', `${path}/g1`)).status, 404);
    const disc = (await raw('GET', '/apis/test.kubevirtbmc.io/v1')).json();
    assert.equal(
      disc.resources.some((r: Obj) => r.name === 'gadgets'),
      false,
    );
    assert.equal(
      disc.resources.some((r: Obj) => r.name === 'widgets'),
      true,
    );
  });

  test('Table output uses CRD printer columns with PartialObjectMetadata rows', async () => {
    const res = await fetch(`${cluster.url}/apis/test.kubevirtbmc.io/v1/namespaces/${NS}/widgets/w-generic`, {
      headers: {
        Authorization: `Bearer ${kc.getCurrentUser()!.token}`,
        Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
      },
    });
    const t = (await res.json()) as Obj;
    assert.equal(t.kind, 'Table');
    assert.deepEqual(
      t.columnDefinitions.map((c: Obj) => c.name),
      ['Name', 'Size', 'Phase', 'Age'],
    );
    assert.equal(t.rows[0].cells[0], 'w-generic');
    assert.equal(t.rows[0].cells[1], 1);
    assert.equal(t.rows[0].object.kind, 'PartialObjectMetadata');
  });
});

describe('fault injection', () => {
  test('failNext answers the next matching requests with 500 / 429, then recovers', async () => {
    cluster.faults.failNext(2, 500, { path: /configmaps/, method: 'GET' });
    assert.equal(
      (await apiError(core.listNamespacedConfigMap({ namespace: NS }))).body.reason,
      'InternalError',
    );
    assert.equal((await apiError(core.listNamespacedConfigMap({ namespace: NS }))).code, 500);
    assert.ok((await core.listNamespacedConfigMap({ namespace: NS })).items.length > 0);
    cluster.faults.failNext(1, 429);
    const e = await apiError(core.listNamespacedSecret({ namespace: NS }));
    assert.equal(e.code, 429);
    assert.equal(e.body.details.retryAfterSeconds, 1);
  });

  test('restart closes connections and keeps state on the same port; the HTTP control API works', async () => {
    const before = await core.readNamespacedConfigMap({ namespace: NS, name: 'sel-a' });
    const w = rawWatch(
      `/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=${before.metadata!.resourceVersion}`,
    );
    await cluster.faults.restart();
    await w.closed;
    const afterRestart = await core.readNamespacedConfigMap({ namespace: NS, name: 'sel-a' });
    assert.equal(afterRestart.metadata!.uid, before.metadata!.uid);
    const ctl = await raw('POST', '/sim/faults', {
      action: 'failNext',
      count: 1,
      status: 500,
      path: 'secrets',
    });
    assert.equal(ctl.status, 200);
    assert.equal((await apiError(core.listNamespacedSecret({ namespace: NS }))).code, 500);
    const badCtl = await raw('POST', '/sim/faults', { action: 'explode' });
    assert.equal(badCtl.status, 400);
    const anon = await raw('POST', '/sim/faults', { action: 'dropWatches' }, 'application/json', false);
    assert.equal(anon.status, 401);
  });
});

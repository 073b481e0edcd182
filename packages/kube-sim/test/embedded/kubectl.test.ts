// kube-api-notes D4/D5/D15: the real kubectl (1.32 through the /usr/bin/kubectl dispatcher) against the sim.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { missingClients } from '../../../../test/support/clients.ts';
import { WIDGET_CRD } from '../../../../test/support/sim-fixtures.ts';
import { kubectl, kubectlStream } from '../../../../test/support/sim-kubectl.ts';
import { simWait as waitFor } from '../../../../test/support/sim-kubevirt.ts';
import { type SimCluster, startSimCluster } from '../../src/embedded/index.ts';
import { selfSignedCert } from '../../src/embedded/tls.ts';

const skip = missingClients('kubectl');
let cluster: SimCluster;
let cacheDir: string;
const k = (args: string[], input?: string) =>
  kubectl(cluster.kubeconfigPath, args, { cacheDir, ...(input !== undefined ? { input } : {}) });

const widgetYaml = (size: number, extra = '') =>
  `apiVersion: test.kubevirtbmc.io/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: ${size}\n${extra}`;

describe('kubectl end to end', { skip }, () => {
  before(async () => {
    cluster = await startSimCluster({ timing: 'fast' });
    cacheDir = mkdtempSync(join(tmpdir(), 'kubectl-cache-'));
    const r = await k(['apply', '-f', '-'], stringify(WIDGET_CRD));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /customresourcedefinition.apiextensions.k8s.io\/widgets.test.kubevirtbmc.io created/,
    );
    const w = await k([
      'wait',
      '--for=condition=Established',
      'crd/widgets.test.kubevirtbmc.io',
      '--timeout=20s',
    ]);
    assert.equal(w.code, 0, w.stderr);
  });
  after(async () => {
    await cluster?.stop();
  });

  test('apply creates, apply again updates (merge patch), get shows printer columns, -o yaml, short names', async () => {
    let r = await k(['apply', '-f', '-'], widgetYaml(2));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /widget.test.kubevirtbmc.io\/w1 created/);
    r = await k(['apply', '-f', '-'], widgetYaml(3));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /widget.test.kubevirtbmc.io\/w1 configured/);
    const patches = cluster.stats
      .requests()
      .filter((q) => q.method === 'PATCH' && q.path.endsWith('/widgets/w1'));
    assert.ok(patches.length >= 1);
    r = await k(['get', 'wdg']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+SIZE\s+PHASE\s+AGE\n/);
    // a missing printer-column value is null in the Table, which kubectl prints as nothing
    assert.match(r.stdout, /\nw1\s+3\s+\d+s\n/);
    r = await k(['get', 'widget', 'w1', '-o', 'yaml']);
    assert.match(r.stdout, /size: 3/);
    assert.match(r.stdout, /kubectl.kubernetes.io\/last-applied-configuration/);
    r = await k(['get', 'kbmc']);
    assert.match(r.stdout, /w1/, 'category resolves');
  });

  test('invalid objects are refused with the server message, kubectl validates with fieldValidation=Strict', async () => {
    const r = await k(['apply', '-f', '-'], widgetYaml(50));
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /spec.size: Invalid value: 50: spec.size in body should be less than or equal to 10/,
    );
    const u = await k(['apply', '-f', '-'], widgetYaml(3, '  bogus: 1\n'));
    assert.notEqual(u.code, 0);
    assert.match(u.stderr, /unknown field "spec.bogus"/);
    assert.ok(cluster.stats.requests().some((q) => q.method === 'PATCH' || q.method === 'POST'));
  });

  test('patch --type=merge and --type=json work; default (strategic) on a CR gives the 415 message', async () => {
    let r = await k(['patch', 'widget', 'w1', '--type=merge', '-p', '{"spec":{"size":4}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /patched/);
    r = await k([
      'patch',
      'widget',
      'w1',
      '--type=json',
      '-p',
      '[{"op":"test","path":"/spec/size","value":4},{"op":"replace","path":"/spec/size","value":5}]',
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await k(['get', 'widget', 'w1', '-o', 'jsonpath={.spec.size}']);
    assert.equal(r.stdout, '5');
    r = await k(['patch', 'widget', 'w1', '-p', '{"spec":{"size":6}}']);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /the body of the request was in an unknown format - accepted media types include: application\/json-patch\+json, application\/merge-patch\+json, application\/apply-patch\+yaml/,
    );
    r = await k([
      'patch',
      'widget',
      'w1',
      '--type=json',
      '-p',
      '[{"op":"test","path":"/spec/size","value":1}]',
    ]);
    assert.notEqual(r.code, 0);
  });

  test('label and annotate; get -l', async () => {
    assert.equal((await k(['label', 'widget', 'w1', 'team=infra'])).code, 0);
    assert.equal((await k(['annotate', 'widget', 'w1', 'note=hello'])).code, 0);
    const r = await k([
      'get',
      'widget',
      '-l',
      'team=infra',
      '-o',
      'jsonpath={.items[*].metadata.annotations.note}',
    ]);
    assert.equal(r.stdout, 'hello');
    const none = await k(['get', 'widget', '-l', 'team=other', '-o', 'name']);
    assert.equal(none.stdout, '');
  });

  test('get -w streams changes', async () => {
    const w = kubectlStream(
      cluster.kubeconfigPath,
      ['get', 'widget', 'w1', '-w', '-o', 'jsonpath={.spec.size}{"\\n"}'],
      { cacheDir },
    );
    await waitFor(() => w.output().includes('5'), { what: 'initial line', timeoutMs: 20_000 });
    await k(['patch', 'widget', 'w1', '--type=merge', '-p', '{"spec":{"size":7}}']);
    await waitFor(() => w.output().includes('7'), { what: 'update streamed', timeoutMs: 20_000 });
    await w.stop();
  });

  test('wait --for=condition=Ready succeeds only once status.observedGeneration reaches generation', async () => {
    const setStatus = (observedGeneration: number) =>
      k([
        'patch',
        'widget',
        'w1',
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({
          status: {
            observedGeneration,
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'Done',
                message: 'ok',
                lastTransitionTime: '2026-01-01T00:00:00Z',
              },
            ],
          },
        }),
      ]);
    const gen = Number((await k(['get', 'widget', 'w1', '-o', 'jsonpath={.metadata.generation}'])).stdout);
    assert.ok(gen > 1);
    assert.equal((await setStatus(gen - 1)).code, 0);
    const stale = await k(['wait', '--for=condition=Ready', 'widget/w1', '--timeout=1s']);
    assert.notEqual(stale.code, 0, 'a stale observedGeneration must not satisfy wait');
    const waiting = k(['wait', '--for=condition=Ready', 'widget/w1', '--timeout=20s']);
    await setStatus(gen);
    const ok = await waiting;
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /widget.test.kubevirtbmc.io\/w1 condition met/);
  });

  test('apply --server-side, and wait through a streaming list (KUBE_FEATURE_WatchListClient=true)', async () => {
    const ssa = await k(
      ['apply', '--server-side', '-f', '-'],
      widgetYaml(8).replace('name: w1', 'name: w-ssa'),
    );
    assert.equal(ssa.code, 0, ssa.stderr);
    assert.match(ssa.stdout, /widget.test.kubevirtbmc.io\/w-ssa serverside-applied/);
    const waiting = kubectl(
      cluster.kubeconfigPath,
      ['wait', '--for=delete', 'widget/w-ssa', '--timeout=20s'],
      { cacheDir, env: { KUBE_FEATURE_WatchListClient: 'true' } },
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await k(['delete', 'widget', 'w-ssa', '--wait=false'])).code, 0);
    const done = await waiting;
    assert.equal(done.code, 0, done.stderr);
    assert.ok(cluster.stats.requests().some((q) => q.verb === 'watch' && q.userAgent?.startsWith('kubectl')));
  });

  test('delete waits for finalizers; wait --for=delete returns once gone', async () => {
    assert.equal(
      (await k(['patch', 'widget', 'w1', '--type=merge', '-p', '{"metadata":{"finalizers":["test/hold"]}}']))
        .code,
      0,
    );
    const del = await k(['delete', 'widget', 'w1', '--wait=false']);
    assert.equal(del.code, 0, del.stderr);
    const ts = await k(['get', 'widget', 'w1', '-o', 'jsonpath={.metadata.deletionTimestamp}']);
    assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT/);
    const waiting = k(['wait', '--for=delete', 'widget/w1', '--timeout=20s']);
    await k([
      'patch',
      'widget',
      'w1',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    ]);
    const done = await waiting;
    assert.equal(done.code, 0, done.stderr);
    assert.equal((await k(['get', 'widget', 'w1'])).code, 1);
    // default delete (which waits) on a plain object
    await k(['apply', '-f', '-'], widgetYaml(1));
    const d = await k(['delete', 'widget', 'w1']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /widget.test.kubevirtbmc.io "w1" deleted/);
  });

  test('imperative create commands, which send protobuf: namespace, secret generic and tls, configmap, serviceaccount, role, rolebinding, deployment, expose, run', async () => {
    const ok = async (args: string[], out: RegExp) => {
      const r = await k(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, out);
    };
    const json = async (args: string[]) => {
      const r = await k([...args, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    await ok(['create', 'namespace', 'bmcs'], /namespace\/bmcs created/);
    // what a user of the demo types to give a BMC its credentials
    await ok(
      [
        'create',
        'secret',
        'generic',
        'bmc-auth',
        '-n',
        'bmcs',
        '--from-literal=username=admin',
        '--from-literal=password=pa$$ word',
      ],
      /secret\/bmc-auth created/,
    );
    const secret = await json(['get', 'secret', 'bmc-auth', '-n', 'bmcs']);
    assert.equal(secret.type, 'Opaque');
    assert.equal(Buffer.from(secret.data.username, 'base64').toString(), 'admin');
    assert.equal(Buffer.from(secret.data.password, 'base64').toString(), 'pa$$ word');
    const tls = selfSignedCert();
    const dir = mkdtempSync(join(tmpdir(), 'kubectl-tls-'));
    writeFileSync(join(dir, 'tls.crt'), tls.cert);
    writeFileSync(join(dir, 'tls.key'), tls.key);
    await ok(
      [
        'create',
        'secret',
        'tls',
        'redfish-tls',
        '-n',
        'bmcs',
        `--cert=${join(dir, 'tls.crt')}`,
        `--key=${join(dir, 'tls.key')}`,
      ],
      /secret\/redfish-tls created/,
    );
    const tlsSecret = await json(['get', 'secret', 'redfish-tls', '-n', 'bmcs']);
    assert.equal(tlsSecret.type, 'kubernetes.io/tls');
    assert.equal(Buffer.from(tlsSecret.data['tls.crt'], 'base64').toString(), tls.cert);
    await ok(
      ['create', 'configmap', 'settings', '-n', 'bmcs', '--from-literal=a=1'],
      /configmap\/settings created/,
    );
    assert.deepEqual((await json(['get', 'configmap', 'settings', '-n', 'bmcs'])).data, { a: '1' });
    await ok(['create', 'serviceaccount', 'ops', '-n', 'bmcs'], /serviceaccount\/ops created/);
    await ok(
      [
        'create',
        'role',
        'read-auth',
        '-n',
        'bmcs',
        '--verb=get',
        '--resource=secrets',
        '--resource-name=bmc-auth',
      ],
      /role.rbac.authorization.k8s.io\/read-auth created/,
    );
    assert.deepEqual((await json(['get', 'role', 'read-auth', '-n', 'bmcs'])).rules, [
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['bmc-auth'], verbs: ['get'] },
    ]);
    await ok(
      ['create', 'rolebinding', 'ops-read', '-n', 'bmcs', '--role=read-auth', '--serviceaccount=bmcs:ops'],
      /rolebinding.rbac.authorization.k8s.io\/ops-read created/,
    );
    const rb = await json(['get', 'rolebinding', 'ops-read', '-n', 'bmcs']);
    assert.deepEqual(rb.subjects, [{ kind: 'ServiceAccount', name: 'ops', namespace: 'bmcs' }]);
    assert.equal(rb.roleRef.name, 'read-auth');
    await ok(
      ['create', 'deployment', 'web', '-n', 'bmcs', '--image=nginx:1.27', '--port=80', '--replicas=2'],
      /deployment.apps\/web created/,
    );
    const d = await json(['get', 'deployment', 'web', '-n', 'bmcs']);
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.selector.matchLabels, { app: 'web' });
    assert.equal(d.spec.template.spec.containers[0].image, 'nginx:1.27');
    assert.equal(d.spec.template.spec.containers[0].ports[0].containerPort, 80);
    await ok(
      ['expose', 'deployment', 'web', '-n', 'bmcs', '--port=8080', '--target-port=80'],
      /service\/web exposed/,
    );
    const svc = await json(['get', 'service', 'web', '-n', 'bmcs']);
    assert.deepEqual(svc.spec.selector, { app: 'web' });
    assert.equal(svc.spec.ports[0].port, 8080);
    assert.equal(svc.spec.ports[0].targetPort, 80);
    await ok(
      ['run', 'shell', '-n', 'bmcs', '--image=busybox:1.36', '--labels=app=shell', '--', 'sleep', '3600'],
      /pod\/shell created/,
    );
    const pod = await json(['get', 'pod', 'shell', '-n', 'bmcs']);
    assert.deepEqual(pod.metadata.labels, { app: 'shell' });
    assert.equal(pod.spec.containers[0].image, 'busybox:1.36');
    assert.deepEqual(pod.spec.containers[0].args, ['sleep', '3600']);
  });

  test('built-ins: apply a Deployment, rollout, strategic patch by default, scale, Service ClusterIP, namespace delete', async () => {
    const manifest = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'team-a' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'team-a' },
        spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
      },
    ]
      .map((o) => stringify(o))
      .join('---\n');
    let r = await k(['apply', '-f', '-'], manifest);
    assert.equal(r.code, 0, r.stderr);
    r = await k(['-n', 'team-a', 'rollout', 'status', 'deployment/web', '--timeout=20s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /successfully rolled out/);
    r = await k(['-n', 'team-a', 'get', 'pods', '-l', 'app=web', '-o', 'name']);
    assert.equal(r.stdout.trim().split('\n').length, 2);
    r = await k([
      '-n',
      'team-a',
      'patch',
      'deployment',
      'web',
      '-p',
      '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}',
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await k(['-n', 'team-a', 'rollout', 'status', 'deployment/web', '--timeout=20s']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      async () =>
        (await k(['-n', 'team-a', 'get', 'pods', '-o', 'jsonpath={.items[*].spec.containers[0].image}']))
          .stdout === 'nginx:1.28 nginx:1.28',
      { what: 'rolled pods', timeoutMs: 20_000 },
    );
    r = await k(['-n', 'team-a', 'scale', 'deployment/web', '--replicas=1']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      async () =>
        (await k(['-n', 'team-a', 'get', 'pods', '-o', 'name'])).stdout.trim().split('\n').length === 1,
      { what: 'scaled down', timeoutMs: 20_000 },
    );
    r = await k(['-n', 'team-a', 'get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}']);
    assert.match(r.stdout, /^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/);
    r = await k(['delete', 'namespace', 'team-a', '--timeout=20s']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await k(['get', 'namespace', 'team-a'])).code, 1);
  });
});

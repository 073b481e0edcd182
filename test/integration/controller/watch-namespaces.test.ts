/**
 * Watched namespaces (`--watch-namespaces`, the chart's `watchNamespaces`): a controller told to
 * watch namespace A makes A's BMC Ready and leaves a BMC in namespace B alone (no status, no agent).
 * Installed with the chart and `--set watchNamespaces={A}`, the controller runs as its own
 * ServiceAccount with a RoleBinding in A instead of the ClusterRoleBinding: A's BMC becomes Ready,
 * and its token is refused in B. `helm template` renders that RBAC and refuses a bad name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { BmcController } from '../../../src/controller/controller.ts';
import { missingClients } from '../../support/clients.ts';
import { realOnly } from '../../support/cluster.ts';
import { CHART, helm, helmOk, missingHelm } from '../../support/helm.ts';
import { assertForbidden, bmcYaml, kubectlAs, secretYaml, TestCluster, vmYaml } from './helpers.ts';

const NS = 'kubevirtbmc-system';
const SA = `system:serviceaccount:${NS}:kubevirtbmc-controller`;
const IMAGE = 'ghcr.io/kubevirtbmc-project/kubevirtbmc:test';
const noHelm = missingHelm();

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects as parsed YAML / kubectl JSON
type Obj = any;

describe('the chart renders RBAC for the watched namespaces only', { skip: noHelm, timeout: 120_000 }, () => {
  async function render(...set: string[]): Promise<Obj[]> {
    const out = await helmOk([
      'template',
      'kubevirtbmc',
      CHART,
      '--namespace',
      NS,
      ...set.flatMap((s) => ['--set', s]),
    ]);
    return parseAllDocuments(out)
      .map((d) => d.toJSON())
      .filter(Boolean);
  }
  const bindings = (objs: Obj[]) =>
    objs
      .filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')
      .filter((o) => o.roleRef.name.startsWith('kubevirtbmc-controller'))
      .filter((o) => o.roleRef.name !== 'kubevirtbmc-controller-self')
      .map(
        (o) =>
          `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name} -> ${o.roleRef.kind} ${o.roleRef.name}`,
      )
      .sort();

  test('empty (the default): one ClusterRoleBinding, no --watch-namespaces', async () => {
    const objs = await render();
    assert.deepEqual(bindings(objs), [
      'ClusterRoleBinding /kubevirtbmc-controller -> ClusterRole kubevirtbmc-controller',
    ]);
    const args = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].args;
    assert.ok(!args.some((a: string) => a.startsWith('--watch-namespaces')), args.join(' '));
  });

  test('set: a RoleBinding per namespace to the same ClusterRole, and read of the KubeVirt CR only', async () => {
    const objs = await render('watchNamespaces={lab,team-a}');
    assert.deepEqual(bindings(objs), [
      'ClusterRoleBinding /kubevirtbmc-controller-kubevirts -> ClusterRole kubevirtbmc-controller-kubevirts',
      'RoleBinding lab/kubevirtbmc-controller -> ClusterRole kubevirtbmc-controller',
      'RoleBinding team-a/kubevirtbmc-controller -> ClusterRole kubevirtbmc-controller',
    ]);
    for (const b of objs.filter(
      (o) => o.kind.endsWith('RoleBinding') && o.roleRef.name.startsWith('kubevirtbmc-controller'),
    ))
      assert.deepEqual(b.subjects, [
        { kind: 'ServiceAccount', name: 'kubevirtbmc-controller', namespace: NS },
      ]);
    const reader = objs.find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === 'kubevirtbmc-controller-kubevirts',
    );
    assert.deepEqual(reader.rules, [
      { apiGroups: ['kubevirt.io'], resources: ['kubevirts'], verbs: ['get', 'list', 'watch'] },
    ]);
    const args = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].args;
    assert.ok(args.includes('--watch-namespaces=lab,team-a'), args.join(' '));
  });

  test('a name that cannot be a namespace is refused, saying what to change', async () => {
    const r = await helm(['template', 'kubevirtbmc', CHART, '--set', 'watchNamespaces={lab,Team_A}']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /watchNamespaces: "Team_A" is not a namespace name: use a DNS-1123 label/);
  });
});

const skip = missingClients('kubectl');

describe('watched namespaces on the control plane', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
  });
  after(() => c?.stop());

  /** A VM, its Secret and its BMC `<vm>-bmc` in `ns`. */
  const bmcIn = (ns: string, vm: string) =>
    [
      vmYaml(ns, vm),
      secretYaml(ns, `${vm}-auth`, 'admin', 'pw-12345'),
      bmcYaml(ns, `${vm}-bmc`, vm, `${vm}-auth`),
    ].join('---\n');

  /** Nothing the controller would write for namespace `ns`'s BMC: no status, no agent, no owned objects. */
  async function untouched(ns: string, bmc: string): Promise<void> {
    const b = await c.getJson(['-n', ns, 'vmbmc', bmc]);
    assert.equal(b.status, undefined, `${ns}/${bmc} got a status: ${JSON.stringify(b.status)}`);
    const owned = await c.kubectlOk([
      'get',
      'deployments,services,serviceaccounts,roles,rolebindings,configmaps',
      '-n',
      ns,
      '-l',
      'app.kubernetes.io/managed-by=kubevirtbmc-controller',
      '-o',
      'name',
    ]);
    assert.equal(owned.trim(), '', `objects made in ${ns}`);
  }

  test('a controller watching [wa] makes the BMC in wa Ready and ignores the one in wb', async () => {
    await c.kubectlOk(['create', 'namespace', 'wa']);
    await c.kubectlOk(['create', 'namespace', 'wb']);
    // wb's BMC is there first: had the controller seen it, it would have written its status first
    await c.kubectlOk(['apply', '-f', '-'], bmcIn('wb', 'vm-b'));
    await c.kubectlOk(['apply', '-f', '-'], bmcIn('wa', 'vm-a'));
    const controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement: 'shared',
      agent: { image: IMAGE },
      watchNamespaces: ['wa'],
      metricsPort: null,
    });
    try {
      await controller.start();
      await c.waitCondition('wa', 'vm-a-bmc', 'Ready', 'True', 120_000);
      await controller.idle();
      await untouched('wb', 'vm-b-bmc');
      // and a change in wb still wakes nothing
      await c.kubectlOk(['-n', 'wb', 'annotate', 'vmbmc', 'vm-b-bmc', 'example.com/poke=1']);
      await c.kubectlOk(['-n', 'wa', 'annotate', 'vmbmc', 'vm-a-bmc', 'example.com/poke=1']);
      await controller.idle();
      await untouched('wb', 'vm-b-bmc');
    } finally {
      await controller.stop();
    }
  });

  test('helm install --set watchNamespaces={ha}: Ready in ha through a RoleBinding; refused in hb', {
    skip: realOnly().skip || noHelm,
  }, async () => {
    await c.kubectlOk(['create', 'namespace', 'ha']);
    await c.kubectlOk(['create', 'namespace', 'hb']);
    await c.kubectlOk(['apply', '-f', '-'], bmcIn('hb', 'vm-b'));
    const out = await helmOk([
      'install',
      'kubevirtbmc',
      CHART,
      '--namespace',
      'default',
      '--kubeconfig',
      c.sim.kubeconfigPath,
      '--set',
      'watchNamespaces={ha}',
      '--set',
      'controller.replicas=1',
    ]);
    assert.match(out, /STATUS: deployed/);
    assert.equal(await c.tryGet(['clusterrolebinding', 'kubevirtbmc-controller']), null);
    await c.kubectlOk(['apply', '-f', '-'], bmcIn('ha', 'vm-a'));
    const ready = await c.waitCondition('ha', 'vm-a-bmc', 'Ready', 'True', 180_000);
    assert.equal(ready.status, 'True');
    const agents = await c.getJson(['-n', 'ha', 'deployments', '-l', 'app.kubernetes.io/component=agent']);
    assert.equal(agents.items.length, 1);
    await untouched('hb', 'vm-b-bmc');

    // what the controller's ServiceAccount may do, as the API server decides it
    const canI = async (...args: string[]) =>
      (await c.kubectl(['auth', 'can-i', `--as=${SA}`, ...args])).stdout.trim();
    assert.equal(await canI('create', 'deployments', '-n', 'ha'), 'yes');
    assert.equal(await canI('create', 'roles', '-n', 'ha'), 'yes');
    assert.equal(await canI('create', 'deployments', '-n', 'hb'), 'no');
    assert.equal(await canI('get', 'secrets', '-n', 'hb'), 'no');
    assert.equal(await canI('update', 'virtualmachinebmcs.bmc.kubevirt.io/status', '-n', 'hb'), 'no');
    assert.equal(await canI('list', 'virtualmachinebmcs.bmc.kubevirt.io', '--all-namespaces'), 'no');
    assert.equal(await canI('list', 'kubevirts.kubevirt.io', '--all-namespaces'), 'yes');

    // and its own token, used as the controller's pod uses it
    const asController = await kubectlAs(c, NS, 'kubevirtbmc-controller');
    const mine = await asController(['-n', 'ha', 'get', 'vmbmc', 'vm-a-bmc', '-o', 'name']);
    assert.equal(mine.code, 0, mine.stderr);
    assertForbidden(await asController(['-n', 'hb', 'get', 'vmbmc', 'vm-b-bmc']), 'reading a BMC in hb');
    assertForbidden(
      await asController(['-n', 'hb', 'create', 'serviceaccount', 'intruder']),
      'creating a ServiceAccount in hb',
    );
    assertForbidden(
      await asController(['get', 'secrets', '--all-namespaces']),
      'listing Secrets cluster-wide',
    );

    await c.kubectlOk(['delete', 'vmbmc', '--all', '-n', 'ha', '--wait=true'], undefined, 120_000);
    await helmOk([
      'uninstall',
      'kubevirtbmc',
      '--namespace',
      'default',
      '--kubeconfig',
      c.sim.kubeconfigPath,
    ]);
  });
});

/**
 * What an operator does with the Helm chart on the real control plane: `helm install` (every BMC
 * becomes Ready and answers ipmitool), `helm upgrade` to per-vm placement and NodePort Services (it
 * takes effect, the BMCs keep their addresses), `helm upgrade` to a new image (the agents roll with
 * strategy Recreate: never two agent pods of one BMC Running at once, watched pod by pod; the
 * controller rolls and one replica leads), then `helm uninstall` after deleting the BMCs, which
 * leaves nothing behind but the CRD.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Watch } from '@kubernetes/client-node';
import { GC_TIMEOUT_MS, realOnly } from '../../support/cluster.ts';
import { CHART, helm, helmDocCommands, helmOk, missingHelm, typedDocCommand } from '../../support/helm.ts';
import { waitFor } from '../../support/wait.ts';
import { bmcYaml, ipmitool, secretYaml, TestCluster, vmYaml } from './helpers.ts';

const NS = 'kubevirtbmc-system';
const { skip: notReal } = realOnly();
const skip = notReal || missingHelm();

// biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
type Obj = any;

/**
 * Watches agent pods (one watch of the API server: every event, in order) and records each moment
 * two pods serving the same BMC (per-vm: its label; shared: the namespace's one agent) were Running.
 */
class AgentPodWatch {
  readonly #pods = new Map<string, { group: string; phase: string }>();
  readonly overlaps: string[] = [];
  #abort: { abort(): void } | undefined;

  static async start(c: TestCluster): Promise<AgentPodWatch> {
    const w = new AgentPodWatch();
    w.#abort = await new Watch(c.kubeConfig()).watch(
      '/api/v1/pods',
      { labelSelector: 'app.kubernetes.io/component=agent' },
      (type: string, pod: Obj) => w.#event(type, pod),
      () => {},
    );
    return w;
  }

  #event(type: string, pod: Obj): void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (type === 'DELETED') this.#pods.delete(key);
    else
      this.#pods.set(key, {
        group: `${pod.metadata.namespace}/${pod.metadata.labels?.['bmc.kubevirt.io/bmc'] ?? '(shared agent)'}`,
        phase: pod.status?.phase ?? '',
      });
    const running = new Map<string, string[]>();
    for (const [k, p] of this.#pods)
      if (p.phase === 'Running') running.set(p.group, [...(running.get(p.group) ?? []), k]);
    for (const [group, pods] of running)
      if (pods.length > 1) {
        const what = `${group}: ${pods.sort().join(', ')} Running at once`;
        if (!this.overlaps.includes(what)) this.overlaps.push(what);
      }
  }

  running(): string[] {
    return [...this.#pods].filter(([, p]) => p.phase === 'Running').map(([k]) => k);
  }

  stop(): void {
    this.#abort?.abort();
  }
}

describe('install, upgrade and uninstall with the Helm chart', { skip, timeout: 900_000 }, () => {
  let c: TestCluster;
  let kubeconfig: string;
  const h = (args: string[], timeoutMs?: number) => helmOk([...args, '--kubeconfig', kubeconfig], timeoutMs);
  /** docs/getting-started.md's Helm commands, each run here exactly as written (checked at the end). */
  const documented = helmDocCommands();
  const typed = new Set<string>();
  async function doc(start: string, timeoutMs?: number): Promise<string> {
    const line = documented.find((l) => l.startsWith(start));
    assert.ok(line, `docs/getting-started.md shows a command starting "${start}"`);
    const r = await typedDocCommand(line, kubeconfig, timeoutMs);
    assert.equal(r.code, 0, `${line}\n${r.stderr}${r.stdout}`);
    typed.add(line);
    return r.stdout;
  }

  async function bmcs(): Promise<Obj[]> {
    return (await c.getJson(['vmbmc', '--all-namespaces'])).items;
  }

  async function allReady(what: string, check: (b: Obj) => boolean = () => true): Promise<Obj[]> {
    return waitFor(
      async () => {
        const list = await bmcs();
        const ok = list.every(
          (b) =>
            b.status?.observedGeneration === b.metadata.generation &&
            b.status?.conditions?.some((x: Obj) => x.type === 'Ready' && x.status === 'True') &&
            check(b),
        );
        return list.length === 3 && ok ? list : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500, what },
    );
  }

  async function agentDeployments(): Promise<Obj[]> {
    return (await c.getJson(['deployments', '--all-namespaces', '-l', 'app.kubernetes.io/component=agent']))
      .items;
  }

  before(async () => {
    c = await TestCluster.start();
    kubeconfig = c.sim.kubeconfigPath;
  });
  after(() => c?.stop());

  test('helm install: the controller runs and every BMC becomes Ready and answers ipmitool', async () => {
    const out = await doc('helm install kubevirtbmc deploy/chart');
    assert.match(out, /STATUS: deployed/);
    assert.match(await doc('kubectl -n kubevirtbmc-system rollout status'), /successfully rolled out/);
    await waitFor(
      async () =>
        (await c.getJson(['-n', NS, 'deployment', 'kubevirtbmc-controller'])).status?.availableReplicas === 2,
      { timeoutMs: 90_000, intervalMs: 250, what: 'two controller replicas available' },
    );
    const ns = await c.getJson(['namespace', NS]);
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    await c.kubectlOk(['apply', '-k', 'deploy/samples/']);
    await c.kubectlOk(['create', 'namespace', 'lab']);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('lab', 'vm1'),
        vmYaml('lab', 'vm2'),
        secretYaml('lab', 'lab-auth', 'admin', 'lab-password'),
        bmcYaml('lab', 'vm1-bmc', 'vm1', 'lab-auth'),
        bmcYaml('lab', 'vm2-bmc', 'vm2', 'lab-auth'),
      ].join('---\n'),
    );
    const list = await allReady('all three BMCs Ready', (b) => b.status.placement === 'shared');
    for (const b of list) {
      const r = await ipmitool(
        b.status.endpoints.ipmi,
        'admin',
        b.metadata.namespace === 'lab' ? 'lab-password' : 'change-me-now',
        'power',
        'status',
      );
      assert.equal(r.stdout.trim(), 'Chassis Power is off', `${b.metadata.name}: ${r.stderr}`);
    }
    const svc = await c.getJson(['service', 'vbmc-sample-vm-bmc']);
    assert.equal(svc.spec.type, 'ClusterIP');
  });

  test('the CRD is upgraded in place with kubectl apply, as documented; the BMCs stay', async () => {
    // a newer CRD: the chart's own, with one description changed (what a release changes)
    const dir = mkdtempSync(join(tmpdir(), 'crds-'));
    const crd = readFileSync(join(CHART, 'crds', 'virtualmachinebmcs.yaml'), 'utf8');
    const newer = crd.replace(
      'description: How the BMC is exposed.',
      'description: How the BMC is exposed (v2).',
    );
    assert.notEqual(newer, crd);
    writeFileSync(join(dir, 'virtualmachinebmcs.yaml'), newer);
    // docs/getting-started.md, "Upgrade and uninstall": the same command, on the changed file
    await c.kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', `${dir}/`]);
    const live = await c.getJson(['crd', 'virtualmachinebmcs.bmc.kubevirt.io']);
    const service = live.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.service;
    assert.equal(service.description, 'How the BMC is exposed (v2).');
    assert.equal((await bmcs()).length, 3);
    await allReady('all BMCs Ready after the CRD upgrade');
    // the documented upgrade, verbatim: the chart's CRD, then helm upgrade with the values in use
    await doc('kubectl apply --server-side --force-conflicts -f deploy/chart/crds/');
    assert.match(await doc('helm upgrade kubevirtbmc deploy/chart --reuse-values'), /STATUS: deployed/);
    await allReady('all BMCs Ready after the documented upgrade');
  });

  test('helm upgrade to per-vm placement and NodePort Services takes effect; addresses stay', async () => {
    const before = await c.getJson(['service', 'vbmc-sample-vm-bmc']);
    const out = await h([
      'upgrade',
      'kubevirtbmc',
      CHART,
      '--namespace',
      'default',
      '--reuse-values',
      '--set',
      'placement=per-vm',
      '--set',
      'service.type=NodePort',
      '--set',
      'service.annotations.example\\.com/team=infra',
    ]);
    assert.match(out, /REVISION: 3/);
    await allReady('all BMCs Ready in per-vm placement', (b) => b.status.placement === 'per-vm');
    const svc = await waitFor(
      async () => {
        const s = await c.getJson(['service', 'vbmc-sample-vm-bmc']);
        return s.spec.type === 'NodePort' ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the BMC Service became a NodePort' },
    );
    assert.equal(svc.spec.clusterIP, before.spec.clusterIP);
    assert.equal(svc.metadata.annotations['example.com/team'], 'infra');
    assert.ok(svc.spec.ports.every((p: Obj) => p.nodePort >= 30000 && p.nodePort <= 32767));
    const deployments = await agentDeployments();
    assert.deepEqual(deployments.map((d) => `${d.metadata.namespace}/${d.metadata.name}`).sort(), [
      'default/vbmc-sample-vm-bmc',
      'lab/vbmc-vm1-bmc',
      'lab/vbmc-vm2-bmc',
    ]);
    for (const d of deployments) assert.deepEqual(d.spec.strategy, { type: 'Recreate' });
  });

  test('helm upgrade to a new image: agents roll one pod at a time per BMC; one controller leads', async () => {
    // the shared agent of the previous placement is gone before watching
    await waitFor(
      async () =>
        (await c.getJson(['pods', '-A', '-l', 'bmc.kubevirt.io/placement=shared'])).items.length === 0,
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: 'the shared agent pods gone',
      },
    );
    const watch = await AgentPodWatch.start(c);
    try {
      await waitFor(async () => (watch.running().length === 3 ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 200,
        what: 'the watch sees the three running agents',
      });
      const old = new Set(watch.running());
      await h([
        'upgrade',
        'kubevirtbmc',
        CHART,
        '--namespace',
        'default',
        '--reuse-values',
        '--set',
        'image.tag=0.1.1',
      ]);
      await waitFor(
        async () => {
          const ds = await agentDeployments();
          return ds.length === 3 &&
            ds.every(
              (d) =>
                d.spec.template.spec.containers[0].image.endsWith(':0.1.1') &&
                d.status?.updatedReplicas === 1 &&
                d.status?.availableReplicas === 1 &&
                d.status?.replicas === 1,
            )
            ? true
            : undefined;
        },
        { timeoutMs: 240_000, intervalMs: 500, what: 'every agent Deployment rolled to 0.1.1' },
      );
      await allReady('all BMCs Ready after the image upgrade');
      const now = watch.running();
      assert.equal(now.length, 3, now.join(', '));
      assert.ok(
        now.every((p) => !old.has(p)),
        `new agent pods: ${now.join(', ')} (old: ${[...old].join(', ')})`,
      );
      assert.deepEqual(watch.overlaps, []);
    } finally {
      watch.stop();
    }
    // the controller rolled too: two new replicas, and the Lease is held by one of them
    const pods = await waitFor(
      async () => {
        const ps = (await c.getJson(['-n', NS, 'pods', '-l', 'app.kubernetes.io/component=controller']))
          .items;
        const ready = ps.filter(
          (p: Obj) =>
            p.spec.containers[0].image.endsWith(':0.1.1') &&
            !p.metadata.deletionTimestamp &&
            p.status.conditions?.some((x: Obj) => x.type === 'Ready' && x.status === 'True'),
        );
        return ps.length === 2 && ready.length === 2
          ? ready.map((p: Obj) => p.metadata.name as string)
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'two controller replicas of the new image ready' },
    );
    const lease = await waitFor(
      async () => {
        const l = await c.getJson(['-n', NS, 'lease', 'kubevirtbmc-controller']);
        return pods.includes(l.spec.holderIdentity) ? l : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'a new replica holds the Lease' },
    );
    assert.ok(pods.includes(lease.spec.holderIdentity));
    // and it reconciles: a BMC that sets its own Service type gets it (over --service-type NodePort)
    await c.kubectlOk([
      'patch',
      'vmbmc',
      'sample-vm-bmc',
      '--type=merge',
      '-p',
      '{"spec":{"service":{"type":"ClusterIP"}}}',
    ]);
    await waitFor(
      async () =>
        (await c.getJson(['service', 'vbmc-sample-vm-bmc'])).spec.type === 'ClusterIP' ? true : undefined,
      { timeoutMs: 60_000, intervalMs: 500, what: 'the new leader reconciled the Service type' },
    );
    const sample = (await allReady('all BMCs Ready')).find((b) => b.metadata.name === 'sample-vm-bmc');
    const r = await ipmitool(sample.status.endpoints.ipmi, 'admin', 'change-me-now', 'power', 'status');
    assert.equal(r.stdout.trim(), 'Chassis Power is off', r.stderr);
  });

  test('helm uninstall after deleting the BMCs leaves nothing behind but the CRD', async () => {
    await doc('kubectl delete vmbmc --all --all-namespaces --wait');
    await waitFor(
      async () => {
        const left = await c.kubectlOk([
          'get',
          'deployments,services,serviceaccounts,roles,rolebindings,configmaps',
          '--all-namespaces',
          '-l',
          'app.kubernetes.io/managed-by=kubevirtbmc-controller',
          '-o',
          'name',
        ]);
        return left.trim() === '' ? true : undefined;
      },
      { timeoutMs: GC_TIMEOUT_MS, intervalMs: 1000, what: "the BMCs' agents, Services and RBAC collected" },
    );
    const out = await doc('helm uninstall kubevirtbmc ');
    assert.match(out, /release "kubevirtbmc" uninstalled/);
    await waitFor(async () => ((await c.tryGet(['namespace', NS])) === null ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 1000,
      what: `namespace ${NS} deleted`,
    });
    const left = await c.kubectlOk([
      'get',
      'clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings,customresourcedefinitions',
      '-l',
      'app.kubernetes.io/part-of=kubevirtbmc',
      '-o',
      'name',
    ]);
    assert.deepEqual(left.trim().split('\n'), [
      'customresourcedefinition.apiextensions.k8s.io/virtualmachinebmcs.bmc.kubevirt.io',
    ]);
    const releases = await h(['list', '--all-namespaces', '-q']);
    assert.equal(releases.trim(), '');
    // helm status says so too
    const st = await helm(['status', 'kubevirtbmc', '--namespace', 'default', '--kubeconfig', kubeconfig]);
    assert.notEqual(st.code, 0);
  });

  test('the documented example install (MetalLB, per-vm, infra nodes) renders those settings; the CRD goes last', async () => {
    const out = await doc('helm install kubevirtbmc deploy/chart --set placement=per-vm');
    assert.match(out, /STATUS: deployed/);
    const ctl = await c.getJson(['-n', NS, 'deployment', 'kubevirtbmc-controller']);
    const args: string[] = ctl.spec.template.spec.containers[0].args;
    for (const want of [
      '--placement=per-vm',
      '--service-type=LoadBalancer',
      '--service-annotation=metallb.universe.tf/address-pool=bmc',
      '--agent-node-selector=node-role.kubernetes.io/infra=',
    ])
      assert.ok(args.includes(want), `${want} in ${JSON.stringify(args)}`);
    assert.match(await h(['uninstall', 'kubevirtbmc', '--namespace', 'default']), /uninstalled/);
    await waitFor(async () => ((await c.tryGet(['namespace', NS])) === null ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 1000,
      what: `namespace ${NS} deleted`,
    });
    await doc('kubectl delete -f deploy/chart/crds/');
    assert.equal(await c.tryGet(['crd', 'virtualmachinebmcs.bmc.kubevirt.io']), null, 'the CRD is gone');
  });

  test("every helm and kubectl command of docs/getting-started.md's Helm, upgrade and uninstall sections ran here verbatim", () => {
    assert.ok(documented.length >= 8, `found ${documented.length} commands`);
    assert.deepEqual(
      documented.filter((l) => !typed.has(l)),
      [],
    );
  });
});

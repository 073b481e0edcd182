/**
 * What the controller's install-time settings (the flags the Helm chart sets) do to the objects it
 * builds: the agent Deployments' update strategy, resources, priority class and node selector, and
 * the BMC Services' default type and annotations. And the flags' own errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import type { AgentSettings } from '../../../src/controller/builders.ts';
import { Reconciler } from '../../../src/controller/reconciler.ts';
import type { Placement } from '../../../src/controller/types.ts';
import { bmc, FakeCluster, secret, vm } from './fake-cluster.ts';

const NS = 'lab';
const IMAGE = 'ghcr.io/kubevirtbmc-project/kubevirtbmc:0.1.0';
const BIN = new URL('../../../bin/kubevirtbmc.js', import.meta.url).pathname;

function cluster(): FakeCluster {
  const c = new FakeCluster();
  c.put(vm(NS, 'vm1'));
  c.put(vm(NS, 'vm2'));
  c.put(secret(NS, 'auth', { username: 'admin', password: 'secret-pw' }));
  c.put(bmc(NS, 'plain', 'vm1', 'auth'));
  c.put(
    bmc(NS, 'own', 'vm2', 'auth', {
      service: { type: 'ClusterIP', annotations: { 'metallb.universe.tf/address-pool': 'mine' } },
    }),
  );
  return c;
}

async function reconcile(c: FakeCluster, placement: Placement, agent: Partial<AgentSettings> = {}) {
  const r = new Reconciler({ placement, agent: { image: IMAGE, ...agent } });
  const result = await r.reconcileNamespace(NS, c, c);
  assert.deepEqual(result.errors, []);
  return r;
}

const deploymentName = (placement: Placement) =>
  placement === 'per-vm' ? 'vbmc-plain' : 'kubevirtbmc-agent';

for (const placement of ['per-vm', 'shared'] as const) {
  describe(`${placement} agent Deployment`, () => {
    test('is replaced with strategy Recreate: the old agent pod goes before the new one starts', async () => {
      const c = cluster();
      await reconcile(c, placement);
      const d = c.get('Deployment', NS, deploymentName(placement))!;
      // RollingUpdate (maxSurge 1) would run the new agent next to the old one: two answering IPMI
      // on one Service address and both writing the VM until the old one stops.
      assert.deepEqual(d.spec.strategy, { type: 'Recreate' });
    });

    test('an agent Deployment an earlier controller made with RollingUpdate is switched to Recreate', async () => {
      const c = cluster();
      await reconcile(c, placement);
      const d = c.get('Deployment', NS, deploymentName(placement))!;
      c.put({
        ...d,
        spec: {
          ...d.spec,
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        },
      });
      c.writes.length = 0;
      await reconcile(c, placement);
      assert.ok(c.writes.includes(`replace Deployment/${deploymentName(placement)}`), c.writes.join(', '));
      // the update carries no rollingUpdate (the API server refuses it next to Recreate)
      assert.deepEqual(c.get('Deployment', NS, deploymentName(placement))!.spec.strategy, {
        type: 'Recreate',
      });
    });

    test('resources, priority class and node selector reach the pod; a second pass writes nothing', async () => {
      const c = cluster();
      const settings: Partial<AgentSettings> = {
        resources: { requests: { cpu: '50m', memory: '80Mi' }, limits: {} },
        priorityClassName: 'bmc-critical',
        nodeSelector: { 'node-role.kubernetes.io/infra': '', 'kubernetes.io/os': 'linux' },
      };
      await reconcile(c, placement, settings);
      const pod = c.get('Deployment', NS, deploymentName(placement))!.spec.template.spec;
      assert.equal(pod.priorityClassName, 'bmc-critical');
      assert.deepEqual(pod.nodeSelector, {
        'node-role.kubernetes.io/infra': '',
        'kubernetes.io/os': 'linux',
      });
      // no limits: the key is left out, as the API server stores it (an empty map would be drift forever)
      assert.deepEqual(pod.containers[0].resources, { requests: { cpu: '50m', memory: '80Mi' } });
      c.writes.length = 0;
      await reconcile(c, placement, settings);
      assert.deepEqual(
        c.writes.filter((w) => !w.startsWith('status ')),
        [],
      );
    });

    test('without those settings the pod has the default resources and no priority class or selector', async () => {
      const c = cluster();
      await reconcile(c, placement);
      const pod = c.get('Deployment', NS, deploymentName(placement))!.spec.template.spec;
      assert.equal(pod.priorityClassName, undefined);
      assert.equal(pod.nodeSelector, undefined);
      assert.deepEqual(pod.containers[0].resources, {
        requests: { cpu: '10m', memory: '64Mi' },
        limits: { memory: '256Mi' },
      });
    });
  });
}

describe('BMC Service defaults (--service-type, --service-annotation)', () => {
  test("apply to a BMC that does not set them; a BMC's own type and annotations win", async () => {
    const c = cluster();
    await reconcile(c, 'per-vm', {
      service: {
        type: 'LoadBalancer',
        annotations: { 'metallb.universe.tf/address-pool': 'bmc', 'example.com/team': 'infra' },
      },
    });
    const plain = c.get('Service', NS, 'vbmc-plain')!;
    assert.equal(plain.spec.type, 'LoadBalancer');
    assert.deepEqual(plain.metadata.annotations, {
      'metallb.universe.tf/address-pool': 'bmc',
      'example.com/team': 'infra',
    });
    const own = c.get('Service', NS, 'vbmc-own')!;
    assert.equal(own.spec.type, 'ClusterIP');
    assert.deepEqual(own.metadata.annotations, {
      'metallb.universe.tf/address-pool': 'mine',
      'example.com/team': 'infra',
    });
  });

  test('changing the default type changes the Services of BMCs that do not set one', async () => {
    const c = cluster();
    await reconcile(c, 'shared');
    assert.equal(c.get('Service', NS, 'vbmc-plain')!.spec.type, 'ClusterIP');
    await reconcile(c, 'shared', { service: { type: 'NodePort' } });
    assert.equal(c.get('Service', NS, 'vbmc-plain')!.spec.type, 'NodePort');
    assert.equal(c.get('Service', NS, 'vbmc-own')!.spec.type, 'ClusterIP');
  });
});

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'controller', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, err: r.stderr, out: r.stdout };
}

describe('the flags', () => {
  test('--help lists them with their defaults', () => {
    const r = run('--help');
    assert.equal(r.code, 0);
    const help = r.out.replace(/\s+/g, ' ');
    assert.match(help, /--agent-requests <cpu=q,memory=q> .*\(default: cpu=10m,memory=64Mi\)/);
    assert.match(help, /--agent-limits <cpu=q,memory=q> .*\(default: memory=256Mi\)/);
    for (const f of ['--agent-priority-class', '--agent-node-selector', '--service-annotation'])
      assert.ok(help.includes(f), f);
    assert.match(
      help,
      /--service-type <type> .*choices: "ClusterIP", "NodePort", "LoadBalancer", default: "ClusterIP"/,
    );
  });

  for (const [args, message] of [
    [
      ['--agent-requests', 'cpu=lots'],
      /--agent-requests.*must be cpu=<quantity>,memory=<quantity>.*got "cpu=lots"/,
    ],
    [['--agent-limits', 'gpu=1'], /--agent-limits.*got "gpu=1"/],
    [
      ['--agent-requests', 'memory=512Mi'],
      /--agent-requests memory=512Mi is above --agent-limits memory=256Mi/,
    ],
    [['--agent-priority-class', 'Not_A_Name'], /--agent-priority-class.*must be a DNS-1123 subdomain/],
    [['--agent-node-selector', 'zone'], /--agent-node-selector.*must be key=value, got "zone"/],
    [['--agent-node-selector', 'zone=a b'], /"a b" is not a valid node selector value/],
    [
      ['--agent-node-selector', 'zone=a', '--agent-node-selector', 'zone=b'],
      /node selector key "zone" given twice/,
    ],
    [
      ['--service-type', 'External'],
      /argument 'External' is invalid\. Allowed choices are ClusterIP, NodePort, LoadBalancer/,
    ],
    [['--service-annotation', 'bad key=x'], /"bad key" is not a valid annotation key/],
  ] as const) {
    test(`${args.join(' ')} is refused with a one-line error before anything starts`, () => {
      // the kubeconfig does not exist: an accepted flag would get as far as saying so instead
      const r = run(...args, '--kubeconfig', '/nonexistent/kubeconfig');
      assert.notEqual(r.code, 0);
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /cannot load the kubeconfig/);
    });
  }

  test('accepted values get as far as loading the kubeconfig', () => {
    const r = run(
      '--agent-requests',
      'cpu=20m,memory=100Mi',
      '--agent-limits',
      'none',
      '--agent-priority-class',
      'system-cluster-critical',
      '--agent-node-selector',
      'kubernetes.io/os=linux',
      '--service-type',
      'LoadBalancer',
      '--service-annotation',
      'metallb.universe.tf/address-pool=bmc',
      '--kubeconfig',
      '/nonexistent/kubeconfig',
    );
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot load the kubeconfig/);
  });
});

/**
 * Hundreds of BMCs: the controller converges, and afterwards its API traffic follows changes, not
 * time. The agent image here is one the embedded kubelet does not run (its pods just go Running),
 * so this measures the controller alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BmcController } from '../../../src/controller/controller.ts';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
import { bmcYaml, secretYaml, TestCluster, vmYaml } from './helpers.ts';

const PER_NS = 100;
const NAMESPACES = ['scale-a', 'scale-b'];
const TOTAL = PER_NS * NAMESPACES.length;

describe(`reconcile of ${TOTAL} BMCs`, { skip: missingClients('kubectl'), timeout: 600_000 }, () => {
  let c: TestCluster;
  let controller: BmcController;

  const controllerRequests = () =>
    c.sim.stats.requests().filter((r) => r.userAgent?.startsWith('kubevirtbmc-controller'));
  const nonWatch = () => controllerRequests().filter((r) => r.verb !== 'watch');

  async function readyCount(): Promise<number> {
    const list = await c.getJson(['vmbmc', '-A']);
    return list.items.filter((b: { status?: { conditions?: Array<{ type: string; status: string }> } }) =>
      b.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
    ).length;
  }

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    const docs: string[] = [];
    for (const ns of NAMESPACES) {
      docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`);
      for (let i = 0; i < PER_NS; i++) {
        docs.push(
          vmYaml(ns, `vm-${i}`),
          secretYaml(ns, `auth-${i}`, 'admin', `pw-${i}`),
          bmcYaml(ns, `bmc-${i}`, `vm-${i}`, `auth-${i}`),
        );
      }
    }
    await c.kubectlOk(['apply', '-f', '-'], docs.join('---\n'), 300_000);
    c.sim.stats.reset();
    controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement: 'shared',
      agent: { image: 'registry.example/not-an-agent:1' },
      metricsPort: null,
    });
    await controller.start();
  });
  after(async () => {
    await controller?.stop();
    await c?.stop();
  });

  test('every BMC becomes Ready, with a bounded number of requests', async () => {
    await waitFor(async () => (await readyCount()) === TOTAL, {
      timeoutMs: 240_000,
      intervalMs: 2000,
      what: `all ${TOTAL} BMCs Ready`,
    });
    await controller.idle();
    const n = nonWatch().length;
    const byVerb: Record<string, number> = {};
    for (const r of nonWatch()) byVerb[r.verb] = (byVerb[r.verb] ?? 0) + 1;
    console.log(`# converging ${TOTAL} BMCs took ${n} non-watch requests: ${JSON.stringify(byVerb)}`);
    // Per BMC: its Service, a few status writes and condition Events; plus the shared objects.
    assert.ok(n <= TOTAL * 10 + 200, `${n} requests for ${TOTAL} BMCs`);
    const lists = controllerRequests().filter((r) => r.verb === 'list').length;
    assert.ok(lists <= 8 * 2, `only the initial lists (and rare relists): ${lists}`);
  });

  test('idle: no requests while nothing changes', async () => {
    await controller.idle();
    c.sim.stats.reset();
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(
      nonWatch().map((r) => `${r.method} ${r.path}`),
      [],
    );
  });

  test('one change costs a handful of requests, ten changes about ten times that', async () => {
    c.sim.stats.reset();
    await c.kubectlOk(['-n', 'scale-a', 'delete', 'vm', 'vm-7']);
    await c.waitCondition('scale-a', 'bmc-7', 'VirtualMachineAvailable', 'False');
    await controller.idle();
    const one = nonWatch().length;
    c.sim.stats.reset();
    const names = Array.from({ length: 10 }, (_, i) => `vm-${20 + i}`);
    await c.kubectlOk(['-n', 'scale-b', 'delete', 'vm', ...names]);
    for (let i = 0; i < 10; i++)
      await c.waitCondition('scale-b', `bmc-${20 + i}`, 'VirtualMachineAvailable', 'False');
    await controller.idle();
    const ten = nonWatch().length;
    console.log(`# one VM deleted: ${one} requests; ten VMs deleted: ${ten} requests`);
    assert.ok(one >= 1 && one <= 6, `one change: ${one}`);
    assert.ok(ten <= 10 * 6, `ten changes: ${ten}`);
  });
});

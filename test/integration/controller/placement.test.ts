/**
 * Both placements against the test cluster (its kubelet runs the agent pods), and migration
 * between them: the controller runs in-process with the admin kubeconfig; users act with kubectl.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BmcController } from '../../../src/controller/controller.ts';
import type { Placement } from '../../../src/controller/types.ts';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
import { bmcYaml, ipmitool, secretYaml, TestCluster, vmYaml } from './helpers.ts';

const skip = missingClients('kubectl', 'ipmitool');
const NS = 'placement';

describe('placements and migration', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;
  let controller: BmcController | null = null;

  async function runController(placement: Placement) {
    await controller?.stop();
    controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement,
      agent: { image: 'ghcr.io/kubevirtbmc-project/kubevirtbmc:test' },
      metricsPort: null,
    });
    await controller.start();
  }

  async function deployments(): Promise<string[]> {
    return (await c.getJson(['-n', NS, 'deployments'])).items
      .map((d: { metadata: { name: string } }) => d.metadata.name)
      .sort();
  }

  async function powerStatus(bmc: string, user: string, pw: string): Promise<string> {
    const st = (await c.getJson(['-n', NS, 'vmbmc', bmc])).status;
    return (await ipmitool(st.endpoints.ipmi, user, pw, 'power', 'status')).stdout.trim();
  }

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    const objs = [
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`,
      vmYaml(NS, 'vm-a'),
      vmYaml(NS, 'vm-b'),
      // a VM without a BMC, and a Secret no BMC uses: out of every agent's reach for writes
      vmYaml(NS, 'vm-c'),
      secretYaml(NS, 'unrelated', 'carol', 'pw-c'),
      secretYaml(NS, 'auth-a', 'alice', 'pw-a'),
      secretYaml(NS, 'auth-b', 'bob', 'pw-b'),
      bmcYaml(NS, 'bmc-a', 'vm-a', 'auth-a'),
      bmcYaml(NS, 'bmc-b', 'vm-b', 'auth-b'),
    ];
    await c.kubectlOk(['apply', '-f', '-'], objs.join('---\n'));
  });
  after(async () => {
    await controller?.stop();
    await c?.stop();
  });

  test('per-vm: one agent per BMC, each answering with its own credentials', async () => {
    await runController('per-vm');
    for (const b of ['bmc-a', 'bmc-b'])
      await c.kubectlOk(
        ['-n', NS, 'wait', '--for=condition=Ready', `vmbmc/${b}`, '--timeout=120s'],
        undefined,
        130_000,
      );
    assert.deepEqual(await deployments(), ['vbmc-bmc-a', 'vbmc-bmc-b']);
    assert.equal(await powerStatus('bmc-a', 'alice', 'pw-a'), 'Chassis Power is off');
    assert.equal(await powerStatus('bmc-b', 'bob', 'pw-b'), 'Chassis Power is off');
    const role = await c.getJson(['-n', NS, 'role', 'vbmc-bmc-a']);
    assert.deepEqual(role.rules[0].resourceNames, ['vm-a']);
    // Each agent's token reaches its own VM only.
    const sa = await c.sim.serviceAccountKubeconfig(NS, 'vbmc-bmc-a');
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const path = join(mkdtempSync(join(tmpdir(), 'sa-')), 'kubeconfig');
    writeFileSync(path, sa);
    const { run } = await import('./helpers.ts');
    const own = await run('kubectl', ['--kubeconfig', path, '-n', NS, 'get', 'vm', 'vm-a', '-o', 'name']);
    assert.equal(own.code, 0, own.stderr);
    const other = await run('kubectl', ['--kubeconfig', path, '-n', NS, 'get', 'vm', 'vm-b', '-o', 'name']);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /forbidden/i);
    const ownSecret = await run('kubectl', [
      '--kubeconfig',
      path,
      '-n',
      NS,
      'get',
      'secret',
      'auth-a',
      '-o',
      'name',
    ]);
    assert.equal(ownSecret.code, 0, ownSecret.stderr);
    const otherSecret = await run('kubectl', [
      '--kubeconfig',
      path,
      '-n',
      NS,
      'get',
      'secret',
      'auth-b',
      '-o',
      'name',
    ]);
    assert.match(otherSecret.stderr, /forbidden/i, "another BMC's Secret is out of reach");
    const allVms = await run('kubectl', ['--kubeconfig', path, '-n', NS, 'get', 'vm']);
    assert.match(allVms.stderr, /forbidden/i, 'listing every VM is out of reach');
  });

  test('per-vm → shared migrates both BMCs to one agent, keeping BMCs and Services', async () => {
    const before = await c.getJson(['-n', NS, 'vmbmc']);
    const svcIp = (await c.getJson(['-n', NS, 'service', 'vbmc-bmc-a'])).spec.clusterIP;
    await runController('shared');
    await waitFor(async () => JSON.stringify(await deployments()) === '["kubevirtbmc-agent"]', {
      timeoutMs: 60_000,
      intervalMs: 300,
      what: 'only the shared agent left',
    });
    for (const b of ['bmc-a', 'bmc-b']) {
      await waitFor(async () => (await c.getJson(['-n', NS, 'vmbmc', b])).status?.placement === 'shared', {
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      await c.kubectlOk(
        ['-n', NS, 'wait', '--for=condition=Ready', `vmbmc/${b}`, '--timeout=120s'],
        undefined,
        130_000,
      );
    }
    const after = await c.getJson(['-n', NS, 'vmbmc']);
    assert.deepEqual(
      after.items.map((i: { metadata: { uid: string } }) => i.metadata.uid),
      before.items.map((i: { metadata: { uid: string } }) => i.metadata.uid),
    );
    assert.equal((await c.getJson(['-n', NS, 'service', 'vbmc-bmc-a'])).spec.clusterIP, svcIp);
    const pa = (await c.getJson(['-n', NS, 'vmbmc', 'bmc-a'])).status.ports;
    const pb = (await c.getJson(['-n', NS, 'vmbmc', 'bmc-b'])).status.ports;
    assert.notEqual(pa.ipmi, pb.ipmi);
    await waitFor(async () => (await powerStatus('bmc-a', 'alice', 'pw-a')) === 'Chassis Power is off', {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    await waitFor(async () => (await powerStatus('bmc-b', 'bob', 'pw-b')) === 'Chassis Power is off', {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    // The shared agent reads the namespace's VMs (one watch for all its BMCs) but writes only the
    // VMs it serves, and reads only the Secrets its BMCs name.
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { run } = await import('./helpers.ts');
    const path = join(mkdtempSync(join(tmpdir(), 'sa-')), 'kubeconfig');
    writeFileSync(path, await c.sim.serviceAccountKubeconfig(NS, 'kubevirtbmc-agent'));
    const as = (...args: string[]) => run('kubectl', ['--kubeconfig', path, '-n', NS, ...args]);
    const listed = await as('get', 'vm', '-o', 'name');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /vm-c/);
    const noop = '[{"op":"test","path":"/metadata/name","value":"vm-c"}]';
    const patchOther = await as('patch', 'vm', 'vm-c', '--type=json', '-p', noop);
    assert.match(patchOther.stderr, /forbidden/i, 'a VM no BMC serves cannot be written');
    const unrelated = await as('get', 'secret', 'unrelated', '-o', 'name');
    assert.match(unrelated.stderr, /forbidden/i, 'a Secret no BMC names is out of reach');
    const ownSecret = await as('get', 'secret', 'auth-b', '-o', 'name');
    assert.equal(ownSecret.code, 0, ownSecret.stderr);

    const wrong = (await c.getJson(['-n', NS, 'vmbmc', 'bmc-a'])).status;
    assert.notEqual(
      (await ipmitool(wrong.endpoints.ipmi, 'bob', 'pw-b', 'power', 'status')).code,
      0,
      "bmc-b's user cannot log in to bmc-a",
    );
  });

  test('shared → per-vm migrates back', async () => {
    await runController('per-vm');
    await waitFor(async () => JSON.stringify(await deployments()) === '["vbmc-bmc-a","vbmc-bmc-b"]', {
      timeoutMs: 60_000,
      intervalMs: 300,
      what: 'per-vm agents back',
    });
    await waitFor(
      async () => (await c.getJson(['-n', NS, 'vmbmc', 'bmc-a'])).status?.placement === 'per-vm',
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await c.kubectlOk(
      ['-n', NS, 'wait', '--for=condition=Ready', 'vmbmc/bmc-a', '--timeout=120s'],
      undefined,
      130_000,
    );
    await waitFor(async () => (await powerStatus('bmc-a', 'alice', 'pw-a')) === 'Chassis Power is off', {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
  });
});

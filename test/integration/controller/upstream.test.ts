/**
 * A user of upstream KubeVirtBMC moves over: installs kubevirtbmc with `kubectl apply -k deploy/`,
 * applies the manifests written for upstream (test/fixtures/upstream/, unchanged, through kubectl's
 * strict field validation), waits on upstream's condition, reaches the BMC at upstream's Service
 * (`<vm>-virtbmc`) with ipmitool and curl, and finds the one-shot boot override upstream's agent had
 * in flight carried out: boot once from PXE, then the disk first again.
 *
 * The Service's DNS name resolves only inside a cluster; the test cluster publishes each Service's
 * host address in an annotation, which stands in for it here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
import { curl, ipmitool, missingTools, REPO, TestCluster } from './helpers.ts';

const skip = missingClients('kubectl', 'ipmitool') || missingTools('curl');
const FIXTURES = join(REPO, 'test/fixtures/upstream');
const BMC = 'virtualmachinebmc-sample';
const USER = 'admin';
const PASSWORD = 'upstream-pw-1';

describe('upstream KubeVirtBMC manifests apply unchanged and are served', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;
  let ipmi: string;
  let redfish: string;

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/']);
    await waitFor(
      async () =>
        (await c.getJson(['-n', 'kubevirtbmc-system', 'deployment', 'kubevirtbmc-controller'])).status
          ?.availableReplicas >= 1,
      { timeoutMs: 60_000, intervalMs: 250, what: 'the controller available' },
    );
  });
  after(() => c?.stop());

  test("kubectl apply (strict validation) accepts upstream's manifests, its fields included", async () => {
    const r = await c.kubectl([
      'apply',
      '--validate=strict',
      '-f',
      join(FIXTURES, 'secret.yaml'),
      '-f',
      join(FIXTURES, 'virtualmachine.yaml'),
      '-f',
      join(FIXTURES, 'virtualmachinebmc.yaml'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /virtualmachinebmc.bmc.kubevirt.io\/virtualmachinebmc-sample created/);
    assert.doesNotMatch(r.stderr, /unknown field/);
    const spec = (await c.getJson(['vmbmc', BMC])).spec;
    assert.equal(spec.storageClassName, 'standard');
    assert.deepEqual(spec.redfish.virtualMedia.tls.caBundleConfigMapRef, { name: 'custom-ca' });
    assert.equal(spec.redfish.virtualMedia.storage.volumeMode, 'Block');
  });

  test('kubectl wait --for=condition=ServiceReady, as upstream documents it, completes', async () => {
    const out = await c.kubectlOk(
      ['wait', '--for=condition=ServiceReady', `vmbmc/${BMC}`, '--timeout=120s'],
      undefined,
      130_000,
    );
    assert.match(out, /condition met/);
    const conds = (await c.getJson(['vmbmc', BMC])).status.conditions;
    const ready = conds.find((x: { type: string }) => x.type === 'Ready');
    const svcReady = conds.find((x: { type: string }) => x.type === 'ServiceReady');
    assert.equal(ready.status, 'True');
    assert.equal(svcReady.status, 'True');
  });

  test("upstream's Service name testvm-virtbmc exists and serves IPMI and Redfish", async () => {
    const svc = await waitFor(
      async () => {
        const s = await c.tryGet(['service', 'testvm-virtbmc']);
        return s?.metadata?.annotations?.['sim.kubevirtbmc.io/endpoints'] ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'Service testvm-virtbmc with a host address' },
    );
    assert.equal(svc.metadata.labels['app.kubernetes.io/managed-by'], 'kubevirtbmc-controller');
    assert.deepEqual(
      svc.spec.ports.map((p: { port: number; protocol: string }) => `${p.port}/${p.protocol}`).sort(),
      ['623/UDP', '80/TCP'],
    );
    const ours = await c.getJson(['service', (await c.getJson(['vmbmc', BMC])).status.service]);
    assert.deepEqual(svc.spec.selector, ours.spec.selector);
    const published = JSON.parse(svc.metadata.annotations['sim.kubevirtbmc.io/endpoints']);
    ipmi = published['623/UDP'];
    redfish = `http://${published['80/TCP']}`;

    const st = await ipmitool(ipmi, USER, PASSWORD, 'power', 'status');
    assert.equal(st.stdout.trim(), 'Chassis Power is off', st.stderr);
    const sys = await curl(`${redfish}/redfish/v1/Systems/1`, USER, PASSWORD);
    assert.match(sys.stdout, /\n200$/);
    assert.match(sys.stdout, /"PowerState"\s*:\s*"Off"/);
    const bad = await curl(`${redfish}/redfish/v1/Systems/1`, USER, 'wrong');
    assert.match(bad.stdout, /\n401$/);
  });

  test("upstream's in-flight one-shot boot override is carried out, then the boot order restored", async () => {
    const patch = readFileSync(join(FIXTURES, 'bootoverride-status.json'), 'utf8');
    await c.kubectlOk(['patch', 'vmbmc', BMC, '--subresource=status', '--type=merge', '-p', patch]);
    // The controller takes it over and removes it.
    await waitFor(async () => (await c.getJson(['vmbmc', BMC])).status.bootOverride === undefined, {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'status.bootOverride taken over',
    });
    // The BMC now reports it as its own: boot once from PXE.
    const flags = await waitFor(
      async () => {
        const r = await ipmitool(ipmi, USER, PASSWORD, 'chassis', 'bootparam', 'get', '5');
        return /Force PXE/.test(r.stdout) ? r.stdout : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'boot flags saying PXE' },
    );
    assert.match(flags, /Options apply to only next boot/);
    const rf = await curl(`${redfish}/redfish/v1/Systems/1`, USER, PASSWORD);
    assert.match(rf.stdout, /"BootSourceOverrideTarget"\s*:\s*"Pxe"/);
    assert.match(rf.stdout, /"BootSourceOverrideEnabled"\s*:\s*"Once"/);

    // That boot happens: afterwards the disk boots first again and the interface has no order.
    const on = await ipmitool(ipmi, USER, PASSWORD, 'power', 'on');
    assert.equal(on.stdout.trim(), 'Chassis Power Control: Up/On', on.stderr);
    const devices = await waitFor(
      async () => {
        const d = (await c.getJson(['vm', 'testvm'])).spec.template.spec.domain.devices;
        return d.disks[0].bootOrder === 1 && d.interfaces[0].bootOrder === undefined ? d : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the boot order restored after the one boot' },
    );
    assert.equal(devices.disks[1].bootOrder, undefined);
    const after = await ipmitool(ipmi, USER, PASSWORD, 'chassis', 'bootparam', 'get', '5');
    assert.doesNotMatch(after.stdout, /Force PXE/);
  });

  test('deleting the VirtualMachineBMC removes both its Services', async () => {
    const own = (await c.getJson(['vmbmc', BMC])).status.service;
    await c.kubectlOk(['delete', 'vmbmc', BMC, '--wait=false']);
    await waitFor(
      async () =>
        (await c.tryGet(['service', 'testvm-virtbmc'])) === null &&
        (await c.tryGet(['service', own])) === null,
      { timeoutMs: 60_000, intervalMs: 500, what: 'both Services deleted' },
    );
  });
});

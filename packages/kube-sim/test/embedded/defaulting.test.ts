/**
 * What the API server does to an object on write, checked with the real kubectl: Secret stringData
 * is folded into data (and never stored), and a CRD's structural-schema defaults are applied.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../../../test/support/clients.ts';
import { kubectl } from '../../../../test/support/sim-kubectl.ts';
import { type SimCluster, startSimCluster } from '../../src/embedded/index.ts';

const CRD = new URL('../../../../deploy/crd/virtualmachinebmcs.yaml', import.meta.url).pathname;

describe('write-time defaulting', { skip: missingClients('kubectl'), timeout: 120_000 }, () => {
  let sim: SimCluster;
  before(async () => {
    sim = await startSimCluster({ timing: 'fast' });
  });
  after(() => sim?.stop());

  test('Secret stringData is folded into base64 data and not stored', async () => {
    const yaml = `apiVersion: v1
kind: Secret
metadata: {name: bmc-auth}
data: {username: ${Buffer.from('old').toString('base64')}}
stringData: {username: admin, password: "p@ss word"}
`;
    const applied = await kubectl(sim.kubeconfigPath, ['apply', '-f', '-'], { input: yaml });
    assert.equal(applied.code, 0, applied.stderr);
    const got = await kubectl(sim.kubeconfigPath, ['get', 'secret', 'bmc-auth', '-o', 'json']);
    const secret = JSON.parse(got.stdout);
    assert.equal(secret.stringData, undefined);
    assert.equal(
      Buffer.from(secret.data.username, 'base64').toString(),
      'admin',
      'stringData wins over data',
    );
    assert.equal(Buffer.from(secret.data.password, 'base64').toString(), 'p@ss word');
  });

  test("a CRD's schema defaults are applied, nested ones inside defaulted objects too", async () => {
    const crd = await kubectl(sim.kubeconfigPath, ['apply', '-f', CRD]);
    assert.equal(crd.code, 0, crd.stderr);
    const bmc = `apiVersion: bmc.kubevirt.io/v1beta1
kind: VirtualMachineBMC
metadata: {name: b1}
spec: {virtualMachineRef: {name: vm1}, authSecretRef: {name: bmc-auth}, redfish: {enabled: false}}
`;
    let applied = await kubectl(sim.kubeconfigPath, ['apply', '-f', '-'], { input: bmc });
    for (let i = 0; i < 20 && applied.code !== 0 && /the server could not find/.test(applied.stderr); i++) {
      await new Promise((r) => setTimeout(r, 100)); // the CRD is being established
      applied = await kubectl(sim.kubeconfigPath, ['apply', '-f', '-'], { input: bmc });
    }
    assert.equal(applied.code, 0, applied.stderr);
    const got = JSON.parse((await kubectl(sim.kubeconfigPath, ['get', 'vmbmc', 'b1', '-o', 'json'])).stdout);
    assert.deepEqual(got.spec.ipmi, { enabled: true });
    assert.equal(got.spec.redfish.enabled, false, 'a value the user gave is kept');
    // defaulted to {}, with no type of its own: the controller's --service-type decides it
    assert.deepEqual(got.spec.service, {});
  });
});

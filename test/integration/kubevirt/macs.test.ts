/**
 * A stopped VM reports the MACs it had at its last start: KubeVirt gives an interface without a
 * `macAddress` a new MAC at every start and shows it only on the running VMI, so the backend
 * remembers it, in memory and in the BMC's ConfigMap (what the agent does), and a new backend (an
 * agent restart) reads it back. The VM is never written for this.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ConfigMapMacStore, MACS_DATA_KEY } from '../../../src/agent/mac-store.ts';
import { subscriptionConfigMapName } from '../../../src/agent/subscription-store.ts';
import type { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import { KubeApi } from '../../../src/kubevirt/kube-api.ts';
import type { Machine, NicInfo } from '../../../src/machine/index.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import {
  cachedIn,
  loadKubeConfig,
  NAMESPACE,
  startBackend,
  UserClient,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

const BMC = 'mac-bmc';
const CONFIGMAP = subscriptionConfigMapName(BMC);
const WAIT = { timeoutMs: 20_000, intervalMs: 20 };

describe('MACs of a stopped VM', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  let user: UserClient;
  let core: CoreV1Api;
  const backends: KubeVirtBackend[] = [];

  before(async () => {
    cluster = await startCluster({ timing: 'fast' });
    kc = loadKubeConfig(cluster.kubeconfigPath);
    user = new UserClient(kc);
    core = kc.makeApiClient(CoreV1Api);
    // What the controller creates for a VirtualMachineBMC; here already holding a subscription.
    await core.createNamespacedConfigMap({
      namespace: NAMESPACE,
      body: {
        metadata: { name: CONFIGMAP, namespace: NAMESPACE },
        data: { 'subscriptions.json': '{"format":1,"subscriptions":[]}' },
      },
    });
  });
  after(async () => {
    for (const b of backends) await b.stop();
    await cluster?.stop();
  });

  /** A backend as the agent runs it: the VM's MACs also kept in the BMC's ConfigMap. */
  async function agentBackend(vm: string): Promise<Machine> {
    const backend = await startBackend(kc, { vmName: vm });
    backends.push(backend);
    backend.rememberMacsIn(vm, new ConfigMapMacStore({ kubeConfig: kc, namespace: NAMESPACE, bmcName: BMC }));
    return backend.machine(vm);
  }

  const nic = (m: Machine): NicInfo => m.getInventory().nics[0]!;

  async function vmiMac(name: string, notUid?: string): Promise<{ uid: string; mac: string }> {
    return waitFor(
      async () => {
        const vmi = await user.getVmi(name);
        const mac = vmi?.status?.phase === 'Running' ? vmi.status.interfaces?.[0]?.mac : undefined;
        return mac && vmi?.metadata?.uid !== notUid ? { uid: vmi!.metadata!.uid!, mac } : null;
      },
      { ...WAIT, what: `a running VMI of ${name} with a MAC` },
    );
  }

  test('the last start’s MAC while off, after an agent restart too, and a new one after the next start', async () => {
    const name = 'mac-vm';
    await user.createVm(vmManifest(name, { runStrategy: 'Halted' }));
    const before = await user.getVm(name);
    let m = await agentBackend(name);
    await cachedIn(m, 'Off');
    assert.equal(nic(m).mac, null, 'never started: no MAC is known');

    await m.power('On');
    const first = await vmiMac(name);
    await waitFor(() => nic(m).mac === first.mac, { ...WAIT, what: 'the running MAC' });
    assert.equal(nic(m).macSource, 'running');

    await m.power('ForceOff');
    await waitFor(() => m.getPowerState() === 'Off' && nic(m).macSource === 'last-start', {
      ...WAIT,
      what: 'off, with the last start’s MAC',
    });
    assert.equal(nic(m).mac, first.mac, 'the MAC of the last start, while off');
    assert.equal(nic(m).linkUp, false);

    // Kept in the BMC's ConfigMap, beside the subscriptions (untouched).
    const cm = await waitFor(
      async () => {
        const c = await core.readNamespacedConfigMap({ name: CONFIGMAP, namespace: NAMESPACE });
        return c.data?.[MACS_DATA_KEY]?.includes(first.mac) ? c : null;
      },
      { ...WAIT, what: 'the MACs stored' },
    );
    assert.equal(cm.data?.['subscriptions.json'], '{"format":1,"subscriptions":[]}');

    // The agent restarts while the VM is off: the new one reads the MAC back.
    await backends.pop()!.stop();
    m = await agentBackend(name);
    await cachedIn(m, 'Off');
    await waitFor(() => nic(m).mac === first.mac, { ...WAIT, what: 'the MAC after a restart' });
    assert.equal(nic(m).macSource, 'last-start');

    // The next start has another MAC; the memory follows it.
    await m.power('On');
    const second = await vmiMac(name, first.uid);
    assert.notEqual(second.mac, first.mac, 'KubeVirt assigned a new MAC');
    await waitFor(() => nic(m).mac === second.mac, { ...WAIT, what: 'the new running MAC' });
    await m.power('ForceOff');
    await waitFor(() => m.getPowerState() === 'Off' && nic(m).mac === second.mac, {
      ...WAIT,
      what: 'off with the new MAC',
    });

    // The VM itself was never written for this: its spec and annotations are the user's.
    const afterAll = await user.getVm(name);
    assert.deepEqual(afterAll.spec?.template, before.spec?.template);
    assert.deepEqual(afterAll.metadata?.annotations ?? {}, before.metadata?.annotations ?? {});
  });

  test('a macAddress in the spec is reported at once and at every start', async () => {
    const name = 'mac-fixed';
    const manifest = vmManifest(name, { runStrategy: 'Halted' });
    manifest.spec!.template!.spec!.domain!.devices!.interfaces![0]!.macAddress = '02:00:5E:10:00:01';
    await user.createVm(manifest);
    const m = await agentBackend(name);
    await cachedIn(m, 'Off');
    assert.equal(nic(m).mac, '02:00:5e:10:00:01');
    assert.equal(nic(m).macSource, 'configured');
    await m.power('On');
    const running = await vmiMac(name);
    assert.equal(running.mac, '02:00:5e:10:00:01');
    await new KubeApi(kc).kubevirtAction('virtualmachines', NAMESPACE, name, 'stop', {});
    await waitFor(() => m.getPowerState() === 'Off', { ...WAIT, what: 'off' });
    assert.equal(nic(m).mac, '02:00:5e:10:00:01');
    assert.equal(nic(m).macSource, 'configured');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import { KubeApi } from '../../../src/kubevirt/kube-api.ts';
import { backendRoleRules } from '../../../src/kubevirt/rbac.ts';
import {
  type ConsoleEvent,
  isMachineError,
  type Machine,
  type PowerState,
} from '../../../src/machine/index.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import {
  loadKubeConfig,
  NAMESPACE,
  startBackend,
  UserClient,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

// The backend as an agent runs it: a ServiceAccount token bound to a Role limited to one VM by
// resourceNames, watching only that VM. Every feature must work with exactly the documented rules.

let sim: TestCluster;
let user: UserClient;
let backend: KubeVirtBackend;
let name: string;
let other: string;
let m: Machine;
let kc: KubeConfig;

const settle = (state: PowerState) =>
  waitFor(() => m.getPowerState() === state, { timeoutMs: 10_000, what: `power state ${state}` });

before(async () => {
  sim = await startCluster({ timing: 'fast' });
  const admin = loadKubeConfig(sim.kubeconfigPath);
  user = new UserClient(admin);
  name = uniqueName('rbac');
  other = uniqueName('other');
  await user.createVm(vmManifest(name, { runStrategy: 'Halted' }));
  await user.createVm(vmManifest(other, { runStrategy: 'Halted' }));
  const sa = `${name}-bmc`;
  await admin
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: sa } } });
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: NAMESPACE,
    body: { metadata: { name: sa }, rules: backendRoleRules(name).map((r) => ({ ...r })) as never },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: NAMESPACE,
    body: {
      metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NAMESPACE }],
    },
  });
  kc = new KubeConfig();
  kc.loadFromString(await sim.serviceAccountKubeconfig(NAMESPACE, sa));
  backend = await startBackend(kc, { vmName: name });
  m = backend.machine(name);
  await settle('Off');
});
after(async () => {
  await backend?.stop();
  await sim?.stop();
});

describe('least privilege: a Role limited to one VM', () => {
  test('power, boot, media and the console all work with the documented rules, and nothing is denied', async () => {
    sim.stats.reset();
    await m.setBootOverride({ target: 'Pxe', persistence: 'Once' });
    await m.insertMedia('Cd', { image: 'http://bob:pw@images.example/tools.iso' });
    await waitFor(() => m.getMediaSlots()[0]?.state === 'Inserted', { timeoutMs: 10_000, what: 'Inserted' });
    await m.power('On');
    await settle('On');
    await m.power('Pause');
    await settle('Paused');
    await m.power('Resume');
    await settle('On');
    // The boot-once was consumed by the start, so the running VMI still has the PXE order: the
    // restart must create a new VMI (another restart while it is underway would be refused).
    const before = (await user.getVmi(name))?.metadata?.uid;
    await m.power('GracefulRestart');
    await waitFor(
      async () => {
        const uid = (await user.getVmi(name))?.metadata?.uid;
        return uid && uid !== before && m.getPowerState() === 'On';
      },
      { timeoutMs: 10_000, what: 'restarted into a new VMI' },
    );
    await m.power('ForceRestart');
    const console = await m.openConsole();
    await waitFor(() => console.attached, { what: 'console attached' });
    await console.close();
    await m.ejectMedia('Cd');
    await m.power('ForceOff');
    await settle('Off');
    const denied = sim.stats.requests().filter((r) => r.status === 403 || r.status === 401);
    assert.deepEqual(denied, [], 'no request was refused');
    // Every request but the test's own (admin) reads came from the backend, as the ServiceAccount.
    const backendRequests = sim.stats.requests().filter((r) => r.user !== 'kubernetes-admin');
    assert.ok(backendRequests.length > 10);
    assert.deepEqual(
      [...new Set(backendRequests.map((r) => r.user))],
      [`system:serviceaccount:${NAMESPACE}:${name}-bmc`],
    );
  });

  test('other VMs are out of sight', async () => {
    const stranger = backend.machine(other);
    assert.throws(
      () => stranger.getPowerState(),
      (err) => isMachineError(err) && err.code === 'NotFound',
    );
    // The Role is really enforced: the same token may not touch the other VM.
    await assert.rejects(
      new KubeApi(kc).kubevirtAction('virtualmachines', NAMESPACE, other, 'start'),
      (err: { status?: number }) => err.status === 403,
    );
    await assert.rejects(stranger.power('On'), (err) => isMachineError(err) && err.code === 'NotSupported');
  });
});

describe('serial console through the VMI console websocket', () => {
  test('output and echo through the stream; detached while off; reattached to a recreated VMI', async () => {
    const console = await m.openConsole();
    assert.equal(console.attached, false, 'detached while off');
    let text = '';
    const states: string[] = [];
    console.on((e: ConsoleEvent) => {
      if (e.type === 'data') text += new TextDecoder().decode(e.data);
      if (e.type === 'state') states.push(e.attached ? 'attached' : 'detached');
    });
    // KubeVirt replays nothing and the console attaches once the VMI runs: Enter brings the prompt.
    const prompt = (what: string) =>
      waitFor(
        () => {
          if (/login: $/.test(text)) return true;
          console.write(new TextEncoder().encode('\r'));
          return false;
        },
        { timeoutMs: 10_000, intervalMs: 200, what },
      );
    await m.power('On');
    await prompt('login prompt');
    console.write(new TextEncoder().encode('root\r'));
    await waitFor(() => /root/.test(text.split('login: ').at(-1) ?? ''), { what: 'echo' });
    const firstUid = (await user.getVmi(name))?.metadata?.uid;
    text = '';
    await m.power('PowerCycle');
    await waitFor(
      async () => {
        const uid = (await user.getVmi(name))?.metadata?.uid;
        return uid && uid !== firstUid;
      },
      { timeoutMs: 10_000, what: 'a new VMI' },
    );
    await prompt('login prompt of the new VMI');
    assert.ok(states.includes('detached') && states.at(-1) === 'attached', `states: ${states}`);
    const closed: string[] = [];
    console.on((e) => {
      if (e.type === 'closed') closed.push(e.reason ?? '');
    });
    await console.close();
    assert.equal(closed.length, 1);
    await m.power('ForceOff');
    await settle('Off');
  });

  test('a VM without a serial console: NotSupported', async () => {
    const noSerial = uniqueName('noserial');
    const vm = vmManifest(noSerial, { runStrategy: 'Halted' });
    vm.spec!.template!.spec!.domain!.devices!.autoattachSerialConsole = false;
    const admin = new UserClient(loadKubeConfig(sim.kubeconfigPath));
    await admin.createVm(vm);
    const b = await startBackend(loadKubeConfig(sim.kubeconfigPath), { vmName: noSerial });
    try {
      const mm = b.machine(noSerial);
      await assert.rejects(mm.openConsole(), (err) => isMachineError(err) && err.code === 'NotSupported');
    } finally {
      await b.stop();
    }
  });
});

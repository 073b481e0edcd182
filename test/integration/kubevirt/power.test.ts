import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import { KubeApi } from '../../../src/kubevirt/kube-api.ts';
import { isMachineError, type Machine, type PowerState } from '../../../src/machine/index.ts';
import {
  kubevirtEnv,
  loadKubeConfig,
  NAMESPACE,
  startBackend,
  uniqueName,
  type VmOptions,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

const env = kubevirtEnv('fast');

const settle = (m: Machine, state: PowerState) =>
  waitFor(
    () => {
      try {
        return m.getPowerState() === state;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10_000, what: `power state ${state}` },
  );

async function newVm(options: VmOptions): Promise<{ name: string; m: Machine }> {
  const name = uniqueName('pw');
  await env.user.createVm(vmManifest(name, options));
  const m = env.backend.machine(name);
  return { name, m };
}

const vmiUid = async (name: string) => (await env.user.getVmi(name))?.metadata?.uid;

const rejectsWith = (p: Promise<unknown>, code: string, message?: RegExp) =>
  assert.rejects(p, (err) => {
    assert.ok(isMachineError(err), String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });

/** The backend's own writes to the VM object itself (not its subresources) since `since`. */
function vmObjectWrites(name: string, since: number): string[] {
  return env.sim.stats
    .requests()
    .slice(since)
    .filter(
      (r) =>
        r.userAgent?.startsWith('kubevirtbmc') &&
        r.method !== 'GET' &&
        r.path.split('?')[0] === `/apis/kubevirt.io/v1/namespaces/${NAMESPACE}/virtualmachines/${name}`,
    )
    .map((r) => `${r.method} ${r.path}`);
}

const STRATEGIES: { label: string; options: VmOptions; initial: PowerState }[] = [
  { label: 'Always', options: { runStrategy: 'Always' }, initial: 'On' },
  { label: 'RerunOnFailure', options: { runStrategy: 'RerunOnFailure' }, initial: 'On' },
  { label: 'Manual', options: { runStrategy: 'Manual' }, initial: 'Off' },
  { label: 'Halted', options: { runStrategy: 'Halted' }, initial: 'Off' },
  { label: 'Once', options: { runStrategy: 'Once' }, initial: 'On' },
  { label: 'running: true', options: { running: true }, initial: 'On' },
  { label: 'running: false', options: { running: false }, initial: 'Off' },
];

for (const { label, options, initial } of STRATEGIES) {
  describe(`power actions, run strategy ${label}`, () => {
    test('every action from Off and from On, through KubeVirt’s subresources only', async () => {
      const since = env.sim.stats.requests().length;
      const { name, m } = await newVm(options);
      await settle(m, initial);
      if (initial === 'Off') {
        // Actions that need a running machine are refused; off-actions are no-ops costing nothing.
        for (const action of ['GracefulRestart', 'ForceRestart', 'Pause', 'Resume'] as const) {
          await rejectsWith(m.power(action), 'InvalidState');
        }
        const before = env.backend.apiRequestCount;
        await m.power('GracefulShutdown');
        await m.power('ForceOff');
        assert.equal(env.backend.apiRequestCount, before, 'no request for an action that has nothing to do');
        await m.power('On');
        await settle(m, 'On');
      }

      await m.power('Pause');
      await settle(m, 'Paused');
      await rejectsWith(m.power('GracefulRestart'), 'InvalidState');
      await m.power('Resume');
      await settle(m, 'On');

      // A soft reboot and a reset keep the VMI; the guest reboots inside it.
      const uid = await vmiUid(name);
      assert.ok(uid);
      await m.power('GracefulRestart');
      await m.power('ForceRestart');
      await settle(m, 'On');
      assert.equal(await vmiUid(name), uid, 'softreboot and reset keep the VMI');
      assert.match(env.sim.consoleTranscript(NAMESPACE, name), /reboot|reset/i);

      if (label === 'Once') {
        // KubeVirt refuses restarts for Once; its message reaches the BMC user.
        await rejectsWith(
          m.power('PowerCycle'),
          'InvalidState',
          /Once does not support manual restart requests/,
        );
      } else {
        await m.power('PowerCycle');
        await waitFor(
          async () => {
            const now = await vmiUid(name);
            return now && now !== uid && m.getPowerState() === 'On';
          },
          { timeoutMs: 10_000, what: 'a new VMI after a power cycle' },
        );
      }

      await m.power('GracefulShutdown');
      await settle(m, 'Off');
      await m.power('On');
      await settle(m, 'On');
      await m.power('ForceOff');
      await settle(m, 'Off');
      // KubeVirt removes the final VMI (and its finalizer) asynchronously on a real cluster
      await waitFor(async () => (await env.user.getVmi(name)) === null, {
        timeoutMs: 10_000,
        what: 'the VMI is gone after a force off',
      });

      const vm = await env.user.getVm(name);
      if (label === 'Manual' || label === 'RerunOnFailure') {
        assert.equal(vm.spec?.runStrategy, label, 'the run strategy is never rewritten');
      }
      assert.deepEqual(vmObjectWrites(name, since), [], 'power actions never write the VM object itself');
    });
  });
}

describe('KubeVirt’s own refusals and guest-initiated changes', () => {
  test('Once: after the guest shut down, KubeVirt refuses a start; the message is kept', async () => {
    const { name, m } = await newVm({ runStrategy: 'Once' });
    await settle(m, 'On');
    env.sim.faults.guestExit(NAMESPACE, name, 'Succeeded');
    await settle(m, 'Off');
    await rejectsWith(m.power('On'), 'InvalidState', /Once does not support manual start requests/);
    assert.equal(m.getPowerState(), 'Off');
    await rejectsWith(m.power('PowerCycle'), 'InvalidState', /Once does not support manual start requests/);
  });

  test('RerunOnFailure: a crashed guest comes back by itself; one that shut down stays off', async () => {
    const { name, m } = await newVm({ runStrategy: 'RerunOnFailure' });
    await settle(m, 'On');
    const first = await vmiUid(name);
    env.sim.faults.guestExit(NAMESPACE, name, 'Failed');
    await waitFor(
      async () => {
        const uid = await vmiUid(name);
        return uid && uid !== first && m.getPowerState() === 'On';
      },
      { timeoutMs: 10_000, what: 'rerun after a crash' },
    );
    env.sim.faults.guestExit(NAMESPACE, name, 'Succeeded');
    await settle(m, 'Off');
    await m.power('On');
    await settle(m, 'On');
  });

  test('Manual: a guest shutdown is Off, and On starts it again', async () => {
    const { name, m } = await newVm({ runStrategy: 'Manual' });
    await m.power('On');
    await settle(m, 'On');
    env.sim.faults.guestExit(NAMESPACE, name, 'Succeeded');
    await settle(m, 'Off');
    await m.power('On');
    await settle(m, 'On');
  });

  test('an unsupported action (NMI) is NotSupported and sends nothing', async () => {
    const { m } = await newVm({ runStrategy: 'Always' });
    await settle(m, 'On');
    const before = env.backend.apiRequestCount;
    await rejectsWith(m.power('Nmi'), 'NotSupported');
    assert.equal(env.backend.apiRequestCount, before);
  });

  test('a VM that does not exist: reads and writes are NotFound; it is picked up when created', async () => {
    const name = uniqueName('late');
    const m = env.backend.machine(name);
    assert.equal(env.backend.machine(name), m, 'the same object for the same name');
    assert.throws(
      () => m.getPowerState(),
      (err) => isMachineError(err) && err.code === 'NotFound',
    );
    await rejectsWith(m.power('On'), 'NotFound');
    const events: string[] = [];
    m.on((e) => events.push(e.type === 'availability' ? `availability:${e.available}` : e.type));
    await env.user.createVm(vmManifest(name, { runStrategy: 'Halted' }));
    await settle(m, 'Off');
    await waitFor(() => events.includes('availability:true'), { what: 'availability event' });
    await env.user.deleteVm(name);
    await waitFor(() => events.includes('availability:false'), { what: 'VM deleted event' });
    assert.throws(
      () => m.getPowerState(),
      (err) => isMachineError(err) && err.code === 'NotFound',
    );
  });
});

describe('change events come from the watch', () => {
  test('a stop by someone else, a boot change by another agent, and media progress all arrive as events', async () => {
    const { name, m } = await newVm({ runStrategy: 'Always' });
    await settle(m, 'On');
    const events: string[] = [];
    m.on((e) => {
      if (e.type === 'power') events.push(`power:${e.state}`);
      if (e.type === 'boot') events.push(`boot:${e.override.target}/${e.override.persistence}`);
      if (e.type === 'media') events.push(`media:${e.slot.state}`);
    });
    const virtctl = new KubeApi(loadKubeConfig(env.sim.kubeconfigPath));
    await virtctl.kubevirtAction('virtualmachines', NAMESPACE, name, 'stop', {});
    await settle(m, 'Off');
    await waitFor(() => events.includes('power:Off'), { what: 'power Off event' });
    assert.ok(events.includes('power:PoweringOff'), events.join(' '));
    assert.ok(events.indexOf('power:PoweringOff') < events.indexOf('power:Off'), events.join(' '));

    // Another agent (a second backend) sets a boot override: this machine hears of it.
    const other = await startBackend(loadKubeConfig(env.sim.kubeconfigPath));
    try {
      await other.machine(name).setBootOverride({ target: 'Pxe', persistence: 'Continuous' });
    } finally {
      await other.stop();
    }
    await waitFor(() => events.includes('boot:Pxe/Continuous'), { what: 'boot event' });
    assert.deepEqual(
      { target: m.getBootOverride().target, persistence: m.getBootOverride().persistence },
      { target: 'Pxe', persistence: 'Continuous' },
    );

    await m.insertMedia('Cd', { image: 'http://images.example/e.iso' });
    await waitFor(() => events.includes('media:Inserted'), {
      timeoutMs: 10_000,
      what: 'media Inserted event',
    });
    assert.ok(events.includes('media:Inserting'), events.join(' '));
    assert.ok(events.indexOf('media:Inserting') < events.indexOf('media:Inserted'));
  });
});

describe('start()', () => {
  test('an unreachable API server: start() rejects within its bound, with a clear error', async () => {
    const kc = loadKubeConfig(env.sim.kubeconfigPath);
    const cluster = kc.getCurrentCluster()!;
    const dead = new KubeConfig();
    dead.loadFromOptions({
      clusters: [{ ...cluster, server: 'https://127.0.0.1:9' }],
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    const b = new KubeVirtBackend({
      kubeConfig: dead,
      namespace: NAMESPACE,
      syncTimeoutMs: 500,
      initialBackoffMs: 50,
    });
    try {
      await assert.rejects(
        b.start(),
        /could not list virtualmachines\.kubevirt\.io in namespace default.*unreachable/s,
      );
      assert.throws(
        () => b.machine('x').getPowerState(),
        (err) => isMachineError(err) && err.code === 'BackendUnavailable',
      );
    } finally {
      await b.stop();
    }
  });

  test('a server that accepts connections and never answers: start() still gives up, stop() returns', {
    timeout: 20_000,
  }, async () => {
    const sockets = new Set<Socket>();
    const blackhole = createServer((socket) => {
      // accept and say nothing
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as AddressInfo).port;
    const kc = loadKubeConfig(env.sim.kubeconfigPath);
    const cluster = kc.getCurrentCluster()!;
    const silent = new KubeConfig();
    silent.loadFromOptions({
      clusters: [{ ...cluster, server: `https://127.0.0.1:${port}` }],
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    const b = new KubeVirtBackend({ kubeConfig: silent, namespace: NAMESPACE, syncTimeoutMs: 300 });
    try {
      await assert.rejects(b.start(), /could not list/);
    } finally {
      await b.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackhole.close(resolve));
    }
  });
});

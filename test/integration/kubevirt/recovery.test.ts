import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import { KubeApi } from '../../../src/kubevirt/kube-api.ts';
import type { Machine, PowerState } from '../../../src/machine/index.ts';
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

// Recovery of the watch caches from injected faults (the fault proxy on the real control plane), always checked by what a BMC user sees: the
// power state follows a change made by someone else while (or right after) the watch was broken.

let sim: TestCluster;
let user: UserClient;
let virtctl: KubeApi;
let backend: KubeVirtBackend;
let name: string;
let m: Machine;

const settle = (state: PowerState, what: string) =>
  waitFor(() => m.getPowerState() === state, { timeoutMs: 15_000, what: `${what}: power state ${state}` });

/** Each test starts from a running VM, whatever the one before it left behind. */
const ensureOn = async () => {
  const state = m.getPowerState();
  if (state === 'Paused') await m.power('Resume');
  else if (state !== 'On') await m.power('On');
  await settle('On', 'precondition: running');
};

const totals = () => {
  const s = (
    backend as unknown as {
      cacheStats: Record<string, { lists: number; watches: number; failures: number; expired: number }>;
    }
  ).cacheStats;
  return Object.values(s).reduce(
    (a, b) => ({
      lists: a.lists + b.lists,
      watches: a.watches + b.watches,
      failures: a.failures + b.failures,
      expired: a.expired + b.expired,
    }),
    { lists: 0, watches: 0, failures: 0, expired: 0 },
  );
};

before(async () => {
  sim = await startCluster({ timing: 'fast' });
  const kc = loadKubeConfig(sim.kubeconfigPath);
  user = new UserClient(kc);
  virtctl = new KubeApi(kc);
  name = uniqueName('rec');
  await user.createVm(vmManifest(name, { runStrategy: 'Manual' }));
  backend = await startBackend(kc);
  m = backend.machine(name);
  await settle('Off', 'initial');
  // The three watches are open on the server (not only requested), so dropping them drops ours.
  await waitFor(
    () => sim.stats.requests().filter((r) => r.verb === 'watch' && r.status === 200).length >= 3,
    {
      what: 'watches established',
    },
  );
});
after(async () => {
  await backend?.stop();
  await sim?.stop();
});

describe('watch cache recovery', () => {
  test('dropped watches: resumed, and a change made meanwhile is seen', async () => {
    const before = totals();
    sim.faults.dropWatches();
    await virtctl.kubevirtAction('virtualmachines', NAMESPACE, name, 'start');
    await settle('On', 'after dropped watches');
    assert.ok(totals().watches > before.watches, 'the watches were re-established');
  });

  test('410 Expired (history compacted): relisted, with no hot loop', async () => {
    const before = totals();
    await virtctl.kubevirtAction('virtualmachines', NAMESPACE, name, 'stop');
    sim.faults.compact();
    sim.faults.dropWatches();
    await settle('Off', 'after 410');
    sim.faults.failNext(3, 410, { path: /virtualmachineinstances$/, method: 'GET' });
    sim.faults.dropWatches();
    await virtctl.kubevirtAction('virtualmachines', NAMESPACE, name, 'start');
    await settle('On', 'after HTTP 410s');
    const after = totals();
    assert.ok(after.lists > before.lists, 'relisted');
    assert.ok(after.lists - before.lists < 20, `bounded relists: ${after.lists - before.lists}`);
  });

  test('500s on list and watch (where client-node’s informer stops for good): retried with backoff', async () => {
    await ensureOn();
    const before = totals();
    // Both caches that decide the power state fail their next six lists or watches; the VM is
    // stopped by someone else while they do. The change is seen once they recover.
    sim.faults.failNext(6, 500, { path: /virtualmachine(instance)?s$/, method: 'GET' });
    sim.faults.dropWatches();
    await virtctl.kubevirtAction('virtualmachines', NAMESPACE, name, 'stop', { gracePeriod: 0 });
    await waitFor(() => totals().failures - before.failures >= 6, {
      timeoutMs: 15_000,
      what: 'the six injected 500s, each seen by a cache',
    });
    await settle('Off', 'after 500s');
    await waitFor(() => backend.connected, { what: 'every cache watching again' });
    // A power action works right after.
    await m.power('On');
    await settle('On', 'power on after recovery');
  });

  test('API server restart: reconnected, state correct afterwards', async () => {
    await ensureOn();
    await sim.faults.restart();
    await virtctl.kubevirtAction('virtualmachines', NAMESPACE, name, 'stop');
    await settle('Off', 'after a server restart');
    await m.power('On');
    await settle('On', 'power on after the restart');
    await m.power('Pause');
    await settle('Paused', 'pause after the restart');
    await waitFor(() => backend.connected, { what: 'every cache watching again' });
  });
});

describe('a failing write', () => {
  test('429 on a power action: sent again after Retry-After and applied', async () => {
    await ensureOn();
    sim.faults.failNext(1, 429, { path: /\/stop$/, method: 'PUT' });
    const t0 = Date.now();
    await m.power('GracefulShutdown');
    assert.ok(Date.now() - t0 >= 900, "the client waited for the server's Retry-After: 1");
    await settle('Off', 'after the 429');
    await m.power('On');
    await settle('On', 'on again');
  });

  test('429 on every attempt of a power action: BackendUnavailable (retryable), nothing changed; the retry works', async () => {
    await ensureOn();
    // the client sends a request answered 429 up to 10 more times (1 s apart here), then gives up
    sim.faults.failNext(11, 429, { path: /\/stop$/, method: 'PUT' });
    await assert.rejects(
      m.power('GracefulShutdown'),
      (err: Error & { code?: string; retryable?: boolean }) => {
        assert.equal(err.code, 'BackendUnavailable');
        assert.equal(err.retryable, true);
        return true;
      },
    );
    assert.equal(m.getPowerState(), 'On');
    await m.power('GracefulShutdown');
    await settle('Off', 'after the retry');
    await m.power('On');
    await settle('On', 'on again');
  });
});

describe('a slow first sync', () => {
  test('start() gives up within its bound, and the machines answer once the caches sync later', async () => {
    sim.faults.failNext(6, 500, { path: /virtualmachines$/, method: 'GET' });
    const late = new KubeVirtBackend({
      kubeConfig: loadKubeConfig(sim.kubeconfigPath),
      namespace: NAMESPACE,
      syncTimeoutMs: 100,
      initialBackoffMs: 50,
      maxBackoffMs: 100,
    });
    try {
      await assert.rejects(late.start(), /could not list virtualmachines\.kubevirt\.io.*injected fault/s);
      const lm = late.machine(name);
      assert.throws(
        () => lm.getPowerState(),
        (err: Error & { code?: string }) => err.code === 'BackendUnavailable',
      );
      await waitFor(
        () => {
          try {
            return lm.getPowerState() === m.getPowerState();
          } catch {
            return false;
          }
        },
        { timeoutMs: 10_000, what: 'the late backend answering' },
      );
    } finally {
      await late.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import type { Machine, PowerState } from '../../../src/machine/index.ts';
import { type SimCluster, startSimCluster } from '../../../src/sim/index.ts';
import {
  cachedIn,
  loadKubeConfig,
  startBackend,
  UserClient,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

// With human-visible phases (the sim's `realistic` timing), KubeVirt's writes to the VM and the VMI
// arrive on two streams with time between them: the power events a BMC client sees must still be
// exactly Off → PoweringOn → On and On → PoweringOff → Off, never flickering back.

let sim: SimCluster;
let backend: KubeVirtBackend;
let user: UserClient;

before(async () => {
  sim = await startSimCluster({ timing: 'realistic' });
  const kc = loadKubeConfig(sim.kubeconfigPath);
  user = new UserClient(kc);
  backend = await startBackend(kc);
});
after(async () => {
  await backend?.stop();
  await sim?.stop();
});

for (const runStrategy of ['Manual', 'Halted'] as const) {
  test(`${runStrategy}: start and force off pass through exactly one transitional state`, async () => {
    const name = uniqueName(`tr-${runStrategy.toLowerCase()}`);
    await user.createVm(vmManifest(name, { runStrategy }));
    const m: Machine = backend.machine(name);
    await cachedIn(m);
    const seen: PowerState[] = [];
    m.on((e) => {
      if (e.type === 'power') seen.push(e.state);
    });
    await m.power('On');
    await waitFor(() => seen.at(-1) === 'On', { timeoutMs: 60_000, what: 'On' });
    await m.power('ForceOff');
    await waitFor(() => seen.at(-1) === 'Off', { timeoutMs: 60_000, what: 'Off' });
    assert.deepEqual(seen, ['PoweringOn', 'On', 'PoweringOff', 'Off']);
  });
}

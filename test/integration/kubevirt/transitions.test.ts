import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Machine, PowerState } from '../../../src/machine/index.ts';
import { cachedIn, kubevirtEnv, uniqueName, vmManifest } from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

// With human-visible phases (the sim's `realistic` timing), KubeVirt's writes to the VM and the VMI
// arrive on two streams with time between them: the power events a BMC client sees must still be
// exactly Off → PoweringOn → On and On → PoweringOff → Off, never flickering back.

const env = kubevirtEnv('realistic');

for (const runStrategy of ['Manual', 'Halted'] as const) {
  test(`${runStrategy}: start and force off pass through exactly one transitional state`, async () => {
    const name = uniqueName(`tr-${runStrategy.toLowerCase()}`);
    await env.user.createVm(vmManifest(name, { runStrategy }));
    const m: Machine = env.backend.machine(name);
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

for (const off of ['ForceOff', 'GracefulShutdown'] as const) {
  test(`power on while ${off} is still underway: accepted, and the machine comes back On`, async () => {
    const name = uniqueName(`tr-underway-${off.toLowerCase()}`);
    await env.user.createVm(vmManifest(name, { runStrategy: 'Manual' }));
    const m: Machine = env.backend.machine(name);
    await cachedIn(m);
    await m.power('On');
    await waitFor(() => m.getPowerState() === 'On', { timeoutMs: 60_000, what: 'On' });
    await m.power(off);
    // KubeVirt has not consumed the stop yet: a start sent now is refused ("VM is already running" while
    // the VMI shuts down, "stop/start already underway" until the Stop request is consumed).
    const vm = await env.user.getVm(name);
    assert.deepEqual(
      vm.status?.stateChangeRequests?.map((r) => r.action),
      ['Stop'],
      'the stop request is still pending',
    );
    assert.equal(m.getPowerState(), 'PoweringOff');
    await m.power('On');
    await waitFor(() => m.getPowerState() === 'On', { timeoutMs: 60_000, what: 'On again' });
    assert.equal((await env.user.getVm(name)).spec?.runStrategy, 'Manual', 'the run strategy is untouched');
  });
}

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

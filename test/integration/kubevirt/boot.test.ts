import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeApi } from '../../../src/kubevirt/kube-api.ts';
import type { VirtualMachine } from '../../../src/kubevirt/types.ts';
import type { Machine, PowerState } from '../../../src/machine/index.ts';
import {
  cachedIn,
  kubevirtEnv,
  NAMESPACE,
  startBackend,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

const env = kubevirtEnv('fast');

const settle = (m: Machine, state: PowerState) =>
  waitFor(() => m.getPowerState() === state, { timeoutMs: 10_000, what: `power state ${state}` });

const devicesOf = (vm: VirtualMachine) => vm.spec?.template?.spec?.domain?.devices;

async function runningVm(): Promise<{ name: string; m: Machine; original: VirtualMachine }> {
  const name = uniqueName('boot');
  const original = await env.user.createVm(vmManifest(name, { runStrategy: 'Always', rootBootOrder: 1 }));
  const m = env.backend.machine(name);
  await waitFor(
    () => {
      try {
        return m.getPowerState() === 'On';
      } catch {
        return false;
      }
    },
    { timeoutMs: 10_000, what: 'VM on' },
  );
  return { name, m, original };
}

/** The boot device the guest reported on its serial console for its latest boot. */
function lastBoot(name: string): string {
  const matches = [...env.sim.consoleTranscript(NAMESPACE, name).matchAll(/Booting from ([^\r\n]*)/g)];
  return matches.at(-1)?.[1] ?? '';
}

describe('boot override on KubeVirt', () => {
  test('boot-once PXE: only bootOrder fields change, a restart boots PXE, then the order is restored', async () => {
    const { name, m, original } = await runningVm();
    await m.setBootOverride({ target: 'Pxe', persistence: 'Once' });
    const during = await env.user.getVm(name);
    // Only the bootOrder fields involved changed: every other device field is as the user wrote it.
    assert.equal(devicesOf(during)?.interfaces?.[0]?.bootOrder, 1);
    assert.equal(devicesOf(during)?.disks?.[0]?.bootOrder, 2);
    const strip = (d: unknown) =>
      JSON.parse(JSON.stringify(d), (k, v) => (k === 'bootOrder' ? undefined : v));
    assert.deepEqual(strip(devicesOf(during)), strip(devicesOf(original)));
    assert.equal(during.spec?.runStrategy, 'Always');
    assert.ok(during.metadata?.annotations?.['bmc.kubevirt.io/saved-boot-order']);
    assert.deepEqual(m.getBootOverride().target, 'Pxe');

    // A reset would keep the old VMI and its old boot order: the backend restarts into a new VMI.
    await m.power('ForceRestart');
    await waitFor(() => /PXE/.test(lastBoot(name)), { timeoutMs: 10_000, what: 'PXE boot' });
    await waitFor(() => m.getBootOverride().persistence === 'Disabled', {
      timeoutMs: 10_000,
      what: 'consumed',
    });
    await waitFor(
      async () => {
        const vm = await env.user.getVm(name);
        return (
          JSON.stringify(devicesOf(vm)) === JSON.stringify(devicesOf(original)) &&
          !vm.metadata?.annotations?.['bmc.kubevirt.io/boot-override'] &&
          !vm.metadata?.annotations?.['bmc.kubevirt.io/saved-boot-order']
        );
      },
      { timeoutMs: 10_000, what: 'the original boot order restored exactly' },
    );

    // The next reboot boots the disk again.
    await m.power('PowerCycle');
    await waitFor(() => /disk 'rootdisk'/.test(lastBoot(name)), { timeoutMs: 10_000, what: 'disk boot' });
  });

  test('boot-once is restored even when the agent restarted in between', async () => {
    const { name, m, original } = await runningVm();
    await m.setBootOverride({ target: 'Pxe', persistence: 'Once' });
    await env.backend.stop();
    try {
      // While no agent runs, someone restarts the VM (as `virtctl restart` would).
      const virtctl = new KubeApi(env.kc);
      await virtctl.kubevirtAction('virtualmachines', NAMESPACE, name, 'restart', {});
      await waitFor(() => /PXE/.test(lastBoot(name)), { timeoutMs: 10_000, what: 'PXE boot' });
      const vm = await env.user.getVm(name);
      assert.ok(vm.metadata?.annotations?.['bmc.kubevirt.io/boot-override'], 'nobody restored it yet');
    } finally {
      // A new agent finds the consumed boot-once in the VM's annotations and restores the order.
      env.backend = await startBackend(env.kc);
    }
    const m2 = env.backend.machine(name);
    assert.equal(m2.getBootOverride().persistence, 'Disabled');
    await waitFor(
      async () => {
        const vm = await env.user.getVm(name);
        return (
          JSON.stringify(devicesOf(vm)) === JSON.stringify(devicesOf(original)) &&
          !vm.metadata?.annotations?.['bmc.kubevirt.io/boot-override']
        );
      },
      { timeoutMs: 10_000, what: 'restored by the new agent' },
    );
    await m2.power('PowerCycle');
    await waitFor(() => /disk 'rootdisk'/.test(lastBoot(name)), {
      timeoutMs: 10_000,
      what: 'disk boot after that',
    });
  });

  test('boot-once on top of a continuous override returns to the continuous one', async () => {
    const { name, m } = await runningVm();
    await m.setBootOverride({ target: 'Cd', persistence: 'Continuous' });
    await m.setBootOverride({ target: 'Pxe', persistence: 'Once' });
    await m.power('ForceRestart');
    await waitFor(() => /PXE/.test(lastBoot(name)), { timeoutMs: 10_000, what: 'PXE boot' });
    await waitFor(() => m.getBootOverride().persistence === 'Continuous', {
      timeoutMs: 10_000,
      what: 'back to Cd',
    });
    assert.equal(m.getBootOverride().target, 'Cd');
    await waitFor(
      async () => {
        const vm = await env.user.getVm(name);
        const cd = devicesOf(vm)?.disks?.find((d) => d.name === 'cdrom');
        const nic = devicesOf(vm)?.interfaces?.[0];
        const stored = vm.metadata?.annotations?.['bmc.kubevirt.io/boot-override'] ?? '';
        return cd?.bootOrder === 1 && nic?.bootOrder === undefined && /"Continuous"/.test(stored);
      },
      { timeoutMs: 10_000, what: 'the continuous CD order back in the VM' },
    );
  });

  test("the cache drops kubectl's last-applied copy; a boot change keeps it on the VM", async () => {
    const name = uniqueName('slim');
    const manifest = vmManifest(name, { runStrategy: 'Halted' });
    const lastApplied = JSON.stringify(manifest);
    manifest.metadata = {
      ...manifest.metadata,
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied },
    };
    await env.user.createVm(manifest);
    const m = env.backend.machine(name);
    await cachedIn(m);
    // A boot change adds annotations of ours next to the user's (the map exists: key by key).
    await m.setBootOverride({ target: 'Pxe', persistence: 'Continuous' });
    const vm = await env.user.getVm(name);
    assert.equal(vm.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], lastApplied);
    assert.ok(vm.metadata?.annotations?.['bmc.kubevirt.io/boot-override'], 'our annotation is there too');
  });

  test('a concurrent edit of the VM during a boot change is kept (no lost update)', async () => {
    const name = uniqueName('race');
    await env.user.createVm(vmManifest(name, { runStrategy: 'Halted' }));
    // Right before the backend's first VM patch leaves, a user edits the VM: a label, and a new
    // disk inserted at the front (shifting the indexes the patch addresses).
    let raced = false;
    const b2 = await startBackend(env.kc, {
      beforeRequest: async (method, path) => {
        if (!raced && method === 'PATCH' && path.includes(`/virtualmachines/${name}`)) {
          raced = true;
          await env.user.jsonPatchVm(name, [
            { op: 'add', path: '/metadata/labels', value: { owner: 'alice' } },
            {
              op: 'add',
              path: '/spec/template/spec/domain/devices/disks/0',
              value: { name: 'scratch', cdrom: { bus: 'sata' } },
            },
          ]);
        }
      },
    });
    try {
      const m = b2.machine(name);
      await cachedIn(m);
      env.sim.stats.reset();
      await m.setBootOverride({ target: 'Pxe', persistence: 'Continuous' });
      assert.ok(raced, 'the concurrent edit happened during the boot change');
      const vm = await env.user.getVm(name);
      assert.equal(vm.metadata?.labels?.owner, 'alice', "the user's label survived");
      const disks = devicesOf(vm)?.disks ?? [];
      assert.deepEqual(
        disks[0],
        { name: 'scratch', cdrom: { bus: 'sata' } },
        "the user's disk survived, untouched",
      );
      assert.equal(disks.find((d) => d.name === 'rootdisk')?.bootOrder, 2);
      assert.equal(devicesOf(vm)?.interfaces?.[0]?.bootOrder, 1);
      const patches = env.sim.stats
        .requests()
        .filter(
          (r) =>
            r.method === 'PATCH' &&
            r.path.includes(`/virtualmachines/${name}`) &&
            r.userAgent?.startsWith('kubevirtbmc'),
        );
      assert.ok(
        patches.length >= 2 && patches[0]!.status >= 400,
        `the stale patch was refused, then retried: ${JSON.stringify(patches.map((p) => p.status))}`,
      );
      assert.equal(patches.at(-1)!.status, 200);
    } finally {
      await b2.stop();
    }
  });

  test('UEFI with secure boot: firmware.bootloader.efi and SMM; the guest boots with them', async () => {
    const name = uniqueName('uefi');
    await env.user.createVm(vmManifest(name, { runStrategy: 'Halted' }));
    const m = env.backend.machine(name);
    await cachedIn(m);
    assert.equal(m.getBootOverride().mode, 'Legacy');
    await assert.rejects(
      m.setSecureBoot(true),
      (err: Error & { code?: string }) => err.code === 'InvalidState',
    );
    await m.setBootOverride({ mode: 'UEFI' });
    await m.setSecureBoot(true);
    assert.deepEqual(m.getSecureBoot(), { supported: true, enabled: true });
    const vm = await env.user.getVm(name);
    assert.deepEqual(vm.spec?.template?.spec?.domain?.firmware?.bootloader, { efi: { secureBoot: true } });
    assert.equal(vm.spec?.template?.spec?.domain?.features?.smm?.enabled, true);
    assert.equal(
      vm.spec?.template?.spec?.domain?.firmware?.uuid,
      '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
      'the rest of the firmware is kept',
    );
    await assert.rejects(
      m.setBootOverride({ mode: 'Legacy' }),
      (err: Error & { code?: string }) => err.code === 'InvalidState',
    );
    await m.power('On');
    await settle(m, 'On');
    await waitFor(() => /Secure Boot enabled/.test(env.sim.consoleTranscript(NAMESPACE, name)), {
      what: 'secure boot in the guest',
    });
    await m.power('ForceOff');
    await settle(m, 'Off');
    await m.setSecureBoot(false);
    await m.setBootOverride({ mode: 'Legacy' });
    const legacy = await env.user.getVm(name);
    assert.deepEqual(legacy.spec?.template?.spec?.domain?.firmware?.bootloader, { bios: {} });
  });

  test('a VM without a CD-ROM has no Cd target; asking for it is NotSupported naming what to add', async () => {
    const name = uniqueName('nocd');
    await env.user.createVm(vmManifest(name, { runStrategy: 'Halted', cdrom: false }));
    const m = env.backend.machine(name);
    await cachedIn(m);
    assert.deepEqual(m.getBootCapabilities().targets, ['None', 'Pxe', 'Hdd']);
    await assert.rejects(
      m.setBootOverride({ target: 'Cd' }),
      (err: Error & { code?: string }) => err.code === 'NotSupported' && /cdrom/.test(err.message),
    );
    await assert.rejects(
      m.setBootOverride({ target: 'BiosSetup' }),
      (err: Error & { code?: string }) => err.code === 'NotSupported',
    );
  });
});

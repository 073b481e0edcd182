import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { backendRoleRules } from '../../../src/kubevirt/rbac.ts';
import type { VirtualMachine } from '../../../src/kubevirt/types.ts';
import type { Machine, PowerState } from '../../../src/machine/index.ts';
import {
  createClusterPreference,
  typedVmManifest,
  UEFI_PREFERENCE,
  UEFI_SECURE_PREFERENCE,
} from '../../support/instancetypes.ts';
import { KubeHttp } from '../../support/kube-http.ts';
import {
  cachedIn,
  kubevirtEnv,
  loadKubeConfig,
  NAMESPACE,
  startBackend,
  uniqueName,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

// A VM whose firmware comes from its preference (instancetype.kubevirt.io): KubeVirt applies the
// preference to the VMI it creates and leaves the VM's template without `firmware.bootloader`
// (kubevirt v1.9.0, pkg/instancetype/controller/vm `ApplyToVMI`). The BMC must report the firmware
// the VM really boots with, keep boot-once working, reset in place, and write nothing the user did
// not ask for.

const env = kubevirtEnv('fast');
let client: KubeHttp | undefined;
const http = () => {
  client ??= new KubeHttp(env.sim.kubeconfigPath);
  return client;
};
after(() => client?.close());

const settle = (m: Machine, state: PowerState) =>
  waitFor(() => m.getPowerState() === state, { timeoutMs: 15_000, what: `power state ${state}` });

/** The guest's serial output since its latest power-on or reset: its latest boot. */
function latestBoot(name: string): string {
  const t = env.sim.consoleTranscript(NAMESPACE, name);
  const starts = [...t.matchAll(/(UEFI firmware \(OVMF|SeaBIOS \(simulated\))/g)];
  return starts.length ? t.slice(starts.at(-1)!.index) : '';
}

async function typedVm(
  preferenceSpec: object,
  runStrategy: 'Always' | 'Halted',
): Promise<{ name: string; original: VirtualMachine }> {
  const pref = await createClusterPreference(http(), uniqueName('pref'), preferenceSpec);
  const name = uniqueName('pref-vm');
  const original = await env.user.createVm(
    typedVmManifest(name, { runStrategy, preference: { name: pref.metadata.name } }),
  );
  return { name, original };
}

/** A backend as an agent runs it: a ServiceAccount bound to exactly `backendRoleRules(vm)`. */
async function scopedBackend(vm: string) {
  const admin = loadKubeConfig(env.sim.kubeconfigPath);
  const sa = `${vm}-bmc`;
  await admin
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: sa } } });
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: NAMESPACE,
    body: { metadata: { name: sa }, rules: backendRoleRules(vm).map((r) => ({ ...r })) as never },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: NAMESPACE,
    body: {
      metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NAMESPACE }],
    },
  });
  const kc = new KubeConfig();
  kc.loadFromString(await env.sim.serviceAccountKubeconfig(NAMESPACE, sa));
  return startBackend(kc, { vmName: vm });
}

describe('a VM whose firmware comes from its preference', () => {
  test('its UEFI and secure boot are reported while off and running; asking for UEFI writes nothing', async () => {
    const { name, original } = await typedVm(UEFI_SECURE_PREFERENCE, 'Halted');
    const backend = await scopedBackend(name);
    try {
      const m = backend.machine(name);
      await cachedIn(m);
      // Never started: the firmware is the preference's, which only virt-api's expand-spec knows.
      await waitFor(() => m.getBootOverride().mode === 'UEFI', { what: 'UEFI read from the preference' });
      assert.deepEqual(m.getSecureBoot(), { supported: true, enabled: true });
      // Reads stay free once known.
      const requests = backend.apiRequestCount;
      for (let i = 0; i < 1000; i++) m.getBootOverride();
      assert.equal(backend.apiRequestCount, requests);

      // What Ironic does for a UEFI node: set the mode it already has. Nothing may change, least of
      // all secure boot (a written `efi: {secureBoot: false}` would override the preference's).
      env.sim.stats.reset();
      await m.setBootOverride({ mode: 'UEFI' });
      const after = await env.user.getVm(name);
      assert.deepEqual(after.spec?.template, original.spec?.template, 'the template is as the user wrote it');
      const denied = env.sim.stats.requests().filter((r) => r.status === 401 || r.status === 403);
      assert.deepEqual(denied, [], 'the Role allows everything the backend did');
      // A Legacy boot would bypass the preference's secure boot: refused, nothing written.
      await assert.rejects(
        m.setBootOverride({ target: 'Pxe', persistence: 'Once', mode: 'Legacy' }),
        (err: Error & { code?: string }) => err.code === 'InvalidState' && /Secure boot/.test(err.message),
      );
      assert.deepEqual((await env.user.getVm(name)).spec?.template, original.spec?.template);
      assert.equal(m.getBootOverride().persistence, 'Disabled');

      await m.power('On');
      await settle(m, 'On');
      await waitFor(() => /login: $/.test(latestBoot(name)), { timeoutMs: 15_000, what: 'booted' });
      assert.match(latestBoot(name), /Firmware mode: UEFI/);
      assert.match(latestBoot(name), /Secure Boot enabled/);
      assert.equal(m.getBootOverride().mode, 'UEFI');
      assert.deepEqual(m.getSecureBoot(), { supported: true, enabled: true });
    } finally {
      await backend.stop();
    }
  });

  test('a boot-once PXE boots in UEFI, is consumed, and the template is left as the user wrote it', async () => {
    const { name, original } = await typedVm(UEFI_PREFERENCE, 'Always');
    const m = env.backend.machine(name);
    await settle(m, 'On');
    assert.equal(m.getBootOverride().mode, 'UEFI', 'read from the running VMI');
    assert.deepEqual(m.getSecureBoot(), { supported: true, enabled: false });

    await m.setBootOverride({ target: 'Pxe', persistence: 'Once' });
    assert.deepEqual(m.getBootOverride(), { target: 'Pxe', persistence: 'Once', mode: 'UEFI' });
    const during = await env.user.getVm(name);
    assert.equal(
      during.spec?.template?.spec?.domain?.firmware,
      undefined,
      'no firmware written: the preference keeps choosing it',
    );
    await m.power('ForceRestart');
    await waitFor(() => /Booting from network \(PXE\)/.test(latestBoot(name)), {
      timeoutMs: 15_000,
      what: 'PXE boot',
    });
    assert.match(latestBoot(name), /Firmware mode: UEFI/);
    await waitFor(() => m.getBootOverride().persistence === 'Disabled', {
      timeoutMs: 15_000,
      what: 'the boot-once consumed',
    });
    await waitFor(
      async () => {
        const vm = await env.user.getVm(name);
        return (
          JSON.stringify(vm.spec?.template) === JSON.stringify(original.spec?.template) &&
          !vm.metadata?.annotations?.['bmc.kubevirt.io/boot-override']
        );
      },
      { timeoutMs: 15_000, what: 'the template restored exactly' },
    );
    assert.equal(m.getBootOverride().mode, 'UEFI');
  });

  test('a force restart resets the running VMI in place instead of recreating it', async () => {
    const { name } = await typedVm(UEFI_PREFERENCE, 'Always');
    const m = env.backend.machine(name);
    await settle(m, 'On');
    await waitFor(() => /login: $/.test(latestBoot(name)), { timeoutMs: 15_000, what: 'booted' });
    const uid = (await env.user.getVmi(name))?.metadata?.uid;
    await m.power('ForceRestart');
    await waitFor(() => /\*\*\* hard reset \*\*\*/.test(env.sim.consoleTranscript(NAMESPACE, name)), {
      timeoutMs: 15_000,
      what: 'a hard reset of the guest',
    });
    assert.equal((await env.user.getVmi(name))?.metadata?.uid, uid, 'the same VMI');
    assert.equal(m.getPowerState(), 'On');
  });
});

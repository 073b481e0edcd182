import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bootChangePending,
  bootloaderOps,
  bootModeOps,
  bootOverrideOf,
  type ExpandedFirmware,
  effectiveBootloader,
  expandedFirmwareOf,
  expansionKey,
  onceConsumed,
  ownFirmware,
  parseStoredOverride,
  planFirmware,
  type StoredBootOverride,
  secureBootOps,
} from '../../../src/kubevirt/boot.ts';
import type { PatchOp } from '../../../src/kubevirt/json-patch.ts';
import type { Bootloader, VirtualMachine, VirtualMachineInstance } from '../../../src/kubevirt/types.ts';
import { isMachineError } from '../../../src/machine/index.ts';

function apply<T>(doc: T, ops: readonly PatchOp[]): T {
  const copy = structuredClone(doc) as unknown as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path.split('/').slice(1);
    const last = parts.pop()!;
    let parent: Record<string, unknown> = copy;
    for (const p of parts) parent = parent[p] as Record<string, unknown>;
    if (op.op === 'remove') delete parent[last];
    else parent[last] = structuredClone(op.value);
  }
  return copy as unknown as T;
}

const OVERRIDE = 'bmc.kubevirt.io/boot-override';

function vmWith(bootloader?: Bootloader, preference?: string, stored?: StoredBootOverride): VirtualMachine {
  return {
    metadata: {
      name: 'vm1',
      resourceVersion: '1',
      ...(stored ? { annotations: { [OVERRIDE]: JSON.stringify(stored) } } : {}),
    },
    spec: {
      runStrategy: 'Always',
      ...(preference ? { preference: { name: preference } } : {}),
      template: {
        spec: {
          domain: {
            firmware: { uuid: 'u-1', ...(bootloader ? { bootloader } : {}) },
            devices: { disks: [{ name: 'root', disk: {}, bootOrder: 1 }], interfaces: [{ name: 'nic' }] },
          },
        },
      },
    },
    ...(preference
      ? {
          status: {
            preferenceRef: { name: preference, controllerRevisionRef: { name: `vm1-${preference}-r1` } },
          },
        }
      : {}),
  };
}

/** The VMI KubeVirt creates from the VM: its template, with the preference's firmware if it sets none. */
function vmiOf(vm: VirtualMachine, uid: string, preferenceBootloader?: Bootloader): VirtualMachineInstance {
  const spec = structuredClone(vm.spec!.template!.spec!);
  if (preferenceBootloader && !spec.domain!.firmware?.bootloader)
    spec.domain!.firmware = { ...spec.domain!.firmware, bootloader: preferenceBootloader };
  return { metadata: { name: 'vm1', uid }, spec, status: { phase: 'Running' } };
}

const withAnnotation = (vm: VirtualMachine, stored: StoredBootOverride | null): VirtualMachine => {
  const out = structuredClone(vm);
  out.metadata!.annotations = stored ? { [OVERRIDE]: JSON.stringify(stored) } : {};
  return out;
};

describe('firmware a preference gives (the template sets none)', () => {
  const efiSecure: Bootloader = { efi: { secureBoot: true, persistent: true } };
  const expansion = (vm: VirtualMachine): ExpandedFirmware =>
    expandedFirmwareOf(expansionKey(vm)!, {
      spec: {
        template: { spec: { domain: { firmware: { bootloader: efiSecure }, features: { smm: {} } } } },
      },
    });

  test('read from expand-spec, else from the running VMI, else KubeVirt’s default BIOS', () => {
    const vm = vmWith(undefined, 'windows');
    assert.ok(expansionKey(vm), 'a preference and no bootloader: expand-spec is needed');
    assert.deepEqual(effectiveBootloader(vm, undefined, { expansion: expansion(vm) }), efiSecure);
    assert.deepEqual(effectiveBootloader(vm, undefined, { vmi: vmiOf(vm, 'A', efiSecure) }), efiSecure);
    assert.equal(effectiveBootloader(vm, undefined, {}), undefined);
    // an expansion for another preference revision does not count
    const stale = { ...expansion(vm), key: '["windows","","","vm1-windows-r0"]' };
    assert.equal(effectiveBootloader(vm, undefined, { expansion: stale }), undefined);
    // a template bootloader wins, and makes the expansion unnecessary
    const bios = vmWith({ bios: {} }, 'windows');
    assert.equal(expansionKey(bios), undefined);
    assert.deepEqual(effectiveBootloader(bios, { bios: {} }, { expansion: expansion(vm) }), { bios: {} });
  });

  test('reported UEFI with secure boot; a VMI from it is no pending change, and consumes a boot-once', () => {
    const vm = vmWith(undefined, 'windows');
    const vmi = vmiOf(vm, 'A', efiSecure);
    const ctx = { expansion: expansion(vm), vmi };
    assert.equal(bootOverrideOf(vm, vmi, ctx).mode, 'UEFI');
    assert.equal(bootOverrideOf(vm, vmi).mode, 'UEFI', 'from the VMI alone');
    assert.equal(bootChangePending(vm, vmi, ctx), false, 'a reset can keep this VMI');
    const once: StoredBootOverride = { target: 'Pxe', persistence: 'Once', vmiUid: 'A', previous: null };
    const withOnce = withAnnotation(vm, once);
    assert.equal(onceConsumed(withOnce, once, vmiOf(withOnce, 'B', efiSecure), ctx), true);
  });

  test('asking for the mode it has writes nothing; another mode is written, from its settings', () => {
    const vm = vmWith(undefined, 'windows');
    const ctx = { expansion: expansion(vm) };
    assert.deepEqual(bootModeOps(vm, 'UEFI', ctx), []);
    assert.deepEqual(apply(vm, bootModeOps(vm, 'Legacy', ctx)).spec?.template?.spec?.domain?.firmware, {
      uuid: 'u-1',
      bootloader: { bios: {} },
    });
  });

  test('secure boot off writes the preference’s EFI settings with it; on again needs no SMM of ours', () => {
    const vm = vmWith(undefined, 'windows');
    const ctx = { expansion: expansion(vm) };
    const off = apply(vm, secureBootOps(vm, false, ctx));
    assert.deepEqual(off.spec?.template?.spec?.domain?.firmware?.bootloader, {
      efi: { secureBoot: false, persistent: true },
    });
    assert.deepEqual(secureBootOps(vm, true, ctx), [], 'already on');
    const on = apply(off, secureBootOps(off, true, ctx));
    assert.equal(on.spec?.template?.spec?.domain?.features, undefined, 'the preference has SMM on');
  });
});

describe('a one-time boot in another mode (the firmware comes back)', () => {
  const uefi: Bootloader = { efi: { secureBoot: false, persistent: true } };

  /** The VM after `setBootOverride`'s firmware plan, as the backend writes it. */
  function plan(
    vm: VirtualMachine,
    stored: StoredBootOverride | null,
    next: StoredBootOverride | null,
    own: 'UEFI' | 'Legacy',
    boot: 'UEFI' | 'Legacy',
  ) {
    const fw = planFirmware(vm, stored, own, boot, next?.persistence === 'Once');
    const nextStored =
      next && fw.saved !== undefined && next.persistence === 'Once'
        ? { ...next, savedBootloader: fw.saved }
        : next;
    return withAnnotation(apply(vm, bootloaderOps(vm, fw.template)), nextStored);
  }

  test('Once + Legacy on a UEFI VM: BIOS for that boot, the VM’s own EFI settings saved and restored exactly', () => {
    const vm = vmWith(uefi);
    const once: StoredBootOverride = { target: 'Pxe', persistence: 'Once', vmiUid: 'A', previous: null };
    const during = plan(vm, null, once, 'UEFI', 'Legacy');
    assert.deepEqual(during.spec?.template?.spec?.domain?.firmware, {
      uuid: 'u-1',
      bootloader: { bios: {} },
    });
    const stored = parseStoredOverride(during.metadata?.annotations?.[OVERRIDE])!;
    assert.deepEqual(stored.savedBootloader, uefi);
    assert.deepEqual(bootOverrideOf(during, vmiOf(vm, 'A')), {
      target: 'Pxe',
      persistence: 'Once',
      mode: 'Legacy',
    });
    assert.equal(ownFirmware(during, stored).mode, 'UEFI');
    // the next VMI boots BIOS and consumes it; from then on the VM reports its own UEFI
    const booted = vmiOf(during, 'B');
    assert.equal(onceConsumed(during, stored, booted), true);
    assert.deepEqual(bootOverrideOf(during, booted), {
      target: 'None',
      persistence: 'Disabled',
      mode: 'UEFI',
    });
    const restored = apply(during, bootloaderOps(during, stored.savedBootloader!));
    assert.deepEqual(restored.spec?.template?.spec, vm.spec?.template?.spec, 'exactly as before');
    assert.equal(bootChangePending(restored, booted), true, 'the next restart makes a new (UEFI) VMI');
  });

  test('a template without a bootloader gets it removed again, not a BIOS or EFI of ours', () => {
    const vm = vmWith(undefined, 'windows');
    const ctx = { vmi: vmiOf(vm, 'A', { efi: {} }) };
    const fw = planFirmware(vm, null, 'UEFI', 'Legacy', true, ctx);
    assert.deepEqual(fw, { template: { bios: {} }, saved: null });
    const during = withAnnotation(apply(vm, bootloaderOps(vm, fw.template)), {
      target: 'Pxe',
      persistence: 'Once',
      vmiUid: 'A',
      previous: null,
      savedBootloader: null,
    });
    assert.deepEqual(bootloaderOps(during, null), [
      { op: 'remove', path: '/spec/template/spec/domain/firmware/bootloader' },
    ]);
  });

  test('cancelling the pending Once, or making it Continuous in the VM’s own mode, puts the own bootloader back', () => {
    const vm = vmWith(uefi);
    const once: StoredBootOverride = { target: 'Pxe', persistence: 'Once', vmiUid: 'A', previous: null };
    const during = plan(vm, null, once, 'UEFI', 'Legacy');
    const stored = parseStoredOverride(during.metadata?.annotations?.[OVERRIDE])!;
    assert.deepEqual(planFirmware(during, stored, 'UEFI', 'UEFI', false), {
      template: uefi,
      saved: undefined,
    });
    // Continuous Legacy: Legacy is the VM's own from now on (a BIOS bootloader, nothing saved)
    assert.deepEqual(planFirmware(during, stored, 'Legacy', 'Legacy', false), {
      template: { bios: {} },
      saved: undefined,
    });
  });

  test('a Once in the VM’s own mode writes no firmware at all', () => {
    const vm = vmWith(uefi);
    assert.deepEqual(planFirmware(vm, null, 'UEFI', 'UEFI', true), { template: uefi, saved: undefined });
  });

  test('junk saved bootloaders are not trusted', () => {
    for (const junk of ['"x"', '[1]', '{"bios":1}', '{"grub":{}}']) {
      const s = parseStoredOverride(
        `{"target":"Pxe","persistence":"Once","vmiUid":null,"savedBootloader":${junk}}`,
      );
      assert.equal(s?.savedBootloader, undefined, junk);
    }
  });

  test('secure boot belongs to the VM’s own firmware (KubeVirt’s default: on) and needs UEFI', () => {
    assert.equal(ownFirmware(vmWith({ efi: {} }), null).secureBoot, true);
    assert.equal(ownFirmware(vmWith({ efi: { secureBoot: false } }), null).secureBoot, false);
    assert.throws(
      () => secureBootOps(vmWith({ bios: {} }), true),
      (err) => isMachineError(err) && err.code === 'InvalidState',
    );
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bootChangePending,
  bootModeOps,
  bootOverrideOf,
  bootTargetsOf,
  devicesOf,
  onceConsumed,
  ordersForTarget,
  parseSavedBootOrder,
  parseStoredOverride,
  planBootOrder,
  secureBootOps,
} from '../../../src/kubevirt/boot.ts';
import type { PatchOp } from '../../../src/kubevirt/json-patch.ts';
import type { Disk, Interface, VirtualMachine, VirtualMachineInstance } from '../../../src/kubevirt/types.ts';
import { isMachineError } from '../../../src/machine/index.ts';

/** Applies JSON-patch ops to a copy (enough of RFC 6902 for these tests). */
function apply<T>(doc: T, ops: readonly PatchOp[]): T {
  const copy = structuredClone(doc) as unknown as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let parent: Record<string, unknown> = copy;
    for (const p of parts) parent = parent[p] as Record<string, unknown>;
    if (op.op === 'test') {
      assert.deepEqual(parent[last], op.value);
    } else if (op.op === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (Array.isArray(parent) && last === '-') {
      parent.push(op.value);
    } else if (Array.isArray(parent) && op.op === 'add') {
      parent.splice(Number(last), 0, op.value);
    } else {
      parent[last] = op.value;
    }
  }
  return copy as unknown as T;
}

function makeVm(
  disks: Disk[],
  interfaces: Interface[],
  annotations?: Record<string, string>,
): VirtualMachine {
  return {
    metadata: { name: 'vm1', resourceVersion: '10', ...(annotations ? { annotations } : {}) },
    spec: {
      runStrategy: 'Always',
      template: { spec: { domain: { devices: { disks, interfaces } } } },
    },
  };
}

const rootDisk = (bootOrder?: number): Disk => ({
  name: 'root',
  disk: { bus: 'virtio' },
  ...(bootOrder ? { bootOrder } : {}),
});
const dataDisk = (bootOrder?: number): Disk => ({
  name: 'data',
  disk: { bus: 'virtio' },
  ...(bootOrder ? { bootOrder } : {}),
});
const cdrom = (bootOrder?: number): Disk => ({
  name: 'cdrom',
  cdrom: { bus: 'sata' },
  ...(bootOrder ? { bootOrder } : {}),
});
const nic = (bootOrder?: number, name = 'default'): Interface => ({
  name,
  masquerade: {},
  macAddress: '52:54:00:00:00:01',
  ...(bootOrder ? { bootOrder } : {}),
});

function orders(vm: VirtualMachine): Record<string, number | undefined> {
  return Object.fromEntries(devicesOf(vm.spec?.template?.spec).map((d) => [d.key, d.bootOrder]));
}

function set(
  vm: VirtualMachine,
  target: 'Pxe' | 'Hdd' | 'Cd' | null,
  persistence: 'Once' | 'Continuous' = 'Continuous',
) {
  const plan = planBootOrder(vm, target ? { target, persistence } : null);
  const annotationOps: PatchOp[] = [];
  const annotations = { ...(vm.metadata?.annotations ?? {}) };
  for (const [k, v] of Object.entries(plan.annotations)) {
    if (v === null) delete annotations[k];
    else annotations[k] = v;
  }
  const next = apply(vm, [...plan.ops, ...annotationOps]);
  next.metadata = { ...next.metadata, annotations };
  return { next, plan };
}

describe('boot targets', () => {
  test('targets follow the devices the VM has; firmware setup and UEFI HTTP are never offered', () => {
    assert.deepEqual(bootTargetsOf(makeVm([rootDisk(), cdrom()], [nic()])), ['None', 'Pxe', 'Hdd', 'Cd']);
    assert.deepEqual(bootTargetsOf(makeVm([rootDisk()], [])), ['None', 'Hdd']);
  });
});

describe('boot order computation', () => {
  test('no orders anywhere: the target gets 1 and the disk that booted by default keeps booting second', () => {
    const vm = makeVm([rootDisk(), dataDisk(), cdrom()], [nic()]);
    const { next, plan } = set(vm, 'Pxe');
    assert.deepEqual(orders(next), {
      'disk/root': 2,
      'disk/data': undefined,
      'disk/cdrom': undefined,
      'interface/default': 1,
    });
    // Only the two bootOrder fields were written, nothing else of the disks or interfaces.
    assert.deepEqual(plan.ops.map((o) => o.path).sort(), [
      '/spec/template/spec/domain/devices/disks/0/bootOrder',
      '/spec/template/spec/domain/devices/interfaces/0/bootOrder',
    ]);
    assert.deepEqual(next.spec?.template?.spec?.domain?.devices?.interfaces?.[0], { ...nic(), bootOrder: 1 });
    assert.deepEqual(parseSavedBootOrder(next.metadata?.annotations?.['bmc.kubevirt.io/saved-boot-order']), {
      'disk/root': null,
      'interface/default': null,
    });
  });

  test('Hdd when the first disk already boots by default: nothing changes', () => {
    const vm = makeVm([rootDisk(), cdrom()], [nic()]);
    const { plan } = set(vm, 'Hdd');
    assert.deepEqual(plan.ops, []);
    assert.equal(plan.annotations['bmc.kubevirt.io/saved-boot-order'], null);
  });

  test('existing orders shift only as far as they collide, keeping their relative order', () => {
    const vm = makeVm([rootDisk(1), dataDisk(5), cdrom()], [nic(2)]);
    const { next } = set(vm, 'Cd');
    assert.deepEqual(orders(next), {
      'disk/root': 2,
      'disk/data': 5,
      'disk/cdrom': 1,
      'interface/default': 3,
    });
  });

  test('a target that already had an order moves to the front; the others close ranks', () => {
    const vm = makeVm([rootDisk(1), cdrom(3)], [nic(2)]);
    const desired = ordersForTarget(
      devicesOf(vm.spec?.template?.spec),
      new Map([
        ['disk/root', 1],
        ['disk/cdrom', 3],
        ['interface/default', 2],
      ]),
      'disk/cdrom',
    );
    assert.deepEqual(Object.fromEntries(desired), {
      'disk/root': 2,
      'disk/cdrom': 1,
      'interface/default': 3,
    });
  });

  test('switching targets recomputes from the saved base; clearing restores it exactly', () => {
    const original = makeVm([rootDisk(1), cdrom()], [nic(2)]);
    const pxe = set(original, 'Pxe').next;
    assert.deepEqual(orders(pxe), { 'disk/root': 2, 'disk/cdrom': undefined, 'interface/default': 1 });
    const cd = set(pxe, 'Cd').next;
    assert.deepEqual(orders(cd), { 'disk/root': 2, 'disk/cdrom': 1, 'interface/default': 3 });
    const cleared = set(cd, null).next;
    assert.deepEqual(orders(cleared), orders(original));
    assert.equal(cleared.metadata?.annotations?.['bmc.kubevirt.io/saved-boot-order'], undefined);
    assert.equal(cleared.metadata?.annotations?.['bmc.kubevirt.io/boot-override'], undefined);
  });

  test('Hdd means the annotated boot disk, Pxe the annotated interface', () => {
    const vm = makeVm([rootDisk(), dataDisk()], [nic(undefined, 'a'), nic(undefined, 'b')], {
      'bmc.kubevirt.io/boot-disk': 'data',
      'bmc.kubevirt.io/boot-interface': 'b',
    });
    assert.equal(orders(set(vm, 'Hdd').next)['disk/data'], 1);
    const pxe = orders(set(vm, 'Pxe').next);
    assert.equal(pxe['interface/b'], 1);
    assert.equal(pxe['interface/a'], undefined);
  });

  test('a target the VM has no device for is NotSupported, naming what to add', () => {
    assert.throws(
      () => planBootOrder(makeVm([rootDisk()], []), { target: 'Cd', persistence: 'Once' }),
      (err) => isMachineError(err) && err.code === 'NotSupported' && /cdrom/.test(err.message),
    );
  });

  test('junk in the annotations is ignored, not trusted', () => {
    assert.deepEqual(parseSavedBootOrder('{"disk/a": -1, "evil": 3, "interface/b": null}'), {
      'interface/b': null,
    });
    assert.deepEqual(parseSavedBootOrder('not json'), {});
    assert.equal(parseStoredOverride('{"target":"Floppy","persistence":"Once"}'), null);
  });
});

describe('boot-once bookkeeping', () => {
  const vmiOf = (vm: VirtualMachine, uid: string): VirtualMachineInstance => ({
    metadata: { name: 'vm1', uid },
    spec: structuredClone(vm.spec?.template?.spec),
    status: { phase: 'Running' },
  });

  test('consumed only by another VMI created with the override’s boot order', () => {
    const original = makeVm([rootDisk(1)], [nic()]);
    const running = vmiOf(original, 'A');
    const plan = planBootOrder(original, { target: 'Pxe', persistence: 'Once', vmiUid: 'A', previous: null });
    const withOverride = set(original, 'Pxe', 'Once').next;
    withOverride.metadata!.annotations!['bmc.kubevirt.io/boot-override'] =
      plan.annotations['bmc.kubevirt.io/boot-override']!;
    const stored = parseStoredOverride(
      withOverride.metadata?.annotations?.['bmc.kubevirt.io/boot-override'],
    )!;
    // The VMI present when it was set does not consume it; a restart is needed for it to apply.
    assert.equal(onceConsumed(withOverride, stored, running), false);
    assert.equal(bootChangePending(withOverride, running), true);
    assert.deepEqual(bootOverrideOf(withOverride, running), {
      target: 'Pxe',
      persistence: 'Once',
      mode: 'Legacy',
    });
    // A new VMI that started with the old order (created just before the patch) does not either.
    assert.equal(onceConsumed(withOverride, stored, vmiOf(original, 'B')), false);
    // A new VMI with the override's order does; the override then reads as what it returns to.
    const next = vmiOf(withOverride, 'C');
    assert.equal(onceConsumed(withOverride, stored, next), true);
    assert.deepEqual(bootOverrideOf(withOverride, next), {
      target: 'None',
      persistence: 'Disabled',
      mode: 'Legacy',
    });
  });
});

describe('firmware', () => {
  test('UEFI/Legacy rewrite only firmware.bootloader; UEFI is written without secure boot', () => {
    const vm = makeVm([rootDisk()], []);
    vm.spec!.template!.spec!.domain!.firmware = { uuid: 'u-1', serial: 's-1' };
    const uefi = apply(vm, bootModeOps(vm, 'UEFI'));
    assert.deepEqual(uefi.spec?.template?.spec?.domain?.firmware, {
      uuid: 'u-1',
      serial: 's-1',
      bootloader: { efi: { secureBoot: false } },
    });
    const legacy = apply(uefi, bootModeOps(uefi, 'Legacy'));
    assert.deepEqual(legacy.spec?.template?.spec?.domain?.firmware?.bootloader, { bios: {} });
    assert.deepEqual(bootModeOps(legacy, 'Legacy'), []);
  });

  test('no firmware at all: it is created', () => {
    const vm = makeVm([rootDisk()], []);
    const uefi = apply(vm, bootModeOps(vm, 'UEFI'));
    assert.deepEqual(uefi.spec?.template?.spec?.domain?.firmware, {
      bootloader: { efi: { secureBoot: false } },
    });
  });

  test('secure boot turns on SMM with it, and needs UEFI', () => {
    const vm = makeVm([rootDisk()], []);
    assert.throws(
      () => secureBootOps(vm, true),
      (err) => isMachineError(err) && err.code === 'InvalidState',
    );
    const uefi = apply(vm, bootModeOps(vm, 'UEFI'));
    const secure = apply(uefi, secureBootOps(uefi, true));
    assert.equal(secure.spec?.template?.spec?.domain?.firmware?.bootloader?.efi?.secureBoot, true);
    assert.deepEqual(secure.spec?.template?.spec?.domain?.features, { smm: { enabled: true } });
    const off = apply(secure, secureBootOps(secure, false));
    assert.equal(off.spec?.template?.spec?.domain?.firmware?.bootloader?.efi?.secureBoot, false);
    assert.deepEqual(
      off.spec?.template?.spec?.domain?.features,
      { smm: { enabled: true } },
      'SMM is left alone',
    );
  });

  test('an existing features map keeps its other features', () => {
    const vm = makeVm([rootDisk()], []);
    vm.spec!.template!.spec!.domain!.firmware = { bootloader: { efi: { secureBoot: false } } };
    vm.spec!.template!.spec!.domain!.features = { acpi: { enabled: true } };
    const secure = apply(vm, secureBootOps(vm, true));
    assert.deepEqual(secure.spec?.template?.spec?.domain?.features, {
      acpi: { enabled: true },
      smm: { enabled: true },
    });
  });
});

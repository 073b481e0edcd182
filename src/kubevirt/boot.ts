import {
  type BootMode,
  type BootOverride,
  type BootPersistence,
  type BootTarget,
  InvalidStateError,
  NotSupportedError,
} from '../machine/index.ts';
import { type PatchOp, pointer } from './json-patch.ts';
import {
  ANNOTATION_BOOT_DISK,
  ANNOTATION_BOOT_INTERFACE,
  ANNOTATION_BOOT_OVERRIDE,
  ANNOTATION_SAVED_BOOT_ORDER,
  type Bootloader,
  type VirtualMachine,
  type VirtualMachineInstance,
  type VmiSpec,
} from './types.ts';

/**
 * Boot override on KubeVirt, as pure functions over the VM object.
 *
 * A boot target is a device: Pxe an interface, Hdd a disk, Cd a CD-ROM disk. Overriding means giving
 * that device the lowest `bootOrder` and shifting only the devices whose order collides, so every
 * other disk and interface setting stays as the user wrote it. The values the override replaced are
 * kept in the annotation `bmc.kubevirt.io/saved-boot-order` (the "base" order) so they can be
 * restored exactly: switching targets or clearing the override always recomputes from the base.
 */

/** A device that can carry a `bootOrder`: key `disk/<name>` or `interface/<name>`. */
export interface BootDevice {
  readonly key: string;
  readonly kind: 'disk' | 'interface';
  readonly name: string;
  /** Index in the template's disks or interfaces list (what a JSON patch addresses). */
  readonly index: number;
  readonly cdrom: boolean;
  readonly bootOrder: number | undefined;
}

/** Base boot orders of the devices an override changed; null = had no bootOrder. */
export type SavedBootOrder = Record<string, number | null>;

/** What `bmc.kubevirt.io/boot-override` holds. */
export interface StoredBootOverride {
  readonly target: Exclude<BootTarget, 'None'>;
  readonly persistence: 'Once' | 'Continuous';
  /** For Once: the VMI that existed when it was set (null: none); a VMI with another uid consumes it. */
  readonly vmiUid?: string | null;
  /** For Once: the override to return to once consumed. */
  readonly previous?: {
    readonly target: Exclude<BootTarget, 'None'>;
    readonly persistence: 'Continuous';
  } | null;
  /**
   * For a Once whose boot mode differs from the VM's own: the override wrote that boot's
   * `firmware.bootloader` into the template, and this is the template's own (null: it had none), put
   * back once the boot-once is consumed or replaced. Absent: the override did not touch the firmware.
   */
  readonly savedBootloader?: Bootloader | null;
}

const TEMPLATE_DEVICES = ['spec', 'template', 'spec', 'domain', 'devices'] as const;

export function devicesOf(spec: VmiSpec | undefined): BootDevice[] {
  const devices = spec?.domain?.devices;
  const out: BootDevice[] = [];
  (devices?.disks ?? []).forEach((d, index) => {
    out.push({
      key: `disk/${d.name}`,
      kind: 'disk',
      name: d.name,
      index,
      cdrom: d.cdrom !== undefined,
      bootOrder: typeof d.bootOrder === 'number' ? d.bootOrder : undefined,
    });
  });
  (devices?.interfaces ?? []).forEach((i, index) => {
    out.push({
      key: `interface/${i.name}`,
      kind: 'interface',
      name: i.name,
      index,
      cdrom: false,
      bootOrder: typeof i.bootOrder === 'number' ? i.bootOrder : undefined,
    });
  });
  return out;
}

export function templateDevices(vm: VirtualMachine): BootDevice[] {
  return devicesOf(vm.spec?.template?.spec);
}

/**
 * The device a target means on this VM, or undefined when it has none.
 * - Pxe: the interface named by annotation `bmc.kubevirt.io/boot-interface`, else the first one.
 * - Hdd: the disk named by `bmc.kubevirt.io/boot-disk`, else the non-CD-ROM disk with the lowest
 *   boot order, else the first non-CD-ROM disk.
 * - Cd: the given CD-ROM disk (the virtual-media drive), else the first CD-ROM disk.
 */
export function targetDevice(
  vm: VirtualMachine,
  target: BootTarget,
  cdromName?: string,
  base?: ReadonlyMap<string, number | undefined>,
): BootDevice | undefined {
  const devices = templateDevices(vm);
  const annotations = vm.metadata?.annotations ?? {};
  const orderOf = (d: BootDevice) => (base ? base.get(d.key) : d.bootOrder);
  switch (target) {
    case 'Pxe': {
      const nics = devices.filter((d) => d.kind === 'interface');
      const named = annotations[ANNOTATION_BOOT_INTERFACE];
      return (named ? nics.find((d) => d.name === named) : undefined) ?? nics[0];
    }
    case 'Hdd': {
      const disks = devices.filter((d) => d.kind === 'disk' && !d.cdrom);
      const named = annotations[ANNOTATION_BOOT_DISK];
      const byName = named ? disks.find((d) => d.name === named) : undefined;
      if (byName) return byName;
      const ordered = disks.filter((d) => orderOf(d) !== undefined).sort((a, b) => orderOf(a)! - orderOf(b)!);
      return ordered[0] ?? disks[0];
    }
    case 'Cd': {
      const cds = devices.filter((d) => d.kind === 'disk' && d.cdrom);
      return (cdromName ? cds.find((d) => d.name === cdromName) : undefined) ?? cds[0];
    }
    default:
      return undefined;
  }
}

/** The boot targets this VM can really use (always `None`). Firmware setup and UEFI HTTP: KubeVirt has no way. */
export function bootTargetsOf(vm: VirtualMachine): BootTarget[] {
  const targets: BootTarget[] = ['None'];
  for (const t of ['Pxe', 'Hdd', 'Cd'] as const) if (targetDevice(vm, t)) targets.push(t);
  return targets;
}

export function parseSavedBootOrder(text: string | undefined): SavedBootOrder {
  if (!text) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const out: SavedBootOrder = {};
    for (const [key, value] of Object.entries(parsed)) {
      if (!/^(disk|interface)\//.test(key)) continue;
      if (value === null || (typeof value === 'number' && Number.isInteger(value) && value > 0))
        out[key] = value;
    }
    return out;
  } catch {
    return {};
  }
}

const REAL_TARGETS: readonly string[] = ['Pxe', 'Hdd', 'Cd', 'BiosSetup', 'UefiHttp'];

/** A saved bootloader from the annotation: one of `bios`/`efi` as an object, or null; else undefined. */
function parseBootloader(v: unknown): Bootloader | null | undefined {
  if (v === null) return null;
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const isObj = (x: unknown) => !!x && typeof x === 'object' && !Array.isArray(x);
  if (Object.keys(o).some((k) => k !== 'bios' && k !== 'efi')) return undefined;
  if ((o.bios !== undefined && !isObj(o.bios)) || (o.efi !== undefined && !isObj(o.efi))) return undefined;
  return o as Bootloader;
}

export function parseStoredOverride(text: string | undefined): StoredBootOverride | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (!v || typeof v !== 'object') return null;
    if (typeof v.target !== 'string' || !REAL_TARGETS.includes(v.target)) return null;
    if (v.persistence !== 'Once' && v.persistence !== 'Continuous') return null;
    const prev = v.previous as Record<string, unknown> | null | undefined;
    const previous =
      prev && typeof prev.target === 'string' && REAL_TARGETS.includes(prev.target)
        ? { target: prev.target as StoredBootOverride['target'], persistence: 'Continuous' as const }
        : null;
    const saved = v.persistence === 'Once' ? parseBootloader(v.savedBootloader) : undefined;
    return {
      target: v.target as StoredBootOverride['target'],
      persistence: v.persistence,
      vmiUid: typeof v.vmiUid === 'string' ? v.vmiUid : null,
      previous,
      ...(saved !== undefined ? { savedBootloader: saved } : {}),
    };
  } catch {
    return null;
  }
}

/** The base order: the current orders with the saved values put back. */
export function baseOrder(
  devices: readonly BootDevice[],
  saved: SavedBootOrder,
): Map<string, number | undefined> {
  const base = new Map<string, number | undefined>();
  for (const d of devices) {
    const s = saved[d.key];
    base.set(d.key, s === undefined ? d.bootOrder : (s ?? undefined));
  }
  return base;
}

/**
 * The boot orders that make `targetKey` boot first, changing as few devices as possible:
 * - already strictly first: nothing changes;
 * - no device has an order (the firmware's default, the first disk boots): the target gets 1 and
 *   the disk that booted by default gets 2, so it stays a fallback (once one device has an order,
 *   devices without one are not tried);
 * - otherwise the target gets 1 and the devices at 1, 2, … shift up by one only as far as they
 *   collide, keeping their relative order; devices after a gap keep their value.
 */
export function ordersForTarget(
  devices: readonly BootDevice[],
  base: ReadonlyMap<string, number | undefined>,
  targetKey: string | undefined,
): Map<string, number | undefined> {
  const result = new Map(base);
  if (!targetKey) return result;
  const ordered = devices
    .filter((d) => base.get(d.key) !== undefined)
    .sort((a, b) => base.get(a.key)! - base.get(b.key)!);
  if (ordered.length === 0) {
    const implicit = devices.find((d) => d.kind === 'disk' && !d.cdrom);
    if (implicit?.key === targetKey) return result;
    result.set(targetKey, 1);
    if (implicit) result.set(implicit.key, 2);
    return result;
  }
  const targetOrder = base.get(targetKey);
  const others = ordered.filter((d) => d.key !== targetKey);
  if (targetOrder !== undefined && others.every((d) => base.get(d.key)! > targetOrder)) return result;
  result.set(targetKey, 1);
  let previous = 1;
  for (const d of others) {
    const order = base.get(d.key)!;
    const next = order <= previous ? previous + 1 : order;
    result.set(d.key, next);
    previous = next;
  }
  return result;
}

/** JSON-patch ops turning the template's current boot orders into `desired`. */
export function bootOrderOps(
  devices: readonly BootDevice[],
  desired: ReadonlyMap<string, number | undefined>,
): PatchOp[] {
  const ops: PatchOp[] = [];
  for (const d of devices) {
    const want = desired.get(d.key);
    if (want === d.bootOrder) continue;
    const path = pointer(
      ...TEMPLATE_DEVICES,
      d.kind === 'disk' ? 'disks' : 'interfaces',
      d.index,
      'bootOrder',
    );
    if (want === undefined) ops.push({ op: 'remove', path });
    else ops.push({ op: 'add', path, value: want });
  }
  return ops;
}

/** The saved-order annotation value for `desired`: the base value of every device that differs. */
export function savedFor(
  devices: readonly BootDevice[],
  base: ReadonlyMap<string, number | undefined>,
  desired: ReadonlyMap<string, number | undefined>,
): SavedBootOrder {
  const saved: SavedBootOrder = {};
  for (const d of devices) {
    if (desired.get(d.key) !== base.get(d.key)) saved[d.key] = base.get(d.key) ?? null;
  }
  return saved;
}

export interface BootOrderPlan {
  readonly ops: PatchOp[];
  /** The annotation values to write (null = remove). */
  readonly annotations: Record<string, string | null>;
}

/**
 * Plans the VM edit that makes `stored` (null: no override) the active override: boot orders
 * recomputed from the base, plus both annotations. `cdromName` names the virtual-media drive.
 */
export function planBootOrder(
  vm: VirtualMachine,
  stored: StoredBootOverride | null,
  cdromName?: string,
): BootOrderPlan {
  const devices = templateDevices(vm);
  const saved = parseSavedBootOrder(vm.metadata?.annotations?.[ANNOTATION_SAVED_BOOT_ORDER]);
  const base = baseOrder(devices, saved);
  let targetKey: string | undefined;
  if (stored) {
    const device = targetDevice(vm, stored.target, cdromName, base);
    if (!device) throw new NotSupportedError(missingDeviceMessage(stored.target));
    targetKey = device.key;
  }
  const desired = ordersForTarget(devices, base, targetKey);
  const nextSaved = savedFor(devices, base, desired);
  return {
    ops: bootOrderOps(devices, desired),
    annotations: {
      [ANNOTATION_BOOT_OVERRIDE]: stored ? JSON.stringify(stored) : null,
      [ANNOTATION_SAVED_BOOT_ORDER]: Object.keys(nextSaved).length > 0 ? JSON.stringify(nextSaved) : null,
    },
  };
}

export function missingDeviceMessage(target: BootTarget): string {
  switch (target) {
    case 'Pxe':
      return 'This VM has no network interface to boot from; add one to spec.template.spec.domain.devices.interfaces.';
    case 'Hdd':
      return 'This VM has no disk to boot from; add a disk to spec.template.spec.domain.devices.disks.';
    case 'Cd':
      return 'This VM has no CD-ROM drive; add a disk with `cdrom: {bus: sata}` to spec.template.spec.domain.devices.disks.';
    case 'BiosSetup':
      return 'KubeVirt cannot boot a VM into its firmware setup.';
    case 'UefiHttp':
      return 'KubeVirt has no UEFI HTTP boot device.';
    default:
      return `Cannot boot from ${target}.`;
  }
}

// --- firmware: mode and secure boot ---------------------------------------------------------------

/**
 * Where a VM's firmware comes from. A template may leave `firmware.bootloader` unset and let its
 * preference choose it (`spec.preference`, instancetype.kubevirt.io): KubeVirt applies the preference
 * when it creates the VMI and never writes it into the template (pkg/instancetype/controller/vm
 * `ApplyToVMI`, v1.9.0). So "the VM's firmware" is the template's bootloader when it sets one, else
 * the preference's, learnt from virt-api's `expand-spec` (the VM with its preference applied), else
 * the running VMI's, else KubeVirt's default, BIOS.
 */
export interface FirmwareContext {
  /** What `expand-spec` answered, for the preference `key` (see `expansionKey`). */
  readonly expansion?: ExpandedFirmware | null;
  /** The VMI, when the VM has one. */
  readonly vmi?: VirtualMachineInstance | undefined;
}

export interface ExpandedFirmware {
  readonly key: string;
  /** The expanded template's bootloader (null: the preference sets none). */
  readonly bootloader: Bootloader | null;
  /** Whether the expanded template has SMM on (secure boot needs it). */
  readonly smm: boolean;
}

const hasBootloader = (bl: Bootloader | null | undefined): bl is Bootloader =>
  !!bl && (!!bl.efi || !!bl.bios);

/**
 * What an expansion depends on: the preference the VM names and the revision KubeVirt stored for it.
 * Undefined when none is needed or none can tell: no preference, or a template with a bootloader (a
 * preference only fills an unset one: preference/apply/firmware.go; while a one-time boot's
 * bootloader is in the template, `expand-spec` would answer that one, so an expansion learnt
 * before is kept and used).
 */
export function expansionKey(vm: VirtualMachine): string | undefined {
  if (hasBootloader(templateBootloaderOf(vm))) return undefined;
  return preferenceKey(vm);
}

function preferenceKey(vm: VirtualMachine): string | undefined {
  const pref = vm.spec?.preference;
  if (!pref?.name) return undefined;
  return JSON.stringify([
    pref.name,
    pref.kind ?? '',
    pref.revisionName ?? '',
    vm.status?.preferenceRef?.controllerRevisionRef?.name ?? '',
  ]);
}

/** The expansion's firmware parts, from the VM `expand-spec` answered. */
export function expandedFirmwareOf(key: string, expanded: VirtualMachine): ExpandedFirmware {
  const domain = expanded.spec?.template?.spec?.domain;
  const bl = domain?.firmware?.bootloader;
  const smm = domain?.features?.smm as { enabled?: boolean } | undefined;
  return {
    key,
    bootloader: hasBootloader(bl) ? structuredClone(bl) : null,
    smm: !!smm && smm.enabled !== false,
  };
}

/**
 * The bootloader a VMI created from `templateBootloader` (the template's, or a saved one) gets: its
 * own when set, else the preference's (from the expansion, else from a running VMI), else none.
 */
export function effectiveBootloader(
  vm: VirtualMachine,
  templateBootloader: Bootloader | null | undefined,
  ctx: FirmwareContext = {},
): Bootloader | undefined {
  if (hasBootloader(templateBootloader)) return templateBootloader;
  const key = preferenceKey(vm);
  if (!key) return undefined;
  if (ctx.expansion && ctx.expansion.key === key) return ctx.expansion.bootloader ?? undefined;
  const running = ctx.vmi?.spec?.domain?.firmware?.bootloader;
  return hasBootloader(running) ? running : undefined;
}

const modeOfBootloader = (bl: Bootloader | null | undefined): BootMode => (bl?.efi ? 'UEFI' : 'Legacy');
/** KubeVirt's `efi.secureBoot` defaults to true. */
const secureOfBootloader = (bl: Bootloader | null | undefined): boolean =>
  !!bl?.efi && bl.efi.secureBoot !== false;

/** `firmware.bootloader.efi` → UEFI; `bios` or nothing (KubeVirt's default firmware is BIOS) → Legacy. */
export function bootModeOf(spec: VmiSpec | undefined): BootMode {
  return modeOfBootloader(spec?.domain?.firmware?.bootloader);
}

/** KubeVirt's `efi.secureBoot` defaults to true. */
export function secureBootOf(spec: VmiSpec | undefined): boolean {
  return secureOfBootloader(spec?.domain?.firmware?.bootloader);
}

const templateBootloaderOf = (vm: VirtualMachine): Bootloader | undefined =>
  vm.spec?.template?.spec?.domain?.firmware?.bootloader;

/** The bootloader the next VMI of this VM gets, as the template now stands. */
export function nextBootloader(vm: VirtualMachine, ctx: FirmwareContext = {}): Bootloader | undefined {
  return effectiveBootloader(vm, templateBootloaderOf(vm), ctx);
}

/**
 * The VM's own firmware in the template: what it had before a boot-once wrote that boot's firmware
 * (the saved value while one is pending or not yet restored), else the template's bootloader.
 */
export function ownBootloader(vm: VirtualMachine, stored: StoredBootOverride | null): Bootloader | null {
  if (stored?.savedBootloader !== undefined) return stored.savedBootloader;
  const bl = templateBootloaderOf(vm);
  return hasBootloader(bl) ? bl : null;
}

/** The VM's own boot mode and secure boot (what it boots when no override applies). */
export function ownFirmware(
  vm: VirtualMachine,
  stored: StoredBootOverride | null,
  ctx: FirmwareContext = {},
): { mode: BootMode; secureBoot: boolean; bootloader: Bootloader | undefined } {
  // a boot-once that wrote firmware was booted by the current VMI: that VMI is not the VM's own firmware
  const own = ownBootloader(vm, stored);
  const c = stored?.savedBootloader !== undefined ? { expansion: ctx.expansion ?? null } : ctx;
  const bl = effectiveBootloader(vm, own, c);
  return { mode: modeOfBootloader(bl), secureBoot: secureOfBootloader(bl), bootloader: bl };
}

/** Secure boot of the next boot (the effective template). */
export function nextSecureBoot(vm: VirtualMachine, ctx: FirmwareContext = {}): boolean {
  const bl = nextBootloader(vm, ctx);
  return modeOfBootloader(bl) === 'UEFI' && secureOfBootloader(bl);
}

const DOMAIN = ['spec', 'template', 'spec', 'domain'] as const;

/**
 * The bootloader to write for `mode`, starting from `base` (what the VM has now): the same when it
 * already is that mode; UEFI keeps the EFI settings it had (`persistent`…) and is written without
 * secure boot unless asked (KubeVirt's default, on, needs SMM, which the webhook would otherwise
 * reject); Legacy keeps the BIOS settings it had.
 */
export function bootloaderFor(
  mode: BootMode,
  base: Bootloader | null | undefined,
  secureBoot = false,
): Bootloader {
  if (modeOfBootloader(base) === mode && hasBootloader(base)) return structuredClone(base);
  if (mode === 'UEFI') return { efi: { ...(base?.efi ?? {}), secureBoot } };
  return { bios: { ...(base?.bios ?? {}) } };
}

/** Ops making the template's `firmware.bootloader` exactly `desired` (null: removed); the rest of the firmware stays. */
export function bootloaderOps(vm: VirtualMachine, desired: Bootloader | null): PatchOp[] {
  const firmware = vm.spec?.template?.spec?.domain?.firmware;
  const current = firmware?.bootloader;
  if (desired === null) {
    if (current === undefined) return [];
    // a firmware object that only held the bootloader we wrote goes with it
    if (Object.keys(firmware ?? {}).length === 1)
      return [{ op: 'remove', path: pointer(...DOMAIN, 'firmware') }];
    return [{ op: 'remove', path: pointer(...DOMAIN, 'firmware', 'bootloader') }];
  }
  if (current !== undefined && JSON.stringify(current) === JSON.stringify(desired)) return [];
  if (!firmware) return [{ op: 'add', path: pointer(...DOMAIN, 'firmware'), value: { bootloader: desired } }];
  return [{ op: 'add', path: pointer(...DOMAIN, 'firmware', 'bootloader'), value: desired }];
}

/**
 * Ops switching the VM's own firmware to `mode` (a permanent change): nothing when it already is
 * that mode, whether from the template or from its preference.
 */
export function bootModeOps(vm: VirtualMachine, mode: BootMode, ctx: FirmwareContext = {}): PatchOp[] {
  const own = nextBootloader(vm, ctx);
  if (modeOfBootloader(own) === mode) return [];
  return bootloaderOps(vm, bootloaderFor(mode, own));
}

/**
 * Ops enabling or disabling secure boot; enabling also turns on the SMM feature it needs (unless
 * the template or its preference has it on). A bootloader that comes from the preference is written
 * into the template with the one field changed.
 */
export function secureBootOps(vm: VirtualMachine, enabled: boolean, ctx: FirmwareContext = {}): PatchOp[] {
  const spec = vm.spec?.template?.spec;
  const bl = nextBootloader(vm, ctx);
  if (modeOfBootloader(bl) !== 'UEFI') {
    if (!enabled) return [];
    throw new InvalidStateError('Secure boot needs UEFI boot mode; switch the boot mode to UEFI first.');
  }
  const ops: PatchOp[] = [];
  if (secureOfBootloader(bl) !== enabled) {
    if (hasBootloader(templateBootloaderOf(vm))) {
      ops.push({
        op: 'add',
        path: pointer(...DOMAIN, 'firmware', 'bootloader', 'efi', 'secureBoot'),
        value: enabled,
      });
    } else {
      ops.push(...bootloaderOps(vm, { efi: { ...(bl?.efi ?? {}), secureBoot: enabled } }));
    }
  }
  const preferenceSmm =
    !spec?.domain?.features?.smm && ctx.expansion?.key === preferenceKey(vm) && ctx.expansion?.smm === true;
  if (enabled && spec?.domain?.features?.smm?.enabled !== true && !preferenceSmm) {
    const features = spec?.domain?.features;
    if (!features)
      ops.push({ op: 'add', path: pointer(...DOMAIN, 'features'), value: { smm: { enabled: true } } });
    else if (!features.smm)
      ops.push({ op: 'add', path: pointer(...DOMAIN, 'features', 'smm'), value: { enabled: true } });
    else ops.push({ op: 'add', path: pointer(...DOMAIN, 'features', 'smm', 'enabled'), value: true });
  }
  return ops;
}

/**
 * The template bootloader and the stored override's `savedBootloader` that make the next boot use
 * `bootMode` while the VM's own firmware becomes (or stays) `ownMode`:
 * - own mode unchanged: the template keeps (or gets back) the VM's own bootloader, exactly;
 * - own mode changed: a bootloader for that mode, from the VM's own;
 * - a one-time boot in another mode: that boot's bootloader, and the VM's own one saved to come back.
 */
export function planFirmware(
  vm: VirtualMachine,
  stored: StoredBootOverride | null,
  ownMode: BootMode,
  bootMode: BootMode,
  once: boolean,
  ctx: FirmwareContext = {},
): { template: Bootloader | null; saved: Bootloader | null | undefined } {
  const own = ownFirmware(vm, stored, ctx);
  const ownBl = ownBootloader(vm, stored);
  const persistent: Bootloader | null = own.mode === ownMode ? ownBl : bootloaderFor(ownMode, own.bootloader);
  if (!once || bootMode === ownMode) return { template: persistent, saved: undefined };
  const c = stored?.savedBootloader !== undefined ? { expansion: ctx.expansion ?? null } : ctx;
  return { template: bootloaderFor(bootMode, effectiveBootloader(vm, persistent, c)), saved: persistent };
}

// --- reading the override back, and boot-once consumption ---------------------------------------

/**
 * The override as the Machine reports it. A boot-once that a new VMI has already consumed reports
 * what it returns to, even before the restoring write lands; the mode is that of the next boot.
 */
export function bootOverrideOf(
  vm: VirtualMachine,
  vmi: VirtualMachineInstance | undefined,
  ctx: FirmwareContext = { vmi },
): BootOverride {
  const stored = parseStoredOverride(vm.metadata?.annotations?.[ANNOTATION_BOOT_OVERRIDE]);
  const consumed = !!stored && onceConsumed(vm, stored, vmi, ctx);
  const effective = consumed ? (stored.previous ?? null) : stored;
  const mode = consumed ? ownFirmware(vm, stored, ctx).mode : modeOfBootloader(nextBootloader(vm, ctx));
  if (!effective) return { target: 'None', persistence: 'Disabled', mode };
  return { target: effective.target, persistence: effective.persistence as BootPersistence, mode };
}

function bootOrdersByKey(spec: VmiSpec | undefined): Map<string, number | undefined> {
  return new Map(devicesOf(spec).map((d) => [d.key, d.bootOrder]));
}

/** Whether the VMI was created from the template's current boot configuration (its preference applied). */
export function vmiHasTemplateBootConfig(
  vm: VirtualMachine,
  vmi: VirtualMachineInstance,
  ctx: FirmwareContext = { vmi },
): boolean {
  const template = vm.spec?.template?.spec;
  const running = bootOrdersByKey(vmi.spec);
  for (const d of devicesOf(template)) {
    if (running.has(d.key) && running.get(d.key) !== d.bootOrder) return false;
  }
  const next = nextBootloader(vm, { ...ctx, vmi });
  if (modeOfBootloader(next) !== bootModeOf(vmi.spec)) return false;
  return secureOfBootloader(next) === secureBootOf(vmi.spec);
}

/**
 * A boot-once is consumed when a VMI other than the one present when it was set exists and was
 * created with the override's boot order (a VMI created just before the override landed does not
 * count: it booted the old way, so the override stays pending).
 */
export function onceConsumed(
  vm: VirtualMachine,
  stored: StoredBootOverride,
  vmi: VirtualMachineInstance | undefined,
  ctx: FirmwareContext = { vmi },
): boolean {
  if (stored.persistence !== 'Once' || !vmi?.metadata?.uid) return false;
  if (vmi.metadata.uid === (stored.vmiUid ?? null)) return false;
  return vmiHasTemplateBootConfig(vm, vmi, ctx);
}

/**
 * Whether a restart must create a new VMI for the boot configuration to take effect: the running VMI
 * was created with another boot order or firmware than the template (with its preference) now gives.
 */
export function bootChangePending(
  vm: VirtualMachine,
  vmi: VirtualMachineInstance | undefined,
  ctx: FirmwareContext = { vmi },
): boolean {
  if (!vmi) return false;
  return !vmiHasTemplateBootConfig(vm, vmi, ctx);
}

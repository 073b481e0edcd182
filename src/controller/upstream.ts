/**
 * Taking over what upstream KubeVirtBMC left in flight. Its agent records a boot override it made in
 * the VirtualMachineBMC's `status.bootOverride`; for a one-shot it has already moved the chosen
 * device first in the VM's boot order and keeps the orders from before, to be put back by its
 * controller once a new VMI has started. Here that record becomes kubevirtbmc's own boot-once (the
 * VM annotations `bmc.kubevirt.io/boot-override` and `bmc.kubevirt.io/saved-boot-order`, see
 * src/kubevirt/boot.ts), which the agent then completes the same way. Pure functions.
 */
import { templateDevices } from '../kubevirt/boot.ts';
import {
  ANNOTATION_BOOT_OVERRIDE,
  ANNOTATION_SAVED_BOOT_ORDER,
  type Bootloader,
  type VirtualMachine,
} from '../kubevirt/types.ts';
import type { UpstreamBootOverride } from './types.ts';

export interface Takeover {
  /** Annotations to set on the VM (none: nothing to carry over). */
  annotations: Record<string, string>;
  /** What was done, for the Event on the VirtualMachineBMC. */
  message: string;
}

/** Upstream's device key (`disk:<name>`, `cdrom:<name>`, `interface:<name>`) as ours. */
function deviceKey(upstreamKey: string): string | null {
  const m = /^(disk|cdrom|interface):(.+)$/.exec(upstreamKey);
  if (!m) return null;
  return `${m[1] === 'interface' ? 'interface' : 'disk'}/${m[2]}`;
}

/**
 * What taking over `o` means for `vm`. A Persistent override needs nothing: the VM's boot order
 * already says it. A one-shot becomes our boot-once: its target is the device the VM now boots
 * first, and the orders upstream saved are what comes back after the boot. A VM that already carries
 * a kubevirtbmc override keeps it (it is newer than anything upstream left).
 */
export function takeOverBootOverride(vm: VirtualMachine, o: UpstreamBootOverride): Takeover {
  if (o.mode !== 'Oneshot')
    return {
      annotations: {},
      message: 'upstream persistent boot override: the VM boot order already holds it',
    };
  if (vm.metadata?.annotations?.[ANNOTATION_BOOT_OVERRIDE])
    return {
      annotations: {},
      message: 'upstream one-shot boot override dropped: a kubevirtbmc override is set',
    };
  const devices = templateDevices(vm);
  const first = devices
    .filter((d) => d.bootOrder !== undefined)
    .sort((a, b) => (a.bootOrder ?? 0) - (b.bootOrder ?? 0))[0];
  if (!first)
    return { annotations: {}, message: 'upstream one-shot boot override dropped: the VM has no boot order' };
  const target = first.kind === 'interface' ? 'Pxe' : first.cdrom ? 'Cd' : 'Hdd';
  const saved: Record<string, number | null> = {};
  for (const [key, order] of Object.entries(o.bootOrders ?? {})) {
    const ours = deviceKey(key);
    const device = ours ? devices.find((d) => d.key === ours) : undefined;
    if (!ours || !device || !Number.isInteger(order) || order < 0) continue;
    const was = order === 0 ? null : order;
    if ((device.bootOrder ?? null) !== was) saved[ours] = was;
  }
  const current: Bootloader | undefined = vm.spec?.template?.spec?.domain?.firmware?.bootloader;
  const nowUefi = current?.efi !== undefined;
  const savedBootloader =
    o.originalFirmware && (o.originalFirmware === 'UEFI') !== nowUefi
      ? { savedBootloader: o.originalFirmware === 'UEFI' ? { efi: {} } : null }
      : {};
  const stored = {
    target,
    persistence: 'Once',
    vmiUid: o.vmiUID ? o.vmiUID : null,
    previous: null,
    ...savedBootloader,
  };
  return {
    annotations: {
      [ANNOTATION_BOOT_OVERRIDE]: JSON.stringify(stored),
      [ANNOTATION_SAVED_BOOT_ORDER]: JSON.stringify(saved),
    },
    message: `upstream one-shot boot override taken over: boot once from ${target}, then the previous boot order`,
  };
}

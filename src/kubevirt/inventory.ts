import { parseQuantity } from '../kube/quantity.ts';
import type { DiskInfo, Inventory, MachineIdentity, NicInfo, ProcessorInfo } from '../machine/index.ts';
import { normaliseMac, type RememberedMacs } from './mac-memory.ts';
import type { DataVolume, VirtualMachine, VirtualMachineInstance, VolumeStatus } from './types.ts';

/**
 * Size of a disk whose volume does not say it (a `containerDisk`; a PVC while the VM is off), set
 * by the user on the VM: a quantity such as `20Gi`. Absent or not a positive quantity: the default.
 */
export const ANNOTATION_DISK_SIZE = 'bmc.kubevirt.io/disk-size';
/**
 * 10 GiB: what a disk of unknown size reports. Above Ironic's 4 GiB floor (its inspection ignores
 * smaller disks for local_gb), and the size of the usual `quay.io/containerdisks` root disks.
 */
export const DEFAULT_DISK_SIZE_BYTES = 10 * 2 ** 30;

/** What the running VMI says of a volume's size (KubeVirt fills these for PVC-backed volumes). */
type SizedVolumeStatus = VolumeStatus & {
  size?: number;
  persistentVolumeClaimInfo?: { capacity?: { storage?: string } };
};

/** A quantity ("2Gi", "512M", "1e9") in whole bytes; null when it is not one. */
export function parseBytes(q: string | undefined): number | null {
  const v = parseQuantity(q);
  return v === null || v < 0 ? null : Math.round(v);
}

function architectureOf(arch: string | undefined): ProcessorInfo['architecture'] {
  if (!arch || arch === 'amd64' || arch === 'x86_64') return 'x86-64';
  if (arch === 'arm64' || arch === 'aarch64') return 'ARM';
  return 'other';
}

/**
 * Inventory from the VM spec (CPU topology, memory, disks, NICs as declared) and the VMI status
 * (MACs and IPs the running guest really has).
 *
 * A NIC's MAC: the running VMI's; else the spec's `macAddress` (KubeVirt uses it at every start);
 * else the one `remembered` from the VM's last start (`mac-memory.ts`), which the next start may
 * change; else unknown.
 */
export function inventoryOf(
  vm: VirtualMachine,
  vmi: VirtualMachineInstance | undefined,
  dvs: ReadonlyMap<string, DataVolume>,
  remembered?: RememberedMacs | null,
): Inventory {
  const spec = vm.spec?.template?.spec;
  const domain = spec?.domain ?? {};
  const cpu = domain.cpu ?? {};
  const running = vmi && vmi.status?.phase === 'Running' ? vmi : undefined;
  const processors: ProcessorInfo = {
    sockets: cpu.sockets ?? 1,
    coresPerSocket: cpu.cores ?? 1,
    threadsPerCore: cpu.threads ?? 1,
    model: cpu.model ?? 'KubeVirt vCPU',
    architecture: architectureOf(spec?.architecture),
  };
  const memoryBytes =
    parseBytes(domain.memory?.guest) ??
    parseBytes(domain.resources?.requests?.memory) ??
    parseBytes(domain.resources?.limits?.memory) ??
    0;

  const statusByName = new Map((running?.status?.interfaces ?? []).map((s) => [s.name ?? '', s]));
  // What was seen on this VM, at its last start or, while running, on this very VMI.
  const memory =
    remembered &&
    remembered.vmUid === vm.metadata?.uid &&
    (!running || remembered.vmiUid === running.metadata?.uid)
      ? remembered.macs
      : undefined;
  const nics: NicInfo[] = (domain.devices?.interfaces ?? []).map((iface) => {
    const status = statusByName.get(iface.name);
    const ips = status?.ipAddresses ?? (status?.ipAddress ? [status.ipAddress] : []);
    const declared = normaliseMac(iface.macAddress);
    const current = normaliseMac(status?.mac);
    const last = memory?.[iface.name] ?? null;
    const [mac, macSource]: [string | null, NicInfo['macSource']] = current
      ? [current, current === declared ? 'configured' : 'running']
      : declared
        ? [declared, 'configured']
        : last
          ? [last, running ? 'running' : 'last-start']
          : [null, undefined];
    return {
      id: iface.name,
      name: iface.name,
      mac,
      ...(macSource ? { macSource } : {}),
      ipv4: ips.filter((ip) => !ip.includes(':')),
      ipv6: ips.filter((ip) => ip.includes(':')),
      linkUp: !!status && status.linkState !== 'down',
    };
  });

  const volumes = new Map((spec?.volumes ?? []).map((v) => [v.name, v]));
  const templates = new Map(
    (vm.spec?.dataVolumeTemplates ?? []).map((t) => [t.metadata?.name ?? '', t.spec] as const),
  );
  const statusSize = new Map<string, number>();
  for (const st of (running?.status?.volumeStatus ?? []) as SizedVolumeStatus[]) {
    const n =
      parseBytes(st.persistentVolumeClaimInfo?.capacity?.storage) ??
      (typeof st.size === 'number' && Number.isFinite(st.size) && st.size > 0 ? Math.round(st.size) : null);
    if (n) statusSize.set(st.name, n);
  }
  const annotated = parseBytes(vm.metadata?.annotations?.[ANNOTATION_DISK_SIZE]);
  const fallback = annotated && annotated > 0 ? annotated : DEFAULT_DISK_SIZE_BYTES;
  const disks: DiskInfo[] = (domain.devices?.disks ?? []).map((disk) => {
    const kind: DiskInfo['kind'] = disk.cdrom ? 'cdrom' : disk.lun ? 'lun' : 'disk';
    const bus = disk.disk?.bus ?? disk.cdrom?.bus ?? disk.lun?.bus ?? null;
    const volume = volumes.get(disk.name);
    let size: number | null = null;
    if (volume?.dataVolume) {
      const dvSpec = templates.get(volume.dataVolume.name) ?? dvs.get(volume.dataVolume.name)?.spec;
      size = parseBytes(
        dvSpec?.storage?.resources?.requests?.storage ?? dvSpec?.pvc?.resources?.requests?.storage,
      );
    } else if (volume?.emptyDisk) {
      size = parseBytes(volume.emptyDisk.capacity);
    }
    // Every disk has a size (Ironic's inspection compares them): the volume's, else the running VMI's
    // volume status, else the VM's annotation, else the default. CD-ROMs are the virtual media.
    if (!size && kind !== 'cdrom') size = statusSize.get(disk.name) ?? fallback;
    return { id: disk.name, name: disk.name, kind, bus, sizeBytes: size };
  });
  return { processors, memoryBytes, nics, disks };
}

/**
 * Identity: UUID from `firmware.uuid` (else the VMI's, which KubeVirt fills in, else the VM's own
 * uid, which is stable for the VM's lifetime), serial from `firmware.serial` (else the VM uid).
 */
export function identityOf(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): MachineIdentity {
  const name = vm.metadata?.name ?? '';
  const namespace = vm.metadata?.namespace ?? '';
  const firmware = vm.spec?.template?.spec?.domain?.firmware;
  const uid = (vm.metadata?.uid ?? '').toLowerCase();
  const uuid = (firmware?.uuid ?? vmi?.spec?.domain?.firmware?.uuid ?? uid).toLowerCase();
  return {
    id: `${namespace}/${name}`,
    name,
    namespace,
    uuid,
    serial: firmware?.serial || uid || name,
    manufacturer: 'KubeVirt',
    model: 'VirtualMachine',
  };
}

import { createHash } from 'node:crypto';
import type { MediaSlot } from '../machine/index.ts';
import { type PatchOp, pointer } from './json-patch.ts';
import {
  type DataVolume,
  LABEL_SLOT,
  LABEL_VM,
  type VirtualMachine,
  type VirtualMachineInstance,
  type Volume,
} from './types.ts';

/**
 * Virtual media on KubeVirt, as pure functions. The `Cd` slot is a CD-ROM disk of the VM template
 * that is empty (no volume) or holds a DataVolume this backend created. Inserting creates a CDI
 * DataVolume importing the image over HTTP(S) and points the drive's volume at it.
 */

export const SLOT_ID = 'Cd';
export const DV_INFIX = '-vmedia-';

export const EMPTY_SLOT: MediaSlot = {
  id: SLOT_ID,
  name: 'Virtual CD',
  mediaTypes: ['CD', 'DVD'],
  state: 'Empty',
  image: null,
  imageName: null,
  writeProtected: true,
  transferProtocol: null,
  progressPercent: null,
  message: null,
};

/**
 * The user that created a media DataVolume. deploy/rbac/datavolume-policy.yaml lets an agent delete
 * or change only the DataVolumes that carry its own name here, and stamp no other name. It also
 * holds what an agent creates to what `dataVolumeManifest` makes: a `dataVolumeName` name, the
 * `LABEL_VM` label, an HTTP(S) source with at most `url` and `secretRef` `<name>-auth`.
 */
export const ANNOTATION_CREATED_BY = 'bmc.kubevirt.io/created-by';

/** Whether a DataVolume name is one of this VM's virtual-media volumes. */
export function isMediaDataVolumeName(vmName: string, dvName: string): boolean {
  return dvName.startsWith(`${truncatedVmName(vmName, SLOT_ID)}${DV_INFIX}`);
}

function truncatedVmName(vmName: string, slotId: string): string {
  // <vm>-vmedia-<slot>-<8 hex> must fit in 63 characters (a DNS-1123 label, as a PVC name needs).
  const room = 63 - DV_INFIX.length - slotId.length - 1 - 8;
  return vmName.slice(0, room).replace(/[-.]+$/, '');
}

/**
 * `<vm>-vmedia-<slot>-<8 hex of sha256(url + time)>`, at most 63 characters, DNS-1123: never the
 * VM's own name, and a new name for every insert, so a re-insert never collides with a DataVolume
 * still being deleted.
 */
export function dataVolumeName(vmName: string, slotId: string, url: string, now: number): string {
  const hash = createHash('sha256').update(`${url}\n${now}`).digest('hex').slice(0, 8);
  const slot = slotId.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `${truncatedVmName(vmName, slot)}${DV_INFIX}${slot}-${hash}`;
}

export interface DataVolumeManifestOptions {
  readonly namespace: string;
  readonly name: string;
  readonly vm: VirtualMachine;
  readonly slotId: string;
  /** The image URL without credentials. */
  readonly url: string;
  /** A Secret holding `accessKeyId` / `secretKey` for the import, when the image needs credentials. */
  readonly secretRef?: string;
  readonly storage?: string;
  /** The user creating it (the agent's own identity), recorded for the DataVolume admission policy. */
  readonly createdBy?: string;
}

/** The DataVolume for an image: HTTP(S) source, labelled with its VM and owned by it (GC with the VM). */
export function dataVolumeManifest(o: DataVolumeManifestOptions): DataVolume {
  const vmMeta = o.vm.metadata ?? {};
  return {
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: { [LABEL_VM]: vmMeta.name ?? '', [LABEL_SLOT]: o.slotId.toLowerCase() },
      ...(o.createdBy ? { annotations: { [ANNOTATION_CREATED_BY]: o.createdBy } } : {}),
      ...(vmMeta.uid
        ? {
            ownerReferences: [
              {
                apiVersion: 'kubevirt.io/v1',
                kind: 'VirtualMachine',
                name: vmMeta.name ?? '',
                uid: vmMeta.uid,
              },
            ],
          }
        : {}),
    },
    spec: {
      source: { http: { url: o.url, ...(o.secretRef ? { secretRef: o.secretRef } : {}) } },
      storage: { resources: { requests: { storage: o.storage ?? '2Gi' } } },
    },
  };
}

/** The CD-ROM disk that backs the slot: the first one that is empty or holds one of our volumes. */
export function mediaDrive(
  vm: VirtualMachine,
): { disk: string; volume: Volume | undefined; volumeIndex: number } | null {
  const spec = vm.spec?.template?.spec;
  const volumes = spec?.volumes ?? [];
  const vmName = vm.metadata?.name ?? '';
  for (const disk of spec?.domain?.devices?.disks ?? []) {
    if (disk.cdrom === undefined) continue;
    const volumeIndex = volumes.findIndex((v) => v.name === disk.name);
    const volume = volumeIndex >= 0 ? volumes[volumeIndex] : undefined;
    if (!volume) return { disk: disk.name, volume: undefined, volumeIndex: -1 };
    if (volume.dataVolume && isMediaDataVolumeName(vmName, volume.dataVolume.name)) {
      return { disk: disk.name, volume, volumeIndex };
    }
  }
  return null;
}

export function hasCdrom(vm: VirtualMachine): boolean {
  return (vm.spec?.template?.spec?.domain?.devices?.disks ?? []).some((d) => d.cdrom !== undefined);
}

export const NO_DRIVE_MESSAGE =
  'This VM has no CD-ROM drive for virtual media; add an empty CD-ROM disk (a disk with `cdrom: {bus: sata}` and no volume) to spec.template.spec.domain.devices.disks.';
export const DRIVE_IN_USE_MESSAGE =
  "Every CD-ROM disk of this VM holds a volume that kubevirtbmc does not manage; add an empty CD-ROM disk (`cdrom: {bus: sata}`, no volume) for virtual media, so the user's own volume is never replaced.";

const VOLUMES = ['spec', 'template', 'spec', 'volumes'] as const;

/**
 * Ops pointing the drive at DataVolume `dvName` (hotpluggable when the VM runs, so KubeVirt attaches
 * it live; a plain volume when off, so a start waits for the import), or removing the volume when
 * `dvName` is null (eject keeps the disk: the drive stays, empty).
 */
export function driveVolumeOps(vm: VirtualMachine, dvName: string | null, running: boolean): PatchOp[] {
  const drive = mediaDrive(vm);
  if (!drive) return [];
  const volumes = vm.spec?.template?.spec?.volumes;
  if (dvName === null) {
    return drive.volumeIndex >= 0 ? [{ op: 'remove', path: pointer(...VOLUMES, drive.volumeIndex) }] : [];
  }
  const volume: Volume = {
    name: drive.disk,
    dataVolume: running ? { name: dvName, hotpluggable: true } : { name: dvName },
  };
  if (drive.volumeIndex >= 0)
    return [{ op: 'replace', path: pointer(...VOLUMES, drive.volumeIndex), value: volume }];
  if (!volumes) return [{ op: 'add', path: pointer(...VOLUMES), value: [volume] }];
  return [{ op: 'add', path: pointer(...VOLUMES, '-'), value: volume }];
}

/** Parses CDI's progress text ("45.20%", "N/A") into whole percent, or null. */
export function parseProgress(progress: string | undefined): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*%$/.exec(progress?.trim() ?? '');
  if (!m) return null;
  return Math.max(0, Math.min(100, Math.floor(Number(m[1]))));
}

function imageNameOf(url: string): string {
  try {
    const u = new URL(url);
    const last = u.pathname
      .split('/')
      .filter((s) => s.length > 0)
      .at(-1);
    return last ? decodeURIComponent(last) : u.hostname;
  } catch {
    return url;
  }
}

function failureMessage(dv: DataVolume): string {
  const conditions = dv.status?.conditions ?? [];
  const detail =
    conditions.find((c) => c.type === 'Running' && c.message)?.message ??
    conditions.find((c) => c.message && c.status !== 'True')?.message ??
    conditions.find((c) => c.message)?.message;
  return `Import of the image failed${detail ? `: ${detail}` : ` (DataVolume ${dv.metadata?.name} is ${dv.status?.phase})`}`;
}

/**
 * The slot as the Machine reports it, from the VM's drive volume, its DataVolume and (for a hot-plugged
 * volume) the VMI's volume status. The image URL comes from the DataVolume, which never holds
 * credentials.
 */
export function mediaSlotOf(
  vm: VirtualMachine,
  dvs: ReadonlyMap<string, DataVolume>,
  vmi: VirtualMachineInstance | undefined,
  pending?: { image: string; protocol: 'HTTP' | 'HTTPS' } | null,
): MediaSlot | null {
  const drive = mediaDrive(vm);
  if (!drive) return null;
  const dvName = drive.volume?.dataVolume?.name;
  if (!dvName) {
    if (pending) {
      return {
        ...EMPTY_SLOT,
        state: 'Inserting',
        image: pending.image,
        imageName: imageNameOf(pending.image),
        transferProtocol: pending.protocol,
        progressPercent: 0,
      };
    }
    return EMPTY_SLOT;
  }
  const dv = dvs.get(dvName);
  if (!dv) {
    return {
      ...EMPTY_SLOT,
      state: 'Failed',
      message: `The DataVolume ${dvName} backing the CD-ROM does not exist.`,
    };
  }
  const url = dv.spec?.source?.http?.url ?? null;
  const base: MediaSlot = {
    ...EMPTY_SLOT,
    image: url,
    imageName: url ? imageNameOf(url) : dvName,
    transferProtocol: url?.startsWith('https:') ? 'HTTPS' : url ? 'HTTP' : null,
  };
  const phase = dv.status?.phase ?? '';
  if (phase === 'Failed') return { ...base, state: 'Failed', message: failureMessage(dv) };
  if (phase === 'Succeeded') {
    const status = vmi?.status?.volumeStatus?.find((s) => s.name === drive.disk);
    if (drive.volume?.dataVolume?.hotpluggable && status?.phase && status.phase !== 'Ready') {
      return { ...base, state: 'Inserting', progressPercent: 100, message: `Attaching: ${status.phase}` };
    }
    return { ...base, state: 'Inserted', progressPercent: 100 };
  }
  return { ...base, state: 'Inserting', progressPercent: parseProgress(dv.status?.progress) ?? 0 };
}

/** This VM's media DataVolumes that the VM no longer references: safe to delete. */
export function orphanedDataVolumes(vm: VirtualMachine, dvs: Iterable<DataVolume>, keep?: string): string[] {
  const referenced = new Set(
    (vm.spec?.template?.spec?.volumes ?? []).map((v) => v.dataVolume?.name).filter((n): n is string => !!n),
  );
  const vmName = vm.metadata?.name ?? '';
  const out: string[] = [];
  for (const dv of dvs) {
    const name = dv.metadata?.name;
    if (!name || name === keep || referenced.has(name) || dv.metadata?.deletionTimestamp) continue;
    if (dv.metadata?.labels?.[LABEL_VM] === vmName && isMediaDataVolumeName(vmName, name)) out.push(name);
  }
  return out;
}

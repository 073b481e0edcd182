import { createHash } from 'node:crypto';
import type { MediaSlot } from '../machine/index.ts';
import { type PatchOp, pointer } from './json-patch.ts';
import { DEFAULT_IMPORT_RETRIES, DEFAULT_MEDIA_SIZE, type MediaSettings } from './media-storage.ts';
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
  /** The claim size (`claimSize`: from the image's Content-Length, or the configured size). */
  readonly storage?: string;
  /** The BMC's `spec.redfish.virtualMedia`: storage class, volume mode, access modes, TLS trust. */
  readonly settings?: MediaSettings;
  /** The user creating it (the agent's own identity), recorded for the DataVolume admission policy. */
  readonly createdBy?: string;
}

/** The DataVolume for an image: HTTP(S) source, labelled with its VM and owned by it (GC with the VM). */
export function dataVolumeManifest(o: DataVolumeManifestOptions): DataVolume {
  const vmMeta = o.vm.metadata ?? {};
  const store = o.settings?.storage;
  const tls = o.settings?.tls;
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
      source: {
        http: {
          url: o.url,
          ...(o.secretRef ? { secretRef: o.secretRef } : {}),
          ...(tls?.certConfigMap ? { certConfigMap: tls.certConfigMap } : {}),
          ...(tls?.insecureSkipVerify === true ? { insecureSkipVerify: true } : {}),
        },
      },
      storage: {
        resources: { requests: { storage: o.storage ?? o.settings?.storage?.size ?? DEFAULT_MEDIA_SIZE } },
        ...(store?.storageClassName ? { storageClassName: store.storageClassName } : {}),
        ...(store?.accessModes?.length ? { accessModes: [...store.accessModes] } : {}),
        ...(store?.volumeMode ? { volumeMode: store.volumeMode } : {}),
      },
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
 * Ops pointing the drive at DataVolume `dvName`, always as a hot-pluggable volume, or removing the
 * volume when `dvName` is null (eject keeps the disk: the drive stays, empty). Hot-pluggable even
 * while the VM is off: KubeVirt fixes a plain volume into the VMI at start and changes it only at the
 * next restart, so a later change or eject would not reach the running guest; a hot-plug volume
 * present at start is attached before the domain starts (virt-handler waits for it), so the guest
 * can still boot from it. See docs/kubevirt.md ("Feature gates and hot-plug").
 */
export function driveVolumeOps(vm: VirtualMachine, dvName: string | null): PatchOp[] {
  const drive = mediaDrive(vm);
  if (!drive) return [];
  const volumes = vm.spec?.template?.spec?.volumes;
  if (dvName === null) {
    return drive.volumeIndex >= 0 ? [{ op: 'remove', path: pointer(...VOLUMES, drive.volumeIndex) }] : [];
  }
  const volume: Volume = {
    name: drive.disk,
    dataVolume: { name: dvName, hotpluggable: true },
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

/**
 * The import error CDI is retrying, or null. CDI fails a DataVolume only on fatal errors; any other
 * import error restarts the importer: the phase stays ImportScheduled/ImportInProgress, the
 * `Running` condition is False with the error as its message, and `status.restartCount` rises.
 */
export function importError(dv: DataVolume): string | null {
  const running = dv.status?.conditions?.find((c) => c.type === 'Running');
  if (running?.status !== 'False' || !running.message) return null;
  const phase = dv.status?.phase ?? '';
  return phase === 'ImportScheduled' || phase === 'ImportInProgress' ? running.message : null;
}

/**
 * Why CDI will not even create the claim (the Bound condition with reason `ErrClaimNotValid`, e.g.
 * no access modes and no default StorageClass), or null. CDI does not retry that by itself.
 */
export function claimError(dv: DataVolume): string | null {
  const bound = dv.status?.conditions?.find((c) => c.type === 'Bound');
  return bound?.status === 'False' && bound.reason === 'ErrClaimNotValid' && bound.message
    ? bound.message
    : null;
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
 * Why a change of media may not reach a running VM: KubeVirt's declarative hot-plug is not in effect
 * (DeclarativeHotplugVolumes off, or the legacy HotplugVolumes gate on beside it).
 */
export const HOTPLUG_REQUIREMENT =
  'If this lasts, KubeVirt does not hot-plug volumes on this cluster: media on a running VM needs the DeclarativeHotplugVolumes feature gate on and the HotplugVolumes gate off (KubeVirt CR spec.configuration.developerConfiguration; see docs/kubevirt.md); the change then takes effect at the next start.';

/** KubeVirt's VM webhook refused an empty CD-ROM: DeclarativeHotplugVolumes is off. */
export const EMPTY_CDROM_REFUSED_MESSAGE =
  "KubeVirt refuses an empty CD-ROM drive on this cluster (the DeclarativeHotplugVolumes feature gate is off), so the image cannot be ejected; enable DeclarativeHotplugVolumes in the KubeVirt CR's spec.configuration.developerConfiguration.featureGates (see docs/kubevirt.md).";

/** Whether an API error is KubeVirt's webhook refusing an empty CD-ROM for lack of the gate. */
export function isEmptyCdromRefusal(message: string): boolean {
  return message.includes('cannot define an empty CD-ROM disk');
}

const isHotplug = (v: Volume | undefined): boolean =>
  !!(v?.dataVolume?.hotpluggable || v?.persistentVolumeClaim?.hotpluggable);

function sameVolume(a: Volume | undefined, b: Volume | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    (a.dataVolume?.name ?? a.persistentVolumeClaim?.claimName) ===
      (b.dataVolume?.name ?? b.persistentVolumeClaim?.claimName) && isHotplug(a) === isHotplug(b)
  );
}

function imageOf(dvName: string, dvs: ReadonlyMap<string, DataVolume>) {
  const url = dvs.get(dvName)?.spec?.source?.http?.url ?? null;
  return {
    image: url,
    imageName: url ? imageNameOf(url) : dvName,
    transferProtocol: url?.startsWith('https:') ? ('HTTPS' as const) : url ? ('HTTP' as const) : null,
  };
}

/**
 * The slot as the Machine reports it, from the VM's drive volume, its DataVolume and, while the VM
 * runs, what the VMI really holds: a hot-plug image is Inserted only once the VMI lists the volume
 * and reports its status Ready; a volume fixed at start (not hot-pluggable) stays the guest's image
 * until a restart, whatever the VM says now. The image URL comes from the DataVolume, which never
 * holds credentials.
 */
export function mediaSlotOf(
  vm: VirtualMachine,
  dvs: ReadonlyMap<string, DataVolume>,
  vmi: VirtualMachineInstance | undefined,
  pending?: { image: string; protocol: 'HTTP' | 'HTTPS' } | null,
  importRetries: number = DEFAULT_IMPORT_RETRIES,
): MediaSlot | null {
  const drive = mediaDrive(vm);
  if (!drive) return null;
  const running = !!vmi && vmi.status?.phase === 'Running' && !vmi.metadata?.deletionTimestamp;
  const live = running ? vmi?.spec?.volumes?.find((v) => v.name === drive.disk) : undefined;
  const liveStatus = running ? vmi?.status?.volumeStatus?.find((s) => s.name === drive.disk) : undefined;
  // a volume fixed at start (not hot-pluggable) that the VM changed or dropped: the guest keeps it
  if (live && !isHotplug(live) && !sameVolume(live, drive.volume)) {
    return {
      ...EMPTY_SLOT,
      ...(live.dataVolume ? imageOf(live.dataVolume.name, dvs) : { imageName: live.name }),
      state: 'Inserted',
      progressPercent: 100,
      message: `The running VM keeps the image it started with until it restarts: KubeVirt changes a CD-ROM volume that is not hot-pluggable only at a restart. ${drive.volume ? 'The new image is used from the next start.' : 'The eject takes effect at the next start.'}`,
    };
  }
  const dvName = drive.volume?.dataVolume?.name;
  if (!dvName) {
    if (live || liveStatus) {
      return {
        ...EMPTY_SLOT,
        ...(live?.dataVolume ? imageOf(live.dataVolume.name, dvs) : {}),
        state: 'Ejecting',
        message: `Detaching the image from the running VM. ${HOTPLUG_REQUIREMENT}`,
      };
    }
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
  const base: MediaSlot = { ...EMPTY_SLOT, ...imageOf(dvName, dvs) };
  const phase = dv.status?.phase ?? '';
  if (phase === 'Failed') return { ...base, state: 'Failed', message: failureMessage(dv) };
  const claim = claimError(dv);
  if (claim)
    return { ...base, state: 'Failed', message: `The volume for the image cannot be created: ${claim}` };
  const retried = importError(dv);
  if (retried !== null) {
    const restarts = dv.status?.restartCount ?? 0;
    if (restarts >= importRetries) {
      return {
        ...base,
        state: 'Failed',
        message: `Import of the image failed (CDI retried it ${restarts} times): ${retried}`,
      };
    }
    return {
      ...base,
      state: 'Inserting',
      progressPercent: 0,
      message: `Import error, CDI retries (${restarts} of ${importRetries}): ${retried}`,
    };
  }
  if (phase === 'Succeeded') {
    if (!running) return { ...base, state: 'Inserted', progressPercent: 100 };
    const attached = !!live && sameVolume(live, drive.volume);
    if (attached && (!isHotplug(live) || liveStatus?.phase === 'Ready')) {
      return { ...base, state: 'Inserted', progressPercent: 100 };
    }
    // the VM names the image but the VMI does not hold it Ready (yet): never Inserted
    return {
      ...base,
      state: 'Inserting',
      progressPercent: 100,
      message: `Attaching the image to the running VM${liveStatus?.phase && attached ? ` (${liveStatus.phase})` : ''}. ${HOTPLUG_REQUIREMENT}`,
    };
  }
  return { ...base, state: 'Inserting', progressPercent: parseProgress(dv.status?.progress) ?? 0 };
}

/** This VM's media DataVolumes that neither the VM nor its running VMI references: safe to delete. */
export function orphanedDataVolumes(
  vm: VirtualMachine,
  dvs: Iterable<DataVolume>,
  keep?: string,
  vmi?: VirtualMachineInstance,
): string[] {
  // and the running VMI's volumes fixed at start: such an image stays in the guest until a restart
  // (a hot-plug one is detached by KubeVirt as the VM drops it)
  const referenced = new Set(
    [...(vm.spec?.template?.spec?.volumes ?? []), ...(vmi?.spec?.volumes ?? []).filter((v) => !isHotplug(v))]
      .map((v) => v.dataVolume?.name)
      .filter((n): n is string => !!n),
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

/**
 * What KubeVirt's virt-controller, virt-handler and CDI decide, as pure functions of the objects:
 * run strategies and stateChangeRequests, the VM's status (printableStatus, conditions), the VMI's
 * phases and status, hotplug volumes and DataVolume import steps, for the fake KubeVirt
 * (controller.ts here, over informers), which runs against the real kube-apiserver and the
 * embedded one alike. No I/O.
 */
import { randomUUID } from 'node:crypto';
import { parseQuantity } from '../../../../../src/kube/quantity.ts';
import { interfaceMac } from './mac.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export type Obj = Record<string, any>;

export const VM_FINALIZER = 'kubevirt.io/virtualMachineControllerFinalize';
export const VMI_FINALIZER = 'kubevirt.io/foregroundDeleteVirtualMachine';
export const RESTART_REQUIRED_MESSAGE = 'a non-live-updatable field was changed in the template spec';

export type RunStrategy = 'Always' | 'RerunOnFailure' | 'Manual' | 'Halted' | 'Once';

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Obj;
  const bo = b as Obj;
  const ka = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const kb = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual(ao[k], bo[k]));
}

export function runStrategyOf(vm: Obj): RunStrategy {
  if (vm.spec?.runStrategy) return vm.spec.runStrategy;
  if (vm.spec?.running === true) return 'Always';
  return 'Halted';
}

export function isFinal(vmi: Obj | undefined): boolean {
  return !!vmi && ['Succeeded', 'Failed'].includes(vmi.status?.phase);
}

/** Seconds precision, as metav1.Time serialises. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function hotpluggable(v: Obj): boolean {
  return !!(v.dataVolume?.hotpluggable || v.persistentVolumeClaim?.hotpluggable);
}

/** The template spec minus what may change live (hotplug volumes). */
export function liveInvariant(spec: Obj | undefined): Obj {
  const s = clone(spec ?? {});
  s.volumes = (s.volumes ?? []).filter((v: Obj) => !hotpluggable(v));
  if (s.volumes.length === 0) delete s.volumes;
  delete s.terminationGracePeriodSeconds;
  delete s.startStrategy;
  return s;
}

export function setCondition(conds: Obj[], c: Obj): Obj[] {
  const old = conds.find((x) => x.type === c.type);
  const merged = {
    type: c.type,
    status: c.status,
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
    lastProbeTime: null,
    lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now(),
  };
  return [...conds.filter((x) => x.type !== c.type), merged];
}

export function ownedBy(vmi: Obj | undefined, vm: Obj): Obj | undefined {
  return vmi && (vmi.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === vm.metadata.uid)
    ? vmi
    : undefined;
}

function controllerRef(apiVersion: string, kind: string, owner: Obj): Obj {
  return {
    apiVersion,
    kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

// ---------------------------------------------------------------- VirtualMachine

export type DataVolumeState = 'ready' | 'pending' | 'failed' | 'missing';

/**
 * KubeVirt counts a DataVolume whose importer stopped on an error (Running False, reason `Error` or
 * `ImagePullFailed`) as failed, like phase Failed (`HasDataVolumeErrors`, pkg/storage/types/dv.go, v1.9.0).
 */
function importerStopped(dv: Obj): boolean {
  const running = (dv.status?.conditions ?? []).find((c: Obj) => c.type === 'Running');
  return running?.status === 'False' && (running.reason === 'Error' || running.reason === 'ImagePullFailed');
}

/** DataVolumes a VM needs before it can start (its non-hotplug dataVolume volumes). */
export function dataVolumeState(vm: Obj, getDv: (name: string) => Obj | undefined): DataVolumeState {
  let state: DataVolumeState = 'ready';
  for (const v of vm.spec?.template?.spec?.volumes ?? []) {
    if (!v.dataVolume?.name || v.dataVolume.hotpluggable) continue;
    const dv = getDv(v.dataVolume.name);
    if (!dv) state = state === 'failed' ? state : 'missing';
    else if (dv.status?.phase === 'Failed' || importerStopped(dv)) state = 'failed';
    else if (dv.status?.phase !== 'Succeeded' && state === 'ready') state = 'pending';
  }
  return state;
}

/** The DataVolumes of `spec.dataVolumeTemplates` (owned by the VM) that do not exist yet. */
export function missingDataVolumeTemplates(vm: Obj, exists: (name: string) => boolean): Obj[] {
  const out: Obj[] = [];
  for (const tpl of vm.spec?.dataVolumeTemplates ?? []) {
    const name = tpl.metadata?.name;
    if (!name || exists(name)) continue;
    out.push({
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: {
        ...clone(tpl.metadata),
        namespace: vm.metadata.namespace,
        ownerReferences: [controllerRef('kubevirt.io/v1', 'VirtualMachine', vm)],
      },
      spec: clone(tpl.spec),
    });
  }
  return out;
}

/** The VMI virt-controller creates for a VM (same name, owned, the template's spec). */
export function vmiFor(vm: Obj, paused: boolean): Obj {
  const tpl = vm.spec?.template ?? {};
  const spec = clone(tpl.spec ?? {});
  if (paused) spec.startStrategy = 'Paused';
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: {
      name: vm.metadata.name,
      namespace: vm.metadata.namespace,
      labels: { ...(tpl.metadata?.labels ?? {}), 'kubevirt.io/created-by': vm.metadata.uid },
      annotations: {
        ...(tpl.metadata?.annotations ?? {}),
        'kubevirt.io/vm-generation': String(vm.metadata.generation ?? 1),
      },
      finalizers: [VMI_FINALIZER],
      ownerReferences: [controllerRef('kubevirt.io/v1', 'VirtualMachine', vm)],
    },
    spec,
    status: {},
  };
}

export interface VmPlan {
  /** A paused start of a Halted VM: flip the strategy (runStrategy Always, or running true) first. */
  flipToAlways: boolean;
  wantStart: boolean;
  wantStop: boolean;
  startPaused: boolean;
  /** The state change requests after this pass's additions (a rerun's Start). */
  requests: Obj[];
}

/** virt-controller's syncRunStrategy: what to do with a VM and its (owned) VMI. */
export function planVm(vm: Obj, vmi: Obj | undefined): VmPlan {
  const strategy = runStrategyOf(vm);
  const requests: Obj[] = clone(vm.status?.stateChangeRequests ?? []);
  const first = requests[0];
  const final = isFinal(vmi);
  let wantStart = false;
  let wantStop = false;
  let flipToAlways = false;
  let startPaused = first?.action === 'Start' && first.data?.paused === 'true';
  const stopForThis = !!vmi && first?.action === 'Stop' && (!first.uid || first.uid === vmi.metadata.uid);
  switch (strategy) {
    case 'Always':
      if (!vmi) wantStart = true;
      else if (stopForThis || final) wantStop = true;
      break;
    case 'RerunOnFailure':
      if (!vmi) wantStart = first?.action === 'Start' || vm.status?.runStrategy !== 'RerunOnFailure';
      else if (stopForThis || final) {
        wantStop = true;
        if (vmi.status?.phase === 'Failed' && !stopForThis && !requests.some((r) => r.action === 'Start')) {
          requests.push({ action: 'Start' });
        }
      }
      break;
    case 'Manual':
      if (!vmi) wantStart = first?.action === 'Start';
      else if (stopForThis) wantStop = true;
      break;
    case 'Halted':
      if (!vmi) flipToAlways = first?.action === 'Start';
      else wantStop = true;
      break;
    case 'Once':
      if (!vmi) wantStart = true;
      break;
  }
  if (strategy === 'Always' && !vmi && first?.action === 'Start') startPaused = first.data?.paused === 'true';
  return { flipToAlways, wantStart, wantStop, startPaused, requests };
}

/** The VM with its strategy flipped to Always (runStrategy, or legacy running: true). */
export function flippedToAlways(vm: Obj): Obj {
  const next = clone(vm);
  if (next.spec.running !== undefined) next.spec.running = true;
  else next.spec.runStrategy = 'Always';
  return next;
}

/**
 * Pops the first change request once it has been acted on (isTrimFirstChangeRequestNeeded): a Stop
 * once no VMI with its uid remains, a Start once a live VMI exists. `live` is the VMI after this
 * pass's actions (a deleted one still there while it shuts down); `created` when this pass made it.
 */
export function trimRequests(requests: Obj[], live: Obj | undefined, created: boolean): Obj[] {
  const head = requests[0];
  if (head?.action === 'Stop') {
    if (!live || (head.uid && live.metadata.uid !== head.uid)) return requests.slice(1);
  } else if (head?.action === 'Start') {
    if (
      live &&
      !isFinal(live) &&
      !live.metadata.deletionTimestamp &&
      (created || live.metadata.uid !== head.uid)
    )
      return requests.slice(1);
  }
  return requests;
}

/**
 * The VM's status as virt-controller writes it: `base` is the current status, `requests` the change
 * requests after this pass, `live` the VM's VMI (owned) after this pass's actions. `templateSpec` is
 * the template with the VM's instance type and preference applied (instancetype.ts `expandVm`):
 * KubeVirt compares expanded specs before it reports RestartRequired (`syncRestartRequired` in
 * pkg/virt-controller/watch/vm/vm.go, v1.9.0, applies `ApplyToVM` to both sides).
 */
export function vmStatus(
  vm: Obj,
  base: Obj,
  requests: Obj[],
  live: Obj | undefined,
  dvState: DataVolumeState,
  created: boolean,
  templateSpec: Obj | undefined = vm.spec?.template?.spec,
): Obj {
  const strategy = runStrategyOf(vm);
  const status: Obj = clone(base ?? {});
  if (requests.length) status.stateChangeRequests = requests;
  else delete status.stateChangeRequests;
  if (created || live) status.runStrategy = strategy;
  const phase = live?.status?.phase;
  const paused = (live?.status?.conditions ?? []).some(
    (c: Obj) => c.type === 'Paused' && c.status === 'True',
  );
  const startExpected =
    strategy === 'Always' ||
    strategy === 'Once' ||
    (strategy === 'RerunOnFailure' && status.runStrategy !== 'RerunOnFailure') ||
    requests[0]?.action === 'Start';
  let printable: string;
  if (live?.metadata.deletionTimestamp && !isFinal(live)) printable = 'Stopping';
  else if (live && phase === 'Running' && paused) printable = 'Paused';
  else if (live && phase === 'Running') printable = 'Running';
  else if (!live && dvState === 'failed') printable = 'DataVolumeError';
  else if (!live && dvState === 'missing' && startExpected) printable = 'ErrorPvcNotFound';
  else if (!live && dvState === 'pending' && startExpected) printable = 'Provisioning';
  else if (
    (!live && startExpected && strategy !== 'Once') ||
    (live && ['', undefined, 'Pending', 'Scheduling', 'Scheduled'].includes(phase))
  )
    printable = 'Starting';
  else if (!live && strategy === 'Once' && !vm.status?.runStrategy) printable = 'Starting';
  else printable = 'Stopped';
  status.printableStatus = printable;
  status.created = !!live;
  const ready = (live?.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready');
  status.ready = !!live && ready?.status === 'True' && phase === 'Running';
  let conds: Obj[] = (status.conditions ?? []).filter((c: Obj) => c.type !== 'Paused' || paused);
  if (!live)
    conds = setCondition(conds, {
      type: 'Ready',
      status: 'False',
      reason: 'VMINotExists',
      message: 'VMI does not exist',
    });
  else if (!ready)
    conds = setCondition(conds, {
      type: 'Ready',
      status: 'False',
      reason: 'VMIConditionMissing',
      message: 'VMI is missing the Ready condition',
    });
  else
    conds = setCondition(conds, {
      type: 'Ready',
      status: ready.status,
      ...(ready.reason ? { reason: ready.reason } : {}),
      ...(ready.message ? { message: ready.message } : {}),
    });
  if (paused) {
    const pc = live!.status.conditions.find((c: Obj) => c.type === 'Paused');
    conds = setCondition(conds, {
      type: 'Paused',
      status: 'True',
      reason: pc.reason ?? 'PausedByUser',
      message: pc.message ?? 'VMI was paused by user',
    });
  }
  const restartRequired =
    !!live && !isFinal(live) && !deepEqual(liveInvariant(templateSpec), liveInvariant(live.spec));
  if (restartRequired)
    conds = setCondition(conds, {
      type: 'RestartRequired',
      status: 'True',
      message: RESTART_REQUIRED_MESSAGE,
    });
  else conds = conds.filter((c) => c.type !== 'RestartRequired');
  if (dvState === 'failed')
    conds = setCondition(conds, {
      type: 'Failure',
      status: 'True',
      reason: 'DataVolumeError',
      message: 'a DataVolume the VM needs failed to import',
    });
  else conds = conds.filter((c) => c.type !== 'Failure');
  status.conditions = conds.sort((a, b) => a.type.localeCompare(b.type));
  status.observedGeneration = vm.metadata.generation;
  status.desiredGeneration = vm.metadata.generation;
  status.volumeSnapshotStatuses = (vm.spec?.template?.spec?.volumes ?? []).map((v: Obj) => ({
    name: v.name,
    enabled: false,
    reason: `No VolumeSnapshotClass: Volume snapshots are not configured for this StorageClass [${v.name}]`,
  }));
  if (status.volumeSnapshotStatuses.length === 0) delete status.volumeSnapshotStatuses;
  return status;
}

/**
 * Declarative hot-plug (KubeVirt v1.9.0 pkg/storage/hotplug/hotplug.go `patchHotplugVolumes`): the
 * running VMI's volumes and disks after one pass of virt-controller, or undefined when in line.
 * - A VMI volume that is not hot-pluggable stays as it is: it was fixed when the VMI started, so a
 *   VM that changes or drops it (a CD-ROM's image swapped or ejected) changes nothing in the guest
 *   until a restart, even when the VM's new volume is hot-pluggable.
 * - A hot-plug volume the VM dropped, or changed, leaves the VMI; a hot-plug volume of the VM
 *   the VMI has no volume and no volume status of that name for is added (a changed one: once its
 *   old attachment is gone, a later pass).
 * - Disks follow: a new hot-plug volume's disk is added; a disk whose volume left stays when the VM
 *   still has it as a CD-ROM (the drive stays, empty).
 */
export function declarativeHotplug(vm: Obj, vmi: Obj): { volumes: Obj[]; disks: Obj[] } | undefined {
  const tpl = vm.spec?.template?.spec ?? {};
  const vmVolumes = new Map<string, Obj>((tpl.volumes ?? []).map((v: Obj) => [v.name, v]));
  const vmDisks = new Map<string, Obj>((tpl.domain?.devices?.disks ?? []).map((d: Obj) => [d.name, d]));
  const vmiVolumes: Obj[] = vmi.spec?.volumes ?? [];
  const vmiDisks: Obj[] = vmi.spec?.domain?.devices?.disks ?? [];
  const volumes = vmiVolumes.filter((v) => {
    if (!hotpluggable(v)) return true;
    const want = vmVolumes.get(v.name);
    if (!want) return false;
    return !(hotpluggable(want) && !deepEqual(want, v));
  });
  const vmiNames = new Set(vmiVolumes.map((v) => v.name));
  const withStatus = new Set((vmi.status?.volumeStatus ?? []).map((s: Obj) => s.name));
  for (const v of tpl.volumes ?? []) {
    if (hotpluggable(v) && !vmiNames.has(v.name) && !withStatus.has(v.name)) volumes.push(clone(v));
  }
  const now = new Map(volumes.map((v) => [v.name, v]));
  const disks = vmiDisks.filter((d) => {
    if (now.has(d.name)) return true;
    const vmDisk = vmDisks.get(d.name);
    if (!vmDisk) return false;
    return !(vmVolumes.has(d.name) && (vmDisk.cdrom === undefined || d.cdrom === undefined));
  });
  const diskNames = new Set(vmiDisks.map((d) => d.name));
  for (const d of tpl.domain?.devices?.disks ?? []) {
    const v = now.get(d.name);
    if (v && hotpluggable(v) && !diskNames.has(d.name)) disks.push(clone(d));
  }
  if (deepEqual(volumes, vmiVolumes) && deepEqual(disks, vmiDisks)) return undefined;
  return { volumes, disks };
}

// ---------------------------------------------------------------- VirtualMachineInstance

/** The next phase of a VMI starting up, or undefined (Running, final, unknown). */
export function nextVmiPhase(phase: string): 'Pending' | 'Scheduling' | 'Scheduled' | 'Running' | undefined {
  return phase === ''
    ? 'Pending'
    : phase === 'Pending'
      ? 'Scheduling'
      : phase === 'Scheduling'
        ? 'Scheduled'
        : phase === 'Scheduled'
          ? 'Running'
          : undefined;
}

/** Moves a VMI status to `phase`, recording the transition. */
export function enterPhase(s: Obj, phase: string): void {
  s.phase = phase;
  s.phaseTransitionTimestamps = [
    ...(s.phaseTransitionTimestamps ?? []),
    { phase, phaseTransitionTimestamp: new Date().toISOString() },
  ];
}

export interface VmiHost {
  nodeName: string;
  launcherVersion: string;
}

/** What virt-controller and virt-handler add on entering a start-up phase (not Running). */
export function startupStatus(phase: 'Pending' | 'Scheduling' | 'Scheduled', s: Obj, host: VmiHost): void {
  enterPhase(s, phase);
  if (phase === 'Pending') {
    s.guestOSInfo = {};
    s.qosClass = 'Burstable';
    s.conditions = setCondition(s.conditions ?? [], {
      type: 'Ready',
      status: 'False',
      reason: 'GuestNotRunning',
      message: 'Guest VM is not reported as running',
    });
  } else if (phase === 'Scheduling') {
    s.activePods = { [randomUUID()]: host.nodeName };
  } else {
    s.nodeName = host.nodeName;
    s.launcherContainerImageVersion = host.launcherVersion;
  }
}

/** The status of a VMI entering Running: interfaces, guest OS, conditions, volumes. */
export function runningStatus(
  vmi: Obj,
  s: Obj,
  host: VmiHost,
  getDv: (name: string) => Obj | undefined,
): void {
  enterPhase(s, 'Running');
  const ns = vmi.metadata.namespace;
  const name = vmi.metadata.name;
  const ifaces: Obj[] = vmi.spec?.domain?.devices?.interfaces ?? [{ name: 'default' }];
  let h = 0;
  for (const c of `${ns}/${name}`) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  s.interfaces = ifaces.map((i, idx) => {
    const ip = `10.244.${(h >>> 8) % 250}.${((h % 250) + 2 + idx) % 254}`;
    return {
      name: i.name,
      mac: interfaceMac({ namespace: ns, name, uid: vmi.metadata.uid }, i),
      ipAddress: ip,
      ipAddresses: [ip],
      interfaceName: `eth${idx}`,
      infoSource: 'domain, guest-agent',
      queueCount: 1,
      linkState: 'up',
    };
  });
  s.guestOSInfo = {
    id: 'fedora',
    name: 'Fedora Linux',
    prettyName: 'Fedora Linux 41 (Cloud Edition, simulated)',
    version: '41 (Cloud Edition)',
    versionId: '41',
    kernelRelease: '6.11.4-301.fc41.x86_64',
    kernelVersion: '#1 SMP PREEMPT_DYNAMIC',
    machine: 'x86_64',
  };
  s.launcherContainerImageVersion = host.launcherVersion;
  s.nodeName = host.nodeName;
  s.migrationMethod = 'BlockMigration';
  let conds: Obj[] = s.conditions ?? [];
  conds = setCondition(conds, { type: 'Ready', status: 'True' });
  conds = setCondition(conds, { type: 'LiveMigratable', status: 'True' });
  conds = setCondition(conds, { type: 'AgentConnected', status: 'True' });
  s.conditions = conds;
  s.volumeStatus = volumeStatus(vmi, s.volumeStatus, getDv);
}

/** The VMI's `status.volumeStatus`: hotplug volumes Ready once their DataVolume has Succeeded. */
/**
 * Whether every hot-plug volume of a VMI is ready (a DataVolume's import has succeeded). virt-handler
 * does not start the domain until then: its VMI update path requeues the VMI every second while
 * `hotplugVolumesReady` is false (pkg/virt-handler/vm.go, v1.9.0), so a VM started with an image
 * still importing boots with it, not with an empty drive.
 */
export function hotplugVolumesReady(vmi: Obj, getDv: (name: string) => Obj | undefined): boolean {
  return (vmi.spec?.volumes ?? []).every(
    (v: Obj) => !hotpluggable(v) || !v.dataVolume || getDv(v.dataVolume.name)?.status?.phase === 'Succeeded',
  );
}

export function volumeStatus(
  vmi: Obj,
  previous: Obj[] | undefined,
  getDv: (name: string) => Obj | undefined,
): Obj[] {
  const disks: Obj[] = vmi.spec?.domain?.devices?.disks ?? [];
  const out: Obj[] = [];
  let sd = 0;
  for (const v of vmi.spec?.volumes ?? []) {
    const disk = disks.find((d) => d.name === v.name);
    const target =
      disk?.cdrom || disk?.disk?.bus !== 'virtio'
        ? `sd${String.fromCharCode(97 + sd++)}`
        : `vd${String.fromCharCode(97 + out.length)}`;
    if (hotpluggable(v)) {
      const dvName = v.dataVolume?.name ?? v.persistentVolumeClaim?.claimName;
      const dv = v.dataVolume ? getDv(dvName) : undefined;
      const ready = v.persistentVolumeClaim || dv?.status?.phase === 'Succeeded';
      const prev = (previous ?? []).find((p) => p.name === v.name);
      const attachPodName =
        prev?.hotplugVolume?.attachPodName ?? `hp-volume-${Math.random().toString(36).slice(2, 7)}`;
      out.push({
        name: v.name,
        target: ready ? target : '',
        phase: ready ? 'Ready' : 'Pending',
        reason: ready ? 'VolumeReady' : 'VolumePending',
        message: ready
          ? `Successfully attach hotplugged volume ${v.name} to VM`
          : `Waiting for DataVolume ${dvName} to be ready`,
        hotplugVolume: { attachPodName, attachPodUID: prev?.hotplugVolume?.attachPodUID ?? randomUUID() },
        persistentVolumeClaimInfo: { claimName: dvName },
      });
    } else {
      out.push({
        name: v.name,
        target,
        ...(v.containerDisk ? { containerDiskVolume: { checksum: 1 } } : {}),
      });
    }
  }
  return out;
}

/** Whether two volumeStatus lists differ beyond their (random) attachment pod names. */
export function volumeStatusChanged(a: Obj[] | undefined, b: Obj[] | undefined): boolean {
  const strip = (l: Obj[] | undefined) => (l ?? []).map((x) => ({ ...x, hotplugVolume: undefined }));
  return !deepEqual(strip(a), strip(b));
}

/** The Ready condition of a VMI whose guest stopped (virt-launcher pod terminating). */
export function podTerminating(s: Obj): void {
  s.conditions = setCondition(s.conditions ?? [], {
    type: 'Ready',
    status: 'False',
    reason: 'PodTerminating',
    message: 'virt-launcher pod is terminating',
  });
}

export function setPausedCondition(s: Obj, paused: boolean): void {
  const conds: Obj[] = s.conditions ?? [];
  s.conditions = paused
    ? setCondition(conds, {
        type: 'Paused',
        status: 'True',
        reason: 'PausedByUser',
        message: 'VMI was paused by user',
      })
    : conds.filter((c) => c.type !== 'Paused');
}

export function isPaused(vmi: Obj): boolean {
  return (vmi.status?.conditions ?? []).some((c: Obj) => c.type === 'Paused' && c.status === 'True');
}

/** How a volume is backed, for the boot transcript (undefined: nothing bootable yet). */
export function volumeSourceText(v: Obj, getDv: (name: string) => Obj | undefined): string | undefined {
  if (v.containerDisk) return `containerDisk ${v.containerDisk.image}`;
  if (v.dataVolume) {
    const dv = getDv(v.dataVolume.name);
    if (dv?.status?.phase !== 'Succeeded') return undefined;
    return dv.spec?.source?.http?.url ?? `DataVolume ${v.dataVolume.name}`;
  }
  if (v.persistentVolumeClaim) return `PVC ${v.persistentVolumeClaim.claimName}`;
  if (v.cloudInitNoCloud || v.cloudInitConfigDrive) return undefined;
  if (v.emptyDisk) return undefined;
  return v.name;
}

// ---------------------------------------------------------------- CDI DataVolume

/** CDI's default filesystem overhead (CDIConfig `filesystemOverhead.global`, v1.63.0 and later). */
export const FILESYSTEM_OVERHEAD = 0.06;
const MIB = 1024 * 1024;
/** A Kubernetes quantity ("2Gi", "1500M", "3221225472") in bytes, or null. */
export function quantityBytes(q: unknown): number | null {
  const v = parseQuantity(typeof q === 'string' ? q : q === undefined ? undefined : String(q));
  return v === null || v < 0 ? null : Math.ceil(v);
}

/**
 * Whether CDI can render the claim of a DataVolume (pkg/controller/datavolume/util.go
 * `renderPvcSpecVolumeModeAndAccessModesAndStorageClass`): with no storage class named and no
 * default one, a `spec.storage` without access modes has nothing to take them from. Returns the
 * message CDI puts on the Bound condition (reason `ErrClaimNotValid`), or null.
 */
export function claimRefusal(dv: Obj, defaultStorageClass: string | null): string | null {
  const storage = dv.spec?.storage;
  if (!storage) return null; // spec.pvc: the webhook already requires access modes
  if (storage.storageClassName || defaultStorageClass) return null;
  if ((storage.accessModes ?? []).length > 0) return null;
  return 'PVC spec is missing accessMode and no storageClass to choose profile';
}

/**
 * The PVC CDI creates for a DataVolume (same name, owned by it). A `spec.storage` size on a
 * Filesystem volume is the usable size: CDI inflates the claim by the filesystem overhead
 * (`InflateSizeWithOverhead`: aligned up to 1 MiB, times 1 + overhead); `spec.pvc` is taken as is.
 */
export function pvcFor(dv: Obj, defaultStorageClass: string): Obj {
  const fromStorage = !!dv.spec?.storage;
  const storage = dv.spec?.storage ?? dv.spec?.pvc ?? {};
  const volumeMode = storage.volumeMode ?? 'Filesystem';
  let size: string = storage.resources?.requests?.storage ?? '1Gi';
  const bytes = quantityBytes(size);
  if (fromStorage && volumeMode === 'Filesystem' && bytes !== null) {
    size = String(Math.ceil(Math.ceil(bytes / MIB) * MIB * (1 + FILESYSTEM_OVERHEAD)));
  }
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: dv.metadata.name,
      namespace: dv.metadata.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'cdi-controller' },
      ownerReferences: [controllerRef('cdi.kubevirt.io/v1beta1', 'DataVolume', dv)],
    },
    spec: {
      accessModes: storage.accessModes ?? ['ReadWriteOnce'],
      resources: {
        ...(storage.resources ?? {}),
        requests: { ...(storage.resources?.requests ?? {}), storage: size },
      },
      storageClassName: storage.storageClassName ?? defaultStorageClass,
      volumeMode,
    },
  };
}

/**
 * The space the importer may fill in a claim of `claimBytes` (pkg/util `GetUsableSpace`: the
 * overhead taken back off a Filesystem volume, aligned down to 1 MiB; all of a Block volume).
 */
export function usableBytes(claimBytes: number, volumeMode: string | undefined): number {
  if (volumeMode === 'Block') return claimBytes;
  return Math.floor(Math.ceil(claimBytes / (1 + FILESYSTEM_OVERHEAD)) / MIB) * MIB;
}

/**
 * What the importer found at the URL: an error (the text CDI's importer writes as its termination
 * message), or the image size (`Content-Length`, null when the server sends none).
 */
export type ImportProbe = { error: string } | { size: number | null };

/** The message CDI shows for an image that does not fit (`simplifyKnownMessage`). */
export const TOO_SMALL_MESSAGE = 'DataVolume too small to contain image';

/**
 * The importer's answer for a URL the fake does not fetch (any host but loopback): a URL that is not
 * http(s), or whose host is `invalid` or ends in `.invalid`, fails name resolution; others succeed
 * with no size known.
 */
export function simulatedProbe(url: string): ImportProbe {
  let host = '';
  try {
    const u = new URL(url);
    host = u.hostname;
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      return {
        error: `Unable to connect to http data source: unsupported protocol scheme "${u.protocol.slice(0, -1)}"`,
      };
    }
  } catch {
    return { error: `Unable to connect to http data source: unable to parse endpoint "${url}"` };
  }
  if (host === 'invalid' || host.endsWith('.invalid')) {
    return {
      error: `Unable to connect to http data source: HTTP request errored: Get "${url}": dial tcp: lookup ${host} on 10.96.0.10:53: no such host`,
    };
  }
  return { size: null };
}

/** The DataVolume's current `Running` condition. */
function runningCondition(dv: Obj): Obj | undefined {
  return (dv.status?.conditions ?? []).find((c: Obj) => c.type === 'Running');
}

/** Whether the importer of this DataVolume last ended in an error and is being restarted. */
export function importRetrying(dv: Obj): boolean {
  const running = runningCondition(dv);
  return dv.status?.phase === 'ImportInProgress' && running?.status === 'False' && !!running.message;
}

/**
 * How long kubelet waits before restarting the failed importer (CrashLoopBackOff: 10 s doubling to
 * 5 min), scaled by the timing's import step (600 ms realistic, 2 ms fast).
 */
export function importRestartDelay(dv: Obj, importStep: number): number {
  const restarts = Number(dv.status?.restartCount ?? 0);
  return Math.min(importStep * 16 * 2 ** Math.min(restarts, 10), importStep * 500);
}

function dvConditions(
  name: string,
  bound: string,
  running: string,
  ready: string,
  reason = '',
  message = '',
): Obj[] {
  return [
    {
      type: 'Bound',
      status: bound,
      reason: bound === 'True' ? 'Bound' : 'Pending',
      message: bound === 'True' ? `PVC ${name} Bound` : '',
      lastHeartbeatTime: now(),
      lastTransitionTime: now(),
    },
    {
      type: 'Running',
      status: running,
      reason,
      message,
      lastHeartbeatTime: now(),
      lastTransitionTime: now(),
    },
    {
      type: 'Ready',
      status: ready,
      reason: ready === 'True' ? '' : reason,
      lastHeartbeatTime: now(),
      lastTransitionTime: now(),
    },
  ];
}

export interface DvStep {
  /** Fields to merge into the DataVolume's status. */
  status: Obj;
  /** An Event CDI records with this step. */
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

/**
 * The next import step of a DataVolume in `phase` (its PVC exists and, past Pending, is Bound), or
 * undefined when there is none. With an http source: Pending → ImportScheduled → ImportInProgress
 * (progress in steps of 23.71 %) → Succeeded. `probe` is what the importer found at the URL (asked
 * at the start of every importer run: from ImportScheduled, and again at each restart). As CDI
 * v1.66.0 does (pkg/controller/import-controller.go `updatePvcFromPod`, datavolume/import-controller.go
 * `updateStatusPhase`), an import error is not fatal: the importer pod restarts (restartPolicy
 * OnFailure), the DataVolume stays `ImportInProgress`, `status.restartCount` counts the restarts and
 * the `Running` condition is False with reason `Error` and the importer's message (a Warning event
 * with them when the message changes). An image larger than the claim's usable space fails the same
 * way with "DataVolume too small to contain image". Other sources succeed at once.
 */
export function dataVolumeStep(
  dv: Obj,
  probe?: ImportProbe,
  claim?: { bytes: number | null; volumeMode?: string },
): DvStep | undefined {
  const name = dv.metadata.name;
  const phase = dv.status?.phase ?? '';
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  if (phase === '') {
    return {
      status: {
        phase: 'Pending',
        progress: 'N/A',
        claimName: name,
        conditions: dvConditions(name, 'False', 'False', 'False'),
      },
    };
  }
  const url: string | undefined = dv.spec?.source?.http?.url;
  if (!url) {
    return {
      status: {
        phase: 'Succeeded',
        progress: '100.0%',
        conditions: dvConditions(name, 'True', 'False', 'True', 'Completed'),
      },
    };
  }
  if (phase === 'Pending') {
    return {
      status: {
        phase: 'ImportScheduled',
        progress: 'N/A',
        conditions: dvConditions(name, 'True', 'False', 'False', 'ImportScheduled', 'Import pod scheduled'),
      },
    };
  }
  const retrying = importRetrying(dv);
  if (phase === 'ImportScheduled' || retrying) {
    const found = probe ?? simulatedProbe(url);
    let error = 'error' in found ? found.error : null;
    if (!error && 'size' in found && found.size !== null && claim?.bytes != null) {
      if (found.size > usableBytes(claim.bytes, claim.volumeMode)) error = TOO_SMALL_MESSAGE;
    }
    if (error) {
      const previous = runningCondition(dv)?.message;
      const restartCount = retrying
        ? Number(dv.status?.restartCount ?? 0) + 1
        : Number(dv.status?.restartCount ?? 0);
      return {
        status: {
          phase: 'ImportInProgress',
          progress: 'N/A',
          restartCount,
          conditions: dvConditions(name, 'True', 'False', 'False', 'Error', error),
        },
        ...(previous !== error
          ? { event: { type: 'Warning' as const, reason: 'Error', message: error } }
          : {}),
      };
    }
    return {
      status: {
        phase: 'ImportInProgress',
        progress: '0.00%',
        conditions: dvConditions(name, 'True', 'True', 'False', 'Pod is running'),
      },
    };
  }
  if (phase === 'ImportInProgress') {
    const pct = Number.parseFloat(dv.status?.progress ?? '0');
    const nextPct = Math.min(100, pct + 23.71);
    if (nextPct >= 100) {
      return {
        status: {
          phase: 'Succeeded',
          progress: '100.0%',
          conditions: dvConditions(name, 'True', 'False', 'True', 'Completed', 'Import Complete'),
        },
        event: { type: 'Normal', reason: 'ImportSucceeded', message: 'Import Successful' },
      };
    }
    return { status: { progress: `${nextPct.toFixed(2)}%` } };
  }
  return undefined;
}

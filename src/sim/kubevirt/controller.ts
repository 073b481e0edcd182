/**
 * Simulated virt-controller + virt-handler + CDI: VirtualMachine run strategies and status, the VMI
 * phase lifecycle, hotplug volumes, DataVolume imports, and each guest's serial console.
 */
import { randomUUID } from 'node:crypto';
import type { EventRecorder } from '../events.ts';
import { clone, deepEqual } from '../patch.ts';
import type { Registry } from '../registry.ts';
import type { ResourceType } from '../resources.ts';
import type { Obj, StoreEvent } from '../store.ts';
import type { Delays, Scheduler } from '../timing.ts';
import { bootPlan, bootTranscript, macFor, SerialConsole } from './guest.ts';

export const VM_FINALIZER = 'kubevirt.io/virtualMachineControllerFinalize';
export const VMI_FINALIZER = 'kubevirt.io/foregroundDeleteVirtualMachine';
const RESTART_REQUIRED_MESSAGE = 'a non-live-updatable field was changed in the template spec';
export const LAUNCHER_VERSION = 'quay.io/kubevirt/virt-launcher:v1.6.0-sim';

export type RunStrategy = 'Always' | 'RerunOnFailure' | 'Manual' | 'Halted' | 'Once';

export function runStrategyOf(vm: Obj): RunStrategy {
  if (vm.spec?.runStrategy) return vm.spec.runStrategy;
  if (vm.spec?.running === true) return 'Always';
  return 'Halted';
}

export function isFinal(vmi: Obj | undefined): boolean {
  return !!vmi && ['Succeeded', 'Failed'].includes(vmi.status?.phase);
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function hotpluggable(v: Obj): boolean {
  return !!(v.dataVolume?.hotpluggable || v.persistentVolumeClaim?.hotpluggable);
}

/** The template spec minus what may change live (hotplug volumes). */
function liveInvariant(spec: Obj | undefined): Obj {
  const s = clone(spec ?? {});
  s.volumes = (s.volumes ?? []).filter((v: Obj) => !hotpluggable(v));
  if (s.volumes.length === 0) delete s.volumes;
  delete s.terminationGracePeriodSeconds;
  delete s.startStrategy;
  return s;
}

function setCondition(conds: Obj[], c: Obj): Obj[] {
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

interface GuestState {
  uid: string;
  console: SerialConsole;
  running: boolean;
}

export class KubeVirtSim {
  readonly VM: ResourceType;
  readonly VMI: ResourceType;
  readonly DV: ResourceType;
  private readonly PVC: ResourceType;
  private readonly queue = new Set<string>();
  private scheduled = false;
  private readonly vmiTimers = new Set<string>();
  private readonly dvTimers = new Set<string>();
  readonly guests = new Map<string, GuestState>();
  /** `namespace/name` → uid of the latest VMI with that name (its guest outlives the VMI object). */
  readonly latestGuest = new Map<string, string>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly reg: Registry,
    private readonly sched: Scheduler,
    private readonly delays: Delays,
    private readonly events?: EventRecorder,
  ) {
    this.VM = reg.type('kubevirt.io', 'virtualmachines');
    this.VMI = reg.type('kubevirt.io', 'virtualmachineinstances');
    this.DV = reg.type('cdi.kubevirt.io', 'datavolumes');
    this.PVC = reg.type('', 'persistentvolumeclaims');
    this.unsubscribe = reg.store.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe();
  }

  private onEvent(e: StoreEvent): void {
    const ns = e.obj.metadata?.namespace;
    const name = e.obj.metadata?.name;
    if (e.key === 'kubevirt.io/virtualmachines') this.enqueue(`vm/${ns}/${name}`);
    else if (e.key === 'kubevirt.io/virtualmachineinstances') {
      this.enqueue(`vmi/${ns}/${name}`);
      this.enqueue(`vm/${ns}/${name}`);
      if (e.type === 'DELETED') {
        const g = this.guests.get(e.obj.metadata.uid);
        if (g) g.console.off();
      }
    } else if (e.key === 'cdi.kubevirt.io/datavolumes') {
      if (e.type !== 'DELETED') this.enqueue(`dv/${ns}/${name}`);
      for (const vm of this.reg.store.list('kubevirt.io/virtualmachines', ns))
        this.enqueue(`vm/${ns}/${vm.metadata.name}`);
      // hotplugged volumes of running VMIs wait for their DataVolume
      for (const vmi of this.reg.store.list('kubevirt.io/virtualmachineinstances', ns))
        this.enqueue(`vmi/${ns}/${vmi.metadata.name}`);
    }
  }

  private enqueue(k: string): void {
    this.queue.add(k);
    if (this.scheduled) return;
    this.scheduled = true;
    this.sched.soon(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    let guard = 0;
    while (this.queue.size && guard++ < 1000) {
      const [k] = this.queue;
      this.queue.delete(k!);
      const [kind, ns, name] = k!.split('/') as [string, string, string];
      try {
        if (kind === 'vm') this.reconcileVm(ns, name);
        else if (kind === 'vmi') this.reconcileVmi(ns, name);
        else if (kind === 'dv') this.reconcileDv(ns, name);
      } catch {
        // conflicts with concurrent writers: the resulting event re-queues the object
        this.sched.after(10, () => this.enqueue(k!));
      }
    }
  }

  // ---------------------------------------------------------------- VirtualMachine

  /** DataVolumes a VM needs before it can start: 'ready', 'pending' (importing) or 'failed'. */
  private dataVolumeState(vm: Obj): 'ready' | 'pending' | 'failed' | 'missing' {
    let state: 'ready' | 'pending' | 'failed' | 'missing' = 'ready';
    for (const v of vm.spec?.template?.spec?.volumes ?? []) {
      if (!v.dataVolume?.name || v.dataVolume.hotpluggable) continue;
      const dv = this.reg.tryGet(this.DV, vm.metadata.namespace, v.dataVolume.name);
      if (!dv) state = state === 'failed' ? state : 'missing';
      else if (dv.status?.phase === 'Failed') state = 'failed';
      else if (dv.status?.phase !== 'Succeeded' && state === 'ready') state = 'pending';
    }
    return state;
  }

  private writeVmStatus(vm: Obj, status: Obj): void {
    if (deepEqual(vm.status ?? {}, status)) return;
    const next = clone(vm);
    next.status = status;
    this.reg.update(this.VM, vm.metadata.namespace, vm.metadata.name, next, {
      subresource: 'status',
      internal: true,
    });
  }

  private ensureDataVolumeTemplates(vm: Obj): void {
    for (const tpl of vm.spec?.dataVolumeTemplates ?? []) {
      const name = tpl.metadata?.name;
      if (!name || this.reg.tryGet(this.DV, vm.metadata.namespace, name)) continue;
      this.reg.create(
        this.DV,
        vm.metadata.namespace,
        {
          metadata: {
            ...clone(tpl.metadata),
            namespace: vm.metadata.namespace,
            ownerReferences: [
              {
                apiVersion: 'kubevirt.io/v1',
                kind: 'VirtualMachine',
                name: vm.metadata.name,
                uid: vm.metadata.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: clone(tpl.spec),
        },
        { internal: true },
      );
    }
  }

  private createVmi(vm: Obj, paused: boolean): void {
    const tpl = vm.spec?.template ?? {};
    const spec = clone(tpl.spec ?? {});
    if (paused) spec.startStrategy = 'Paused';
    this.reg.create(
      this.VMI,
      vm.metadata.namespace,
      {
        metadata: {
          name: vm.metadata.name,
          namespace: vm.metadata.namespace,
          labels: { ...(tpl.metadata?.labels ?? {}), 'kubevirt.io/created-by': vm.metadata.uid },
          annotations: {
            ...(tpl.metadata?.annotations ?? {}),
            'kubevirt.io/vm-generation': String(vm.metadata.generation ?? 1),
          },
          finalizers: [VMI_FINALIZER],
          ownerReferences: [
            {
              apiVersion: 'kubevirt.io/v1',
              kind: 'VirtualMachine',
              name: vm.metadata.name,
              uid: vm.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec,
        status: {},
      },
      { internal: true },
    );
  }

  private deleteVmi(vmi: Obj): void {
    if (vmi.metadata.deletionTimestamp) return;
    this.reg.delete(this.VMI, vmi.metadata.namespace, vmi.metadata.name, {
      preconditions: { uid: vmi.metadata.uid },
    });
    const vm = this.reg.tryGet(this.VM, vmi.metadata.namespace, vmi.metadata.name);
    if (vm) {
      this.events?.record(
        vm,
        'Normal',
        'SuccessfulDelete',
        `Stopped the virtual machine by deleting the virtual machine instance ${vmi.metadata.uid}`,
        'virtualmachine-controller',
      );
    }
  }

  reconcileVm(ns: string, name: string): void {
    const vm = this.reg.tryGet(this.VM, ns, name);
    if (!vm) return;
    let vmi = this.reg.tryGet(this.VMI, ns, name);
    if (vmi && !(vmi.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === vm.metadata.uid))
      vmi = undefined;
    const fins: string[] = vm.metadata.finalizers ?? [];
    if (vm.metadata.deletionTimestamp) {
      if (vmi) this.deleteVmi(vmi);
      else if (fins.includes(VM_FINALIZER)) {
        const next = clone(vm);
        next.metadata.finalizers = fins.filter((f) => f !== VM_FINALIZER);
        this.reg.update(this.VM, ns, name, next, { internal: true });
        return;
      }
      this.writeVmStatus(vm, { ...(vm.status ?? {}), printableStatus: 'Terminating' });
      return;
    }
    if (!fins.includes(VM_FINALIZER)) {
      const next = clone(vm);
      next.metadata.finalizers = [...fins, VM_FINALIZER];
      this.reg.update(this.VM, ns, name, next, { internal: true });
      return;
    }
    this.ensureDataVolumeTemplates(vm);
    const strategy = runStrategyOf(vm);
    const status: Obj = clone(vm.status ?? {});
    let requests: Obj[] = clone(status.stateChangeRequests ?? []);
    const first = requests[0];
    const final = isFinal(vmi);
    const deleting = !!vmi?.metadata.deletionTimestamp;
    const dvState = this.dataVolumeState(vm);
    let wantStart = false;
    let wantStop = false;
    let startPaused = first?.action === 'Start' && first.data?.paused === 'true';
    const stopForThis = !!vmi && first?.action === 'Stop' && (!first.uid || first.uid === vmi.metadata.uid);
    switch (strategy) {
      case 'Always':
        if (!vmi) wantStart = true;
        else if (stopForThis || final) wantStop = true;
        break;
      case 'RerunOnFailure':
        if (!vmi) wantStart = first?.action === 'Start' || status.runStrategy !== 'RerunOnFailure';
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
        if (!vmi) {
          if (first?.action === 'Start') {
            // a paused start on a Halted VM: flip the strategy and let the next pass start it
            const next = clone(vm);
            if (next.spec.running !== undefined) next.spec.running = true;
            else next.spec.runStrategy = 'Always';
            this.reg.update(this.VM, ns, name, next, { internal: true });
            return;
          }
        } else wantStop = true;
        break;
      case 'Once':
        if (!vmi) wantStart = true;
        break;
    }
    if (strategy === 'Always' && !vmi && first?.action === 'Start')
      startPaused = first.data?.paused === 'true';
    if (wantStop && vmi && !deleting) this.deleteVmi(vmi);
    let created = false;
    if (wantStart && !vmi && dvState === 'ready') {
      this.createVmi(vm, startPaused);
      this.events?.record(
        vm,
        'Normal',
        'SuccessfulCreate',
        `Started the virtual machine by creating the new virtual machine instance ${name}`,
        'virtualmachine-controller',
      );
      created = true;
      vmi = this.reg.tryGet(this.VMI, ns, name);
    }
    // trim the first change request once it has been acted on
    const head = requests[0];
    if (head?.action === 'Stop') {
      const live = this.reg.tryGet(this.VMI, ns, name);
      if (!live || (head.uid && live.metadata.uid !== head.uid)) requests = requests.slice(1);
    } else if (head?.action === 'Start') {
      const live = this.reg.tryGet(this.VMI, ns, name);
      if (
        live &&
        !isFinal(live) &&
        !live.metadata.deletionTimestamp &&
        (created || live.metadata.uid !== first?.uid)
      )
        requests = requests.slice(1);
    }
    if (requests.length) status.stateChangeRequests = requests;
    else delete status.stateChangeRequests;
    if (created || vmi) status.runStrategy = strategy;
    // status
    const cur = this.reg.tryGet(this.VMI, ns, name);
    const live =
      cur && (cur.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === vm.metadata.uid)
        ? cur
        : undefined;
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
      !!live &&
      !isFinal(live) &&
      !deepEqual(liveInvariant(vm.spec?.template?.spec), liveInvariant(live.spec));
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
    this.writeVmStatus(this.reg.tryGet(this.VM, ns, name) ?? vm, status);
    // hotplug: keep the running VMI's hotplug volumes in line with the VM template
    if (live && phase === 'Running' && !live.metadata.deletionTimestamp) this.syncHotplug(vm, live);
  }

  private syncHotplug(vm: Obj, vmi: Obj): void {
    const want = (vm.spec?.template?.spec?.volumes ?? []).filter(hotpluggable);
    const have = (vmi.spec?.volumes ?? []).filter(hotpluggable);
    if (deepEqual(want, have)) return;
    const next = clone(vmi);
    next.spec.volumes = [...(vmi.spec.volumes ?? []).filter((v: Obj) => !hotpluggable(v)), ...clone(want)];
    this.reg.update(this.VMI, vmi.metadata.namespace, vmi.metadata.name, next, { internal: true });
  }

  // ---------------------------------------------------------------- VirtualMachineInstance

  private volumeSource(ns: string): (v: Obj) => string | undefined {
    return (v: Obj) => {
      if (v.containerDisk) return `containerDisk ${v.containerDisk.image}`;
      if (v.dataVolume) {
        const dv = this.reg.tryGet(this.DV, ns, v.dataVolume.name);
        if (dv?.status?.phase !== 'Succeeded') return undefined;
        return dv.spec?.source?.http?.url ?? `DataVolume ${v.dataVolume.name}`;
      }
      if (v.persistentVolumeClaim) return `PVC ${v.persistentVolumeClaim.claimName}`;
      if (v.cloudInitNoCloud || v.cloudInitConfigDrive) return undefined;
      if (v.emptyDisk) return undefined;
      return v.name;
    };
  }

  private writeVmi(vmi: Obj, mutate: (s: Obj) => void): Obj | undefined {
    const cur = this.reg.tryGet(this.VMI, vmi.metadata.namespace, vmi.metadata.name);
    if (!cur || cur.metadata.uid !== vmi.metadata.uid) return undefined;
    const next = clone(cur);
    next.status ??= {};
    mutate(next.status);
    if (deepEqual(next.status, cur.status)) return cur;
    return this.reg.update(this.VMI, cur.metadata.namespace, cur.metadata.name, next, {
      subresource: 'status',
      internal: true,
    });
  }

  private phase(vmi: Obj, phase: string, extra: (s: Obj) => void = () => {}): void {
    this.writeVmi(vmi, (s) => {
      s.phase = phase;
      s.phaseTransitionTimestamps = [
        ...(s.phaseTransitionTimestamps ?? []),
        { phase, phaseTransitionTimestamp: new Date().toISOString() },
      ];
      extra(s);
    });
  }

  guest(vmi: Obj): GuestState {
    let g = this.guests.get(vmi.metadata.uid);
    if (!g) {
      const ns = vmi.metadata.namespace;
      const name = vmi.metadata.name;
      const uid = vmi.metadata.uid;
      g = {
        uid,
        running: false,
        console: new SerialConsole(vmi.spec?.hostname ?? name, (cmd) => {
          const cur = this.reg.tryGet(this.VMI, ns, name);
          if (!cur || cur.metadata.uid !== uid) return;
          if (cmd === 'reboot') this.rebootGuest(cur, 'soft');
          else this.guestExit(cur, 'Succeeded');
        }),
      };
      this.guests.set(uid, g);
      this.latestGuest.set(`${ns}/${name}`, uid);
      if (this.guests.size > 200) {
        const [oldest] = this.guests.keys();
        this.guests.delete(oldest!);
      }
    }
    return g;
  }

  private boot(vmi: Obj): void {
    const g = this.guest(vmi);
    g.running = true;
    const plan = bootPlan(
      vmi.metadata.namespace,
      vmi.metadata.name,
      vmi.spec ?? {},
      this.volumeSource(vmi.metadata.namespace),
    );
    const lines = bootTranscript(plan, g.console.hostname);
    const step = this.delays.consoleLine;
    if (step === 0) {
      g.console.writeLines(lines);
      if (plan.chosen) g.console.atLogin();
      return;
    }
    for (const [i, l] of lines.entries()) {
      this.sched.after(step * i, () => {
        if (!g.running) return;
        g.console.write(i === lines.length - 1 && l.endsWith(': ') ? l : `${l}\r\n`);
        if (i === lines.length - 1 && plan.chosen) g.console.atLogin();
      });
    }
  }

  rebootGuest(vmi: Obj, kind: 'soft' | 'reset'): void {
    const g = this.guest(vmi);
    g.console.off();
    g.console.write(
      kind === 'soft'
        ? '\r\n[  OK  ] Reached target System Reboot.\r\nreboot: Restarting system\r\n'
        : '\r\n*** hard reset ***\r\n',
    );
    this.boot(this.reg.tryGet(this.VMI, vmi.metadata.namespace, vmi.metadata.name) ?? vmi);
  }

  /** The guest stops by itself (shutdown from inside, or a crash): VMI Succeeded or Failed. */
  guestExit(vmi: Obj, phase: 'Succeeded' | 'Failed'): void {
    const g = this.guest(vmi);
    g.running = false;
    g.console.off();
    g.console.write(
      phase === 'Succeeded'
        ? '\r\n[  OK  ] Reached target Power-Off.\r\nreboot: Power down\r\n'
        : '\r\nKernel panic - not syncing: simulated guest crash\r\n',
    );
    this.phase(vmi, phase, (s) => {
      s.conditions = setCondition(s.conditions ?? [], {
        type: 'Ready',
        status: 'False',
        reason: 'PodTerminating',
        message: 'virt-launcher pod is terminating',
      });
      if (phase === 'Failed') s.reason = 'GuestCrashed';
    });
  }

  setPaused(vmi: Obj, paused: boolean): void {
    this.writeVmi(vmi, (s) => {
      const conds: Obj[] = s.conditions ?? [];
      s.conditions = paused
        ? setCondition(conds, {
            type: 'Paused',
            status: 'True',
            reason: 'PausedByUser',
            message: 'VMI was paused by user',
          })
        : conds.filter((c) => c.type !== 'Paused');
    });
  }

  reconcileVmi(ns: string, name: string): void {
    const vmi = this.reg.tryGet(this.VMI, ns, name);
    if (!vmi) return;
    const uid = vmi.metadata.uid;
    const phase = vmi.status?.phase ?? '';
    if (vmi.metadata.deletionTimestamp) {
      const key = `${uid}/stop`;
      if (this.vmiTimers.has(key)) return;
      this.vmiTimers.add(key);
      const g = this.guests.get(uid);
      if (g?.running) {
        g.running = false;
        g.console.off();
        g.console.write('\r\n[  OK  ] Reached target Power-Off.\r\nreboot: Power down\r\n');
      }
      const grace = vmi.spec?.terminationGracePeriodSeconds;
      const wait = grace === 0 || grace === 1 ? 0 : this.delays.vmiStop;
      this.sched.after(wait, () => {
        this.vmiTimers.delete(key);
        const cur = this.reg.tryGet(this.VMI, ns, name);
        if (!cur || cur.metadata.uid !== uid) return;
        if (!isFinal(cur))
          this.phase(cur, 'Succeeded', (s) => {
            s.conditions = setCondition(s.conditions ?? [], {
              type: 'Ready',
              status: 'False',
              reason: 'PodTerminating',
              message: 'virt-launcher pod is terminating',
            });
          });
        const after = this.reg.tryGet(this.VMI, ns, name);
        if (!after || after.metadata.uid !== uid) return;
        after.metadata.finalizers = (after.metadata.finalizers ?? []).filter(
          (f: string) => f !== VMI_FINALIZER,
        );
        this.reg.update(this.VMI, ns, name, after, { internal: true });
      });
      return;
    }
    if (phase === 'Running') {
      this.syncVolumeStatus(vmi);
      return;
    }
    if (isFinal(vmi)) return;
    const next =
      phase === ''
        ? 'Pending'
        : phase === 'Pending'
          ? 'Scheduling'
          : phase === 'Scheduling'
            ? 'Scheduled'
            : phase === 'Scheduled'
              ? 'Running'
              : undefined;
    if (!next) return;
    const key = `${uid}/${next}`;
    if (this.vmiTimers.has(key)) return;
    this.vmiTimers.add(key);
    this.sched.after(phase === '' ? 0 : this.delays.vmiPhase, () => {
      this.vmiTimers.delete(key);
      const cur = this.reg.tryGet(this.VMI, ns, name);
      if (
        !cur ||
        cur.metadata.uid !== uid ||
        cur.metadata.deletionTimestamp ||
        (cur.status?.phase ?? '') !== phase
      )
        return;
      if (next === 'Pending') {
        this.phase(cur, 'Pending', (s) => {
          s.guestOSInfo = {};
          s.qosClass = 'Burstable';
          s.conditions = setCondition(s.conditions ?? [], {
            type: 'Ready',
            status: 'False',
            reason: 'GuestNotRunning',
            message: 'Guest VM is not reported as running',
          });
        });
      } else if (next === 'Scheduling') {
        this.phase(cur, 'Scheduling', (s) => {
          s.activePods = { [randomUUID()]: 'sim-node-1' };
        });
      } else if (next === 'Scheduled') {
        this.phase(cur, 'Scheduled', (s) => {
          s.nodeName = 'sim-node-1';
          s.launcherContainerImageVersion = LAUNCHER_VERSION;
        });
      } else if (next === 'Running') {
        this.phase(cur, 'Running', (s) => this.runningStatus(cur, s));
        this.events?.record(cur, 'Normal', 'Started', 'VirtualMachineInstance started.', 'virt-handler');
        this.boot(cur);
        const paused = cur.spec?.startStrategy === 'Paused';
        if (paused) this.setPaused(cur, true);
      }
    });
  }

  private runningStatus(vmi: Obj, s: Obj): void {
    const ns = vmi.metadata.namespace;
    const name = vmi.metadata.name;
    const ifaces: Obj[] = vmi.spec?.domain?.devices?.interfaces ?? [{ name: 'default' }];
    let h = 0;
    for (const c of `${ns}/${name}`) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    s.interfaces = ifaces.map((i, idx) => {
      const ip = `10.244.${(h >>> 8) % 250}.${((h % 250) + 2 + idx) % 254}`;
      return {
        name: i.name,
        mac: i.macAddress ?? macFor(ns, name, i.name),
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
    s.launcherContainerImageVersion = LAUNCHER_VERSION;
    s.nodeName = 'sim-node-1';
    s.migrationMethod = 'BlockMigration';
    let conds: Obj[] = s.conditions ?? [];
    conds = setCondition(conds, { type: 'Ready', status: 'True' });
    conds = setCondition(conds, { type: 'LiveMigratable', status: 'True' });
    conds = setCondition(conds, { type: 'AgentConnected', status: 'True' });
    s.conditions = conds;
    s.volumeStatus = this.volumeStatus(vmi, s.volumeStatus);
  }

  private volumeStatus(vmi: Obj, previous: Obj[] | undefined): Obj[] {
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
        const dv = v.dataVolume ? this.reg.tryGet(this.DV, vmi.metadata.namespace, dvName) : undefined;
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

  private syncVolumeStatus(vmi: Obj): void {
    const want = this.volumeStatus(vmi, vmi.status?.volumeStatus);
    const strip = (l: Obj[] | undefined) => (l ?? []).map((x) => ({ ...x, hotplugVolume: undefined }));
    if (deepEqual(strip(want), strip(vmi.status?.volumeStatus))) return;
    const hadCdromMedia = new Set(
      (vmi.status?.volumeStatus ?? []).filter((v: Obj) => v.phase === 'Ready').map((v: Obj) => v.name),
    );
    this.writeVmi(vmi, (s) => {
      s.volumeStatus = want;
    });
    const g = this.guests.get(vmi.metadata.uid);
    for (const v of want) {
      if (v.phase === 'Ready' && !hadCdromMedia.has(v.name)) {
        const vol = (vmi.spec?.volumes ?? []).find((x: Obj) => x.name === v.name);
        const src = vol ? this.volumeSource(vmi.metadata.namespace)(vol) : undefined;
        g?.console.write(`\r\n[hotplug] media attached to '${v.name}'${src ? ` (image ${src})` : ''}\r\n`);
      }
    }
  }

  // ---------------------------------------------------------------- CDI DataVolume

  reconcileDv(ns: string, name: string): void {
    const dv = this.reg.tryGet(this.DV, ns, name);
    if (!dv || dv.metadata.deletionTimestamp) return;
    const phase = dv.status?.phase ?? '';
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const uid = dv.metadata.uid;
    const key = `${uid}/${phase}/${dv.status?.progress ?? ''}`;
    if (this.dvTimers.has(key)) return;
    this.dvTimers.add(key);
    const url: string | undefined = dv.spec?.source?.http?.url;
    const write = (status: Obj) => {
      const cur = this.reg.tryGet(this.DV, ns, name);
      if (!cur || cur.metadata.uid !== uid) return;
      const next = clone(cur);
      next.status = { ...(cur.status ?? {}), ...status };
      this.reg.update(this.DV, ns, name, next, { subresource: 'status', internal: true });
    };
    const conds = (bound: string, running: string, ready: string, reason = '', message = '') => [
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
    const step = this.delays.importStep;
    this.sched.after(phase === '' ? 0 : step, () => {
      this.dvTimers.delete(key);
      const cur = this.reg.tryGet(this.DV, ns, name);
      if (!cur || cur.metadata.uid !== uid || (cur.status?.phase ?? '') !== phase) return;
      if (phase === '') {
        this.ensurePvc(cur);
        write({
          phase: 'Pending',
          progress: 'N/A',
          claimName: name,
          conditions: conds('False', 'False', 'False'),
        });
        return;
      }
      if (!url) {
        write({
          phase: 'Succeeded',
          progress: '100.0%',
          conditions: conds('True', 'False', 'True', 'Completed'),
        });
        return;
      }
      let host = '';
      let valid = true;
      try {
        const u = new URL(url);
        host = u.hostname;
        valid = u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        valid = false;
      }
      const failing = !valid || host === 'invalid' || host.endsWith('.invalid');
      if (phase === 'Pending') {
        write({
          phase: 'ImportScheduled',
          progress: 'N/A',
          conditions: conds('True', 'False', 'False', 'ImportScheduled', 'Import pod scheduled'),
        });
      } else if (phase === 'ImportScheduled') {
        if (failing) {
          this.events?.record(
            cur,
            'Warning',
            'Error',
            `Unable to connect to http data source: ${url}`,
            'datavolume-import-controller',
          );
          write({
            phase: 'Failed',
            progress: 'N/A',
            restartCount: 0,
            conditions: conds(
              'True',
              'False',
              'False',
              'Error',
              `Unable to connect to http data source: Get "${url}": dial tcp: lookup ${host || url}: no such host`,
            ),
          });
          return;
        }
        write({
          phase: 'ImportInProgress',
          progress: '0.00%',
          conditions: conds('True', 'True', 'False', 'Pod is running'),
        });
      } else if (phase === 'ImportInProgress') {
        const pct = Number.parseFloat(cur.status?.progress ?? '0');
        const nextPct = Math.min(100, pct + 23.71);
        if (nextPct >= 100) {
          this.events?.record(
            cur,
            'Normal',
            'ImportSucceeded',
            'Import Successful',
            'datavolume-import-controller',
          );
          write({
            phase: 'Succeeded',
            progress: '100.0%',
            conditions: conds('True', 'False', 'True', 'Completed', 'Import Complete'),
          });
        } else write({ progress: `${nextPct.toFixed(2)}%` });
      }
    });
  }

  private ensurePvc(dv: Obj): void {
    const ns = dv.metadata.namespace;
    if (this.reg.tryGet(this.PVC, ns, dv.metadata.name)) return;
    const storage = dv.spec?.storage ?? dv.spec?.pvc ?? {};
    this.reg.create(
      this.PVC,
      ns,
      {
        metadata: {
          name: dv.metadata.name,
          namespace: ns,
          labels: { 'app.kubernetes.io/managed-by': 'cdi-controller' },
          ownerReferences: [
            {
              apiVersion: 'cdi.kubevirt.io/v1beta1',
              kind: 'DataVolume',
              name: dv.metadata.name,
              uid: dv.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          accessModes: storage.accessModes ?? ['ReadWriteOnce'],
          resources: storage.resources ?? { requests: { storage: '1Gi' } },
          storageClassName: storage.storageClassName ?? 'sim-local',
          volumeMode: storage.volumeMode ?? 'Filesystem',
        },
        status: {
          phase: 'Bound',
          accessModes: storage.accessModes ?? ['ReadWriteOnce'],
          capacity: { storage: storage.resources?.requests?.storage ?? '1Gi' },
        },
      },
      { internal: true },
    );
  }
}

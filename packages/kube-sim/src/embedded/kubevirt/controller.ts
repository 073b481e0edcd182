/**
 * Simulated virt-controller + virt-handler + CDI: VirtualMachine run strategies and status, the VMI
 * phase lifecycle, hotplug volumes, DataVolume imports, and each guest's serial console.
 */

import { type GuestState, Guests, newlyReady } from '../../fakecluster/kubevirt/guests.ts';
import {
  dataVolumeState,
  dataVolumeStep,
  enterPhase,
  flippedToAlways,
  hotplugVolumes,
  isFinal,
  missingDataVolumeTemplates,
  nextVmiPhase,
  ownedBy,
  planVm,
  podTerminating,
  pvcFor,
  runningStatus,
  setPausedCondition,
  startupStatus,
  trimRequests,
  VM_FINALIZER,
  VMI_FINALIZER,
  type VmiHost,
  vmiFor,
  vmStatus,
  volumeStatus,
  volumeStatusChanged,
} from '../../fakecluster/kubevirt/logic.ts';
import type { EventRecorder } from '../events.ts';
import { clone, deepEqual } from '../patch.ts';
import type { Registry } from '../registry.ts';
import type { ResourceType } from '../resources.ts';
import type { Obj, StoreEvent } from '../store.ts';
import type { Delays, Scheduler } from '../timing.ts';

export type { RunStrategy } from '../../fakecluster/kubevirt/logic.ts';
export { isFinal, runStrategyOf, VM_FINALIZER, VMI_FINALIZER } from '../../fakecluster/kubevirt/logic.ts';
export const LAUNCHER_VERSION = 'quay.io/kubevirt/virt-launcher:v1.6.0-sim';
const HOST: VmiHost = { nodeName: 'sim-node-1', launcherVersion: LAUNCHER_VERSION };

export class KubeVirtSim {
  readonly VM: ResourceType;
  readonly VMI: ResourceType;
  readonly DV: ResourceType;
  private readonly PVC: ResourceType;
  private readonly queue = new Set<string>();
  private scheduled = false;
  private readonly vmiTimers = new Set<string>();
  private readonly dvTimers = new Set<string>();
  private readonly vmGuests: Guests;
  private readonly unsubscribe: () => void;

  /** Guests by VMI uid (a guest outlives its VMI object). */
  get guests(): ReadonlyMap<string, GuestState> {
    return this.vmGuests.guests;
  }

  /** `namespace/name` → uid of the latest VMI with that name. */
  get latestGuest(): ReadonlyMap<string, string> {
    return this.vmGuests.latest;
  }

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
    this.vmGuests = new Guests(
      sched,
      delays.consoleLine,
      (ns, name) => reg.tryGet(this.DV, ns, name),
      ({ namespace, name, uid }, cmd) => {
        const cur = reg.tryGet(this.VMI, namespace, name);
        if (!cur || cur.metadata.uid !== uid) return;
        if (cmd === 'reboot') this.rebootGuest(cur, 'soft');
        else this.guestExit(cur, 'Succeeded');
      },
    );
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
      if (e.type === 'DELETED') this.vmGuests.gone(e.obj.metadata.uid);
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

  private getDv(ns: string): (name: string) => Obj | undefined {
    return (name) => this.reg.tryGet(this.DV, ns, name);
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
    const ns = vm.metadata.namespace;
    for (const dv of missingDataVolumeTemplates(vm, (n) => !!this.reg.tryGet(this.DV, ns, n)))
      this.reg.create(this.DV, ns, dv, { internal: true });
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
    let vmi = ownedBy(this.reg.tryGet(this.VMI, ns, name), vm);
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
    const dvState = dataVolumeState(vm, this.getDv(ns));
    const plan = planVm(vm, vmi);
    if (plan.flipToAlways) {
      // a paused start on a Halted VM: flip the strategy and let the next pass start it
      this.reg.update(this.VM, ns, name, flippedToAlways(vm), { internal: true });
      return;
    }
    if (plan.wantStop && vmi && !vmi.metadata.deletionTimestamp) this.deleteVmi(vmi);
    let created = false;
    if (plan.wantStart && !vmi && dvState === 'ready') {
      this.reg.create(this.VMI, ns, vmiFor(vm, plan.startPaused), { internal: true });
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
    const requests = trimRequests(plan.requests, this.reg.tryGet(this.VMI, ns, name), created);
    const live = ownedBy(this.reg.tryGet(this.VMI, ns, name), vm);
    const status = vmStatus(vm, vm.status ?? {}, requests, live, dvState, created);
    this.writeVmStatus(this.reg.tryGet(this.VM, ns, name) ?? vm, status);
    // hotplug: keep the running VMI's hotplug volumes in line with the VM template
    if (live && live.status?.phase === 'Running' && !live.metadata.deletionTimestamp) {
      const volumes = hotplugVolumes(vm, live);
      if (volumes) {
        const next = clone(live);
        next.spec.volumes = volumes;
        this.reg.update(this.VMI, ns, name, next, { internal: true });
      }
    }
  }

  // ---------------------------------------------------------------- VirtualMachineInstance

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

  guest(vmi: Obj): GuestState {
    return this.vmGuests.guest(vmi);
  }

  rebootGuest(vmi: Obj, kind: 'soft' | 'reset'): void {
    this.vmGuests.reboot(
      vmi,
      kind,
      this.reg.tryGet(this.VMI, vmi.metadata.namespace, vmi.metadata.name) ?? vmi,
    );
  }

  /** The guest stops by itself (shutdown from inside, or a crash): VMI Succeeded or Failed. */
  guestExit(vmi: Obj, phase: 'Succeeded' | 'Failed'): void {
    this.vmGuests.exit(vmi, phase);
    this.writeVmi(vmi, (s) => {
      enterPhase(s, phase);
      podTerminating(s);
      if (phase === 'Failed') s.reason = 'GuestCrashed';
    });
  }

  setPaused(vmi: Obj, paused: boolean): void {
    this.writeVmi(vmi, (s) => setPausedCondition(s, paused));
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
      this.vmGuests.shutdown(uid);
      const grace = vmi.spec?.terminationGracePeriodSeconds;
      const wait = grace === 0 || grace === 1 ? 0 : this.delays.vmiStop;
      this.sched.after(wait, () => {
        this.vmiTimers.delete(key);
        const cur = this.reg.tryGet(this.VMI, ns, name);
        if (!cur || cur.metadata.uid !== uid) return;
        if (!isFinal(cur))
          this.writeVmi(cur, (s) => {
            enterPhase(s, 'Succeeded');
            podTerminating(s);
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
    const next = nextVmiPhase(phase);
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
      if (next !== 'Running') {
        this.writeVmi(cur, (s) => startupStatus(next, s, HOST));
        return;
      }
      this.writeVmi(cur, (s) => runningStatus(cur, s, HOST, this.getDv(ns)));
      this.events?.record(cur, 'Normal', 'Started', 'VirtualMachineInstance started.', 'virt-handler');
      this.vmGuests.boot(cur);
      if (cur.spec?.startStrategy === 'Paused') this.setPaused(cur, true);
    });
  }

  private syncVolumeStatus(vmi: Obj): void {
    const want = volumeStatus(vmi, vmi.status?.volumeStatus, this.getDv(vmi.metadata.namespace));
    if (!volumeStatusChanged(want, vmi.status?.volumeStatus)) return;
    const attached = newlyReady(vmi.status?.volumeStatus, want);
    this.writeVmi(vmi, (s) => {
      s.volumeStatus = want;
    });
    this.vmGuests.mediaAttached(vmi, attached);
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
    this.sched.after(phase === '' ? 0 : this.delays.importStep, () => {
      this.dvTimers.delete(key);
      const cur = this.reg.tryGet(this.DV, ns, name);
      if (!cur || cur.metadata.uid !== uid || (cur.status?.phase ?? '') !== phase) return;
      if (phase === '') this.ensurePvc(cur);
      const step = dataVolumeStep(cur);
      if (!step) return;
      if (step.event)
        this.events?.record(
          cur,
          step.event.type,
          step.event.reason,
          step.event.message,
          'datavolume-import-controller',
        );
      const next = clone(cur);
      next.status = { ...(cur.status ?? {}), ...step.status };
      this.reg.update(this.DV, ns, name, next, { subresource: 'status', internal: true });
    });
  }

  private ensurePvc(dv: Obj): void {
    const ns = dv.metadata.namespace;
    if (this.reg.tryGet(this.PVC, ns, dv.metadata.name)) return;
    const pvc = pvcFor(dv, 'sim-local');
    pvc.status = {
      phase: 'Bound',
      accessModes: pvc.spec.accessModes,
      capacity: { storage: pvc.spec.resources.requests.storage },
    };
    this.reg.create(this.PVC, ns, pvc, { internal: true });
  }
}

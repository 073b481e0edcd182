/**
 * The fake virt-controller + virt-handler + CDI controller, over any API server: informers on
 * VirtualMachines, VMIs, DataVolumes, the PVCs and PVs CDI made; one work queue processed in
 * order; every write through our client (optimistic concurrency: a write from a stale cache gets
 * 409 and the key is processed again). The decisions are logic.ts's; guests and their serial
 * consoles live in memory here, as virt-handler's domains live on its node. The same controller
 * runs beside the real kube-apiserver (index.ts `startFakeKubeVirt`) and inside the embedded
 * cluster, as its client (`startKubeVirtControllers`).
 *
 * Storage: the fake CDI makes, for each DataVolume, a PersistentVolume pre-bound to the claim (by
 * namespace and name, hostPath, reclaim policy Retain), then the PVC; kube-controller-manager's
 * PV binder binds them (the import waits for Bound), and a Released PV of ours is deleted.
 */
import type { KubeClient } from '../../../../../src/kube/client.ts';
import { KubeApiError, statusOf } from '../../../../../src/kube/errors.ts';
import { Informer, type WatchedObject } from '../../../../../src/kube/informer.ts';
import { apiPath, KINDS } from '../../../../../src/kube/paths.ts';
import { ApiError, internalError } from '../../embedded/errors.ts';
import { type Delays, Scheduler } from '../../embedded/timing.ts';
import {
  activeKubeVirt,
  declarativeHotplugActive,
  type FeatureGates,
  featureGatesOf,
} from './feature-gates.ts';
import { type GuestState, Guests, newlyReady } from './guests.ts';
import { fetchImage } from './importer.ts';
import {
  applySpecs,
  controllerRevisionFor,
  expandVm,
  notFoundMessage,
  objectPath,
  refCurrent,
  type Specs,
  statusRefFor,
  targetOf,
  vmiAnnotations,
  type Which,
} from './instancetype.ts';
import {
  claimRefusal,
  clone,
  dataVolumeState,
  dataVolumeStep,
  declarativeHotplug,
  deepEqual,
  enterPhase,
  flippedToAlways,
  hotplugVolumesReady,
  type ImportProbe,
  importRestartDelay,
  importRetrying,
  isFinal,
  missingDataVolumeTemplates,
  nextVmiPhase,
  type Obj,
  ownedBy,
  planVm,
  podTerminating,
  pvcFor,
  quantityBytes,
  runningStatus,
  setCondition,
  setPausedCondition,
  simulatedProbe,
  startupStatus,
  trimRequests,
  VM_FINALIZER,
  VMI_FINALIZER,
  type VmiHost,
  vmiFor,
  vmStatus,
  volumeStatus,
  volumeStatusChanged,
} from './logic.ts';
import type { VirtApiBackend } from './virt-api.ts';

export const LAUNCHER_VERSION = 'quay.io/kubevirt/virt-launcher:v1.9.0-fake';
export const STORAGE_CLASS = 'fake-cdi-local';
export const PV_LABEL = 'app.kubernetes.io/managed-by';
export const PV_LABEL_VALUE = 'fake-cdi';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

type K8sObj = WatchedObject & Obj & { metadata: Obj & { name: string } };

const enc = encodeURIComponent;
const VMS = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };
const VMIS = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
const DVS = { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes' };
const PVCS = { group: '', version: 'v1', plural: 'persistentvolumeclaims' };
const PVS = { group: '', version: 'v1', plural: 'persistentvolumes' };
const REVISIONS = { group: 'apps', version: 'v1', plural: 'controllerrevisions' };
const KUBEVIRTS = { group: 'kubevirt.io', version: 'v1', plural: 'kubevirts' };
const at = (namespace?: string) => (namespace ? { namespace } : {});
export const paths = {
  vms: (ns?: string) => apiPath(VMS, at(ns)),
  vmis: (ns?: string) => apiPath(VMIS, at(ns)),
  dvs: (ns?: string) => apiPath(DVS, at(ns)),
  pvcs: (ns?: string) => apiPath(PVCS, at(ns)),
  pvs: () => apiPath(PVS),
  kubevirts: () => apiPath(KUBEVIRTS),
  revisions: (ns: string) => apiPath(REVISIONS, { namespace: ns }),
  events: (ns: string) => apiPath(KINDS.Event, { namespace: ns }),
};

function toApiError(e: unknown): unknown {
  if (e instanceof KubeApiError) {
    const err = new ApiError(e.code, e.reason, e.message, e.details);
    return err;
  }
  return e;
}

function code(e: unknown): number {
  return statusOf(e) ?? 0;
}

export interface ControllerOptions {
  client: KubeClient;
  delays: Delays;
  nodeName: string;
  logger?: Logger;
}

export class KubeVirtController implements VirtApiBackend {
  readonly vms: Informer<K8sObj>;
  readonly vmis: Informer<K8sObj>;
  readonly dvs: Informer<K8sObj>;
  readonly pvcs: Informer<K8sObj>;
  readonly pvs: Informer<K8sObj>;
  /** The KubeVirt CR, whose feature gates virt-controller and virt-api follow. */
  readonly kubevirts: Informer<K8sObj>;
  readonly guests: Guests;
  private readonly client: KubeClient;
  private readonly delays: Delays;
  private readonly host: VmiHost;
  private readonly logger: Logger | undefined;
  /**
   * The cluster's default StorageClass as CDI sees it (null: none, so a DataVolume must name a class
   * or give access modes). The fake's `fake-cdi-local` is the default; a test may clear it.
   */
  defaultStorageClass: string | null = STORAGE_CLASS;
  private readonly sched = new Scheduler();
  private readonly queue = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly vmiTimers = new Set<string>();
  private readonly dvTimers = new Set<string>();
  private readonly endWatchers = new Map<string, Set<() => void>>();
  /** The data of the instance type and preference ControllerRevisions read so far, by namespace/name. */
  private readonly revisionData = new Map<string, Obj>();
  private working = false;
  private stopped = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(options: ControllerOptions) {
    this.client = options.client;
    this.delays = options.delays;
    this.logger = options.logger;
    this.host = { nodeName: options.nodeName, launcherVersion: LAUNCHER_VERSION };
    const informer = (path: string, labelSelector?: string) =>
      new Informer<K8sObj>(this.client, {
        path,
        ...(labelSelector ? { labelSelector } : {}),
        ...(this.logger ? { logger: this.logger } : {}),
      });
    this.vms = informer(paths.vms());
    this.vmis = informer(paths.vmis());
    this.dvs = informer(paths.dvs());
    this.pvcs = informer(paths.pvcs(), 'app.kubernetes.io/managed-by=cdi-controller');
    this.pvs = informer(paths.pvs(), `${PV_LABEL}=${PV_LABEL_VALUE}`);
    this.kubevirts = informer(paths.kubevirts());
    this.guests = new Guests(
      this.sched,
      this.delays.consoleLine,
      (ns, name) => this.dvs.get(ns, name),
      ({ namespace, name, uid }, cmd) => {
        const cur = this.vmis.get(namespace, name);
        if (!cur || cur.metadata.uid !== uid) return;
        if (cmd === 'reboot') this.reboot(cur, 'soft');
        else this.guestExit(cur, 'Succeeded');
      },
    );
    this.vms.on((_t, o) => this.enqueue(`vm/${o.metadata.namespace}/${o.metadata.name}`));
    this.vmis.on((t, o) => {
      const ns = o.metadata.namespace;
      this.enqueue(`vmi/${ns}/${o.metadata.name}`);
      this.enqueue(`vm/${ns}/${o.metadata.name}`);
      if (t === 'delete') this.guests.gone(o.metadata.uid);
      if (t === 'delete' || isFinal(o)) this.vmiEnded(o.metadata.uid);
    });
    this.dvs.on((t, o) => {
      const ns = o.metadata.namespace;
      if (t !== 'delete') this.enqueue(`dv/${ns}/${o.metadata.name}`);
      for (const vm of this.vms.list(ns)) this.enqueue(`vm/${ns}/${vm.metadata.name}`);
      // hotplugged volumes of running VMIs wait for their DataVolume
      for (const vmi of this.vmis.list(ns)) this.enqueue(`vmi/${ns}/${vmi.metadata.name}`);
    });
    this.pvcs.on((_t, o) => this.enqueue(`dv/${o.metadata.namespace}/${o.metadata.name}`));
    // a changed configuration: virt-controller looks at every VM again
    this.kubevirts.on((t, o) => {
      for (const vm of this.vms.list()) this.enqueue(`vm/${vm.metadata.namespace}/${vm.metadata.name}`);
      if (t !== 'delete') this.enqueue(`kv/${o.metadata.namespace}/${o.metadata.name}`);
    });
    this.pvs.on((t, o) => {
      if (t !== 'delete' && o.status?.phase === 'Released') this.enqueue(`pv//${o.metadata.name}`);
    });
  }

  async start(): Promise<void> {
    await Promise.all([
      this.vms.start(),
      this.vmis.start(),
      this.dvs.start(),
      this.pvcs.start(),
      this.pvs.start(),
      this.kubevirts.start(),
    ]);
  }

  /**
   * Records that the configuration of KubeVirt CR `ns/name` is in effect (`status.observedGeneration`,
   * as virt-operator does), after the VMs were queued again under it: a client that waits for it
   * knows the webhooks and virt-controller follow the new gates.
   */
  private async reconcileKubeVirt(ns: string, name: string): Promise<void> {
    const kv = this.kubevirts.get(ns, name);
    if (!kv || kv.metadata.deletionTimestamp) return;
    if (kv.status?.observedGeneration === kv.metadata.generation) return;
    const path = `${apiPath(KUBEVIRTS, { namespace: ns })}/${enc(name)}/status`;
    await this.put(this.kubevirts, path, {
      ...kv,
      status: { ...(kv.status ?? {}), observedGeneration: kv.metadata.generation },
    });
  }

  /** The feature gates of the KubeVirt CR now (KubeVirt v1.9.0's defaults without one). */
  featureGates(): FeatureGates {
    return featureGatesOf(activeKubeVirt(this.kubevirts.list()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sched.stop();
    await Promise.all([
      this.vms.stop(),
      this.vmis.stop(),
      this.dvs.stop(),
      this.pvcs.stop(),
      this.pvs.stop(),
      this.kubevirts.stop(),
    ]);
    await this.idle;
  }

  // ---------------------------------------------------------------- the work queue

  private enqueue(key: string): void {
    if (this.stopped) return;
    this.queue.add(key);
    if (!this.working) {
      this.working = true;
      this.idle = this.work();
    }
  }

  private async work(): Promise<void> {
    // let the events of one watch chunk collect before working
    await new Promise((r) => setImmediate(r));
    while (this.queue.size && !this.stopped) {
      const [key] = this.queue;
      this.queue.delete(key!);
      const [kind, ns, name] = key!.split('/') as [string, string, string];
      try {
        if (kind === 'vm') await this.reconcileVm(ns, name);
        else if (kind === 'vmi') this.reconcileVmi(ns, name);
        else if (kind === 'dv') await this.reconcileDv(ns, name);
        else if (kind === 'pv') await this.reconcilePv(name);
        else if (kind === 'kv') await this.reconcileKubeVirt(ns, name);
        this.failures.delete(key!);
      } catch (err) {
        if (this.stopped) break;
        // a conflict with a concurrent writer, or a stale cache: try again a little later (the
        // watch event of the newer version usually queues the key first)
        const n = (this.failures.get(key!) ?? 0) + 1;
        this.failures.set(key!, n);
        const wait = Math.min(2000, 10 * 2 ** Math.min(n, 8));
        const c = code(err);
        if (c !== 409 && c !== 404)
          this.logger?.warn(
            { key, err: String((err as Error)?.message ?? err), retryInMs: wait },
            'fake kubevirt: reconcile failed',
          );
        this.sched.after(wait, () => this.enqueue(key!));
      }
    }
    this.working = false;
  }

  // ---------------------------------------------------------------- API writes

  private event(
    involved: Obj,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
  ): void {
    const ns = involved.metadata?.namespace ?? 'default';
    const t = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    this.client
      .request('POST', paths.events(ns), {
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${involved.metadata?.name}.`, namespace: ns },
          involvedObject: {
            kind: involved.kind,
            namespace: ns,
            name: involved.metadata?.name,
            uid: involved.metadata?.uid,
            apiVersion: involved.apiVersion,
            resourceVersion: involved.metadata?.resourceVersion,
          },
          reason,
          message,
          source: { component, host: this.host.nodeName },
          firstTimestamp: t,
          lastTimestamp: t,
          count: 1,
          type,
          reportingComponent: component,
          reportingInstance: this.host.nodeName,
        },
      })
      .catch(() => {
        // best effort, as the event recorder of client-go
      });
  }

  private async put(cache: Informer<K8sObj>, path: string, obj: Obj): Promise<K8sObj> {
    const out = await this.client.request<K8sObj>('PUT', path, { body: obj });
    cache.observe(out);
    return out;
  }

  /**
   * Changes the status of the VMI `uid` (read from the cache, again from the API after a
   * conflict); `mutate` returns false to give up (the VMI moved on meanwhile).
   */
  private async writeVmi(
    ns: string,
    name: string,
    uid: string,
    mutate: (s: Obj, vmi: Obj) => unknown,
  ): Promise<Obj | undefined> {
    for (let attempt = 0; attempt < 6; attempt++) {
      let cur: Obj | undefined = this.vmis.get(ns, name);
      if (attempt > 0) {
        try {
          cur = await this.client.request<K8sObj>('GET', `${paths.vmis(ns)}/${enc(name)}`);
        } catch (e) {
          if (code(e) === 404) return undefined;
          throw e;
        }
      }
      if (!cur || cur.metadata.uid !== uid) return undefined;
      const next = clone(cur);
      next.status ??= {};
      if (mutate(next.status, cur) === false) return undefined;
      if (deepEqual(next.status, cur.status ?? {})) return cur;
      try {
        return await this.put(this.vmis, `${paths.vmis(ns)}/${enc(name)}/status`, next);
      } catch (e) {
        if (code(e) === 404) return undefined;
        if (code(e) !== 409) throw e;
      }
    }
    throw new Error(`could not write the status of VMI ${ns}/${name}: too many conflicts`);
  }

  private async removeVmiFinalizer(ns: string, name: string, uid: string): Promise<void> {
    for (let attempt = 0; attempt < 6; attempt++) {
      let cur: Obj | undefined;
      try {
        cur = await this.client.request<K8sObj>('GET', `${paths.vmis(ns)}/${enc(name)}`);
      } catch (e) {
        if (code(e) === 404) return;
        throw e;
      }
      if (!cur || cur.metadata.uid !== uid) return;
      const fins: string[] = cur.metadata.finalizers ?? [];
      if (!fins.includes(VMI_FINALIZER)) return;
      cur.metadata.finalizers = fins.filter((f) => f !== VMI_FINALIZER);
      try {
        // not recorded in the cache: the VMI is gone once this lands
        await this.client.request('PUT', `${paths.vmis(ns)}/${enc(name)}`, { body: cur });
        return;
      } catch (e) {
        if (code(e) === 404) return;
        if (code(e) !== 409) throw e;
      }
    }
  }

  // ---------------------------------------------------------------- VirtualMachine

  private async writeVmStatus(vm: Obj, status: Obj): Promise<void> {
    if (deepEqual(vm.status ?? {}, status)) return;
    const next = clone(vm);
    next.status = status;
    await this.put(this.vms, `${paths.vms(vm.metadata.namespace)}/${enc(vm.metadata.name)}/status`, next);
  }

  private async deleteVmi(vmi: Obj): Promise<void> {
    if (vmi.metadata.deletionTimestamp) return;
    const ns = vmi.metadata.namespace;
    try {
      const out = await this.client.request<K8sObj>('DELETE', `${paths.vmis(ns)}/${enc(vmi.metadata.name)}`, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: vmi.metadata.uid } },
      });
      if (out?.kind === 'VirtualMachineInstance') this.vmis.observe(out);
    } catch (e) {
      if (code(e) === 404) return;
      throw e;
    }
    const vm = this.vms.get(ns, vmi.metadata.name);
    if (vm)
      this.event(
        vm,
        'Normal',
        'SuccessfulDelete',
        `Stopped the virtual machine by deleting the virtual machine instance ${vmi.metadata.uid}`,
        'virtualmachine-controller',
      );
  }

  private async reconcileVm(ns: string, name: string): Promise<void> {
    const vm = this.vms.get(ns, name);
    if (!vm) return;
    let vmi = ownedBy(this.vmis.get(ns, name), vm);
    const fins: string[] = vm.metadata.finalizers ?? [];
    const vmPath = `${paths.vms(ns)}/${enc(name)}`;
    if (vm.metadata.deletionTimestamp) {
      if (vmi) await this.deleteVmi(vmi);
      else if (fins.includes(VM_FINALIZER)) {
        const next = clone(vm);
        next.metadata.finalizers = fins.filter((f) => f !== VM_FINALIZER);
        await this.put(this.vms, vmPath, next);
        return;
      }
      await this.writeVmStatus(vm, { ...(vm.status ?? {}), printableStatus: 'Terminating' });
      return;
    }
    if (!fins.includes(VM_FINALIZER)) {
      const next = clone(vm);
      next.metadata.finalizers = [...fins, VM_FINALIZER];
      await this.put(this.vms, vmPath, next);
      return;
    }
    for (const dv of missingDataVolumeTemplates(vm, (n) => !!this.dvs.get(ns, n))) {
      try {
        this.dvs.observe(await this.client.request<K8sObj>('POST', paths.dvs(ns), { body: dv }));
      } catch (e) {
        if (code(e) !== 409) throw e;
      }
    }
    // instance types and preferences: ControllerRevisions and status refs first, as virt-controller
    // syncs them before it starts or stops anything (pkg/instancetype/controller/vm/controller.go `Sync`)
    const synced = await this.syncInstancetypes(vm);
    if (synced === 'changed') return; // the status event brings the VM back
    if ('reason' in synced) {
      await this.writeVmStatus(vm, {
        ...(vm.status ?? {}),
        conditions: setCondition(vm.status?.conditions ?? [], {
          type: 'Failure',
          status: 'True',
          reason: synced.reason,
          message: synced.message,
        }),
      });
      return;
    }
    const specs = synced.specs;
    const dvState = dataVolumeState(vm, (n) => this.dvs.get(ns, n));
    const plan = planVm(vm, vmi);
    if (plan.flipToAlways) {
      // a paused start on a Halted VM: flip the strategy and let the next pass start it
      await this.put(this.vms, vmPath, flippedToAlways(vm));
      return;
    }
    if (plan.wantStop && vmi && !vmi.metadata.deletionTimestamp) await this.deleteVmi(vmi);
    let created = false;
    if (plan.wantStart && !vmi && dvState === 'ready') {
      // a 409 (a VMI the cache has not seen yet) fails the pass: it runs again when the cache has it
      const body = vmiFor(vm, plan.startPaused);
      // the instance type and preference go into the VMI, never into the VM's template
      const conflicts = applySpecs(body.spec, body.metadata, specs);
      if (conflicts.length) {
        const message = `Error creating virtual machine instance: Failed to apply instancetype: VMI conflicts with instancetype spec in fields: [${conflicts.join(', ')}]`;
        this.event(vm, 'Warning', 'FailedCreate', message, 'virtualmachine-controller');
        throw new Error(message);
      }
      Object.assign(body.metadata.annotations, vmiAnnotations(vm));
      vmi = await this.client.request<K8sObj>('POST', paths.vmis(ns), { body });
      this.vmis.observe(vmi as K8sObj);
      created = true;
      this.event(
        vm,
        'Normal',
        'SuccessfulCreate',
        `Started the virtual machine by creating the new virtual machine instance ${name}`,
        'virtualmachine-controller',
      );
    }
    let live = ownedBy(this.vmis.get(ns, name), vm);
    // declarative hot-plug first, then the status (virt-controller's `sync`, then `updateStatus`):
    // keep the running VMI's hot-plug volumes in line with the VM template, when the gates allow
    if (
      live &&
      live.status?.phase === 'Running' &&
      !live.metadata.deletionTimestamp &&
      declarativeHotplugActive(this.featureGates())
    ) {
      const change = declarativeHotplug(vm, live);
      if (change) {
        const next = clone(live);
        next.spec.volumes = change.volumes;
        next.spec.domain.devices = { ...(next.spec.domain.devices ?? {}), disks: change.disks };
        live = await this.put(this.vmis, `${paths.vmis(ns)}/${enc(name)}`, next);
      }
    }
    const current = this.vmis.get(ns, name);
    const requests = trimRequests(plan.requests, current, created);
    const expanded = specs.instancetype || specs.preference ? expandVm(vm, specs) : undefined;
    const templateSpec = expanded && 'vm' in expanded ? expanded.vm.spec.template.spec : undefined;
    await this.writeVmStatus(
      vm,
      vmStatus(
        vm,
        vm.status ?? {},
        requests,
        live,
        dvState,
        created,
        templateSpec ?? vm.spec?.template?.spec,
      ),
    );
  }

  // ---------------------------------------------------------------- instance types and preferences

  /**
   * Makes sure each instance type or preference the VM names is stored in a ControllerRevision owned
   * by the VM and recorded in its status (`'changed'`: the status was written, wait for its event),
   * then answers their specs from those revisions; or why they cannot be found (virt-controller's
   * sync error, reason FailedFindInstancetype / FailedFindPreference).
   */
  private async syncInstancetypes(
    vm: Obj,
  ): Promise<'changed' | { specs: Specs } | { reason: string; message: string }> {
    const ns = vm.metadata.namespace;
    const refs: Obj = {};
    for (const which of ['instancetype', 'preference'] as const) {
      const t = targetOf(vm, which);
      if (!t) continue;
      const reason = which === 'instancetype' ? 'FailedFindInstancetype' : 'FailedFindPreference';
      if (t instanceof Error) return { reason, message: t.message };
      if (refCurrent(vm, which)) continue;
      if (vm.spec[which].revisionName) {
        refs[`${which}Ref`] = statusRefFor(vm, which, vm.spec[which].revisionName);
        continue;
      }
      let obj: Obj;
      try {
        obj = await this.client.request<Obj>('GET', objectPath(t));
      } catch (e) {
        if (code(e) === 404) return { reason, message: notFoundMessage(t) };
        throw e;
      }
      const revision = controllerRevisionFor(vm, obj);
      try {
        await this.client.request('POST', paths.revisions(ns), { body: revision });
      } catch (e) {
        if (code(e) !== 409) throw e;
        const existing = await this.client.request<Obj>(
          'GET',
          `${paths.revisions(ns)}/${enc(revision.metadata.name)}`,
        );
        if (!deepEqual(existing.data?.spec, revision.data.spec))
          return {
            reason,
            message: `found existing ControllerRevision with unexpected data: ${revision.metadata.name}`,
          };
      }
      this.revisionData.set(`${ns}/${revision.metadata.name}`, revision.data);
      refs[`${which}Ref`] = statusRefFor(vm, which, revision.metadata.name);
    }
    if (Object.keys(refs).length) {
      // one status patch for both refs (pkg/instancetype/revision/patch.go `patchVM`)
      const out = await this.client.request<K8sObj>(
        'PATCH',
        `${paths.vms(ns)}/${enc(vm.metadata.name)}/status`,
        {
          body: { status: refs },
          contentType: 'application/merge-patch+json',
        },
      );
      this.vms.observe(out);
      return 'changed';
    }
    const specs: Specs = {};
    for (const which of ['instancetype', 'preference'] as const) {
      if (!vm.spec?.[which]) continue;
      const found = await this.specFromRevision(vm, which);
      if (typeof found === 'string')
        return {
          reason: which === 'instancetype' ? 'FailedFindInstancetype' : 'FailedFindPreference',
          message: found,
        };
      specs[which] = found;
    }
    return { specs };
  }

  /** The spec stored in the revision the VM's status names (read once, then remembered), or why not. */
  private async specFromRevision(vm: Obj, which: Which): Promise<Obj | string> {
    const ns = vm.metadata.namespace;
    const name: string = vm.status?.[`${which}Ref`]?.controllerRevisionRef?.name;
    const key = `${ns}/${name}`;
    let data = this.revisionData.get(key);
    if (!data) {
      try {
        const rev = await this.client.request<Obj>('GET', `${paths.revisions(ns)}/${enc(name)}`);
        data = rev.data as Obj;
      } catch (e) {
        if (code(e) === 404) return `controllerrevisions.apps "${name}" not found`;
        throw e;
      }
      this.revisionData.set(key, data);
    }
    return data?.spec ?? {};
  }

  /** The specs `expand-spec` applies: from the recorded revisions, else the objects themselves. */
  private async specsForExpand(vm: Obj): Promise<Specs> {
    const specs: Specs = {};
    for (const which of ['instancetype', 'preference'] as const) {
      const t = targetOf(vm, which);
      if (!t) continue;
      if (t instanceof Error) throw internalError(t.message);
      if (refCurrent(vm, which)) {
        const found = await this.specFromRevision(vm, which);
        if (typeof found === 'string') throw internalError(found);
        specs[which] = found;
        continue;
      }
      try {
        specs[which] = (await this.client.request<Obj>('GET', objectPath(t))).spec ?? {};
      } catch (e) {
        if (code(e) === 404) throw internalError(notFoundMessage(t));
        throw toApiError(e);
      }
    }
    return specs;
  }

  // ---------------------------------------------------------------- VirtualMachineInstance

  private vmiEnded(uid: string): void {
    const fns = this.endWatchers.get(uid);
    if (!fns) return;
    this.endWatchers.delete(uid);
    for (const fn of fns) fn();
  }

  private later(what: string, ms: number, fn: () => Promise<unknown>, retryKey?: string): void {
    this.sched.after(ms, () => {
      fn().catch((err) => {
        if (this.stopped) return;
        this.logger?.warn(
          { what, err: String((err as Error)?.message ?? err) },
          'fake kubevirt: step failed',
        );
        if (retryKey) this.sched.after(100, () => this.enqueue(retryKey));
      });
    });
  }

  private reconcileVmi(ns: string, name: string): void {
    const vmi = this.vmis.get(ns, name);
    if (!vmi) return;
    const uid = vmi.metadata.uid;
    const phase = vmi.status?.phase ?? '';
    const key = `vmi/${ns}/${name}`;
    if (vmi.metadata.deletionTimestamp) {
      const t = `${uid}/stop`;
      if (this.vmiTimers.has(t)) return;
      this.vmiTimers.add(t);
      this.guests.shutdown(uid);
      const grace = vmi.spec?.terminationGracePeriodSeconds;
      const wait = grace === 0 || grace === 1 ? 0 : this.delays.vmiStop;
      this.later(
        `stop VMI ${ns}/${name}`,
        wait,
        async () => {
          try {
            await this.writeVmi(ns, name, uid, (s, cur) => {
              if (isFinal(cur)) return false;
              enterPhase(s, 'Succeeded');
              podTerminating(s);
            });
            await this.removeVmiFinalizer(ns, name, uid);
          } finally {
            this.vmiTimers.delete(t);
          }
        },
        key,
      );
      return;
    }
    if (phase === 'Running') {
      const getDv = (n: string) => this.dvs.get(ns, n);
      if (!volumeStatusChanged(volumeStatus(vmi, vmi.status?.volumeStatus, getDv), vmi.status?.volumeStatus))
        return;
      const t = `${uid}/volumes`;
      if (this.vmiTimers.has(t)) return;
      this.vmiTimers.add(t);
      this.later(
        `volumes of VMI ${ns}/${name}`,
        0,
        async () => {
          try {
            // computed from the VMI as written, so media attach once whatever the passes
            let attached: string[] = [];
            let seen: Obj | undefined;
            const out = await this.writeVmi(ns, name, uid, (s, cur) => {
              if (cur.status?.phase !== 'Running' || cur.metadata.deletionTimestamp) return false;
              const want = volumeStatus(cur, cur.status?.volumeStatus, getDv);
              if (!volumeStatusChanged(want, cur.status?.volumeStatus)) return false;
              attached = newlyReady(cur.status?.volumeStatus, want);
              seen = cur;
              s.volumeStatus = want;
            });
            if (out && seen) this.guests.mediaAttached(seen, attached);
          } finally {
            this.vmiTimers.delete(t);
            // a DataVolume that changed while this ran: look again (nothing to do is cheap)
            this.enqueue(key);
          }
        },
        key,
      );
      return;
    }
    if (isFinal(vmi)) return;
    const next = nextVmiPhase(phase);
    if (!next) return;
    // virt-handler starts the domain only once its hot-plug volumes are ready; a DataVolume's
    // change enqueues this VMI again
    if (next === 'Running' && !hotplugVolumesReady(vmi, (n) => this.dvs.get(ns, n))) return;
    const t = `${uid}/${next}`;
    if (this.vmiTimers.has(t)) return;
    this.vmiTimers.add(t);
    this.later(
      `VMI ${ns}/${name} ${next}`,
      phase === '' ? 0 : this.delays.vmiPhase,
      async () => {
        try {
          const guard = (cur: Obj) => !cur.metadata.deletionTimestamp && (cur.status?.phase ?? '') === phase;
          if (next !== 'Running') {
            await this.writeVmi(ns, name, uid, (s, cur) =>
              guard(cur) ? startupStatus(next, s, this.host) : false,
            );
            return;
          }
          let booted: Obj | undefined;
          const out = await this.writeVmi(ns, name, uid, (s, cur) => {
            if (!guard(cur)) return false;
            booted = cur;
            runningStatus(cur, s, this.host, (n) => this.dvs.get(ns, n));
          });
          if (!out || !booted) return;
          this.event(out, 'Normal', 'Started', 'VirtualMachineInstance started.', 'virt-handler');
          this.guests.boot(booted);
          if (booted.spec?.startStrategy === 'Paused') await this.setPaused(out, true);
        } finally {
          this.vmiTimers.delete(t);
        }
      },
      key,
    );
  }

  // ---------------------------------------------------------------- CDI DataVolume

  private async ensureStorage(dv: Obj): Promise<void> {
    const ns = dv.metadata.namespace;
    const name = dv.metadata.name;
    if (this.pvcs.get(ns, name)) return;
    const pvc = pvcFor(dv, this.defaultStorageClass ?? '');
    // the volume first, pre-bound to the claim by name: the PV binder binds them as soon as the
    // claim exists (a claim without a volume would make it try to provision one)
    const pv = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `pvc-${dv.metadata.uid}`, labels: { [PV_LABEL]: PV_LABEL_VALUE } },
      spec: {
        capacity: { storage: pvc.spec.resources.requests.storage },
        accessModes: pvc.spec.accessModes,
        volumeMode: pvc.spec.volumeMode,
        storageClassName: pvc.spec.storageClassName,
        persistentVolumeReclaimPolicy: 'Retain',
        claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name },
        hostPath: { path: `/var/lib/fake-cdi/${ns}/${name}` },
      },
    };
    try {
      await this.client.request('POST', paths.pvs(), { body: pv });
    } catch (e) {
      if (code(e) !== 409) throw e;
    }
    try {
      this.pvcs.observe(await this.client.request<K8sObj>('POST', paths.pvcs(ns), { body: pvc }));
    } catch (e) {
      if (code(e) !== 409) throw e;
    }
  }

  private async reconcileDv(ns: string, name: string): Promise<void> {
    const dv = this.dvs.get(ns, name);
    if (!dv || dv.metadata.deletionTimestamp) return;
    const phase = dv.status?.phase ?? '';
    if (phase === 'Succeeded' || phase === 'Failed') return;
    if (phase === '') {
      const refusal = claimRefusal(dv, this.defaultStorageClass);
      if (refusal) return this.refuseClaim(dv, refusal);
      await this.ensureStorage(dv);
    } else if (this.pvcs.get(ns, name)?.status?.phase !== 'Bound') return; // the PVC event brings us back
    const uid = dv.metadata.uid;
    const t = `${uid}/${phase}/${dv.status?.progress ?? ''}/${dv.status?.restartCount ?? ''}`;
    if (this.dvTimers.has(t)) return;
    this.dvTimers.add(t);
    const delay = importRetrying(dv)
      ? importRestartDelay(dv, this.delays.importStep)
      : this.delays.importStep;
    this.later(
      `DataVolume ${ns}/${name} after ${phase || 'creation'}`,
      phase === '' ? 0 : delay,
      async () => {
        try {
          await this.writeDv(ns, name, uid, phase, dv.status?.restartCount);
        } finally {
          this.dvTimers.delete(t);
        }
      },
      `dv/${ns}/${name}`,
    );
  }

  /**
   * CDI cannot render the claim (no access modes and no storage class to take them from): no PVC,
   * the phase stays unset, the Bound condition says why, and a Warning event `ErrClaimNotValid`.
   */
  private async refuseClaim(dv: Obj, message: string): Promise<void> {
    const bound = (dv.status?.conditions ?? []).find((c: Obj) => c.type === 'Bound');
    if (bound?.reason === 'ErrClaimNotValid' && bound.message === message) return;
    const next = clone(dv);
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const cond = (type: string, reason: string, msg: string) => ({
      type,
      status: 'False',
      reason,
      message: msg,
      lastHeartbeatTime: at,
      lastTransitionTime: at,
    });
    next.status = {
      ...(dv.status ?? {}),
      conditions: [
        cond('Bound', 'ErrClaimNotValid', message),
        cond('Ready', 'ErrClaimNotValid', message),
        cond('Running', '', ''),
      ],
    };
    try {
      const out = await this.put(
        this.dvs,
        `${paths.dvs(dv.metadata.namespace)}/${enc(dv.metadata.name)}/status`,
        next,
      );
      this.event(out, 'Warning', 'ErrClaimNotValid', message, 'datavolume-import-controller');
    } catch (e) {
      if (code(e) !== 404 && code(e) !== 409) throw e;
    }
  }

  /**
   * What the importer finds at the DataVolume's URL. Loopback URLs (a test's own server) are really
   * fetched, as CDI's importer does (pkg/importer/http-datasource.go `createHTTPReader`: GET, up to
   * 10 redirects, status 200 required, the CAs of `certConfigMap` or `insecureSkipVerify`); any other
   * host is simulated (`simulatedProbe`).
   */
  private async probe(dv: Obj): Promise<ImportProbe> {
    const http = dv.spec?.source?.http ?? {};
    const url: string = http.url ?? '';
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return simulatedProbe(url);
    }
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return simulatedProbe(url);
    let ca: string[] | undefined;
    if (http.certConfigMap) {
      try {
        const cm = await this.client.request<Obj>(
          'GET',
          `${apiPath(KINDS.ConfigMap, { namespace: dv.metadata.namespace })}/${enc(http.certConfigMap)}`,
        );
        ca = Object.values(cm.data ?? {}).map(String);
      } catch (e) {
        if (code(e) !== 404) throw e;
        // CDI's importer pod cannot start until the ConfigMap exists
        return { error: `configmap "${http.certConfigMap}" not found` };
      }
    }
    return fetchImage(url, { ...(ca ? { ca } : {}), insecure: http.insecureSkipVerify === true });
  }

  private async writeDv(
    ns: string,
    name: string,
    uid: string,
    phase: string,
    restarts: unknown,
  ): Promise<void> {
    for (let attempt = 0; attempt < 6; attempt++) {
      let cur: Obj | undefined = this.dvs.get(ns, name);
      if (attempt > 0) {
        try {
          cur = await this.client.request<K8sObj>('GET', `${paths.dvs(ns)}/${enc(name)}`);
        } catch (e) {
          if (code(e) === 404) return;
          throw e;
        }
      }
      if (!cur || cur.metadata.uid !== uid || (cur.status?.phase ?? '') !== phase) return;
      if (cur.status?.restartCount !== restarts) return;
      let probe: ImportProbe | undefined;
      if (phase === 'ImportScheduled' || importRetrying(cur)) probe = await this.probe(cur);
      const pvc = this.pvcs.get(ns, name);
      const step = dataVolumeStep(cur, probe, {
        bytes: quantityBytes(pvc?.status?.capacity?.storage ?? pvc?.spec?.resources?.requests?.storage),
        volumeMode: pvc?.spec?.volumeMode,
      });
      if (!step) return;
      const next = clone(cur);
      next.status = { ...(cur.status ?? {}), ...step.status };
      try {
        const out = await this.put(this.dvs, `${paths.dvs(ns)}/${enc(name)}/status`, next);
        if (step.event)
          this.event(
            out,
            step.event.type,
            step.event.reason,
            step.event.message,
            'datavolume-import-controller',
          );
        return;
      } catch (e) {
        if (code(e) === 404) return;
        if (code(e) !== 409) throw e;
      }
    }
  }

  private async reconcilePv(name: string): Promise<void> {
    const pv = this.pvs.get(undefined, name);
    if (pv?.status?.phase !== 'Released') return;
    try {
      await this.client.request('DELETE', `${paths.pvs()}/${enc(name)}`, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: pv.metadata.uid } },
      });
    } catch (e) {
      if (code(e) !== 404 && code(e) !== 409) throw e;
    }
  }

  // ---------------------------------------------------------------- guests (virt-handler)

  /** The guest stops by itself (shutdown from inside, or a crash): VMI Succeeded or Failed. */
  guestExit(vmi: Obj, phase: 'Succeeded' | 'Failed'): void {
    this.guests.exit(vmi, phase);
    const { namespace: ns, name, uid } = vmi.metadata;
    this.later(`guest exit of VMI ${ns}/${name}`, 0, () =>
      this.writeVmi(ns, name, uid, (s) => {
        enterPhase(s, phase);
        podTerminating(s);
        if (phase === 'Failed') s.reason = 'GuestCrashed';
      }),
    );
  }

  /** guestExit by name (the latest VMI of that name); false when there is none. */
  guestExitByName(namespace: string, name: string, phase: 'Succeeded' | 'Failed'): boolean {
    const vmi = this.vmis.get(namespace, name);
    if (!vmi) return false;
    this.guestExit(vmi, phase);
    return true;
  }

  // ---------------------------------------------------------------- VirtApiBackend

  async getVm(namespace: string, name: string): Promise<Obj | undefined> {
    return this.get(`${paths.vms(namespace)}/${enc(name)}`);
  }

  async getVmi(namespace: string, name: string): Promise<Obj | undefined> {
    return this.get(`${paths.vmis(namespace)}/${enc(name)}`);
  }

  async expandVm(vm: Obj): Promise<Obj> {
    if (!vm.spec?.instancetype && !vm.spec?.preference) return vm;
    const out = expandVm(vm, await this.specsForExpand(vm));
    if ('conflicts' in out)
      throw internalError(`VM field(s) ${out.conflicts.join(', ')} conflicts with selected instance type`);
    return out.vm;
  }

  private async get(path: string): Promise<Obj | undefined> {
    try {
      return await this.client.request<Obj>('GET', path);
    } catch (e) {
      if (code(e) === 404) return undefined;
      throw toApiError(e);
    }
  }

  async patch(
    kind: 'vm' | 'vmi',
    namespace: string,
    name: string,
    type: 'json' | 'merge',
    body: unknown,
    status = false,
  ): Promise<void> {
    const cache = kind === 'vm' ? this.vms : this.vmis;
    const base = kind === 'vm' ? paths.vms(namespace) : paths.vmis(namespace);
    try {
      const out = await this.client.request<K8sObj>(
        'PATCH',
        `${base}/${enc(name)}${status ? '/status' : ''}`,
        {
          body,
          contentType: type === 'json' ? 'application/json-patch+json' : 'application/merge-patch+json',
        },
      );
      cache.observe(out);
    } catch (e) {
      throw toApiError(e);
    }
  }

  async updateVm(vm: Obj): Promise<void> {
    try {
      await this.put(this.vms, `${paths.vms(vm.metadata.namespace)}/${enc(vm.metadata.name)}`, vm);
    } catch (e) {
      throw toApiError(e);
    }
  }

  async setPaused(vmi: Obj, paused: boolean): Promise<void> {
    try {
      await this.writeVmi(vmi.metadata.namespace, vmi.metadata.name, vmi.metadata.uid, (s) =>
        setPausedCondition(s, paused),
      );
    } catch (e) {
      throw toApiError(e);
    }
  }

  reboot(vmi: Obj, kind: 'soft' | 'reset'): void {
    this.guests.reboot(vmi, kind, this.vmis.get(vmi.metadata.namespace, vmi.metadata.name) ?? vmi);
  }

  guest(vmi: Obj): GuestState {
    return this.guests.guest(vmi);
  }

  onVmiEnd(namespace: string, uid: string, fn: () => void): () => void {
    if (this.vmis.list(namespace).some((v) => v.metadata.uid === uid && isFinal(v))) {
      setImmediate(fn);
      return () => {};
    }
    let set = this.endWatchers.get(uid);
    if (!set) {
      set = new Set();
      this.endWatchers.set(uid, set);
    }
    set.add(fn);
    return () => {
      this.endWatchers.get(uid)?.delete(fn);
    };
  }
}

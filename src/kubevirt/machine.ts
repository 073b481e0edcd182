import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  type ActionContext,
  BackendUnavailableError,
  type BootCapabilities,
  type BootOverride,
  type BootOverrideRequest,
  ConflictError,
  type ConsoleStream,
  type InsertMediaRequest,
  InvalidArgumentError,
  InvalidStateError,
  type Inventory,
  isMachineError,
  type Machine,
  type MachineEvent,
  MachineEventHub,
  type MachineIdentity,
  type MediaSlot,
  NotFoundError,
  NotSupportedError,
  type PowerAction,
  type PowerState,
  parseMediaUrl,
  resolveBootRequest,
  type SecureBootState,
} from '../machine/index.ts';
import {
  bootChangePending,
  bootloaderOps,
  bootOverrideOf,
  bootTargetsOf,
  type ExpandedFirmware,
  expandedFirmwareOf,
  expansionKey,
  type FirmwareContext,
  missingDeviceMessage,
  nextSecureBoot,
  onceConsumed,
  ownFirmware,
  parseStoredOverride,
  planBootOrder,
  planFirmware,
  type StoredBootOverride,
  secureBootOps,
} from './boot.ts';
import { KubeVirtConsole } from './console.ts';
import { isChangeUnderway, isWriteConflict, KubeApiError, toMachineError } from './errors.ts';
import type { HotplugSupport } from './hotplug.ts';
import type { SharedInformer } from './informer.ts';
import { identityOf, inventoryOf } from './inventory.ts';
import { annotationOps, guardedPatch, type PatchOp } from './json-patch.ts';
import { KubeApi } from './kube-api.ts';
import { MacMemory, type MacStore } from './mac-memory.ts';
import {
  DRIVE_IN_USE_MESSAGE,
  dataVolumeManifest,
  dataVolumeName,
  driveVolumeOps,
  EMPTY_CDROM_REFUSED_MESSAGE,
  hasCdrom,
  isEmptyCdromRefusal,
  isMediaDataVolumeName,
  mediaDrive,
  mediaSlotOf,
  NO_DRIVE_MESSAGE,
  orphanedDataVolumes,
  SLOT_ID,
} from './media.ts';
import {
  claimSize,
  DEFAULT_IMPORT_RETRIES,
  headContentLength,
  type MediaSettings,
  TooLarge,
} from './media-storage.ts';
import { isUnsupportedRoute, planPower, runPowerPlan, SUPPORTED_ACTIONS } from './power.ts';
import { powerStateOf, runStrategyOf } from './power-state.ts';
import {
  ANNOTATION_BOOT_OVERRIDE,
  type DataVolume,
  DV_KIND,
  LABEL_VM,
  SECRET_KIND,
  type VirtualMachine,
  type VirtualMachineInstance,
  VM_KIND,
} from './types.ts';

/** What a machine needs from its backend: the API and the shared caches. */
export interface MachineContext {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly vms: SharedInformer<VirtualMachine>;
  readonly vmis: SharedInformer<VirtualMachineInstance>;
  readonly dvs: SharedInformer<DataVolume>;
  readonly logger?: Logger;
  readonly synced: () => boolean;
  /** Per-cluster facts learnt from refusals (KubeVirt before 1.5 has no VMI reset). */
  readonly features: { resetSupported: boolean; softRebootSupported: boolean };
}

const MAX_WRITE_ATTEMPTS = 6;

/** Actions after which a running guest boots anew (and so reads its boot device). */
const STARTS_GUEST: ReadonlySet<PowerAction> = new Set([
  'On',
  'ForceRestart',
  'GracefulRestart',
  'PowerCycle',
]);

/** How long a start-like action waits for a CD that is still being inserted (CDI imports can be slow). */
const DEFERRED_MEDIA_WAIT_MS = 15 * 60_000;

/**
 * How long a start or stop is sent again while KubeVirt has not consumed the previous one ("stop/start
 * already underway"): a BMC user who saw the power go off may power on at once, as on real hardware.
 */
const UNDERWAY_WAIT_MS = 10_000;

/** How long a power on waits for a VM that is powering off (KubeVirt's default grace period is 180 s). */
const DEFERRED_START_WAIT_MS = 200_000;

interface Snapshot {
  readonly exists: boolean;
  readonly power: PowerState | null;
  readonly boot: string;
  readonly secureBoot: string;
  readonly slot: string;
  readonly inventory: string;
}

/** A short-lived expectation after an accepted action, until the cache shows KubeVirt's reaction. */
interface Expectation {
  readonly state: PowerState;
  readonly from: readonly PowerState[];
  readonly until: number;
}

/**
 * One KubeVirt VirtualMachine as a Machine. Reads answer from the shared watch caches; writes are
 * KubeVirt subresource calls or JSON patches guarded by the VM's resourceVersion, serialised per
 * machine and retried against fresh state on conflict.
 */
export class KubeVirtMachine implements Machine {
  readonly name: string;
  readonly #c: MachineContext;
  readonly #events = new MachineEventHub();
  readonly #consoles = new Set<KubeVirtConsole>();
  #queue: Promise<unknown> = Promise.resolve();
  #snapshot: Snapshot | null = null;
  #expect: Expectation | null = null;
  #expectTimer: NodeJS.Timeout | null = null;
  #restoreTimer: NodeJS.Timeout | null = null;
  #restoring = false;
  #restoreFailures = 0;
  #pendingMedia: { image: string; protocol: 'HTTP' | 'HTTPS' } | null = null;
  /** The BMC's `spec.redfish.virtualMedia` (storage, TLS, import retries); see `setMediaSettings`. */
  #mediaSettings: MediaSettings | undefined;
  /** From the controller's reading of the KubeVirt CR; see `setHotplugSupport`. */
  #hotplug: HotplugSupport | undefined;
  /** A start-like action held until a CD being inserted is ready (see `power`). */
  #deferred: { action: PowerAction; cancel: () => void } | null = null;
  /** The firmware the VM's preference gives it, from virt-api's `expand-spec` (see `#expand`). */
  #expansion: ExpandedFirmware | null = null;
  /** The preference key `expand-spec` could not answer for (404/403: older KubeVirt, or no permission). */
  #expandUnavailable: string | null = null;
  #expanding: Promise<void> | null = null;
  #expandTimer: NodeJS.Timeout | null = null;
  #expandFailures = 0;
  #stopped = false;
  /** The MACs of the last start, reported while the VM is off (`mac-memory.ts`). */
  readonly #macs: MacMemory;

  constructor(context: MachineContext, name: string) {
    this.#c = context;
    this.name = name;
    this.#macs = new MacMemory({
      ...(context.logger ? { logger: context.logger.child({ vm: `${context.namespace}/${name}` }) } : {}),
      onAdopt: () => this.refresh(),
    });
  }

  /**
   * Keeps the MACs this VM had at its last start in `store` too, so that a new process still reports
   * them while the VM is off (the agent: the BMC's ConfigMap). Returns the detach function.
   */
  rememberMacsIn(store: MacStore): () => void {
    return this.#macs.attach(store);
  }

  // --- cache access ----------------------------------------------------------------------------

  #vm(): VirtualMachine {
    if (!this.#c.synced()) {
      throw new BackendUnavailableError('The KubeVirt backend has not synced with the cluster yet.');
    }
    const vm = this.#c.vms.get(this.name);
    if (!vm) {
      throw new NotFoundError(`VirtualMachine ${this.#c.namespace}/${this.name} does not exist.`);
    }
    return vm;
  }

  /**
   * For a write: the cached VM, or, when the cache has not seen it yet (created a moment ago), the
   * VM read from the API and put into the cache. A write costs a request anyway; reads never do this.
   */
  async #vmForWrite(): Promise<VirtualMachine> {
    try {
      return this.#vm();
    } catch (err) {
      if (!(isMachineError(err) && err.code === 'NotFound')) throw err;
      let vm: VirtualMachine;
      try {
        vm = await this.#c.api.get<VirtualMachine>(VM_KIND, this.#c.namespace, this.name);
      } catch (getErr) {
        if (getErr instanceof KubeApiError && getErr.status === 404) throw err;
        throw toMachineError(getErr, `Reading VirtualMachine ${this.#c.namespace}/${this.name}`);
      }
      this.#c.vms.observe(vm);
      return this.#vm();
    }
  }

  #vmi(): VirtualMachineInstance | undefined {
    return this.#c.vmis.get(this.name);
  }

  #dataVolumes(): Map<string, DataVolume> {
    const out = new Map<string, DataVolume>();
    for (const dv of this.#c.dvs.list()) {
      const name = dv.metadata?.name;
      if (name && dv.metadata?.labels?.[LABEL_VM] === this.name) out.set(name, dv);
    }
    return out;
  }

  // --- reads -----------------------------------------------------------------------------------

  getIdentity(): MachineIdentity {
    return identityOf(this.#vm(), this.#vmi());
  }

  getPowerState(): PowerState {
    const vm = this.#vm();
    const vmi = this.#vmi();
    const computed = powerStateOf(vm, vmi, {
      // by event order, never by comparing resourceVersions: has the VMI cache heard from the
      // server (an event or a bookmark) since this version of the VM arrived?
      vmiCacheCurrent: this.#c.vmis.progress > (this.#c.vms.changedAt(this.name) ?? 0),
    });
    const e = this.#expect;
    // Until KubeVirt's reaction shows in the cache (the computed state leaves where it was), report
    // the transition the accepted action started; KubeVirt's intermediate writes (e.g. the VMI's
    // grace period before the stop itself) must not make it flicker back.
    if (e) {
      if (Date.now() < e.until && e.from.includes(computed)) return e.state;
      this.#expect = null; // KubeVirt reacted (or took too long): the cache speaks from now on
    }
    return computed;
  }

  getSupportedPowerActions(): readonly PowerAction[] {
    return SUPPORTED_ACTIONS;
  }

  /** Where the VM's firmware comes from besides its template: its preference, its VMI. */
  #firmware(vmi: VirtualMachineInstance | undefined = this.#vmi()): FirmwareContext {
    return { expansion: this.#expansion, vmi };
  }

  getBootOverride(): BootOverride {
    const vmi = this.#vmi();
    return bootOverrideOf(this.#vm(), vmi, this.#firmware(vmi));
  }

  getBootCapabilities(): BootCapabilities {
    return { targets: bootTargetsOf(this.#vm()), modes: ['UEFI', 'Legacy'], secureBoot: true };
  }

  getSecureBoot(): SecureBootState {
    return { supported: true, enabled: nextSecureBoot(this.#vm(), this.#firmware()) };
  }

  getMediaSlots(): readonly MediaSlot[] {
    const vm = this.#vm();
    const slot = mediaSlotOf(
      vm,
      this.#dataVolumes(),
      this.#vmi(),
      this.#pendingMedia,
      this.#mediaSettings?.importRetries ?? DEFAULT_IMPORT_RETRIES,
    );
    if (!slot) return [];
    // Say before anyone tries why a change would be refused (#requireHotplug).
    const locked = slot.message ? null : this.#liveMediaLocked();
    return [locked ? { ...slot, message: `Media cannot be changed while this VM runs: ${locked}` } : slot];
  }

  /** The controller's reason when KubeVirt would not carry a media change to this running VM, else null. */
  #liveMediaLocked(): string | null {
    const h = this.#hotplug;
    if (!h || h.state === 'available') return null;
    return ['On', 'PoweringOn', 'Paused'].includes(this.getPowerState()) ? h.message : null;
  }

  /**
   * The BMC's virtual-media settings (`spec.redfish.virtualMedia`), used by the next insert and for
   * when a retried import error counts as failed. The agent sets them when it starts serving the BMC.
   */
  setMediaSettings(settings: MediaSettings | undefined): void {
    this.#mediaSettings = settings;
    this.refresh();
  }

  /**
   * Whether KubeVirt hot-plugs images into this VM while it runs, as the controller read it from the
   * KubeVirt CR (undefined: not known; every change is then attempted and the slot tells the truth).
   */
  setHotplugSupport(support: HotplugSupport | undefined): void {
    this.#hotplug = support;
    this.refresh();
  }

  /**
   * Refuses, before anything changes, a media change KubeVirt cannot carry out: any eject while
   * DeclarativeHotplugVolumes is off (the webhook refuses the empty drive), and an insert or eject
   * while the VM runs without declarative hot-plug (the guest would not see it before its next start).
   */
  #requireHotplug(what: 'insert' | 'eject', image?: string): void {
    const h = this.#hotplug;
    if (!h || h.state === 'available') return;
    // What is asked is already so: nothing to change, nothing to refuse.
    const slot = this.getMediaSlots()[0];
    if (what === 'eject' && slot?.state === 'Empty') return;
    if (what === 'insert' && slot?.image === image && ['Inserted', 'Inserting'].includes(slot?.state ?? ''))
      return;
    if (what === 'eject' && h.state === 'gate-off') throw new NotSupportedError(EMPTY_CDROM_REFUSED_MESSAGE);
    const locked = this.#liveMediaLocked();
    if (locked) {
      throw new NotSupportedError(
        `This cluster's KubeVirt does not hot-plug images into a running VM, so the ${what === 'insert' ? 'image' : 'eject'} would not reach it: ${locked}. Power the VM off to change its media; the change then applies at its next start.`,
      );
    }
  }

  getInventory(): Inventory {
    const vm = this.#vm();
    return inventoryOf(vm, this.#vmi(), this.#dataVolumes(), this.#macs.current(vm));
  }

  on(listener: (event: MachineEvent) => void): () => void {
    return this.#events.on(listener);
  }

  // --- writes ----------------------------------------------------------------------------------

  /** Runs writes one at a time for this machine, so its own writes never race each other. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Edits the VM with a JSON patch computed from its current state and guarded by its
   * resourceVersion. On a conflict (someone else wrote in between) it re-reads the VM from the API
   * and recomputes, so the other writer's change is kept and ours lands on the right elements.
   */
  async #patchVm(what: string, compute: (vm: VirtualMachine) => PatchOp[]): Promise<VirtualMachine> {
    let vm = this.#vm();
    for (let attempt = 1; ; attempt++) {
      const ops = compute(vm);
      if (ops.length === 0) return vm;
      try {
        const updated = await this.#c.api.jsonPatch<VirtualMachine>(
          VM_KIND,
          this.#c.namespace,
          this.name,
          guardedPatch(vm.metadata?.resourceVersion, ops),
        );
        this.#c.vms.observe(updated);
        return updated;
      } catch (err) {
        let fresh: VirtualMachine | undefined;
        let conflict = isWriteConflict(err);
        if (!conflict && err instanceof KubeApiError && err.status === 422) {
          // kube-apiserver answers a failed `test` op with a bare 422 ("the server rejected our
          // request due to an error in our request"), the same as a patch it finds invalid: it was
          // a lost race exactly when the VM has moved on from the version we tested.
          fresh = await this.#readVm(what, err);
          conflict = fresh.metadata?.resourceVersion !== vm.metadata?.resourceVersion;
        }
        if (!conflict) throw toMachineError(err, what);
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new ConflictError(`${what}: the VM kept changing under us; try again.`, { cause: err });
        }
        this.#c.logger?.debug({ vm: this.name, attempt }, 'VM changed concurrently; re-reading it');
        await new Promise((r) => setTimeout(r, 20 * attempt * Math.random()));
        vm = fresh ?? (await this.#readVm(what));
      }
    }
  }

  /** The VM as the API server has it now (into the cache too); a failure to read fails `what`. */
  async #readVm(what: string, original?: unknown): Promise<VirtualMachine> {
    try {
      const vm = await this.#c.api.get<VirtualMachine>(VM_KIND, this.#c.namespace, this.name);
      this.#c.vms.observe(vm);
      return vm;
    } catch (getErr) {
      throw toMachineError(original ?? getErr, what);
    }
  }

  /**
   * Power actions. One case is held back: a restart or cycle of a running guest while a CD
   * is still being inserted and the boot override points at it. Ironic inserts the image, sets
   * boot-once Cd and resets at once; a restart then would boot the guest from an empty drive,
   * because a hot-plugged image attaches only once CDI imported it. The action is accepted (as a
   * physical BMC accepts a reset while virtual media still mounts), and performed as soon as the
   * insert finished or failed, or after `DEFERRED_MEDIA_WAIT_MS`. The other: a power on while the
   * VM is still powering off. KubeVirt answers a start then "VM is already running" (the VMI still
   * shuts down) or "stop/start already underway" (the stop is not consumed yet), and the VM would end
   * up off; the start is held until the VM is off (at most `DEFERRED_START_WAIT_MS`, a guest's default
   * shutdown grace period and a margin). Any later power action replaces a held one.
   */
  async power(action: PowerAction, ctx?: ActionContext): Promise<void> {
    if (!SUPPORTED_ACTIONS.includes(action)) {
      throw new NotSupportedError(`KubeVirt has no way to perform ${action} on a VM.`);
    }
    this.#deferred?.cancel();
    this.#deferred = null;
    await this.#vmForWrite();
    // Only a running guest is affected: for a stopped VM the image is a plain volume, and KubeVirt
    // itself does not start the VM before its DataVolume is ready.
    const running = ['On', 'PoweringOn', 'Paused'].includes(this.getPowerState());
    if (running && STARTS_GUEST.has(action) && this.#cdStillInserting()) {
      this.#hold(action, ctx, {
        done: (e) => (e.type === 'media' && e.slot.state !== 'Inserting' ? `media ${e.slot.state}` : null),
        waitMs: DEFERRED_MEDIA_WAIT_MS,
        what: 'the CD being inserted is ready',
      });
      this.#events.emit({ type: 'powerAction', action, ...(ctx ? { context: ctx } : {}) });
      return;
    }
    if (action === 'On' && this.getPowerState() === 'PoweringOff') {
      this.#hold(action, ctx, {
        done: (e) => (e.type === 'power' && e.state !== 'PoweringOff' ? `power ${e.state}` : null),
        waitMs: DEFERRED_START_WAIT_MS,
        what: 'the VM is off',
      });
      this.#events.emit({ type: 'powerAction', action, ...(ctx ? { context: ctx } : {}) });
      return;
    }
    await this.#performPower(action, ctx);
  }

  #cdStillInserting(): boolean {
    const boot = this.getBootOverride();
    return (
      boot.target === 'Cd' &&
      boot.persistence !== 'Disabled' &&
      this.getMediaSlots().some((slot) => slot.state === 'Inserting')
    );
  }

  /** Holds `action` until `done` names an event that ends the wait, or `waitMs` passed; then performs it. */
  #hold(
    action: PowerAction,
    ctx: ActionContext | undefined,
    o: { done: (event: MachineEvent) => string | null; waitMs: number; what: string },
  ): void {
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      off();
      clearTimeout(timer);
      if (this.#deferred?.cancel === cancel) this.#deferred = null;
      if (this.#stopped) return;
      this.#c.logger?.info(
        { vm: this.name, action, why },
        `performing the power action held until ${o.what}`,
      );
      this.#performPower(action, ctx, false).catch((err) => {
        this.#c.logger?.warn(
          { vm: this.name, action, err: String((err as Error).message) },
          'held power action failed',
        );
      });
    };
    const off = this.on((event) => {
      const why = o.done(event);
      if (why) finish(why);
    });
    const timer = setTimeout(() => finish(`waited long enough until ${o.what}`), o.waitMs);
    timer.unref();
    const cancel = () => {
      done = true;
      off();
      clearTimeout(timer);
    };
    this.#deferred = { action, cancel };
    this.#c.logger?.info({ vm: this.name, action }, `power action held until ${o.what}`);
  }

  async #performPower(action: PowerAction, ctx: ActionContext | undefined, announce = true): Promise<void> {
    await this.#vmForWrite();
    await this.#serial(async () => {
      const vm = this.#vm();
      const vmi = this.#vmi();
      const state = this.getPowerState();
      const plan = planPower(action, {
        state,
        strategy: runStrategyOf(vm),
        bootChangePending: bootChangePending(vm, vmi, this.#firmware(vmi)) || this.#oncePending(vm, vmi),
        resetSupported: this.#c.features.resetSupported,
        softRebootSupported: this.#c.features.softRebootSupported,
      });
      if (plan.kind === 'invalid') throw new InvalidStateError(plan.message);
      if (plan.kind === 'call') {
        try {
          const step = await runPowerPlan(
            plan.steps,
            (s) =>
              this.#onceChangeConsumed(() =>
                this.#c.api.kubevirtAction(s.resource, this.#c.namespace, this.name, s.action, s.body),
              ),
            (s, err) => {
              if (isUnsupportedRoute(err)) {
                if (s.action === 'reset') this.#c.features.resetSupported = false;
                if (s.action === 'softreboot') this.#c.features.softRebootSupported = false;
              }
              this.#c.logger?.info(
                { vm: this.name, action: s.action, reason: err.message },
                'falling back to a restart',
              );
            },
          );
          this.#expectAfter(step.action, state);
        } catch (err) {
          if (!(err instanceof KubeApiError && plan.alreadyDone?.test(err.message))) {
            throw toMachineError(err, `KubeVirt refused ${action}`);
          }
        }
      }
      this.#c.logger?.info(
        { vm: `${this.#c.namespace}/${this.name}`, action, actor: ctx?.actor, source: ctx?.source },
        'power action',
      );
      if (announce) this.#events.emit({ type: 'powerAction', action, ...(ctx ? { context: ctx } : {}) });
    });
    this.refresh();
  }

  /** `call`, sent again (100 ms doubling to 1 s, for UNDERWAY_WAIT_MS) while KubeVirt says a change is underway. */
  async #onceChangeConsumed<T>(call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + UNDERWAY_WAIT_MS;
    for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
      try {
        return await call();
      } catch (err) {
        if (!isChangeUnderway(err) || this.#stopped || Date.now() + wait > deadline) throw err;
        this.#c.logger?.debug(
          { vm: this.name },
          'KubeVirt is still consuming the previous start/stop; sending again',
        );
        await sleep(wait);
      }
    }
  }

  /** Right after an accepted start/stop, report the transition until the cache shows KubeVirt's reaction. */
  #expectAfter(action: string, state: PowerState): void {
    let expectation: Pick<Expectation, 'state' | 'from'> | null = null;
    if (action === 'start') expectation = { state: 'PoweringOn', from: ['Off', 'PoweringOff'] };
    else if (action === 'stop') expectation = { state: 'PoweringOff', from: ['On', 'PoweringOn', 'Paused'] };
    if (!expectation?.from.includes(state)) return;
    this.#expect = { ...expectation, until: Date.now() + 10_000 };
    if (this.#expectTimer) clearTimeout(this.#expectTimer);
    this.#expectTimer = setTimeout(() => {
      this.#expect = null;
      this.refresh();
    }, 10_050);
    this.#expectTimer.unref();
  }

  /** A boot-once set but not yet applied by any VMI: a restart must create a new VMI. */
  #oncePending(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): boolean {
    const stored = parseStoredOverride(vm.metadata?.annotations?.[ANNOTATION_BOOT_OVERRIDE]);
    return !!stored && stored.persistence === 'Once' && !onceConsumed(vm, stored, vmi, this.#firmware(vmi));
  }

  /**
   * Boot override and boot mode. The mode follows `resolveBootRequest`: a Once override's mode is
   * written into the template's `firmware.bootloader` for that boot only (the VM's own bootloader is
   * saved in the override's annotation and put back when the boot-once is consumed or replaced); a
   * Continuous override's mode, or a mode changed with the override Disabled, is the VM's own from
   * then on. A mode the VM already has (from its template or its preference) writes nothing.
   */
  async setBootOverride(request: BootOverrideRequest, ctx?: ActionContext): Promise<BootOverride> {
    const vm0 = await this.#vmForWrite();
    if (request.target !== undefined && !bootTargetsOf(vm0).includes(request.target)) {
      throw new NotSupportedError(missingDeviceMessage(request.target));
    }
    const result = await this.#serial(async () => {
      await this.#ensureExpansion(this.#vm());
      let next: BootOverride | null = null;
      await this.#patchVm('Changing the boot override', (vm) => {
        const vmi = this.#vmi();
        const firmware = this.#firmware(vmi);
        const current = bootOverrideOf(vm, vmi, firmware);
        const stored = parseStoredOverride(vm.metadata?.annotations?.[ANNOTATION_BOOT_OVERRIDE]);
        const consumed = !!stored && onceConsumed(vm, stored, vmi, firmware);
        const own = ownFirmware(vm, stored, firmware);
        const resolved = resolveBootRequest(current, own.mode, request);
        next = resolved.next;
        if (
          (next.mode === 'Legacy' || resolved.firmware === 'Legacy') &&
          own.mode === 'UEFI' &&
          own.secureBoot
        ) {
          throw new InvalidStateError(
            'Secure boot is enabled; a Legacy boot would bypass it. Disable secure boot first, or keep UEFI mode.',
          );
        }
        const once = next.persistence === 'Once';
        const fw = planFirmware(vm, stored, resolved.firmware, next.mode, once, firmware);
        const overrideChanged =
          next.target !== current.target || next.persistence !== current.persistence || consumed;
        let nextStored = overrideChanged ? this.#storedFor(next, current, stored, consumed, vmi) : stored;
        if (nextStored) {
          const { savedBootloader: _old, ...rest } = nextStored;
          nextStored = once && fw.saved !== undefined ? { ...rest, savedBootloader: fw.saved } : rest;
        }
        const ops: PatchOp[] = [];
        if (overrideChanged || JSON.stringify(nextStored) !== JSON.stringify(stored)) {
          const plan = planBootOrder(vm, nextStored, mediaDrive(vm)?.disk);
          ops.push(...plan.ops, ...annotationOps(vm.metadata?.annotations, plan.annotations));
        }
        ops.push(...bootloaderOps(vm, fw.template));
        return ops;
      });
      return next!;
    });
    this.#c.logger?.info(
      { vm: `${this.#c.namespace}/${this.name}`, override: result, actor: ctx?.actor },
      'boot override set',
    );
    this.refresh();
    return result;
  }

  #storedFor(
    next: BootOverride,
    current: BootOverride,
    stored: StoredBootOverride | null,
    consumed: boolean,
    vmi: VirtualMachineInstance | undefined,
  ): StoredBootOverride | null {
    if (next.persistence === 'Disabled' || next.target === 'None') return null;
    const target = next.target;
    if (next.persistence === 'Continuous') return { target, persistence: 'Continuous' };
    // Once: remember what to return to, and which VMI must not count as the consuming start.
    let previous: StoredBootOverride['previous'] = null;
    if (current.persistence === 'Continuous' && current.target !== 'None') {
      previous = { target: current.target, persistence: 'Continuous' };
    } else if (current.persistence === 'Once' && stored && !consumed) {
      previous = stored.previous ?? null;
    }
    return { target, persistence: 'Once', vmiUid: vmi?.metadata?.uid ?? null, previous };
  }

  async setSecureBoot(enabled: boolean, ctx?: ActionContext): Promise<SecureBootState> {
    await this.#vmForWrite();
    await this.#serial(async () => {
      await this.#ensureExpansion(this.#vm());
      await this.#patchVm('Changing secure boot', (vm) => {
        const vmi = this.#vmi();
        const stored = parseStoredOverride(vm.metadata?.annotations?.[ANNOTATION_BOOT_OVERRIDE]);
        if (stored?.savedBootloader !== undefined && !onceConsumed(vm, stored, vmi, this.#firmware(vmi))) {
          throw new InvalidStateError(
            'A one-time boot in another boot mode is pending; change secure boot after that boot, or clear the boot override first.',
          );
        }
        return secureBootOps(vm, enabled, this.#firmware(vmi));
      });
    });
    this.#c.logger?.info(
      { vm: `${this.#c.namespace}/${this.name}`, enabled, actor: ctx?.actor },
      'secure boot set',
    );
    this.refresh();
    return this.getSecureBoot();
  }

  #requireDrive(slotId: string, vm: VirtualMachine): void {
    if (!hasCdrom(vm)) throw new NotSupportedError(NO_DRIVE_MESSAGE);
    if (slotId !== SLOT_ID)
      throw new InvalidArgumentError(`There is no virtual media slot ${slotId}; the slot is ${SLOT_ID}.`);
    if (!mediaDrive(vm)) throw new NotSupportedError(DRIVE_IN_USE_MESSAGE);
  }

  async insertMedia(slotId: string, request: InsertMediaRequest, ctx?: ActionContext): Promise<MediaSlot> {
    const vm0 = await this.#vmForWrite();
    this.#requireDrive(slotId, vm0);
    const url = parseMediaUrl(request.image);
    this.#requireHotplug('insert', url.redacted);
    if (request.writeProtected === false) throw new NotSupportedError('A CD-ROM is always write-protected.');
    if (!this.#c.dvs.available) {
      throw new NotSupportedError(
        'The cluster does not serve CDI DataVolumes (cdi.kubevirt.io/v1beta1); install CDI to use virtual media.',
      );
    }
    const credentials = credentialsOf(request);
    const settings = this.#mediaSettings;
    // Size the claim from the image (a bounded HEAD request); refuse an image over the maximum.
    let storage: string;
    try {
      storage = claimSize(
        await headContentLength(url.redacted, {
          credentials,
          insecureSkipVerify: settings?.tls?.insecureSkipVerify === true,
        }),
        settings,
      );
    } catch (err) {
      if (err instanceof TooLarge) throw new InvalidArgumentError(err.message);
      throw err;
    }
    return this.#serial(async () => {
      const current = this.getMediaSlots()[0];
      if (
        current &&
        current.image === url.redacted &&
        (current.state === 'Inserted' || current.state === 'Inserting')
      ) {
        return current;
      }
      const vm = this.#vm();
      const name = dataVolumeName(this.name, SLOT_ID, url.redacted, Date.now());
      const secretRef = credentials ? `${name}-auth` : undefined;
      let dv: DataVolume;
      try {
        const createdBy = await this.#c.api.whoAmI();
        dv = await this.#c.api.create<DataVolume>(
          DV_KIND,
          this.#c.namespace,
          dataVolumeManifest({
            namespace: this.#c.namespace,
            name,
            vm,
            slotId: SLOT_ID,
            url: url.redacted,
            storage,
            ...(settings ? { settings } : {}),
            ...(secretRef ? { secretRef } : {}),
            ...(createdBy ? { createdBy } : {}),
          }),
        );
      } catch (err) {
        throw toMachineError(err, 'Creating the DataVolume for the image');
      }
      if (secretRef && credentials) {
        try {
          await this.#createSecret(secretRef, dv, credentials);
        } catch (err) {
          await this.#deleteDataVolume(name);
          throw err;
        }
      }
      this.#c.dvs.observe(dv);
      this.#pendingMedia = { image: url.redacted, protocol: url.protocol };
      try {
        await this.#patchVm('Attaching the image to the CD-ROM', (fresh) => {
          if (!mediaDrive(fresh)) throw new NotSupportedError(DRIVE_IN_USE_MESSAGE);
          return driveVolumeOps(fresh, name);
        });
      } catch (err) {
        await this.#deleteDataVolume(name);
        throw isMachineError(err) ? err : toMachineError(err, 'Attaching the image');
      } finally {
        this.#pendingMedia = null;
      }
      this.#c.logger?.info(
        { vm: `${this.#c.namespace}/${this.name}`, image: url.redacted, dataVolume: name, actor: ctx?.actor },
        'virtual media inserted',
      );
      await this.#collectGarbage(name);
      this.refresh();
      return this.getMediaSlots()[0]!;
    });
  }

  async ejectMedia(slotId: string, ctx?: ActionContext): Promise<MediaSlot> {
    this.#requireDrive(slotId, await this.#vmForWrite());
    this.#requireHotplug('eject');
    return this.#serial(async () => {
      try {
        await this.#patchVm('Ejecting the image', (vm) => driveVolumeOps(vm, null));
      } catch (err) {
        // KubeVirt's VM webhook refuses the empty drive an eject leaves when DeclarativeHotplugVolumes is off
        if (err instanceof Error && isEmptyCdromRefusal(err.message))
          throw new NotSupportedError(EMPTY_CDROM_REFUSED_MESSAGE);
        throw err;
      }
      await this.#collectGarbage(undefined);
      this.#c.logger?.info(
        { vm: `${this.#c.namespace}/${this.name}`, actor: ctx?.actor },
        'virtual media ejected',
      );
      this.refresh();
      return this.getMediaSlots()[0]!;
    });
  }

  /**
   * The image credentials, in the Secret CDI's HTTP source reads. It is owned by its DataVolume, so
   * the garbage collector deletes it with the DataVolume and the agent never needs to delete Secrets.
   * deploy/rbac/agent-secret-policy.yaml admits from an agent only this shape: Opaque, `<dv>-auth`,
   * owned by DataVolume `<dv>`, keys `accessKeyId` and `secretKey`.
   */
  async #createSecret(
    name: string,
    dv: DataVolume,
    credentials: { user: string; password: string },
  ): Promise<void> {
    try {
      await this.#c.api.create(SECRET_KIND, this.#c.namespace, {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: {
          name,
          labels: { [LABEL_VM]: this.name },
          ...(dv.metadata?.uid
            ? {
                ownerReferences: [
                  {
                    apiVersion: 'cdi.kubevirt.io/v1beta1',
                    kind: 'DataVolume',
                    name: dv.metadata.name ?? name,
                    uid: dv.metadata.uid,
                  },
                ],
              }
            : {}),
        },
        // CDI's HTTP source reads the user name and password from these keys.
        data: {
          accessKeyId: Buffer.from(credentials.user).toString('base64'),
          secretKey: Buffer.from(credentials.password).toString('base64'),
        },
      });
    } catch (err) {
      throw toMachineError(err, 'Storing the image credentials');
    }
  }

  async #deleteQuietly(kind: typeof DV_KIND, name: string): Promise<void> {
    try {
      await this.#c.api.delete(kind, this.#c.namespace, name);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) {
        this.#c.logger?.warn({ err: String(err), kind: kind.plural, name }, 'could not delete');
      }
    }
  }

  async #deleteDataVolume(name: string): Promise<void> {
    await this.#deleteQuietly(DV_KIND, name);
    this.#c.dvs.forget(name);
  }

  /** Deletes this VM's media DataVolumes that nothing references (their credential Secrets follow by GC). */
  async #collectGarbage(keep: string | undefined): Promise<void> {
    const vm = this.#c.vms.get(this.name);
    if (!vm) return;
    for (const name of orphanedDataVolumes(vm, this.#dataVolumes().values(), keep, this.#vmi())) {
      if (isMediaDataVolumeName(this.name, name)) await this.#deleteDataVolume(name);
    }
  }

  async openConsole(): Promise<ConsoleStream> {
    const vm = this.#vm();
    if (vm.spec?.template?.spec?.domain?.devices?.autoattachSerialConsole === false) {
      throw new NotSupportedError('This VM has no serial console (autoattachSerialConsole is false).');
    }
    const console = new KubeVirtConsole(
      {
        api: this.#c.api,
        namespace: this.#c.namespace,
        name: this.name,
        ...(this.#c.logger ? { logger: this.#c.logger } : {}),
      },
      (c) => this.#consoles.delete(c),
    );
    this.#consoles.add(console);
    console.update(this.#vmi());
    return console;
  }

  // --- change tracking -------------------------------------------------------------------------

  /**
   * Recomputes what the machine reports from the caches and emits an event for each change. Called
   * by the backend on every cache event concerning this VM, its VMI or its DataVolumes.
   */
  refresh(): void {
    if (this.#stopped || !this.#c.synced()) return;
    const vm = this.#c.vms.get(this.name);
    const vmi = this.#vmi();
    for (const c of this.#consoles) c.update(vm ? vmi : undefined);
    if (vm) this.#macs.observe(vm, vmi);
    const next = this.#take(vm);
    const previous = this.#snapshot;
    this.#snapshot = next;
    if (vm) {
      this.#maybeExpand(vm);
      this.#maybeRestoreAfterOnce(vm, vmi);
    }
    if (!previous) return;
    if (previous.exists !== next.exists) {
      this.#events.emit(
        next.exists
          ? { type: 'availability', available: true }
          : {
              type: 'availability',
              available: false,
              reason: `VirtualMachine ${this.#c.namespace}/${this.name} was deleted`,
            },
      );
    }
    if (!next.exists) return;
    if (previous.power !== next.power && next.power) {
      this.#events.emit({ type: 'power', state: next.power, previous: previous.power ?? 'Off' });
    }
    if (previous.boot !== next.boot) this.#events.emit({ type: 'boot', override: this.getBootOverride() });
    if (previous.secureBoot !== next.secureBoot)
      this.#events.emit({ type: 'secureBoot', state: this.getSecureBoot() });
    if (previous.slot !== next.slot) {
      const slot = this.getMediaSlots()[0];
      if (slot) this.#events.emit({ type: 'media', slot });
    }
    if (previous.inventory !== next.inventory) this.#events.emit({ type: 'inventory' });
  }

  #take(vm: VirtualMachine | undefined): Snapshot {
    if (!vm) return { exists: false, power: null, boot: '', secureBoot: '', slot: '', inventory: '' };
    return {
      exists: true,
      power: this.getPowerState(),
      boot: JSON.stringify(this.getBootOverride()),
      secureBoot: JSON.stringify(this.getSecureBoot()),
      slot: JSON.stringify(this.getMediaSlots()),
      inventory: JSON.stringify(this.getInventory()),
    };
  }

  /**
   * Once a new VMI has started with a boot-once override, puts the previous boot order back (and the
   * previous override). It runs from whatever state the cache shows, so an agent that restarted in
   * between does it too.
   */
  #maybeRestoreAfterOnce(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): void {
    const stored = parseStoredOverride(vm.metadata?.annotations?.[ANNOTATION_BOOT_OVERRIDE]);
    if (
      !stored ||
      !onceConsumed(vm, stored, vmi, this.#firmware(vmi)) ||
      this.#restoring ||
      this.#restoreTimer
    )
      return;
    this.#restoring = true;
    void this.#serial(() =>
      this.#patchVm('Restoring the boot order after a boot-once', (fresh) => {
        const s = parseStoredOverride(fresh.metadata?.annotations?.[ANNOTATION_BOOT_OVERRIDE]);
        const now = this.#vmi();
        if (!s || !onceConsumed(fresh, s, now, this.#firmware(now))) return [];
        const plan = planBootOrder(fresh, s.previous ?? null, mediaDrive(fresh)?.disk);
        return [
          ...plan.ops,
          ...annotationOps(fresh.metadata?.annotations, plan.annotations),
          // the firmware that boot used was for that boot only: the VM's own comes back
          ...(s.savedBootloader !== undefined ? bootloaderOps(fresh, s.savedBootloader) : []),
        ];
      }),
    )
      .then(() => {
        this.#restoreFailures = 0;
        this.#c.logger?.info(
          { vm: `${this.#c.namespace}/${this.name}` },
          'boot-once consumed; boot order restored',
        );
      })
      .catch((err) => {
        this.#restoreFailures++;
        this.#c.logger?.warn(
          { vm: this.name, err: String(err) },
          'could not restore the boot order yet; retrying',
        );
        const delay = Math.min(30_000, 250 * 2 ** Math.min(this.#restoreFailures, 7));
        this.#restoreTimer = setTimeout(() => {
          this.#restoreTimer = null;
          this.refresh();
        }, delay);
        this.#restoreTimer.unref();
      })
      .finally(() => {
        this.#restoring = false;
        this.refresh();
      });
  }

  /**
   * Learns the firmware the VM's preference gives it when its own template sets none: one
   * `GET …/virtualmachines/<vm>/expand-spec` (virt-api's own expansion, pkg/virt-api/rest/expand.go)
   * each time the preference or its stored revision changes. Reads never wait for it; until it
   * answers (or where virt-api cannot: 404, 403), the running VMI's firmware stands in.
   */
  #maybeExpand(vm: VirtualMachine): void {
    const key = expansionKey(vm);
    if (!key || this.#stopped || this.#expanding || this.#expandTimer) return;
    if (this.#expansion?.key === key || this.#expandUnavailable === key) return;
    void this.#expand(key);
  }

  /** Before a write: the expansion for the VM's current preference, if virt-api gives it. */
  async #ensureExpansion(vm: VirtualMachine): Promise<void> {
    const key = expansionKey(vm);
    if (!key || this.#expansion?.key === key || this.#expandUnavailable === key) return;
    await (this.#expanding ?? this.#expand(key));
  }

  #expand(key: string): Promise<void> {
    const path = KubeApi.kubevirtSubresourcePath(
      'virtualmachines',
      this.#c.namespace,
      this.name,
      'expand-spec',
    );
    this.#expanding = this.#c.api
      .request<VirtualMachine>('GET', path)
      .then(
        (expanded) => {
          this.#expansion = expandedFirmwareOf(key, expanded);
          this.#expandFailures = 0;
        },
        (err) => {
          if (err instanceof KubeApiError && [403, 404, 405].includes(err.status)) {
            this.#expandUnavailable = key;
            this.#c.logger?.info(
              { vm: this.name, status: err.status, reason: err.message },
              'expand-spec unavailable; the firmware of a preference is read from the running VMI',
            );
            return;
          }
          this.#expandFailures++;
          const delay = Math.min(60_000, 500 * 2 ** Math.min(this.#expandFailures, 7));
          this.#c.logger?.warn(
            { vm: this.name, err: String((err as Error)?.message ?? err), retryInMs: delay },
            'could not expand the VM preference yet',
          );
          this.#expandTimer = setTimeout(() => {
            this.#expandTimer = null;
            this.refresh();
          }, delay);
          this.#expandTimer.unref();
        },
      )
      .finally(() => {
        this.#expanding = null;
        this.refresh();
      });
    return this.#expanding;
  }

  /** Stops timers and ends open consoles (the backend is stopping). */
  dispose(): void {
    this.#stopped = true;
    if (this.#expandTimer) clearTimeout(this.#expandTimer);
    this.#deferred?.cancel();
    this.#deferred = null;
    if (this.#expectTimer) clearTimeout(this.#expectTimer);
    if (this.#restoreTimer) clearTimeout(this.#restoreTimer);
    this.#macs.dispose();
    for (const c of this.#consoles) c.end('the BMC backend stopped');
    this.#consoles.clear();
  }
}

function credentialsOf(request: InsertMediaRequest): { user: string; password: string } | null {
  if (request.username || request.password) {
    return { user: request.username ?? '', password: request.password ?? '' };
  }
  try {
    const url = new URL(request.image);
    if (url.username || url.password) {
      return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    }
  } catch {
    // parseMediaUrl already rejected a malformed URL
  }
  return null;
}

import {
  type ActionContext,
  type BootCapabilities,
  type BootOverride,
  type BootOverrideRequest,
  type BootTarget,
  type ConsoleEvent,
  type ConsoleStream,
  type InsertMediaRequest,
  InvalidArgumentError,
  InvalidStateError,
  type Inventory,
  type Machine,
  type MachineEvent,
  MachineEventHub,
  type MachineIdentity,
  type MediaSlot,
  NotSupportedError,
  type PowerAction,
  type PowerState,
  parseMediaUrl,
  resolveBootRequest,
  type SecureBootState,
  sameBootOverride,
} from '../../src/machine/index.ts';

/**
 * An in-memory Machine with realistic timing, for protocol tests. It behaves like a small VM:
 * power changes pass through transitional states, a boot-once override reverts after one start,
 * media insertion takes time and reports progress, and the serial console prints a boot transcript
 * naming the boot device, then echoes what is typed at its login prompt.
 *
 * Timings default to a few milliseconds; pass zeros for instant transitions.
 */
export interface MemoryMachineOptions {
  identity?: Partial<MachineIdentity>;
  power?: 'On' | 'Off';
  bootMode?: 'UEFI' | 'Legacy';
  bootTargets?: readonly BootTarget[];
  supportsNmi?: boolean;
  supportsSecureBoot?: boolean;
  /** When false, the machine has no CD-ROM drive and media calls are `NotSupported`. */
  hasCdrom?: boolean;
  /** When true, a graceful shutdown or restart is ignored by the guest (stays On). */
  guestIgnoresAcpi?: boolean;
  timings?: Partial<MemoryMachineTimings>;
  inventory?: Inventory;
}

export interface MemoryMachineTimings {
  /** Off → On. */
  powerOnMs: number;
  /** PoweringOff → Off for a forced off. */
  forceOffMs: number;
  /** PoweringOff → Off when the guest shuts itself down. */
  gracefulOffMs: number;
  /** Inserting → Inserted. */
  mediaInsertMs: number;
}

/** One record per start of the machine: what it booted from. */
export interface BootRecord {
  readonly target: BootTarget;
  readonly mode: 'UEFI' | 'Legacy';
  readonly image: string | null;
}

const DEFAULT_TIMINGS: MemoryMachineTimings = {
  powerOnMs: 5,
  forceOffMs: 2,
  gracefulOffMs: 10,
  mediaInsertMs: 10,
};

const DEFAULT_INVENTORY: Inventory = {
  processors: {
    sockets: 1,
    coresPerSocket: 2,
    threadsPerCore: 1,
    model: 'KubeVirt vCPU',
    architecture: 'x86-64',
  },
  memoryBytes: 2 * 1024 ** 3,
  nics: [
    { id: 'default', name: 'default', mac: '52:54:00:12:34:56', ipv4: ['10.0.2.2'], ipv6: [], linkUp: true },
  ],
  disks: [
    { id: 'rootdisk', name: 'rootdisk', kind: 'disk', bus: 'virtio', sizeBytes: 10 * 1024 ** 3 },
    { id: 'cdrom', name: 'cdrom', kind: 'cdrom', bus: 'sata', sizeBytes: null },
  ],
};

const EMPTY_SLOT: MediaSlot = {
  id: 'Cd',
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

export class MemoryMachine implements Machine {
  readonly bootLog: BootRecord[] = [];
  /** Every accepted power action with its context, in order (for audit assertions). */
  readonly actionLog: { action: PowerAction; context?: ActionContext }[] = [];

  readonly #identity: MachineIdentity;
  readonly #timings: MemoryMachineTimings;
  readonly #capabilities: BootCapabilities;
  readonly #supportsNmi: boolean;
  readonly #hasCdrom: boolean;
  readonly #guestIgnoresAcpi: boolean;
  readonly #inventory: Inventory;
  readonly #events = new MachineEventHub();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #consoles = new Set<MemoryConsole>();
  #power: PowerState;
  #boot: BootOverride;
  /** What the override was before a boot-once was set, restored once it is consumed. */
  #bootBeforeOnce: BootOverride | null = null;
  /** The machine's own boot mode; a boot-once's mode is for that boot only (`resolveBootRequest`). */
  #firmwareMode: BootOverride['mode'];
  #secureBoot = false;
  #slot: MediaSlot = EMPTY_SLOT;
  #powerTimer: NodeJS.Timeout | null = null;
  #mediaTimer: NodeJS.Timeout | null = null;
  #nmiCount = 0;

  constructor(options: MemoryMachineOptions = {}) {
    const name = options.identity?.name ?? 'vm1';
    const namespace = options.identity?.namespace ?? 'default';
    this.#identity = {
      id: `${namespace}/${name}`,
      name,
      namespace,
      uuid: '5d0e3d6a-3f1c-4b3e-9a52-0c4f7f8e2a11',
      serial: 'KVBMC-TEST-0001',
      manufacturer: 'KubeVirt',
      model: 'VirtualMachine',
      ...options.identity,
    };
    this.#timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.#hasCdrom = options.hasCdrom ?? true;
    this.#supportsNmi = options.supportsNmi ?? false;
    this.#guestIgnoresAcpi = options.guestIgnoresAcpi ?? false;
    this.#inventory = options.inventory ?? DEFAULT_INVENTORY;
    const targets = options.bootTargets ?? (['None', 'Pxe', 'Hdd', 'Cd', 'BiosSetup'] as const);
    this.#capabilities = {
      targets: this.#hasCdrom ? targets : targets.filter((t) => t !== 'Cd'),
      modes: ['UEFI', 'Legacy'],
      secureBoot: options.supportsSecureBoot ?? true,
    };
    this.#power = options.power ?? 'Off';
    this.#boot = { target: 'None', persistence: 'Disabled', mode: options.bootMode ?? 'UEFI' };
    this.#firmwareMode = this.#boot.mode;
  }

  /** Stops every pending timer and closes consoles. Call at the end of a test. */
  dispose(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const c of this.#consoles) void c.close();
  }

  get nmiCount(): number {
    return this.#nmiCount;
  }

  getIdentity(): MachineIdentity {
    return this.#identity;
  }

  getPowerState(): PowerState {
    return this.#power;
  }

  getSupportedPowerActions(): readonly PowerAction[] {
    const all: PowerAction[] = [
      'On',
      'GracefulShutdown',
      'ForceOff',
      'GracefulRestart',
      'ForceRestart',
      'PowerCycle',
      'Pause',
      'Resume',
    ];
    return this.#supportsNmi ? [...all, 'Nmi'] : all;
  }

  async power(action: PowerAction, ctx?: ActionContext): Promise<void> {
    if (!this.getSupportedPowerActions().includes(action)) {
      throw new NotSupportedError(`This machine does not support the power action ${action}.`);
    }
    const state = this.#power;
    const running = state === 'On' || state === 'Paused' || state === 'PoweringOn';
    switch (action) {
      case 'On':
        if (state === 'Off' || state === 'PoweringOff') this.#startBoot();
        break;
      case 'ForceOff':
        if (state !== 'Off') this.#powerOff(this.#timings.forceOffMs);
        break;
      case 'GracefulShutdown':
        if (state === 'On' && !this.#guestIgnoresAcpi) this.#powerOff(this.#timings.gracefulOffMs);
        else if (state === 'Paused')
          throw new InvalidStateError('The machine is paused; resume it before a graceful shutdown.');
        break;
      case 'GracefulRestart':
        if (state !== 'On')
          throw new InvalidStateError(`A graceful restart needs a running machine; it is ${state}.`);
        if (!this.#guestIgnoresAcpi) this.#restart();
        break;
      case 'ForceRestart':
        if (!running) throw new InvalidStateError(`A reset needs a powered machine; it is ${state}.`);
        this.#restart();
        break;
      case 'PowerCycle':
        if (running) this.#restart();
        else this.#startBoot();
        break;
      case 'Pause':
        if (state === 'Paused') break;
        if (state !== 'On')
          throw new InvalidStateError(`Only a running machine can be paused; it is ${state}.`);
        this.#setPower('Paused');
        break;
      case 'Resume':
        if (state === 'On') break;
        if (state !== 'Paused')
          throw new InvalidStateError(`Only a paused machine can be resumed; it is ${state}.`);
        this.#setPower('On');
        break;
      case 'Nmi':
        if (!running) throw new InvalidStateError('An NMI needs a running machine.');
        this.#nmiCount++;
        this.#consoleWrite('\r\nKernel panic - not syncing: NMI: Not continuing\r\n');
        break;
    }
    this.actionLog.push(ctx ? { action, context: ctx } : { action });
    this.#emit({ type: 'powerAction', action, ...(ctx ? { context: ctx } : {}) });
  }

  getBootOverride(): BootOverride {
    return this.#boot;
  }

  getBootCapabilities(): BootCapabilities {
    return this.#capabilities;
  }

  async setBootOverride(request: BootOverrideRequest, _ctx?: ActionContext): Promise<BootOverride> {
    if (request.target !== undefined && !this.#capabilities.targets.includes(request.target)) {
      throw new NotSupportedError(`This machine cannot boot from ${request.target}.`);
    }
    const { next, firmware } = resolveBootRequest(this.#boot, this.#firmwareMode, request);
    if ((next.mode === 'Legacy' || firmware === 'Legacy') && this.#secureBoot) {
      throw new InvalidStateError('Secure boot is enabled; disable it before switching to Legacy mode.');
    }
    this.#firmwareMode = firmware;
    if (sameBootOverride(next, this.#boot)) return this.#boot;
    if (next.persistence === 'Once' && this.#boot.persistence !== 'Once') this.#bootBeforeOnce = this.#boot;
    if (next.persistence !== 'Once') this.#bootBeforeOnce = null;
    this.#boot = next;
    this.#emit({ type: 'boot', override: next });
    return next;
  }

  getSecureBoot(): SecureBootState {
    return {
      supported: this.#capabilities.secureBoot,
      enabled: this.#boot.mode === 'UEFI' && this.#secureBoot,
    };
  }

  async setSecureBoot(enabled: boolean, _ctx?: ActionContext): Promise<SecureBootState> {
    if (!this.#capabilities.secureBoot)
      throw new NotSupportedError('This machine has no secure boot support.');
    if (enabled && this.#boot.mode !== 'UEFI')
      throw new InvalidStateError('Secure boot needs UEFI boot mode.');
    if (this.#secureBoot !== enabled) {
      this.#secureBoot = enabled;
      this.#emit({ type: 'secureBoot', state: this.getSecureBoot() });
    }
    return this.getSecureBoot();
  }

  getMediaSlots(): readonly MediaSlot[] {
    return this.#hasCdrom ? [this.#slot] : [];
  }

  async insertMedia(slotId: string, request: InsertMediaRequest, _ctx?: ActionContext): Promise<MediaSlot> {
    this.#requireSlot(slotId);
    const url = parseMediaUrl(request.image);
    if (request.writeProtected === false) throw new NotSupportedError('A CD-ROM is always write-protected.');
    if (
      url.redacted === this.#slot.image &&
      (this.#slot.state === 'Inserted' || this.#slot.state === 'Inserting')
    ) {
      return this.#slot;
    }
    this.#clearMediaTimer();
    const base = {
      ...EMPTY_SLOT,
      image: url.redacted,
      imageName: url.imageName,
      transferProtocol: url.protocol,
    };
    this.#setSlot({ ...base, state: 'Inserting', progressPercent: 0 });
    // Documented rule of the test machine: a host named `invalid` (or ending in `.invalid`) fails.
    const host = new URL(url.redacted).hostname;
    const fails = host === 'invalid' || host.endsWith('.invalid');
    const total = this.#timings.mediaInsertMs;
    if (total <= 0) {
      this.#finishInsert(base, fails);
    } else {
      this.#mediaTimer = this.#after(total / 2, () => {
        this.#setSlot({ ...base, state: 'Inserting', progressPercent: 50 });
        this.#mediaTimer = this.#after(total / 2, () => this.#finishInsert(base, fails));
      });
    }
    return this.#slot;
  }

  async ejectMedia(slotId: string, _ctx?: ActionContext): Promise<MediaSlot> {
    this.#requireSlot(slotId);
    this.#clearMediaTimer();
    if (this.#slot.state !== 'Empty') this.#setSlot(EMPTY_SLOT);
    return this.#slot;
  }

  getInventory(): Inventory {
    return this.#inventory;
  }

  async openConsole(): Promise<ConsoleStream> {
    const console = new MemoryConsole(this.#power === 'On' || this.#power === 'Paused', (c) =>
      this.#consoles.delete(c),
    );
    this.#consoles.add(console);
    return console;
  }

  on(listener: (event: MachineEvent) => void): () => void {
    return this.#events.on(listener);
  }

  // --- internals -------------------------------------------------------------------------------

  #emit(event: MachineEvent): void {
    this.#events.emit(event);
  }

  #after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  #setPower(next: PowerState): void {
    const previous = this.#power;
    if (previous === next) return;
    this.#power = next;
    this.#emit({ type: 'power', state: next, previous });
    const attached = next === 'On' || next === 'Paused' || next === 'PoweringOff';
    for (const c of this.#consoles) c.setAttached(attached, attached ? undefined : 'the machine is off');
  }

  #cancelPowerTimer(): void {
    if (this.#powerTimer) {
      clearTimeout(this.#powerTimer);
      this.#timers.delete(this.#powerTimer);
      this.#powerTimer = null;
    }
  }

  #startBoot(): void {
    this.#cancelPowerTimer();
    this.#setPower('PoweringOn');
    const complete = () => {
      this.#powerTimer = null;
      this.#setPower('On');
      this.#completeBoot();
    };
    if (this.#timings.powerOnMs <= 0) complete();
    else this.#powerTimer = this.#after(this.#timings.powerOnMs, complete);
  }

  #powerOff(ms: number): void {
    this.#cancelPowerTimer();
    this.#setPower('PoweringOff');
    const complete = () => {
      this.#powerTimer = null;
      this.#consoleWrite('\r\nreboot: Power down\r\n');
      this.#setPower('Off');
    };
    if (ms <= 0) complete();
    else this.#powerTimer = this.#after(ms, complete);
  }

  #restart(): void {
    this.#cancelPowerTimer();
    this.#consoleWrite('\r\nreboot: Restarting system\r\n');
    this.#startBoot();
  }

  /** A start completed: record what it booted from, print the transcript, consume a boot-once. */
  #completeBoot(): void {
    const target = this.#effectiveBootTarget();
    const image = target === 'Cd' ? this.#slot.image : null;
    this.bootLog.push({ target, mode: this.#boot.mode, image });
    const firmware = this.#boot.mode === 'UEFI' ? 'UEFI firmware (OVMF)' : 'SeaBIOS';
    const device: Record<BootTarget, string> = {
      None: 'Hard Disk',
      Hdd: 'Hard Disk',
      Pxe: 'network (PXE)',
      Cd: `CD-ROM${image ? ` (${image})` : ''}`,
      BiosSetup: 'firmware setup',
      UefiHttp: 'UEFI HTTP',
    };
    this.#consoleWrite(
      `${firmware}\r\nBooting from ${device[target]}...\r\n\r\n${this.#identity.name} login: `,
    );
    if (this.#boot.persistence === 'Once') {
      const restored = this.#bootBeforeOnce ?? {
        target: 'None',
        persistence: 'Disabled',
        mode: this.#firmwareMode,
      };
      this.#bootBeforeOnce = null;
      // that boot's mode was for that boot only: the machine's own comes back
      this.#boot = { ...restored, mode: this.#firmwareMode };
      this.#emit({ type: 'boot', override: this.#boot });
    }
  }

  #effectiveBootTarget(): BootTarget {
    return this.#boot.persistence === 'Disabled' ? 'Hdd' : this.#boot.target;
  }

  #consoleWrite(text: string): void {
    const data = new TextEncoder().encode(text);
    for (const c of this.#consoles) c.deliver(data);
  }

  #requireSlot(slotId: string): void {
    if (!this.#hasCdrom) {
      throw new NotSupportedError('This machine has no CD-ROM drive; add a cdrom disk to use virtual media.');
    }
    if (slotId !== this.#slot.id) throw new InvalidArgumentError(`There is no virtual media slot ${slotId}.`);
  }

  #clearMediaTimer(): void {
    if (this.#mediaTimer) {
      clearTimeout(this.#mediaTimer);
      this.#timers.delete(this.#mediaTimer);
      this.#mediaTimer = null;
    }
  }

  #finishInsert(base: MediaSlot, fails: boolean): void {
    this.#mediaTimer = null;
    if (fails) {
      this.#setSlot({
        ...base,
        state: 'Failed',
        message: `Could not download ${base.image}: host not found.`,
      });
    } else {
      this.#setSlot({ ...base, state: 'Inserted', progressPercent: 100 });
    }
  }

  #setSlot(slot: MediaSlot): void {
    this.#slot = slot;
    this.#emit({ type: 'media', slot });
  }
}

/** The console of a MemoryMachine: echoes keystrokes while attached, like a login prompt. */
class MemoryConsole implements ConsoleStream {
  #attached: boolean;
  #closed = false;
  readonly #listeners = new Set<(event: ConsoleEvent) => void>();
  readonly #onClose: (c: MemoryConsole) => void;

  constructor(attached: boolean, onClose: (c: MemoryConsole) => void) {
    this.#attached = attached;
    this.#onClose = onClose;
  }

  get attached(): boolean {
    return this.#attached;
  }

  write(data: Uint8Array): void {
    if (!this.#attached || this.#closed) return;
    // Echo as a terminal in cooked mode would: CR becomes CR LF.
    const text = new TextDecoder().decode(data).replace(/\r/g, '\r\n');
    this.deliver(new TextEncoder().encode(text));
  }

  sendBreak(): void {}

  on(listener: (event: ConsoleEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#send({ type: 'closed', reason: 'closed by reader' });
    this.#listeners.clear();
    this.#onClose(this);
  }

  deliver(data: Uint8Array): void {
    if (this.#closed) return;
    this.#send({ type: 'data', data });
  }

  setAttached(attached: boolean, reason?: string): void {
    if (this.#closed || this.#attached === attached) return;
    this.#attached = attached;
    this.#send(reason ? { type: 'state', attached, reason } : { type: 'state', attached });
  }

  #send(event: ConsoleEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch {
        // isolate listeners
      }
    }
  }
}

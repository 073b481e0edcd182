/**
 * Value types of the Machine seam. No I/O here: these are the words IPMI, Redfish and the
 * backends share. Names follow Redfish where Redfish has a word for the thing, because it is the
 * richer vocabulary; IPMI code maps them onto its bytes.
 */

/** Who asked for a change, for audit trails (Kubernetes Events, logs). Never holds a secret. */
export interface ActionContext {
  /** The authenticated user name. */
  readonly actor: string;
  /** The client's address, e.g. `127.0.0.1:50123`. */
  readonly source: string;
  readonly protocol: 'ipmi' | 'redfish' | 'internal';
}

export interface MachineIdentity {
  /** Unique within one agent process; `namespace/name` for KubeVirt machines. */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  /** Lower-case RFC 4122 text form; stable across restarts of the machine. */
  readonly uuid: string;
  readonly serial: string;
  readonly manufacturer: string;
  readonly model: string;
}

/**
 * Power state as a BMC reports it.
 * - `PoweringOn` and `PoweringOff` are transitional: they always end in `On` or `Off` without a
 *   further request (or, for a guest that ignores a graceful shutdown, stay until the backend's
 *   grace period forces it off).
 * - `Paused`: the machine holds its memory but runs no instructions; IPMI reports it as powered on.
 */
export type PowerState = 'On' | 'Off' | 'PoweringOn' | 'PoweringOff' | 'Paused';

export const POWER_STATES: readonly PowerState[] = ['On', 'Off', 'PoweringOn', 'PoweringOff', 'Paused'];

export function isTransitional(state: PowerState): boolean {
  return state === 'PoweringOn' || state === 'PoweringOff';
}

/** True for every state in which the machine holds power (IPMI's "chassis power is on"). */
export function isPowered(state: PowerState): boolean {
  return state === 'On' || state === 'PoweringOff' || state === 'Paused';
}

/**
 * Power actions. Their contracts (what `Machine.power` promises for each):
 * - `On`: Off → PoweringOn → On. Idempotent: success without change when On, PoweringOn or Paused.
 * - `GracefulShutdown`: asks the guest OS to shut down (ACPI power button). Resolves once the request
 *   is accepted; the state passes through PoweringOff and reaches Off only if the guest cooperates or
 *   the backend's grace period runs out. Idempotent when Off or PoweringOff.
 * - `ForceOff`: power removed at once, no guest involvement. Idempotent when Off.
 * - `GracefulRestart`: asks the guest to reboot. `InvalidState` unless On.
 * - `ForceRestart`: immediate reset without power removal. `InvalidState` when Off.
 * - `PowerCycle`: power off then on. From Off it behaves as `On` (what physical BMCs do for Redfish).
 * - `Pause` / `Resume`: freeze / thaw a running machine. Pause is `InvalidState` unless On or Paused
 *   (idempotent when Paused); Resume is `InvalidState` when Off, idempotent when On.
 * - `Nmi`: a diagnostic interrupt to the guest. `NotSupported` where the backend cannot deliver one;
 *   `InvalidState` when Off.
 * Every fresh start (On, PowerCycle, ForceRestart, a restart) consumes a pending boot-once override.
 */
export type PowerAction =
  | 'On'
  | 'GracefulShutdown'
  | 'ForceOff'
  | 'GracefulRestart'
  | 'ForceRestart'
  | 'PowerCycle'
  | 'Pause'
  | 'Resume'
  | 'Nmi';

export const POWER_ACTIONS: readonly PowerAction[] = [
  'On',
  'GracefulShutdown',
  'ForceOff',
  'GracefulRestart',
  'ForceRestart',
  'PowerCycle',
  'Pause',
  'Resume',
  'Nmi',
];

/** Boot devices, in Redfish's `BootSourceOverrideTarget` words. */
export type BootTarget = 'None' | 'Pxe' | 'Hdd' | 'Cd' | 'BiosSetup' | 'UefiHttp';

export const BOOT_TARGETS: readonly BootTarget[] = ['None', 'Pxe', 'Hdd', 'Cd', 'BiosSetup', 'UefiHttp'];

/**
 * - `Disabled`: no override; the machine boots from its own boot order.
 * - `Once`: the override applies to the next start only, then reverts to what was there before.
 * - `Continuous`: the override applies to every start until changed.
 */
export type BootPersistence = 'Disabled' | 'Once' | 'Continuous';

/**
 * Firmware interface. The machine has its own mode; a `Once` override's mode applies to that boot
 * only, a `Continuous` override's mode and a mode changed while `Disabled` become the machine's own
 * (`resolveBootRequest` in boot.ts states the rule).
 */
export type BootMode = 'UEFI' | 'Legacy';

export interface BootOverride {
  /** `None` exactly when `persistence` is `Disabled`. */
  readonly target: BootTarget;
  readonly persistence: BootPersistence;
  /** The mode of the next boot: the override's while one is set, else the machine's own. */
  readonly mode: BootMode;
}

/**
 * A change to the boot override; omitted members keep their value, with two normalisations:
 * target `None` implies persistence `Disabled` and the reverse; a real target given while the
 * override is `Disabled` (and no persistence given) becomes `Once`.
 */
export interface BootOverrideRequest {
  readonly target?: BootTarget;
  readonly persistence?: BootPersistence;
  readonly mode?: BootMode;
}

export interface BootCapabilities {
  /** Targets this machine can really boot from; always includes `None`. */
  readonly targets: readonly BootTarget[];
  readonly modes: readonly BootMode[];
  /** Whether `setSecureBoot` can work at all. */
  readonly secureBoot: boolean;
}

export interface SecureBootState {
  readonly supported: boolean;
  /** Meaningful only in UEFI mode; false in Legacy mode. */
  readonly enabled: boolean;
}

export type MediaType = 'CD' | 'DVD' | 'USBStick' | 'Floppy';

/**
 * - `Empty`: nothing inserted.
 * - `Inserting`: accepted; the image is being fetched or attached (`progressPercent` may say how far).
 * - `Inserted`: the machine can read the image.
 * - `Ejecting`: being detached.
 * - `Failed`: the last insert failed; `message` says why. An eject or a new insert leaves this state.
 */
export type MediaState = 'Empty' | 'Inserting' | 'Inserted' | 'Ejecting' | 'Failed';

export interface MediaSlot {
  /** Stable slot id, e.g. `Cd`. */
  readonly id: string;
  readonly name: string;
  readonly mediaTypes: readonly MediaType[];
  readonly state: MediaState;
  /** The image URL as given at insert, with any credentials removed; null when Empty. */
  readonly image: string | null;
  /** The last path segment of `image`. */
  readonly imageName: string | null;
  readonly writeProtected: boolean;
  readonly transferProtocol: 'HTTP' | 'HTTPS' | null;
  /** 0–100 while Inserting, 100 when Inserted, otherwise null. */
  readonly progressPercent: number | null;
  /** Human-readable detail, e.g. why an insert failed. */
  readonly message: string | null;
}

export interface InsertMediaRequest {
  /** An `http://` or `https://` URL. Anything else is `InvalidArgument`. */
  readonly image: string;
  /** Defaults to true; a CD-ROM backend may refuse false with `NotSupported`. */
  readonly writeProtected?: boolean;
  readonly username?: string;
  readonly password?: string;
}

export interface ProcessorInfo {
  readonly sockets: number;
  readonly coresPerSocket: number;
  readonly threadsPerCore: number;
  readonly model: string;
  readonly architecture: 'x86-64' | 'ARM' | 'other';
}

export interface NicInfo {
  /** Stable id within the machine, e.g. the interface name. */
  readonly id: string;
  readonly name: string;
  /** Lower-case colon-separated MAC, or null while unknown. */
  readonly mac: string | null;
  /**
   * Where `mac` comes from: `configured` (fixed by the machine's configuration: the same at every
   * start), `running` (what the running machine has, assigned at this start), `last-start` (the
   * machine is not running: what it had at its last start; the next start may assign another).
   * Absent: the backend does not say (read as `configured`).
   */
  readonly macSource?: 'configured' | 'running' | 'last-start';
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  readonly linkUp: boolean;
}

export interface DiskInfo {
  readonly id: string;
  readonly name: string;
  readonly kind: 'disk' | 'cdrom' | 'lun';
  readonly bus: string | null;
  /** Null while unknown (e.g. an unbound volume). */
  readonly sizeBytes: number | null;
}

export interface Inventory {
  readonly processors: ProcessorInfo;
  readonly memoryBytes: number;
  readonly nics: readonly NicInfo[];
  readonly disks: readonly DiskInfo[];
}

export type ConsoleEvent =
  | { readonly type: 'data'; readonly data: Uint8Array }
  /**
   * The console attached to (or detached from) a running machine; detached while it is off.
   * `takenOver`: another client (e.g. `virtctl console`) took the machine's serial port; the stream
   * stays detached, without trying to take it back, until the machine starts again.
   */
  | {
      readonly type: 'state';
      readonly attached: boolean;
      readonly reason?: string;
      readonly takenOver?: boolean;
    }
  /** The stream ended for good (closed by the reader or the machine went away). */
  | { readonly type: 'closed'; readonly reason?: string };

/**
 * The machine's serial console as a byte stream. It outlives reboots: while the machine is off or
 * restarting it is detached (writes are dropped and `state` events say so), and it reattaches by
 * itself when the machine runs again.
 */
export interface ConsoleStream {
  readonly attached: boolean;
  /** Keystrokes to the guest. Dropped while detached. */
  write(data: Uint8Array): void;
  /** A serial break, where the backend can send one; otherwise a no-op. */
  sendBreak(): void;
  /** Listen to data and state; returns the unsubscribe function. */
  on(listener: (event: ConsoleEvent) => void): () => void;
  close(): Promise<void>;
}

export type MachineEvent =
  | { readonly type: 'power'; readonly state: PowerState; readonly previous: PowerState }
  /** A power action was accepted (before its effect is visible). */
  | { readonly type: 'powerAction'; readonly action: PowerAction; readonly context?: ActionContext }
  | { readonly type: 'boot'; readonly override: BootOverride }
  | { readonly type: 'secureBoot'; readonly state: SecureBootState }
  | { readonly type: 'media'; readonly slot: MediaSlot }
  | { readonly type: 'inventory' }
  /** The backend lost or regained the ability to answer (e.g. the VM was deleted, the API is down). */
  | { readonly type: 'availability'; readonly available: boolean; readonly reason?: string };

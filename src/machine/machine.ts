import type {
  ActionContext,
  BootCapabilities,
  BootOverride,
  BootOverrideRequest,
  ConsoleStream,
  InsertMediaRequest,
  Inventory,
  MachineEvent,
  MachineIdentity,
  MediaSlot,
  PowerAction,
  PowerState,
  SecureBootState,
} from './types.ts';

/**
 * One manageable computer, as a BMC sees it. IPMI and Redfish code is written against this
 * interface only; backends (the KubeVirt machine, the in-memory test machine) implement it.
 *
 * Rules every implementation keeps:
 * - **Reads are synchronous and free.** `get*` methods answer from local state (a watch cache for
 *   KubeVirt) and never make a network request. Before the backend has synced, or after the
 *   machine disappeared, they throw `BackendUnavailableError` / `NotFoundError`.
 * - **Writes resolve when the backend accepted the request**, not when its effect is visible; the
 *   effect shows in later reads and in a change event. A write that fails changes nothing.
 * - **Errors are typed** (`MachineError` and its subclasses in `errors.ts`): `NotSupported`,
 *   `InvalidState`, `Conflict`, `InvalidArgument`, `NotFound`, `BackendUnavailable`.
 * - **Nothing the user owns is lost**: a write touches only what it names.
 * - `ctx` says who asked; implementations may record it (audit) but must not require it.
 */
export interface Machine {
  getIdentity(): MachineIdentity;

  getPowerState(): PowerState;

  /** The actions `power()` can perform on this machine at all (whatever the current state). */
  getSupportedPowerActions(): readonly PowerAction[];

  /**
   * Performs a power action; see `PowerAction` for each action's contract and idempotence.
   * Rejects with `NotSupported` for an action outside `getSupportedPowerActions()` and with
   * `InvalidState` when the current state forbids it.
   */
  power(action: PowerAction, ctx?: ActionContext): Promise<void>;

  getBootOverride(): BootOverride;

  getBootCapabilities(): BootCapabilities;

  /**
   * Changes the boot override (see `BootOverrideRequest` for the normalisations) and resolves with
   * the resulting override, which `getBootOverride()` returns from then on. A target outside
   * `getBootCapabilities().targets` is `NotSupported`. Setting the same value again is a no-op.
   * The override takes effect at the next start; it does not restart the machine.
   */
  setBootOverride(request: BootOverrideRequest, ctx?: ActionContext): Promise<BootOverride>;

  getSecureBoot(): SecureBootState;

  /** `NotSupported` when the machine cannot do secure boot; `InvalidState` in Legacy mode. */
  setSecureBoot(enabled: boolean, ctx?: ActionContext): Promise<SecureBootState>;

  /** The virtual media slots; an empty list when the machine has none. */
  getMediaSlots(): readonly MediaSlot[];

  /**
   * Inserts an image. Resolves once accepted, with the slot in `Inserting` or `Inserted`; progress
   * and the outcome show in later reads and `media` events. Inserting the image that is already
   * inserted is a no-op; inserting another replaces it. An unknown slot or a bad URL is
   * `InvalidArgument`; a machine without a drive for it is `NotSupported` with what to add.
   */
  insertMedia(slotId: string, request: InsertMediaRequest, ctx?: ActionContext): Promise<MediaSlot>;

  /** Ejects the slot's image. Idempotent: ejecting an empty slot succeeds. */
  ejectMedia(slotId: string, ctx?: ActionContext): Promise<MediaSlot>;

  getInventory(): Inventory;

  /**
   * Opens the serial console. Several readers may be open at once, each with its own stream.
   * `NotSupported` when the machine has no serial console.
   */
  openConsole(): Promise<ConsoleStream>;

  /**
   * Listens to change events; returns the unsubscribe function. Events are delivered
   * asynchronously and in order; a listener that throws does not affect others.
   */
  on(listener: (event: MachineEvent) => void): () => void;
}

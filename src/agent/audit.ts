/**
 * The audit trail: every write a BMC client makes (power, boot override, secure boot, virtual
 * media) is recorded with who asked, from where and over which protocol, whether it succeeded,
 * as a Kubernetes Event on the VirtualMachineBMC (or the VM in standalone mode) and in the log.
 * Implemented as a Machine wrapper so nothing a protocol server does can bypass it.
 */
import type { Machine } from '../machine/machine.ts';
import { parseMediaUrl } from '../machine/media-url.ts';
import type { ActionContext } from '../machine/types.ts';

export interface AuditEntry {
  /** Event reason, e.g. `PowerAction`, `BootOverride`, `InsertMedia`. */
  readonly reason: string;
  /** What was asked, e.g. `ForceOff`, `Pxe/Once/UEFI`. */
  readonly what: string;
  readonly ctx?: ActionContext;
  readonly ok: boolean;
  readonly error?: string;
}

export type AuditSink = (entry: AuditEntry) => void;

export function describeAudit(e: AuditEntry): string {
  const who = e.ctx ? `${e.ctx.actor} from ${e.ctx.source} over ${e.ctx.protocol}` : 'an unidentified client';
  return e.ok ? `${e.what} by ${who}` : `${e.what} by ${who} failed: ${e.error ?? 'unknown error'}`;
}

function redactImage(image: string): string {
  try {
    return parseMediaUrl(image).redacted;
  } catch {
    return '(invalid URL)';
  }
}

export function auditedMachine(machine: Machine, sink: AuditSink): Machine {
  async function record<T>(
    reason: string,
    what: string,
    ctx: ActionContext | undefined,
    run: () => Promise<T>,
    describe?: (r: T) => string,
  ): Promise<T> {
    try {
      const r = await run();
      sink({ reason, what: describe ? describe(r) : what, ctx, ok: true });
      return r;
    } catch (err) {
      sink({ reason, what, ctx, ok: false, error: (err as Error).message });
      throw err;
    }
  }
  return {
    getIdentity: () => machine.getIdentity(),
    getPowerState: () => machine.getPowerState(),
    getSupportedPowerActions: () => machine.getSupportedPowerActions(),
    power: (action, ctx) => record('PowerAction', `power ${action}`, ctx, () => machine.power(action, ctx)),
    getBootOverride: () => machine.getBootOverride(),
    getBootCapabilities: () => machine.getBootCapabilities(),
    setBootOverride: (request, ctx) =>
      record(
        'BootOverride',
        `boot override ${JSON.stringify(request)}`,
        ctx,
        () => machine.setBootOverride(request, ctx),
        (o) => `boot override set to ${o.target} (${o.persistence}, ${o.mode})`,
      ),
    getSecureBoot: () => machine.getSecureBoot(),
    setSecureBoot: (enabled, ctx) =>
      record('SecureBoot', `secure boot ${enabled ? 'enable' : 'disable'}`, ctx, () =>
        machine.setSecureBoot(enabled, ctx),
      ),
    getMediaSlots: () => machine.getMediaSlots(),
    insertMedia: (slotId, request, ctx) =>
      record('InsertMedia', `insert ${redactImage(request.image)} into ${slotId}`, ctx, () =>
        machine.insertMedia(slotId, request, ctx),
      ),
    ejectMedia: (slotId, ctx) =>
      record('EjectMedia', `eject ${slotId}`, ctx, () => machine.ejectMedia(slotId, ctx)),
    getInventory: () => machine.getInventory(),
    openConsole: () => machine.openConsole(),
    on: (listener) => machine.on(listener),
  };
}

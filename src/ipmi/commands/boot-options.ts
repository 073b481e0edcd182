import type { BootOverride, BootOverrideRequest, BootTarget } from '../../machine/index.ts';
import { isMachineError } from '../../machine/index.ts';
import { PRIV_OPERATOR } from '../session/session.ts';
import { completionCodeFor } from './errors.ts';
import {
  CC,
  type CommandContext,
  type CommandResult,
  type CommandSpec,
  fail,
  NETFN_CHASSIS,
  ok,
} from './types.ts';

/** Boot flags byte 2 bits5:2 → Machine boot target. */
export const DEVICE_TO_TARGET: Record<number, BootTarget> = {
  0: 'None',
  1: 'Pxe',
  2: 'Hdd',
  3: 'Hdd', // hard disk, safe mode
  5: 'Cd',
  6: 'BiosSetup',
  8: 'Cd', // remote CD/DVD
};

/** Machine boot target → boot flags device selector. UEFI HTTP has no IPMI code: shown as PXE (network). */
export const TARGET_TO_DEVICE: Record<BootTarget, number> = {
  None: 0x0,
  Pxe: 0x1,
  Hdd: 0x2,
  Cd: 0x5,
  BiosSetup: 0x6,
  UefiHttp: 0x1,
};

const PARAM_VERSION = 0x01;

/** Parameter 5 (boot flags, 5 bytes) from the Machine's override plus the BMC-kept extra bits. */
export function encodeBootFlags(o: BootOverride, extras: Buffer): Buffer {
  const valid = o.persistence !== 'Disabled';
  const b1 =
    (valid ? 0x80 : 0) | (o.persistence === 'Continuous' ? 0x40 : 0) | (o.mode === 'UEFI' ? 0x20 : 0);
  const device = valid ? TARGET_TO_DEVICE[o.target] : 0;
  const b2 = (extras[0]! & 0xc3) | (device << 2);
  return Buffer.from([b1, b2, extras[1]!, extras[2]!, extras[3]!]);
}

/**
 * Parameter 5 as set by a client → the Machine request, or a completion code. The boot type bit goes
 * with the flags' scope (`resolveBootRequest`): with "next boot only" it is that boot's mode, with
 * "all future boots" the machine's. Every `ipmitool chassis bootdev` sends the bit (without
 * `efiboot`, Legacy), so a device of "no override" (`bootdev none`) carries a boot type only when it
 * is persistent; otherwise the bit is ignored and the machine's firmware stays as it is.
 */
export function decodeBootFlags(data: Uint8Array): BootOverrideRequest | number {
  const b1 = data[0]!;
  const mode = b1 & 0x20 ? 'UEFI' : 'Legacy';
  if (!(b1 & 0x80)) return { target: 'None' };
  const target = DEVICE_TO_TARGET[(data[1]! >> 2) & 0x0f];
  if (target === undefined) return CC.INVALID_DATA_FIELD;
  if (target === 'None') return b1 & 0x40 ? { target: 'None', mode } : { target: 'None' };
  return { target, persistence: b1 & 0x40 ? 'Continuous' : 'Once', mode };
}

/**
 * Keeps boot flags for a device the machine lacks. The flags replace whatever override the machine
 * had (as on a real BMC, whose firmware then finds no such device and uses its boot order), so an
 * earlier override is cleared; with none, nothing on the machine changes.
 */
async function holdBootFlags(d: Uint8Array, ctx: CommandContext): Promise<CommandResult> {
  if (ctx.machine.getBootOverride().persistence !== 'Disabled') {
    try {
      await ctx.machine.setBootOverride({ target: 'None' }, ctx.action);
    } catch (err) {
      return fail(completionCodeFor(err));
    }
  }
  ctx.bmc.heldBootFlags = Buffer.from([d[0]! & 0xe0, d[1]!, d[2]!, d[3]! & 0x0f, d[4]! & 0x1f]);
  return ok();
}

/** A start of the machine through IPMI "uses" next-boot-only held flags, as the firmware would. */
export function consumeHeldBootFlags(ctx: CommandContext): void {
  const held = ctx.bmc.heldBootFlags;
  if (held && (held[0]! & 0x40) === 0) ctx.bmc.heldBootFlags = null;
}

export const bootOptionCommands: CommandSpec[] = [
  {
    netFn: NETFN_CHASSIS,
    cmd: 0x08,
    name: 'Set System Boot Options',
    privilege: PRIV_OPERATOR,
    handler: async (req, ctx): Promise<CommandResult> => {
      if (req.data.length < 1) return fail(CC.DATA_LENGTH_INVALID);
      const param = req.data[0]! & 0x7f;
      const d = req.data.subarray(1);
      switch (param) {
        case 0:
          if (d.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
          if ((d[0]! & 0x03) === 0x03) return fail(CC.INVALID_DATA_FIELD);
          ctx.bmc.bootSetInProgress = d[0]! & 0x03;
          return ok();
        case 3:
          if (d.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
          ctx.bmc.bootValidBitClearing = d[0]! & 0x1f;
          return ok();
        case 4: {
          if (d.length !== 2) return fail(CC.DATA_LENGTH_INVALID);
          const mask = d[0]!;
          ctx.bmc.bootInfoAcknowledge = (ctx.bmc.bootInfoAcknowledge & ~mask) | (d[1]! & mask);
          return ok();
        }
        case 5: {
          if (d.length !== 5) return fail(CC.DATA_LENGTH_INVALID);
          const request = req.data[0]! & 0x80 ? { target: 'None' as const } : decodeBootFlags(d);
          if (typeof request === 'number') return fail(request);
          try {
            await ctx.machine.setBootOverride(request, ctx.action);
          } catch (err) {
            // No such device here (no CD-ROM, no way into firmware setup): a real BMC stores the
            // parameter anyway (cc 0) and the firmware falls through to its boot order. Any other
            // refusal (secure boot vs Legacy, backend down) is still an error.
            if (!isMachineError(err) || err.code !== 'NotSupported' || request.target === 'None')
              return fail(completionCodeFor(err));
            return holdBootFlags(d, ctx);
          }
          ctx.bmc.heldBootFlags = null;
          ctx.bmc.bootFlagExtras = Buffer.from([d[1]! & 0xc3, d[2]!, d[3]! & 0x0f, d[4]! & 0x1f]);
          return ok();
        }
        default:
          return fail(0x80); // parameter not supported
      }
    },
  },
  {
    netFn: NETFN_CHASSIS,
    cmd: 0x09,
    name: 'Get System Boot Options',
    privilege: PRIV_OPERATOR,
    handler: (req, ctx) => {
      if (req.data.length !== 3) return fail(CC.DATA_LENGTH_INVALID);
      const param = req.data[0]! & 0x7f;
      let data: number[] | Buffer;
      switch (param) {
        case 0:
          data = [ctx.bmc.bootSetInProgress];
          break;
        case 3:
          data = [ctx.bmc.bootValidBitClearing];
          break;
        case 4:
          data = [0x00, ctx.bmc.bootInfoAcknowledge];
          break;
        case 5: {
          const override = ctx.machine.getBootOverride();
          // Held flags stand only while the machine has no override of its own: one set since
          // (through Redfish, say) replaced them.
          if (override.persistence !== 'Disabled') ctx.bmc.heldBootFlags = null;
          data = ctx.bmc.heldBootFlags ?? encodeBootFlags(override, ctx.bmc.bootFlagExtras);
          break;
        }
        default:
          return fail(0x80);
      }
      return ok([PARAM_VERSION, param, ...data]);
    },
  },
];

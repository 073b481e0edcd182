import { isPowered, type PowerAction } from '../../machine/index.ts';
import { PRIV_OPERATOR, PRIV_USER } from '../session/session.ts';
import { consumeHeldBootFlags } from './boot-options.ts';
import { completionCodeFor } from './errors.ts';
import { CC, type CommandResult, type CommandSpec, fail, NETFN_CHASSIS, ok } from './types.ts';

/** Chassis Control request byte → Machine power action. */
export const CHASSIS_CONTROL: Record<number, PowerAction> = {
  0: 'ForceOff', // power down
  1: 'On', // power up
  2: 'PowerCycle', // off then on; from Off the machine just powers on (cc 0), as the Machine contract says
  3: 'ForceRestart', // hard reset
  4: 'Nmi', // pulse diagnostic interrupt
  5: 'GracefulShutdown', // soft shutdown via ACPI
};

export const chassisCommands: CommandSpec[] = [
  {
    netFn: NETFN_CHASSIS,
    cmd: 0x00,
    name: 'Get Chassis Capabilities',
    privilege: PRIV_USER,
    // no intrusion sensor, no lockouts; FRU, SDR, SEL and system-management device are all the BMC
    handler: () => ok([0x00, 0x20, 0x20, 0x20, 0x20]),
  },
  {
    netFn: NETFN_CHASSIS,
    cmd: 0x01,
    name: 'Get Chassis Status',
    privilege: PRIV_USER,
    handler: (_req, ctx) => {
      const state = ctx.machine.getPowerState();
      // Byte 0: bit0 power on; no overload/interlock/fault bits (we know of none); restore policy
      // "unknown" (11b): KubeVirt's run strategy decides, not the BMC.
      const b0 = (isPowered(state) ? 0x01 : 0x00) | 0x60;
      const b1 = ctx.bmc.lastPowerOnByIpmi ? 0x10 : 0x00;
      const now = Date.now();
      const id = ctx.bmc.identifyActive(now) ? (ctx.bmc.identify.mode === 'on' ? 0x20 : 0x10) : 0x00;
      return ok([b0, b1, 0x40 | id, 0x00]);
    },
  },
  {
    netFn: NETFN_CHASSIS,
    cmd: 0x02,
    name: 'Chassis Control',
    privilege: PRIV_OPERATOR,
    handler: async (req, ctx): Promise<CommandResult> => {
      if (req.data.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
      const action = CHASSIS_CONTROL[req.data[0]! & 0x0f];
      if (!action || (req.data[0]! & 0xf0) !== 0) return fail(CC.INVALID_DATA_FIELD);
      // Diagnostic interrupt on a machine that cannot take one (KubeVirt has no NMI API): a real BMC
      // pulses the NMI line and answers 0 whatever the guest does with it; we answer 0 and change
      // nothing. An error would be retried by Ironic for a minute (it retries every failure).
      if (action === 'Nmi' && !ctx.machine.getSupportedPowerActions().includes(action)) return ok();
      if (!ctx.machine.getSupportedPowerActions().includes(action)) return fail(CC.INVALID_DATA_FIELD);
      const wasPowered = isPowered(ctx.machine.getPowerState());
      try {
        await ctx.machine.power(action, ctx.action);
      } catch (err) {
        return fail(completionCodeFor(err));
      }
      if (action === 'On' || action === 'PowerCycle' || action === 'ForceRestart') {
        ctx.bmc.lastPowerOnByIpmi = true;
        if (action !== 'On' || !wasPowered) consumeHeldBootFlags(ctx);
      }
      return ok();
    },
  },
  {
    netFn: NETFN_CHASSIS,
    cmd: 0x04,
    name: 'Chassis Identify',
    privilege: PRIV_OPERATOR,
    handler: (req, ctx) => {
      if (req.data.length > 2) return fail(CC.DATA_LENGTH_INVALID);
      const interval = req.data.length >= 1 ? req.data[0]! : 15;
      const force = req.data.length === 2 && (req.data[1]! & 0x01) === 1;
      if (force) ctx.bmc.identify = { mode: 'on', until: 0 };
      else if (interval === 0) ctx.bmc.identify = { mode: 'off', until: 0 };
      else ctx.bmc.identify = { mode: 'timed', until: Date.now() + interval * 1000 };
      return ok();
    },
  },
];

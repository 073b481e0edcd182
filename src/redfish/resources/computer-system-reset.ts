import { isMachineError, type Machine, type PowerAction } from '../../machine/index.ts';
import { fail, message, RedfishError } from '../messages.ts';
import { type ResourceDef, systemOf } from '../resource.ts';

/**
 * The `ComputerSystem.Reset` action. `ResetType@Redfish.AllowableValues` on the system lists exactly
 * the Machine's supported actions (sushy and gofish refuse anything else client-side), so `Nmi`
 * appears only where the backend can deliver one. 204 on success; a state that forbids the reset is
 * 409 `ActionParameterValueConflict` (Ironic re-reads the power state on it).
 */
const ACTION = 'ComputerSystem.Reset';

/** Redfish ResetType → Machine power action; Redfish and the Machine share the words. */
const RESET_TYPES: Readonly<Record<string, PowerAction>> = {
  On: 'On',
  ForceOff: 'ForceOff',
  GracefulShutdown: 'GracefulShutdown',
  GracefulRestart: 'GracefulRestart',
  ForceRestart: 'ForceRestart',
  PowerCycle: 'PowerCycle',
  Pause: 'Pause',
  Resume: 'Resume',
  Nmi: 'Nmi',
};

export function redfishResetTypes(machine: Machine): string[] {
  const supported = new Set(machine.getSupportedPowerActions());
  return Object.entries(RESET_TYPES)
    .filter(([, action]) => supported.has(action))
    .map(([type]) => type);
}

export const computerSystemReset: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Actions/ComputerSystem.Reset',
  post: {
    privilege: 'ConfigureComponents',
    run: async (ctx, body) => {
      const s = systemOf(ctx);
      const resetType = body?.ResetType;
      if (resetType === undefined) {
        throw fail(400, 'ActionParameterMissing', [ACTION, 'ResetType'], ['#/ResetType']);
      }
      for (const key of Object.keys(body ?? {})) {
        if (key !== 'ResetType' && !key.includes('@')) {
          throw fail(400, 'ActionParameterUnknown', [ACTION, key], [`#/${key}`]);
        }
      }
      if (typeof resetType !== 'string') {
        throw fail(
          400,
          'ActionParameterValueTypeError',
          [JSON.stringify(resetType), 'ResetType', ACTION],
          ['#/ResetType'],
        );
      }
      if (!redfishResetTypes(s.machine).includes(resetType)) {
        throw fail(400, 'ActionParameterValueNotInList', [resetType, 'ResetType', ACTION], ['#/ResetType']);
      }
      try {
        await s.machine.power(RESET_TYPES[resetType]!, ctx.actor);
      } catch (err) {
        if (isMachineError(err) && (err.code === 'InvalidState' || err.code === 'Conflict')) {
          const info = message('ActionParameterValueConflict', ['ResetType', resetType], ['#/ResetType']);
          throw new RedfishError(409, { ...info, Resolution: err.message });
        }
        throw err;
      }
      return { status: 204 };
    },
  },
};

import { isMachineError } from '../../machine/index.ts';
import { type ExtendedInfo, message, RedfishError } from '../messages.ts';
import { type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { odataType } from '../schemas.ts';

/** SecureBoot: `SecureBootEnable` read and PATCH (Metal3 `UEFISecureBoot`). Needs UEFI mode. */
export const secureBoot: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/SecureBoot',
  get: (ctx) => {
    const s = systemOf(ctx);
    const state = s.machine.getSecureBoot();
    const power = s.machine.getPowerState();
    return {
      '@odata.id': `${systemUri(s)}/SecureBoot`,
      '@odata.type': odataType('SecureBoot'),
      Id: 'SecureBoot',
      Name: 'UEFI Secure Boot',
      SecureBootEnable: state.enabled,
      SecureBootCurrentBoot: state.enabled && power !== 'Off' ? 'Enabled' : 'Disabled',
    };
  },
  patch: {
    privilege: 'ConfigureComponents',
    run: async (ctx, body) => {
      const s = systemOf(ctx);
      const current = s.machine.getSecureBoot();
      const errors: ExtendedInfo[] = [];
      let wanted: boolean | undefined;
      for (const [key, value] of Object.entries(body)) {
        if (key.includes('@')) continue;
        if (key === 'SecureBootEnable') {
          if (typeof value !== 'boolean') {
            errors.push(message('PropertyValueTypeError', [JSON.stringify(value), key], [`#/${key}`]));
          } else wanted = value;
        } else if (['Id', 'Name', 'SecureBootCurrentBoot'].includes(key)) {
          errors.push(message('PropertyNotWritable', [key], [`#/${key}`]));
        } else {
          errors.push(message('PropertyUnknown', [key], [`#/${key}`]));
        }
      }
      if (errors.length > 0) throw new RedfishError(400, errors);
      if (wanted === undefined || wanted === current.enabled) return undefined;
      if (!current.supported) {
        throw new RedfishError(
          400,
          message('PropertyNotWritable', ['SecureBootEnable'], ['#/SecureBootEnable']),
        );
      }
      try {
        await s.machine.setSecureBoot(wanted, ctx.actor);
      } catch (err) {
        if (isMachineError(err) && err.code === 'InvalidState') {
          const info = message(
            'PropertyValueConflict',
            ['SecureBootEnable', 'BootSourceOverrideMode'],
            ['#/SecureBootEnable'],
          );
          throw new RedfishError(409, { ...info, Resolution: err.message });
        }
        throw err;
      }
      return undefined;
    },
  },
};

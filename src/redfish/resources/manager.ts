import { fail } from '../messages.ts';
import {
  chassisUri,
  collection,
  managerOf,
  managerUri,
  type ResourceDef,
  ref,
  systemUri,
} from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { SOFTWARE_VERSION } from './service-root.ts';

/** ManagerCollection and Manager: one BMC per system (`BMC` in single mode). */
export const managers: ResourceDef = {
  uri: '/redfish/v1/Managers',
  get: (ctx) =>
    collection(
      collectionType('ManagerCollection'),
      '/redfish/v1/Managers',
      'Manager Collection',
      ctx.service.systems().map(managerUri),
    ),
};

export const manager: ResourceDef = {
  uri: '/redfish/v1/Managers/{ManagerId}',
  get: (ctx) => {
    const s = managerOf(ctx);
    const uri = managerUri(s);
    const body: Record<string, unknown> = {
      '@odata.id': uri,
      '@odata.type': odataType('Manager'),
      Id: s.managerId,
      Name: `KubeVirtBMC for ${s.machine.getIdentity().namespace}/${s.machine.getIdentity().name}`,
      ManagerType: 'BMC',
      Manufacturer: 'KubeVirt',
      Model: 'KubeVirtBMC',
      FirmwareVersion: SOFTWARE_VERSION,
      UUID: ctx.service.uuid,
      Status: { State: 'Enabled', Health: 'OK' },
      Links: {
        ManagerForServers: [ref(systemUri(s))],
        ManagerForChassis: [ref(chassisUri(s))],
      },
    };
    if (s.machine.getMediaSlots().length > 0) body.VirtualMedia = ref(`${uri}/VirtualMedia`);
    if (s.resetBmc) {
      body.Actions = {
        '#Manager.Reset': {
          target: `${uri}/Actions/Manager.Reset`,
          '@Redfish.ActionInfo': `${uri}/ResetActionInfo`,
          'ResetType@Redfish.AllowableValues': [...MANAGER_RESET_TYPES],
        },
      };
    }
    return body;
  },
};

/**
 * `Manager.Reset`: restarts this BMC's service (the agent's host does it, see src/agent/host.ts):
 * IPMI sessions, SOL and Redfish sessions end, credentials are read again, the VM is not touched.
 * Both types do the same; the reply (204) goes out before the restart. Offered only where the host
 * can restart the BMC (not in aggregate mode, where one endpoint serves many machines).
 */
const RESET_ACTION = 'Manager.Reset';
const MANAGER_RESET_TYPES = ['GracefulRestart', 'ForceRestart'] as const;

export const managerReset: ResourceDef = {
  uri: '/redfish/v1/Managers/{ManagerId}/Actions/Manager.Reset',
  post: {
    privilege: 'ConfigureManager',
    run: async (ctx, body) => {
      const s = managerOf(ctx);
      const reset = s.resetBmc;
      if (!reset) throw fail(404, 'ResourceNotFound', ['Action', RESET_ACTION]);
      for (const key of Object.keys(body ?? {})) {
        if (key !== 'ResetType' && !key.includes('@')) {
          throw fail(400, 'ActionParameterUnknown', [RESET_ACTION, key], [`#/${key}`]);
        }
      }
      // ResetType is optional in the schema; without it, a graceful restart.
      const resetType = body?.ResetType ?? 'GracefulRestart';
      if (typeof resetType !== 'string') {
        throw fail(
          400,
          'ActionParameterValueTypeError',
          [JSON.stringify(resetType), 'ResetType', RESET_ACTION],
          ['#/ResetType'],
        );
      }
      if (!(MANAGER_RESET_TYPES as readonly string[]).includes(resetType)) {
        throw fail(
          400,
          'ActionParameterValueNotInList',
          [resetType, 'ResetType', RESET_ACTION],
          ['#/ResetType'],
        );
      }
      reset();
      return { status: 204 };
    },
  },
};

export const managerResetActionInfo: ResourceDef = {
  uri: '/redfish/v1/Managers/{ManagerId}/ResetActionInfo',
  get: (ctx) => {
    const s = managerOf(ctx);
    if (!s.resetBmc) throw fail(404, 'ResourceNotFound', ['ActionInfo', 'ResetActionInfo']);
    return {
      '@odata.id': `${managerUri(s)}/ResetActionInfo`,
      '@odata.type': odataType('ActionInfo'),
      Id: 'ResetActionInfo',
      Name: 'Manager Reset Action Info',
      Parameters: [
        { Name: 'ResetType', Required: false, DataType: 'String', AllowableValues: [...MANAGER_RESET_TYPES] },
      ],
    };
  },
};

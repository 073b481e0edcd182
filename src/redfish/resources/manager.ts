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
    return body;
  },
};

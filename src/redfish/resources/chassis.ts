import {
  chassisOf,
  chassisUri,
  collection,
  managerUri,
  type ResourceDef,
  ref,
  systemUri,
} from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { redfishPowerState } from './computer-system.ts';

/** ChassisCollection and Chassis: the enclosure of each system (a VM has no sensors to offer). */
export const chassisCollection: ResourceDef = {
  uri: '/redfish/v1/Chassis',
  get: (ctx) =>
    collection(
      collectionType('ChassisCollection'),
      '/redfish/v1/Chassis',
      'Chassis Collection',
      ctx.service.systems().map(chassisUri),
    ),
};

export const chassis: ResourceDef = {
  uri: '/redfish/v1/Chassis/{ChassisId}',
  get: (ctx) => {
    const s = chassisOf(ctx);
    const identity = s.machine.getIdentity();
    const power = s.machine.getPowerState();
    return {
      '@odata.id': chassisUri(s),
      '@odata.type': odataType('Chassis'),
      Id: s.chassisId,
      Name: `Chassis of ${identity.namespace}/${identity.name}`,
      ChassisType: 'Other',
      Manufacturer: identity.manufacturer,
      Model: identity.model,
      SerialNumber: identity.serial,
      UUID: identity.uuid,
      PowerState: redfishPowerState(power),
      Status: { State: power === 'Off' ? 'StandbyOffline' : 'Enabled', Health: 'OK' },
      Links: {
        ComputerSystems: [ref(systemUri(s))],
        ManagedBy: [ref(managerUri(s))],
      },
    };
  },
};

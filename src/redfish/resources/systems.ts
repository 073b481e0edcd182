import { collection, type ResourceDef, systemUri } from '../resource.ts';
import { collectionType } from '../schemas.ts';

/** ComputerSystemCollection: one member in single mode, one per machine in aggregate mode. */
export const systems: ResourceDef = {
  uri: '/redfish/v1/Systems',
  get: (ctx) =>
    collection(
      collectionType('ComputerSystemCollection'),
      '/redfish/v1/Systems',
      'Computer System Collection',
      ctx.service.systems().map(systemUri),
    ),
};

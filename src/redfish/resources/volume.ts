import { fail } from '../messages.ts';
import { collection, type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { collectionType } from '../schemas.ts';

/**
 * VolumeCollection (`Storage/1/Volumes`): always empty. A VM's disks are drives, not RAID volumes,
 * and volumes cannot be created, so no `@Redfish.OperationApplyTimeSupport` is advertised.
 */
export const volumes: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Storage/{StorageId}/Volumes',
  get: (ctx) => {
    const s = systemOf(ctx);
    if (ctx.params.StorageId !== '1')
      throw fail(404, 'ResourceNotFound', ['Storage', ctx.params.StorageId ?? '']);
    const uri = `${systemUri(s)}/Storage/1/Volumes`;
    return collection(collectionType('VolumeCollection'), uri, 'Volume Collection', []);
  },
};

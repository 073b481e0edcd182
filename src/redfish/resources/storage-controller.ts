import { fail } from '../messages.ts';
import { collection, type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';

/**
 * StorageControllerCollection and StorageController (`Storage/1/Controllers/1`): the VM's one
 * virtual disk controller. It offers no RAID, so `SupportedRAIDTypes` is empty.
 */
function storageUri(ctx: Parameters<typeof systemOf>[0]): string {
  const s = systemOf(ctx);
  if (ctx.params.StorageId !== '1')
    throw fail(404, 'ResourceNotFound', ['Storage', ctx.params.StorageId ?? '']);
  return `${systemUri(s)}/Storage/1`;
}

export const storageControllers: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Storage/{StorageId}/Controllers',
  get: (ctx) => {
    const uri = `${storageUri(ctx)}/Controllers`;
    return collection(collectionType('StorageControllerCollection'), uri, 'Storage Controller Collection', [
      `${uri}/1`,
    ]);
  },
};

export const storageController: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Storage/{StorageId}/Controllers/{ControllerId}',
  get: (ctx) => {
    const base = storageUri(ctx);
    const id = ctx.params.ControllerId ?? '';
    if (id !== '1') throw fail(404, 'ResourceNotFound', ['StorageController', id]);
    return {
      '@odata.id': `${base}/Controllers/${id}`,
      '@odata.type': odataType('StorageController'),
      Id: id,
      Name: 'Virtual disk controller',
      SupportedRAIDTypes: [],
      Status: { State: 'Enabled', Health: 'OK' },
    };
  },
};

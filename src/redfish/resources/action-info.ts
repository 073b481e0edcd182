import { fail } from '../messages.ts';
import { type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { odataType } from '../schemas.ts';
import { redfishResetTypes } from './computer-system-reset.ts';

/**
 * ActionInfo for the actions with parameters: `ResetActionInfo` (the reset types that work) and
 * `InsertMediaActionInfo` of each virtual media slot (the InsertMedia parameters accepted).
 */
export const resetActionInfo: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/ResetActionInfo',
  get: (ctx) => {
    const s = systemOf(ctx);
    return {
      '@odata.id': `${systemUri(s)}/ResetActionInfo`,
      '@odata.type': odataType('ActionInfo'),
      Id: 'ResetActionInfo',
      Name: 'Reset Action Info',
      Parameters: [
        {
          Name: 'ResetType',
          Required: true,
          DataType: 'String',
          AllowableValues: redfishResetTypes(s.machine),
        },
      ],
    };
  },
};

export const INSERT_MEDIA_PARAMETERS = [
  { Name: 'Image', Required: true, DataType: 'String' },
  { Name: 'Inserted', Required: false, DataType: 'Boolean' },
  { Name: 'WriteProtected', Required: false, DataType: 'Boolean' },
  { Name: 'TransferMethod', Required: false, DataType: 'String', AllowableValues: ['Stream', 'Upload'] },
  { Name: 'TransferProtocolType', Required: false, DataType: 'String', AllowableValues: ['HTTP', 'HTTPS'] },
  { Name: 'UserName', Required: false, DataType: 'String' },
  { Name: 'Password', Required: false, DataType: 'String' },
];

function insertMediaInfo(parent: 'Systems' | 'Managers', param: string): ResourceDef {
  return {
    uri: `/redfish/v1/${parent}/{${param}}/VirtualMedia/{VirtualMediaId}/InsertMediaActionInfo`,
    get: (ctx) => {
      const owner =
        parent === 'Systems'
          ? ctx.service.findSystem(ctx.params[param] ?? '')
          : ctx.service.findByManager(ctx.params[param] ?? '');
      const id = ctx.params.VirtualMediaId ?? '';
      if (!owner?.machine.getMediaSlots().some((m) => m.id === id)) {
        throw fail(404, 'ResourceNotFound', ['VirtualMedia', id]);
      }
      return {
        '@odata.id': `/redfish/v1/${parent}/${ctx.params[param]}/VirtualMedia/${id}/InsertMediaActionInfo`,
        '@odata.type': odataType('ActionInfo'),
        Id: 'InsertMediaActionInfo',
        Name: 'Insert Media Action Info',
        Parameters: INSERT_MEDIA_PARAMETERS,
      };
    },
  };
}

export const systemInsertMediaInfo = insertMediaInfo('Systems', 'ComputerSystemId');
export const managerInsertMediaInfo = insertMediaInfo('Managers', 'ManagerId');

import type { BmcRole } from '../../machine/index.ts';
import { fail } from '../messages.ts';
import { collection, type ResourceDef, ROLE_PRIVILEGES } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';

/** RoleCollection and Role: the three predefined roles and the privileges each grants. */
const ROLES = '/redfish/v1/AccountService/Roles';

export const roles: ResourceDef = {
  uri: ROLES,
  get: () =>
    collection(
      collectionType('RoleCollection'),
      ROLES,
      'Roles Collection',
      Object.keys(ROLE_PRIVILEGES).map((r) => `${ROLES}/${r}`),
    ),
};

export const role: ResourceDef = {
  uri: `${ROLES}/{RoleId}`,
  get: (ctx) => {
    const id = ctx.params.RoleId ?? '';
    const privileges = (ROLE_PRIVILEGES as Record<string, readonly string[]>)[id];
    if (!privileges) throw fail(404, 'ResourceNotFound', ['Role', id]);
    return {
      '@odata.id': `${ROLES}/${id}`,
      '@odata.type': odataType('Role'),
      Id: id,
      Name: `${id} role`,
      RoleId: id as BmcRole,
      IsPredefined: true,
      AssignedPrivileges: privileges,
    };
  },
};

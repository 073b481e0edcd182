import type { BmcAccount } from '../../machine/index.ts';
import { fail } from '../messages.ts';
import { type Ctx, collection, type Privilege, type ResourceDef, ref } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';

/**
 * ManagerAccountCollection and ManagerAccount: the configured accounts, numbered from 1 in
 * configuration order. Users without ConfigureUsers see only their own account.
 */
const ACCOUNTS = '/redfish/v1/AccountService/Accounts';

function visible(ctx: Ctx): { id: string; account: BmcAccount }[] {
  const all = ctx.service.accounts().map((account, i) => ({ id: String(i + 1), account }));
  return ctx.principal?.role === 'Administrator'
    ? all
    : all.filter((a) => a.account.username === ctx.principal?.user);
}

export const accounts: ResourceDef = {
  uri: ACCOUNTS,
  get: (ctx) =>
    collection(
      collectionType('ManagerAccountCollection'),
      ACCOUNTS,
      'Accounts Collection',
      visible(ctx).map((a) => `${ACCOUNTS}/${a.id}`),
    ),
};

const selfOrUsers = (ctx: Ctx): Privilege => {
  const i = Number(ctx.params.ManagerAccountId) - 1;
  const a = ctx.service.accounts()[i];
  return a && a.username === ctx.principal?.user ? 'ConfigureSelf' : 'ConfigureUsers';
};

export const account: ResourceDef = {
  uri: `${ACCOUNTS}/{ManagerAccountId}`,
  getPrivilege: selfOrUsers,
  get: (ctx) => {
    const id = ctx.params.ManagerAccountId ?? '';
    const a = /^\d+$/.test(id) ? ctx.service.accounts()[Number(id) - 1] : undefined;
    if (!a) throw fail(404, 'ResourceNotFound', ['ManagerAccount', id]);
    return {
      '@odata.id': `${ACCOUNTS}/${id}`,
      '@odata.type': odataType('ManagerAccount'),
      Id: id,
      Name: 'User Account',
      UserName: a.username,
      RoleId: a.role,
      Enabled: true,
      Locked: ctx.service.login.locked(a.username),
      Password: null,
      AccountTypes: ['Redfish', 'IPMI'],
      Links: { Role: ref(`/redfish/v1/AccountService/Roles/${a.role}`) },
    };
  },
};

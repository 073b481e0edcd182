import { type ResourceDef, ref } from '../resource.ts';
import { odataType } from '../schemas.ts';

/**
 * AccountService: the accounts come from the BMC's configuration (a Kubernetes Secret), so they are
 * read-only here; the lockout policy is the one authentication enforces.
 */
export const accountService: ResourceDef = {
  uri: '/redfish/v1/AccountService',
  get: (ctx) => {
    const l = ctx.service.lockout;
    return {
      '@odata.id': '/redfish/v1/AccountService',
      '@odata.type': odataType('AccountService'),
      Id: 'AccountService',
      Name: 'Account Service',
      Description: 'Accounts are configured outside Redfish (the BMC credentials Secret).',
      ServiceEnabled: true,
      Status: { State: 'Enabled', Health: 'OK' },
      LocalAccountAuth: 'Enabled',
      HTTPBasicAuth: 'Enabled',
      MinPasswordLength: 1,
      MaxPasswordLength: 20,
      AccountLockoutThreshold: l.threshold,
      AccountLockoutDuration: l.durationSeconds,
      AccountLockoutCounterResetAfter: l.resetAfterSeconds,
      AccountLockoutCounterResetEnabled: true,
      Accounts: ref('/redfish/v1/AccountService/Accounts'),
      Roles: ref('/redfish/v1/AccountService/Roles'),
    };
  },
};

import { type ResourceDef, ref } from '../resource.ts';
import { odataType } from '../schemas.ts';

/**
 * AccountService: the accounts come from the BMC's configuration (a Kubernetes Secret), so they are
 * read-only here. The lockout properties describe the per-account failed-login budget
 * (`login-guard.ts`) in DMTF's terms: after `AccountLockoutThreshold` failures the account refuses
 * sources it does not trust for `AccountLockoutDuration` seconds (one failure is forgiven per that
 * many seconds, so each further failure refuses them again), and the count is back at zero
 * `AccountLockoutCounterResetAfter` seconds after the last failure. That reset is longer than the
 * duration, which DMTF's model of a fixed lock does not foresee: it is what the budget does.
 * Sources that logged in to the account in the last 24 h are never refused for the account's sake.
 */
export const accountService: ResourceDef = {
  uri: '/redfish/v1/AccountService',
  get: (ctx) => {
    const l = ctx.service.loginLimits;
    const on = l.accountBurst > 0;
    const seconds = (ms: number) => Math.ceil(ms / 1000);
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
      AccountLockoutThreshold: l.accountBurst,
      AccountLockoutDuration: on ? seconds(l.accountRefillMs) : 0,
      AccountLockoutCounterResetAfter: on ? seconds(l.accountBurst * l.accountRefillMs) : 0,
      AccountLockoutCounterResetEnabled: true,
      Accounts: ref('/redfish/v1/AccountService/Accounts'),
      Roles: ref('/redfish/v1/AccountService/Roles'),
    };
  },
};

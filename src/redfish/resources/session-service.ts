import { type ResourceDef, ref } from '../resource.ts';
import { odataType } from '../schemas.ts';

/** SessionService: the idle timeout sessions expire after, and the Sessions collection. */
export const sessionService: ResourceDef = {
  uri: '/redfish/v1/SessionService',
  get: (ctx) => ({
    '@odata.id': '/redfish/v1/SessionService',
    '@odata.type': odataType('SessionService'),
    Id: 'SessionService',
    Name: 'Session Service',
    Description: `Sessions end after SessionTimeout seconds without a request; at most ${ctx.service.maxSessions} at once.`,
    ServiceEnabled: true,
    SessionTimeout: ctx.service.sessionTimeoutSeconds,
    Status: { State: 'Enabled', Health: 'OK' },
    Sessions: ref('/redfish/v1/SessionService/Sessions'),
  }),
};

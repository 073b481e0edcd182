import { readFileSync } from 'node:fs';
import { MAX_EXPAND_LEVELS } from '../query.ts';
import { type Json, type ResourceDef, ref } from '../resource.ts';
import { odataType } from '../schemas.ts';

/** ServiceRoot (`/redfish/v1/`): readable without login; what sushy and gofish read first. */
export const REDFISH_VERSION = '1.22.0';

export const PRODUCT = 'KubeVirtBMC';

export const SOFTWARE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** The services linked from the root, in the order `/redfish/v1/odata` lists them. */
export const ROOT_SERVICES: readonly [string, string][] = [
  ['Systems', '/redfish/v1/Systems'],
  ['Chassis', '/redfish/v1/Chassis'],
  ['Managers', '/redfish/v1/Managers'],
  ['SessionService', '/redfish/v1/SessionService'],
  ['AccountService', '/redfish/v1/AccountService'],
  ['Tasks', '/redfish/v1/TaskService'],
  ['Registries', '/redfish/v1/Registries'],
  ['EventService', '/redfish/v1/EventService'],
];

export const serviceRoot: ResourceDef = {
  uri: '/redfish/v1/',
  auth: false,
  get: (ctx): Json => ({
    '@odata.id': '/redfish/v1/',
    '@odata.type': odataType('ServiceRoot'),
    Id: 'RootService',
    Name: 'KubeVirtBMC Redfish Service',
    RedfishVersion: REDFISH_VERSION,
    UUID: ctx.service.uuid,
    Product: PRODUCT,
    Vendor: 'KubeVirt',
    ServiceIdentification: PRODUCT,
    ProtocolFeaturesSupported: {
      ExpandQuery: {
        ExpandAll: true,
        Levels: true,
        Links: true,
        NoLinks: true,
        MaxLevels: MAX_EXPAND_LEVELS,
      },
      SelectQuery: true,
      FilterQuery: false,
      OnlyMemberQuery: false,
      ExcerptQuery: false,
      TopSkipQuery: true,
      DeepOperations: { DeepPATCH: false, DeepPOST: false },
    },
    ...Object.fromEntries(ROOT_SERVICES.map(([name, uri]) => [name, ref(uri)])),
    Links: { Sessions: ref('/redfish/v1/SessionService/Sessions') },
  }),
};

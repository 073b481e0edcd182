import { BASE_REGISTRY, fail } from '../messages.ts';
import { collection, type ResourceDef } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';

/**
 * MessageRegistryFileCollection and MessageRegistryFile: the Base registry our error messages come
 * from, located at its DMTF publication URI (the service does not copy the registry).
 */
const REGISTRIES = '/redfish/v1/Registries';
const BASE_ID = `${BASE_REGISTRY.prefix}.${BASE_REGISTRY.version}`;

export const registries: ResourceDef = {
  uri: REGISTRIES,
  get: () =>
    collection(collectionType('MessageRegistryFileCollection'), REGISTRIES, 'Registry File Collection', [
      `${REGISTRIES}/${BASE_ID}`,
    ]),
};

export const registryFile: ResourceDef = {
  uri: `${REGISTRIES}/{MessageRegistryFileId}`,
  get: (ctx) => {
    const id = ctx.params.MessageRegistryFileId ?? '';
    if (id !== BASE_ID) throw fail(404, 'ResourceNotFound', ['MessageRegistryFile', id]);
    return {
      '@odata.id': `${REGISTRIES}/${id}`,
      '@odata.type': odataType('MessageRegistryFile'),
      Id: id,
      Name: 'Base Message Registry File',
      Description: 'DMTF Base message registry',
      Languages: ['en'],
      Registry: BASE_ID,
      Location: [{ Language: 'en', PublicationUri: `https://redfish.dmtf.org/registries/${BASE_ID}.json` }],
    };
  },
};

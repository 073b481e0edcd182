import type { ResourceDef } from '../resource.ts';
import { COLLECTIONS, SCHEMA_VERSIONS } from '../schemas.ts';
import { ROOT_SERVICES } from './service-root.ts';

/**
 * The fixed OData documents of DSP0266 §"Service root", all readable without login:
 * `/redfish` (version map), `/redfish/v1/odata` (service document) and `/redfish/v1/$metadata`
 * (CSDL: a reference to the DMTF schema of every type this service serves).
 */
export const versions: ResourceDef = {
  uri: '/redfish',
  auth: false,
  get: () => ({ v1: '/redfish/v1/' }),
};

export const odataServiceDocument: ResourceDef = {
  uri: '/redfish/v1/odata',
  auth: false,
  get: () => ({
    '@odata.context': '/redfish/v1/$metadata',
    value: [
      { name: 'Service', kind: 'Singleton', url: '/redfish/v1/' },
      ...ROOT_SERVICES.map(([name, url]) => ({ name, kind: 'Singleton', url })),
    ],
  }),
};

/** Schemas referenced by the payloads besides the resource types (enums, messages, annotations). */
const SUPPORT_SCHEMAS = ['Resource', 'Message', 'Settings'];

function metadataDocument(): string {
  const refs: string[] = [];
  const add = (schema: string, versioned?: string) => {
    const includes = [`    <edmx:Include Namespace="${schema}"/>`];
    if (versioned) includes.push(`    <edmx:Include Namespace="${schema}.${versioned}"/>`);
    refs.push(
      `  <edmx:Reference Uri="http://redfish.dmtf.org/schemas/v1/${schema}_v1.xml">\n${includes.join('\n')}\n  </edmx:Reference>`,
    );
  };
  for (const [schema, version] of Object.entries(SCHEMA_VERSIONS)) add(schema, version);
  for (const c of COLLECTIONS) add(c);
  for (const s of SUPPORT_SCHEMAS) add(s);
  refs.push(
    '  <edmx:Reference Uri="http://redfish.dmtf.org/schemas/v1/RedfishExtensions_v1.xml">\n' +
      '    <edmx:Include Namespace="RedfishExtensions.v1_0_0" Alias="Redfish"/>\n  </edmx:Reference>',
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">',
    ...refs,
    '  <edmx:DataServices>',
    '    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Service">',
    `      <EntityContainer Name="Service" Extends="ServiceRoot.${SCHEMA_VERSIONS.ServiceRoot}.ServiceContainer"/>`,
    '    </Schema>',
    '  </edmx:DataServices>',
    '</edmx:Edmx>',
    '',
  ].join('\n');
}

const METADATA = metadataDocument();

export const metadata: ResourceDef = {
  uri: '/redfish/v1/$metadata',
  auth: false,
  raw: () => ({ contentType: 'application/xml;charset=utf-8', body: METADATA }),
};

/** Discovery documents and the minimal OpenAPI v3 kubectl needs to send fieldValidation=Strict. */
import { createHash } from 'node:crypto';
import { apiVersionOf, type ResourceType } from './resources.ts';

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.5-kubevirtbmc-sim',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.8',
  compiler: 'gc',
  platform: 'linux/amd64',
  // compatibility versions, as kube-apiserver reports them
  emulationMajor: '1',
  emulationMinor: '32',
  minCompatibilityMajor: '1',
  minCompatibilityMinor: '31',
};

/** Extra (non-CRUD) subresources some groups serve, e.g. KubeVirt's subresources.kubevirt.io. */
export interface ExtraGroupVersion {
  group: string;
  version: string;
  resources: Array<{
    name: string;
    singularName?: string;
    namespaced: boolean;
    kind: string;
    verbs: string[];
  }>;
}

function groupsOf(types: ResourceType[], extra: ExtraGroupVersion[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const t of [...types, ...extra]) {
    if (!t.group) continue;
    const vs = groups.get(t.group) ?? [];
    if (!vs.includes(t.version)) vs.push(t.version);
    groups.set(t.group, vs);
  }
  return groups;
}

export function apiVersions(hostPort: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: hostPort }],
  };
}

export function apiGroupList(types: ResourceType[], extra: ExtraGroupVersion[]): object {
  const groups = [...groupsOf(types, extra)].map(([name, versions]) => ({
    name,
    versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
  }));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroup(
  types: ResourceType[],
  extra: ExtraGroupVersion[],
  group: string,
): object | undefined {
  const versions = groupsOf(types, extra).get(group);
  if (!versions) return undefined;
  return {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: group,
    versions: versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${group}/${versions[0]}`, version: versions[0] },
  };
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiResourceList(
  types: ResourceType[],
  extra: ExtraGroupVersion[],
  group: string,
  version: string,
): object | undefined {
  const mine = types.filter((t) => t.group === group && t.version === version);
  const ex = extra.filter((e) => e.group === group && e.version === version);
  if (mine.length === 0 && ex.length === 0) return undefined;
  const resources: object[] = [];
  for (const t of mine) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs ?? CRUD,
      ...(t.shortNames?.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories?.length ? { categories: t.categories } : {}),
      storageVersionHash: createHash('sha256')
        .update(`${group}/${version}/${t.plural}`)
        .digest('base64')
        .slice(0, 11),
    });
    if (t.status) {
      resources.push({
        name: `${t.plural}/status`,
        singularName: '',
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
    for (const sub of t.extraSubresources ?? []) {
      if (sub === 'scale') {
        resources.push({
          name: `${t.plural}/scale`,
          singularName: '',
          namespaced: t.namespaced,
          group: 'autoscaling',
          version: 'v1',
          kind: 'Scale',
          verbs: ['get', 'patch', 'update'],
        });
      } else if (sub === 'token') {
        resources.push({
          name: `${t.plural}/token`,
          singularName: '',
          namespaced: t.namespaced,
          group: 'authentication.k8s.io',
          version: 'v1',
          kind: 'TokenRequest',
          verbs: ['create'],
        });
      } else if (sub === 'finalize') {
        resources.push({
          name: `${t.plural}/finalize`,
          singularName: '',
          namespaced: t.namespaced,
          kind: t.kind,
          verbs: ['update'],
        });
      } else if (sub === 'binding') {
        resources.push({
          name: `${t.plural}/binding`,
          singularName: '',
          namespaced: t.namespaced,
          kind: 'Binding',
          verbs: ['create'],
        });
      } else if (sub === 'log') {
        resources.push({
          name: `${t.plural}/log`,
          singularName: '',
          namespaced: t.namespaced,
          kind: 'Pod',
          verbs: ['get'],
        });
      }
    }
  }
  for (const e of ex) for (const r of e.resources) resources.push({ singularName: '', ...r });
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openApiV3Index(types: ResourceType[]): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  const seen = new Set<string>();
  for (const t of types) {
    const p = gvPath(t.group, t.version);
    if (seen.has(p)) continue;
    seen.add(p);
    const hash = createHash('sha256')
      .update(
        JSON.stringify(
          types.filter((x) => x.group === t.group && x.version === t.version).map((x) => [x.plural, x.kind]),
        ),
      )
      .digest('hex')
      .slice(0, 32)
      .toUpperCase();
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  return { paths };
}

const PATCH_MEDIA = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/apply-patch+yaml',
];

export function openApiV3Document(types: ResourceType[], group: string, version: string): object | undefined {
  const mine = types.filter((t) => t.group === group && t.version === version);
  if (mine.length === 0) return undefined;
  const paths: Record<string, object> = {};
  const schemas: Record<string, object> = {};
  for (const t of mine) {
    const base = `/${gvPath(group, version)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}`;
    const gvk = { group, version, kind: t.kind };
    // Strategic merge patch is accepted for built-ins but not advertised here: these schemas are
    // not the real ones, and kubectl apply would compute its patch from them, warn and fall back;
    // not advertised, it computes the patch from its compiled-in types as it does for any 1.32 kind.
    const media = PATCH_MEDIA;
    const schemaName = `${group || 'core'}.${version}.${t.kind}`;
    schemas[schemaName] = {
      type: 'object',
      'x-kubernetes-group-version-kind': [gvk],
      ...(t.schema ? { properties: t.schema.properties ?? {} } : {}),
      'x-kubernetes-preserve-unknown-fields': true,
    };
    const params = [
      { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
    ];
    const op = (action: string, extra: object = {}) => ({
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      operationId: `${action}${t.kind}`,
      responses: {
        '200': {
          description: 'OK',
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${schemaName}` } } },
        },
      },
      ...extra,
    });
    paths[`${base}/{name}`] = {
      get: op('get'),
      put: op('put', {
        parameters: params,
        requestBody: { content: { '*/*': { schema: { $ref: `#/components/schemas/${schemaName}` } } } },
      }),
      patch: op('patch', {
        parameters: params,
        requestBody: { content: Object.fromEntries(media.map((m) => [m, { schema: { type: 'object' } }])) },
      }),
      delete: op('delete'),
    };
    paths[base] = { get: op('list'), post: op('post', { parameters: params }) };
    if (t.status) {
      paths[`${base}/{name}/status`] = {
        get: op('get'),
        put: op('put', { parameters: params }),
        patch: op('patch', {
          parameters: params,
          requestBody: {
            content: Object.fromEntries(PATCH_MEDIA.map((m) => [m, { schema: { type: 'object' } }])),
          },
        }),
      };
    }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (kubevirtbmc sim)', version: 'v1.32.5' },
    paths,
    components: { schemas },
  };
}

export { apiVersionOf };

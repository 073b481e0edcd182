/** Discovery documents (D14, A1) and the OpenAPI v3 kubectl reads (A2). */
import { brief, type Check, check, failure, type Obj, until } from '../lib.ts';

function resourceShape(r: Obj): Obj {
  return {
    name: r.name,
    singularName: r.singularName,
    namespaced: r.namespaced,
    group: r.group,
    version: r.version,
    kind: r.kind,
    verbs: [...(r.verbs ?? [])].sort(),
    shortNames: r.shortNames,
    categories: r.categories,
  };
}

/** The resources this project and its embedded cluster use from a group/version. */
function pick(list: Obj, wanted: string[]): Obj {
  const out: Obj = {};
  for (const name of wanted) {
    const r = (list?.resources ?? []).find((x: Obj) => x.name === name);
    out[name] = r ? resourceShape(r) : null;
  }
  return out;
}

export const discoveryChecks: Check[] = [
  check(
    'discovery/version',
    'GET /version without credentials: the fields kubectl and client-go read',
    async (api) => {
      const r = await api.get('/version', { token: null });
      const v = r.json ?? {};
      return {
        http: r.status,
        major: v.major,
        minorIsNumber: /^\d+$/.test(v.minor ?? ''),
        gitVersionShape: /^v\d+\.\d+\.\d+/.test(v.gitVersion ?? ''),
        platform: v.platform,
        keys: Object.keys(v).sort(),
      };
    },
  ),

  check('discovery/api', 'GET /api: APIVersions with v1', async (api) => {
    const r = await api.get('/api');
    return {
      http: r.status,
      kind: r.json?.kind,
      versions: r.json?.versions,
      keys: Object.keys(r.json ?? {}).sort(),
    };
  }),

  check(
    'discovery/apis',
    'GET /apis: APIGroupList with the groups this project uses and their preferred versions',
    async (api) => {
      const r = await api.get('/apis');
      const groups = (r.json?.groups ?? []) as Obj[];
      const wanted = [
        'apps',
        'rbac.authorization.k8s.io',
        'coordination.k8s.io',
        'apiextensions.k8s.io',
        'events.k8s.io',
        'test.kubevirtbmc.io',
      ];
      return {
        http: r.status,
        kind: r.json?.kind,
        groups: wanted.map((g) => {
          const x = groups.find((y) => y.name === g);
          return x
            ? [g, x.preferredVersion?.groupVersion, x.versions.map((v: Obj) => v.groupVersion)]
            : [g, null];
        }),
      };
    },
  ),

  check('discovery/group', 'GET /apis/<group>: APIGroup; an unknown group is a plain 404', async (api) => {
    const apps = await api.get('/apis/apps');
    const crd = await api.get('/apis/test.kubevirtbmc.io');
    return {
      apps: [apps.status, apps.json?.kind, apps.json?.preferredVersion],
      crd: [crd.status, crd.json?.kind, crd.json?.versions],
      unknown: failure(await api.get('/apis/nothing.example')),
    };
  }),

  check(
    'discovery/crd-resources',
    'APIResourceList of a CRD group: widgets and widgets/status, verbs, shortNames, categories',
    async (api) => {
      const r = await api.get('/apis/test.kubevirtbmc.io/v1');
      return {
        http: r.status,
        kind: r.json?.kind,
        groupVersion: r.json?.groupVersion,
        resources: ((r.json?.resources ?? []) as Obj[]).map(resourceShape),
      };
    },
  ),

  check(
    'discovery/core-resources',
    'APIResourceList of v1: the core resources this project uses',
    async (api) => {
      const r = await api.get('/api/v1');
      return pick(r.json, [
        'namespaces',
        'namespaces/status',
        'namespaces/finalize',
        'pods',
        'pods/log',
        'pods/binding',
        'pods/status',
        'services',
        'services/status',
        'secrets',
        'configmaps',
        'serviceaccounts',
        'serviceaccounts/token',
        'events',
        'endpoints',
        'persistentvolumeclaims',
        'persistentvolumes',
        'persistentvolumes/status',
        'nodes',
        'nodes/status',
      ]);
    },
  ),

  check(
    'discovery/apps-rbac-coordination',
    'APIResourceLists of apps/v1, rbac/v1, coordination/v1, events.k8s.io/v1',
    async (api) => {
      const apps = (await api.get('/apis/apps/v1')).json;
      const rbac = (await api.get('/apis/rbac.authorization.k8s.io/v1')).json;
      const coord = (await api.get('/apis/coordination.k8s.io/v1')).json;
      const events = (await api.get('/apis/events.k8s.io/v1')).json;
      const crds = (await api.get('/apis/apiextensions.k8s.io/v1')).json;
      return {
        apps: pick(apps, [
          'deployments',
          'deployments/scale',
          'deployments/status',
          'replicasets',
          'replicasets/scale',
        ]),
        rbac: pick(rbac, ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings']),
        coordination: pick(coord, ['leases']),
        events: pick(events, ['events']),
        crds: pick(crds, ['customresourcedefinitions', 'customresourcedefinitions/status']),
      };
    },
  ),

  check(
    'discovery/not-found',
    'Unknown group, version and resource: 404 (plain text or Status as upstream)',
    async (api) => {
      return {
        unknownGroup: failure(await api.get('/apis/nothing.example/v1')),
        unknownGroupResource: failure(await api.get('/apis/nothing.example/v1/things')),
        unknownVersion: failure(await api.get('/apis/apps/v9')),
        unknownCoreVersion: failure(await api.get('/api/v9')),
        unknownResource: failure(await api.get('/apis/apps/v1/nothings')),
        unknownSubresource: failure(await api.get('/api/v1/namespaces/default/configmaps/x/nothing')),
        nonApi: failure(await api.get('/nothing')),
      };
    },
  ),

  check(
    'discovery/openapi-v3',
    'OpenAPI v3: the index lists the CRD group; its document declares fieldValidation on PATCH',
    async (api) => {
      // kube-apiserver publishes a new CRD's OpenAPI a little after it is served
      const idx = await until(
        () => api.get('/openapi/v3'),
        (r) => !!r.json?.paths?.['apis/test.kubevirtbmc.io/v1'],
        20_000,
      );
      const paths = Object.keys(idx.json?.paths ?? {});
      const url = idx.json?.paths?.['apis/test.kubevirtbmc.io/v1']?.serverRelativeURL as string | undefined;
      const doc = url ? (await api.get(url)).json : undefined;
      const op = doc?.paths?.['/apis/test.kubevirtbmc.io/v1/namespaces/{namespace}/widgets/{name}']?.patch;
      const params = (op?.parameters ?? []).map((p: Obj) => p.name ?? p.$ref);
      return {
        http: idx.status,
        listsGroups: ['api/v1', 'apis/apps/v1', 'apis/test.kubevirtbmc.io/v1'].map((p) => paths.includes(p)),
        hashedUrl: !!url && /\?hash=/.test(url),
        openapi: typeof doc?.openapi === 'string' && doc.openapi.startsWith('3.'),
        gvk: op?.['x-kubernetes-group-version-kind'],
        action: op?.['x-kubernetes-action'],
        fieldValidation: params.some((p: string) => /fieldValidation/.test(p)),
        patchTypes: Object.keys(op?.requestBody?.content ?? {}).sort(),
      };
    },
  ),

  check('discovery/authenticated-only', 'Discovery with a bad token: 401 Unauthorized', async (api) => {
    return { bad: brief(await api.get('/apis', { token: 'not-a-valid-token' })) };
  }),
];

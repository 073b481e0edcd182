/**
 * Authentication and RBAC: TokenRequest, ServiceAccount tokens doing allowed and denied calls, the
 * escalation check and the bind/escalate verbs, anonymous and bad tokens.
 */
import {
  type Api,
  bindRole,
  brief,
  type Check,
  check,
  cmPath,
  configMap,
  failure,
  type Obj,
  ok,
  RBAC,
  type Resp,
  saToken,
  until,
  widget,
  wPath,
} from '../lib.ts';

function tokenRequest(spec: Obj): Obj {
  return { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec };
}

/** The claims of a JWT (undefined when the token is not one). */
function claims(token: string | undefined): Obj | undefined {
  const parts = (token ?? '').split('.');
  if (parts.length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Waits until the request stops being denied (the real authorizer sees RBAC changes through informers). */
async function allowed(fn: () => Promise<Resp>): Promise<Resp> {
  return until(fn, (r) => r.status !== 403);
}

function role(name: string, rules: Obj[]): Obj {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules };
}

function binding(name: string, roleName: string, sa: string, ns: string): Obj {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
  };
}

async function serviceAccount(api: Api, ns: string, name: string): Promise<void> {
  ok(
    await api.post(`/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name },
    }),
    `sa ${name}`,
  );
}

export const authChecks: Check[] = [
  check(
    'tokens/request',
    'TokenRequest: 201 with a token, expirationTimestamp, default audiences; the token authenticates',
    async (api, { ns }) => {
      await serviceAccount(api, ns, 'sa1');
      const r = await api.post(
        `/api/v1/namespaces/${ns}/serviceaccounts/sa1/token`,
        tokenRequest({ expirationSeconds: 3600 }),
      );
      const token = r.json?.status?.token as string | undefined;
      const exp = Date.parse(r.json?.status?.expirationTimestamp ?? '');
      const c = claims(token);
      const discovery = token ? (await api.get('/apis', { token })).status : 0;
      return {
        http: r.status,
        kind: [r.json?.apiVersion, r.json?.kind],
        name: r.json?.metadata?.name,
        spec: { ...r.json?.spec, audiences: (r.json?.spec?.audiences ?? []).length },
        expiresInAboutAnHour: Math.abs(exp - Date.now() - 3600_000) < 120_000,
        jwt: !!c,
        sub: c?.sub,
        claimKeys: c && Object.keys(c).sort(),
        discovery,
      };
    },
  ),

  check(
    'tokens/audience-and-bounds',
    'TokenRequest: a custom audience is kept; less than 10 minutes is refused; a missing SA is 404',
    async (api, { ns }) => {
      await serviceAccount(api, ns, 'sa1');
      const custom = await api.post(
        `/api/v1/namespaces/${ns}/serviceaccounts/sa1/token`,
        tokenRequest({ audiences: ['vault'], expirationSeconds: 600 }),
      );
      const short = await api.post(
        `/api/v1/namespaces/${ns}/serviceaccounts/sa1/token`,
        tokenRequest({ expirationSeconds: 599 }),
      );
      const missing = await api.post(
        `/api/v1/namespaces/${ns}/serviceaccounts/nobody/token`,
        tokenRequest({}),
      );
      const foreign = custom.json?.status?.token
        ? (await api.get('/api', { token: custom.json.status.token })).status
        : 0;
      return {
        custom: [custom.status, custom.json?.spec?.audiences, claims(custom.json?.status?.token)?.aud],
        foreignAudienceRejected: foreign,
        short: failure(short),
        missing: failure(missing),
      };
    },
  ),

  check(
    'tokens/deleted-sa',
    'A token stops working when its ServiceAccount is deleted: 401',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'gone');
      const before = (await api.get('/apis', { token })).status;
      ok(await api.del(`/api/v1/namespaces/${ns}/serviceaccounts/gone`), 'delete sa');
      // kube-apiserver caches a token's successful authentication for 10 s
      const after = await until(
        () => api.get('/apis', { token }),
        (r) => r.status === 401,
        20_000,
      );
      return { before, after: brief(after) };
    },
  ),

  check(
    'authn/anonymous-and-bad-token',
    'No token: anonymous (403 for the API, /version and /healthz open); a bad token: 401',
    async (api) => {
      return {
        anonymousList: failure(await api.get('/api/v1/namespaces', { token: null })),
        anonymousDiscovery: failure(await api.get('/api', { token: null })),
        anonymousVersion: (await api.get('/version', { token: null })).status,
        anonymousHealthz: [
          (await api.get('/healthz', { token: null })).status,
          (await api.get('/readyz', { token: null })).text,
        ],
        badToken: failure(await api.get('/api/v1/namespaces', { token: 'not-a-valid-token' })),
      };
    },
  ),

  check(
    'authn/self-subject-review',
    'SelfSubjectReview (who am I) for the admin and a ServiceAccount token; TokenReview of good and bad tokens',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'me');
      const ssr = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };
      const admin = await api.post('/apis/authentication.k8s.io/v1/selfsubjectreviews', ssr);
      const sa = await api.post('/apis/authentication.k8s.io/v1/selfsubjectreviews', ssr, { token });
      const review = (t: string) =>
        api.post('/apis/authentication.k8s.io/v1/tokenreviews', {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token: t },
        });
      const good = await review(token);
      const bad = await review('not-a-token');
      const saUser = sa.json?.status?.userInfo ?? {};
      const reviewed = good.json?.status ?? {};
      return {
        admin: [admin.status, admin.json?.kind, admin.json?.status?.userInfo],
        sa: [sa.status, saUser.username, saUser.uid, saUser.groups, Object.keys(saUser.extra ?? {})],
        good: [
          good.status,
          reviewed.authenticated,
          reviewed.user?.username,
          (reviewed.audiences ?? []).length,
        ],
        bad: [bad.status, bad.json?.status],
        saMayNotReview: brief(
          await api.post(
            '/apis/authentication.k8s.io/v1/tokenreviews',
            { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
            { token },
          ),
        ),
        discovery: (await api.get('/apis/authentication.k8s.io/v1')).json?.resources,
      };
    },
  ),

  check(
    'rbac/denied',
    'A ServiceAccount without grants: 403 Forbidden with the upstream message per verb and scope',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'nobody');
      ok(await api.post(cmPath(ns), configMap('c1')), 'cm');
      return {
        get: failure(await api.get(cmPath(ns, 'c1'), { token })),
        list: failure(await api.get(cmPath(ns), { token })),
        listAll: failure(await api.get('/api/v1/configmaps', { token })),
        watch: failure(await api.get(`${cmPath(ns)}?watch=true`, { token })),
        create: failure(await api.post(wPath(ns), widget('w1'), { token })),
        getNamespace: failure(await api.get(`/api/v1/namespaces/${ns}`, { token })),
        deleteClusterRole: failure(await api.del(`${RBAC}/clusterroles/admin`, undefined, { token })),
        subresource: failure(await api.get(`/api/v1/namespaces/${ns}/pods/p1/log`, { token })),
        patch: failure(
          await api.patch(cmPath(ns, 'c1'), { data: { a: '1' } }, 'application/merge-patch+json', { token }),
        ),
      };
    },
  ),

  check(
    'rbac/allowed',
    'A Role bound to the ServiceAccount allows exactly its verbs',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'reader');
      ok(await api.post(cmPath(ns), configMap('c1', { a: '1' })), 'cm');
      await bindRole(
        api,
        ns,
        'cm-reader',
        [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
        'reader',
      );
      const get = await allowed(() => api.get(cmPath(ns, 'c1'), { token }));
      const list = await api.get(cmPath(ns), { token });
      const del = await api.del(cmPath(ns, 'c1'), undefined, { token });
      const otherNs = await api.get(cmPath('default'), { token });
      return {
        get: [get.status, get.json?.data],
        list: list.status,
        delete: brief(del),
        otherNamespace: brief(otherNs),
      };
    },
  ),

  check(
    'rbac/resource-names',
    'resourceNames: get of that name only; list only with a matching metadata.name field selector',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'one');
      ok(await api.post(cmPath(ns), configMap('c1')), 'c1');
      ok(await api.post(cmPath(ns), configMap('c2')), 'c2');
      await bindRole(
        api,
        ns,
        'just-c1',
        [
          {
            apiGroups: [''],
            resources: ['configmaps'],
            verbs: ['get', 'list', 'watch'],
            resourceNames: ['c1'],
          },
        ],
        'one',
      );
      const c1 = await allowed(() => api.get(cmPath(ns, 'c1'), { token }));
      return {
        c1: c1.status,
        c2: brief(await api.get(cmPath(ns, 'c2'), { token })),
        list: brief(await api.get(cmPath(ns), { token })),
        listSelected: brief(await api.get(`${cmPath(ns)}?fieldSelector=metadata.name%3Dc1`, { token })),
      };
    },
  ),

  check(
    'rbac/subresources-and-wildcards',
    'Rules for resource/subresource and * match as upstream',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'sub');
      ok(await api.post(wPath(ns), widget('w1')), 'w1');
      await bindRole(
        api,
        ns,
        'status-only',
        [
          { apiGroups: ['test.kubevirtbmc.io'], resources: ['widgets/status'], verbs: ['get', 'patch'] },
          { apiGroups: ['*'], resources: ['secrets'], verbs: ['*'] },
        ],
        'sub',
      );
      const status = await allowed(() => api.get(wPath(ns, 'w1', 'status'), { token }));
      return {
        status: status.status,
        main: brief(await api.get(wPath(ns, 'w1'), { token })),
        patchStatus: (
          await api.patch(
            wPath(ns, 'w1', 'status'),
            { status: { phase: 'X' } },
            'application/merge-patch+json',
            { token },
          )
        ).status,
        secretsAnyVerb: (
          await api.post(`/api/v1/namespaces/${ns}/secrets`, { metadata: { name: 's1' } }, { token })
        ).status,
      };
    },
  ),

  check(
    'rbac/cluster-role-binding',
    'A ClusterRole bound by a RoleBinding grants in that namespace only; by a ClusterRoleBinding everywhere',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'wide');
      ok(
        await api.post(`${RBAC}/clusterroles`, {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: `${ns}-cm-list` },
          rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
        }),
        'clusterrole',
      );
      ok(
        await api.post(`${RBAC}/namespaces/${ns}/rolebindings`, {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'local' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${ns}-cm-list` },
          subjects: [{ kind: 'ServiceAccount', name: 'wide', namespace: ns }],
        }),
        'rolebinding',
      );
      const local = await allowed(() => api.get(cmPath(ns), { token }));
      const clusterBefore = brief(await api.get('/api/v1/configmaps?limit=1', { token }));
      ok(
        await api.post(`${RBAC}/clusterrolebindings`, {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: `${ns}-wide` },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${ns}-cm-list` },
          subjects: [{ kind: 'ServiceAccount', name: 'wide', namespace: ns }],
        }),
        'clusterrolebinding',
      );
      const clusterAfter = await allowed(() => api.get('/api/v1/configmaps?limit=1', { token }));
      await api.del(`${RBAC}/clusterrolebindings/${ns}-wide`);
      await api.del(`${RBAC}/clusterroles/${ns}-cm-list`);
      return { local: local.status, clusterBefore, clusterAfter: clusterAfter.status };
    },
  ),

  check(
    'rbac/escalation',
    'Creating a Role that grants permissions the creator lacks: 403 "attempting to grant RBAC permissions not currently held"',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'creator');
      await bindRole(
        api,
        ns,
        'role-maker',
        [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['create'] }],
        'creator',
      );
      // a Role within what the creator holds is fine
      const within = await allowed(() =>
        api.post(
          `${RBAC}/namespaces/${ns}/roles`,
          role('within', [
            { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['create'] },
          ]),
          { token },
        ),
      );
      const escalating = await api.post(
        `${RBAC}/namespaces/${ns}/roles`,
        role('grant-cm', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }]),
        { token },
      );
      return { within: within.status, escalating: failure(escalating) };
    },
  ),

  check(
    'rbac/escalate-verb',
    'The escalate verb on roles lifts the escalation check',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'escalator');
      await bindRole(
        api,
        ns,
        'role-escalator',
        [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['create', 'escalate'] }],
        'escalator',
      );
      const r = await allowed(() =>
        api.post(
          `${RBAC}/namespaces/${ns}/roles`,
          role('grant-cm', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]),
          { token },
        ),
      );
      return { http: r.status, rules: r.json?.rules };
    },
  ),

  check(
    'rbac/bind-verb',
    'Binding a Role with more permissions: 403 unless the binder holds them or has bind on it',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'binder');
      await serviceAccount(api, ns, 'target');
      ok(
        await api.post(
          `${RBAC}/namespaces/${ns}/roles`,
          role('cm-reader', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]),
        ),
        'role',
      );
      await bindRole(
        api,
        ns,
        'binding-maker',
        [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create'] }],
        'binder',
      );
      const denied = await until(
        () =>
          api.post(`${RBAC}/namespaces/${ns}/rolebindings`, binding('b1', 'cm-reader', 'target', ns), {
            token,
          }),
        (r) => r.status !== 403 || /not currently held|cannot bind/.test(r.json?.message ?? ''),
      );
      ok(
        await api.post(
          `${RBAC}/namespaces/${ns}/roles`,
          role('may-bind', [
            {
              apiGroups: ['rbac.authorization.k8s.io'],
              resources: ['roles'],
              verbs: ['bind'],
              resourceNames: ['cm-reader'],
            },
          ]),
        ),
        'bind role',
      );
      ok(
        await api.post(
          `${RBAC}/namespaces/${ns}/rolebindings`,
          binding('may-bind', 'may-bind', 'binder', ns),
        ),
        'bind binding',
      );
      const lifted = await allowed(() =>
        api.post(`${RBAC}/namespaces/${ns}/rolebindings`, binding('b2', 'cm-reader', 'target', ns), {
          token,
        }),
      );
      return { denied: failure(denied), lifted: lifted.status };
    },
  ),

  check(
    'rbac/escalation-update',
    'Updating a Role to grant more than the updater holds: 403',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'editor');
      ok(await api.post(`${RBAC}/namespaces/${ns}/roles`, role('r1', [])), 'role');
      await bindRole(
        api,
        ns,
        'role-editor',
        [
          {
            apiGroups: ['rbac.authorization.k8s.io'],
            resources: ['roles'],
            verbs: ['get', 'update', 'patch'],
          },
        ],
        'editor',
      );
      const r = await until(
        () =>
          api.patch(
            `${RBAC}/namespaces/${ns}/roles/r1`,
            { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] },
            'application/merge-patch+json',
            { token },
          ),
        (x) => x.status !== 403 || /not currently held/.test(x.json?.message ?? ''),
      );
      return failure(r);
    },
  ),
];

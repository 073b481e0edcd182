/** Patch content types and their semantics (D6, A8). */
import { brief, type Check, check, cmPath, configMap, failure, ok, shape, widget, wPath } from '../lib.ts';

const JSONP = 'application/json-patch+json';
const MERGE = 'application/merge-patch+json';
const SMP = 'application/strategic-merge-patch+json';
const APPLY = 'application/apply-patch+yaml';

function deployment(name: string, containers: object[]): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers } },
    },
  };
}

export const patchChecks: Check[] = [
  check('patch/json', 'JSON patch: add, replace, remove and a passing test', async (api, { ns }) => {
    ok(await api.post(wPath(ns), widget('w1', { size: 1, color: 'red', tags: ['a'] })), 'create');
    const r = await api.patch(
      wPath(ns, 'w1'),
      [
        { op: 'test', path: '/spec/color', value: 'red' },
        { op: 'replace', path: '/spec/size', value: 2 },
        { op: 'remove', path: '/spec/color' },
        { op: 'add', path: '/spec/tags/-', value: 'b' },
        { op: 'add', path: '/metadata/labels', value: { x: 'y' } },
      ],
      JSONP,
    );
    return {
      http: r.status,
      spec: r.json?.spec,
      labels: r.json?.metadata?.labels,
      generation: r.json?.metadata?.generation,
    };
  }),

  check(
    'patch/json-test-fails',
    'JSON patch whose test fails: 422 with the json-patch message',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1', { size: 1, color: 'red' })), 'create');
      const r = await api.patch(wPath(ns, 'w1'), [{ op: 'test', path: '/spec/color', value: 'blue' }], JSONP);
      const unchanged = ok(await api.get(wPath(ns, 'w1')), 'get').spec;
      return { ...failure(r), unchanged };
    },
  ),

  check('patch/json-errors', 'JSON patch: not an array → 400; missing path → 422', async (api, { ns }) => {
    ok(await api.post(cmPath(ns), configMap('c1', { a: '1' })), 'create');
    return {
      notArray: brief(await api.patch(cmPath(ns, 'c1'), { op: 'add', path: '/data/b', value: '2' }, JSONP)),
      notJson: brief(await api.req('PATCH', cmPath(ns, 'c1'), { body: '[{', contentType: JSONP })),
      removeMissing: brief(await api.patch(cmPath(ns, 'c1'), [{ op: 'remove', path: '/data/zz' }], JSONP)),
      replaceMissing: brief(
        await api.patch(cmPath(ns, 'c1'), [{ op: 'replace', path: '/data/zz', value: 'x' }], JSONP),
      ),
    };
  }),

  check(
    'patch/merge',
    'Merge patch: objects merge, null deletes, lists are replaced',
    async (api, { ns }) => {
      ok(
        await api.post(
          wPath(ns),
          widget('w1', { size: 1, color: 'red', tags: ['a', 'b'] }, { labels: { keep: 'y', drop: 'y' } }),
        ),
        'create',
      );
      const r = await api.patch(
        wPath(ns, 'w1'),
        { metadata: { labels: { drop: null, add: 'y' } }, spec: { color: null, tags: ['c'] } },
        MERGE,
      );
      return { http: r.status, spec: r.json?.spec, labels: r.json?.metadata?.labels };
    },
  ),

  check('patch/merge-not-object', 'Merge patch whose body is a JSON array: refused', async (api, { ns }) => {
    ok(await api.post(cmPath(ns), configMap('c1', { a: '1' })), 'create');
    return brief(await api.patch(cmPath(ns, 'c1'), [{ a: 1 }], MERGE));
  }),

  check(
    'patch/smp-deployment',
    'Strategic merge patch on a Deployment: containers merge by name, $patch delete',
    async (api, { ns }) => {
      ok(
        await api.post(
          `/apis/apps/v1/namespaces/${ns}/deployments`,
          deployment('d1', [
            { name: 'a', image: 'example.com/a:1', env: [{ name: 'X', value: '1' }] },
            { name: 'b', image: 'example.com/b:1' },
            { name: 'c', image: 'example.com/c:1' },
          ]),
        ),
        'create',
      );
      const r = await api.patch(
        `/apis/apps/v1/namespaces/${ns}/deployments/d1`,
        {
          spec: {
            template: {
              spec: {
                containers: [
                  { name: 'a', env: [{ name: 'Y', value: '2' }] },
                  { name: 'b', image: 'example.com/b:2' },
                  { name: 'c', $patch: 'delete' },
                ],
              },
            },
          },
        },
        SMP,
      );
      const cs = (r.json?.spec?.template?.spec?.containers ?? []) as Array<Record<string, unknown>>;
      return { http: r.status, containers: cs.map((c) => ({ name: c.name, image: c.image, env: c.env })) };
    },
  ),

  check(
    'patch/smp-service-ports',
    'Strategic merge patch on a Service: ports merge by port',
    async (api, { ns }) => {
      ok(
        await api.post(`/api/v1/namespaces/${ns}/services`, {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 's1' },
          spec: {
            selector: { app: 'x' },
            ports: [
              { name: 'http', port: 80, targetPort: 8080 },
              { name: 'https', port: 443, targetPort: 8443 },
            ],
          },
        }),
        'create',
      );
      const r = await api.patch(
        `/api/v1/namespaces/${ns}/services/s1`,
        {
          spec: {
            ports: [
              { name: 'https', port: 443, targetPort: 9443 },
              { name: 'ipmi', port: 623, protocol: 'UDP' },
            ],
          },
        },
        SMP,
      );
      const ports = (r.json?.spec?.ports ?? []) as Array<Record<string, unknown>>;
      return {
        http: r.status,
        ports: ports
          .map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol }))
          .sort((a, b) => Number(a.port) - Number(b.port)),
      };
    },
  ),

  check(
    'patch/smp-cr',
    'Strategic merge patch on a custom resource: 415 with the accepted types',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create');
      return failure(await api.patch(wPath(ns, 'w1'), { spec: { size: 2 } }, SMP));
    },
  ),

  check(
    'patch/unknown-type',
    'PATCH with an unknown content type: 415 (built-in and CR)',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create');
      ok(await api.post(cmPath(ns), configMap('c1')), 'create');
      return {
        widget: failure(await api.req('PATCH', wPath(ns, 'w1'), { body: '{}', contentType: 'text/plain' })),
        configMap: failure(
          await api.req('PATCH', cmPath(ns, 'c1'), { body: '{}', contentType: 'application/json' }),
        ),
      };
    },
  ),

  check(
    'patch/apply-needs-field-manager',
    'Apply patch without fieldManager: refused',
    async (api, { ns }) => {
      const body = `apiVersion: test.kubevirtbmc.io/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n`;
      const r = await api.req('PATCH', wPath(ns, 'w1'), { body, contentType: APPLY });
      return { ...failure(r), created: (await api.get(wPath(ns, 'w1'))).status };
    },
  ),

  check(
    'patch/apply-creates',
    'Apply patch: creates a missing object (201), then updates it (200)',
    async (api, { ns }) => {
      const body = (size: number) =>
        `apiVersion: test.kubevirtbmc.io/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: ${size}\n`;
      const first = await api.req('PATCH', `${wPath(ns, 'w1')}?fieldManager=diff`, {
        body: body(3),
        contentType: APPLY,
      });
      const again = await api.req('PATCH', `${wPath(ns, 'w1')}?fieldManager=diff`, {
        body: body(4),
        contentType: APPLY,
      });
      const cm = await api.req('PATCH', `${cmPath(ns, 'c1')}?fieldManager=diff`, {
        body: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: "1"\n',
        contentType: APPLY,
      });
      return {
        first: [first.status, first.json?.spec, first.json?.metadata?.generation],
        again: [again.status, again.json?.spec, again.json?.metadata?.generation],
        configMap: [cm.status, cm.json?.data],
      };
    },
  ),

  check('patch/apply-json-body', 'Apply patch given as JSON (YAML is a superset)', async (api, { ns }) => {
    const r = await api.req('PATCH', `${cmPath(ns, 'c1')}?fieldManager=diff`, {
      body: JSON.stringify(configMap('c1', { a: '1' })),
      contentType: APPLY,
    });
    return { http: r.status, data: r.json?.data };
  }),

  check(
    'patch/apply-conflict',
    'Apply by a second manager of a field another owns: 409 conflict, force takes it',
    async (api, { ns }) => {
      const body = (size: number) =>
        `apiVersion: test.kubevirtbmc.io/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: ${size}\n`;
      ok(
        await api.req('PATCH', `${wPath(ns, 'w1')}?fieldManager=one`, { body: body(3), contentType: APPLY }),
        'first',
      );
      const other = await api.req('PATCH', `${wPath(ns, 'w1')}?fieldManager=two`, {
        body: body(4),
        contentType: APPLY,
      });
      const forced = await api.req('PATCH', `${wPath(ns, 'w1')}?fieldManager=two&force=true`, {
        body: body(5),
        contentType: APPLY,
      });
      return {
        conflict: failure(other),
        forced: [forced.status, forced.json?.spec],
      };
    },
  ),

  check(
    'patch/rv-precondition',
    'A patch carrying a stale metadata.resourceVersion: 409 Conflict',
    async (api, { ns }) => {
      ok(await api.post(cmPath(ns), configMap('c1', { a: '1' })), 'create');
      return failure(
        await api.patch(cmPath(ns, 'c1'), { metadata: { resourceVersion: '1' }, data: { a: '2' } }, MERGE),
      );
    },
  ),

  check('patch/immutable-fields', 'A patch that changes metadata.name: refused', async (api, { ns }) => {
    ok(await api.post(cmPath(ns), configMap('c1')), 'create');
    return brief(await api.patch(cmPath(ns, 'c1'), { metadata: { name: 'c2' } }, MERGE));
  }),

  check('patch/widget-whole', 'The object a merge patch answers (whole, normalised)', async (api, { ns }) => {
    ok(await api.post(wPath(ns), widget('w1', { size: 1 })), 'create');
    return { object: shape((await api.patch(wPath(ns, 'w1'), { spec: { color: 'blue' } }, MERGE)).json) };
  }),
];

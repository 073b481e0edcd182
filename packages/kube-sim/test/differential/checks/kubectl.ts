/** The real kubectl against both servers (D5, A3): what it prints and its exit code. */
import { parse as parseYaml } from 'yaml';
import type { RunResult } from '../../../../../test/support/run.ts';
import { type Api, type Check, check, normalize, type Obj, ok, sleep, wPath } from '../lib.ts';

const widgetYaml = (name: string, size: number, extra = '') =>
  `apiVersion: test.kubevirtbmc.io/v1\nkind: Widget\nmetadata:\n  name: ${name}\nspec:\n  size: ${size}\n${extra}`;

/** Exit code and output, with ages ("3s", "2m5s") and the dispatcher's version-skew warning normalised. */
function out(r: RunResult): Record<string, unknown> {
  const clean = (s: string) =>
    s
      .split('\n')
      .filter((l) => !/version difference between client|exceeds the supported minor version skew/.test(l))
      .join('\n')
      .replace(/\b\d+(s|m|h|d)(\d+(s|m))?\b/g, '<age>')
      .trim();
  return { code: r.code, stdout: clean(r.stdout), stderr: clean(r.stderr) };
}

async function k(api: Api, ns: string, args: string[], input?: string): Promise<Record<string, unknown>> {
  return out(await api.kubectl(['-n', ns, ...args], input !== undefined ? { input } : {}));
}

export const kubectlChecks: Check[] = [
  check(
    'kubectl/apply',
    'kubectl apply: created, configured (merge patch), unchanged; invalid objects refused with the server message',
    async (api, { ns }) => {
      return {
        create: await k(api, ns, ['apply', '-f', '-'], widgetYaml('w1', 2)),
        update: await k(api, ns, ['apply', '-f', '-'], widgetYaml('w1', 3)),
        unchanged: await k(api, ns, ['apply', '-f', '-'], widgetYaml('w1', 3)),
        invalid: await k(api, ns, ['apply', '-f', '-'], widgetYaml('w2', 50)),
        unknownField: await k(api, ns, ['apply', '-f', '-'], widgetYaml('w3', 1, '  bogus: 1\n')),
        builtin: await k(
          api,
          ns,
          ['apply', '-f', '-'],
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: "1"\n',
        ),
        builtinUpdate: await k(
          api,
          ns,
          ['apply', '-f', '-'],
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: "2"\n',
        ),
      };
    },
  ),

  check(
    'kubectl/apply-server-side',
    'kubectl apply --server-side: serverside-applied, then a conflict-free update',
    async (api, { ns }) => {
      return {
        first: await k(api, ns, ['apply', '--server-side', '-f', '-'], widgetYaml('w1', 2)),
        second: await k(api, ns, ['apply', '--server-side', '-f', '-'], widgetYaml('w1', 4)),
        size: (await api.get(wPath(ns, 'w1'))).json?.spec?.size,
      };
    },
  ),

  check(
    'kubectl/get',
    'kubectl get: printer columns, short name, category, -o yaml, -o name, a missing object',
    async (api, { ns }) => {
      ok(
        await api.post(wPath(ns), {
          apiVersion: 'test.kubevirtbmc.io/v1',
          kind: 'Widget',
          metadata: { name: 'w1' },
          spec: { size: 3 },
        }),
        'w1',
      );
      const yaml = await api.kubectl(['-n', ns, 'get', 'widget', 'w1', '-o', 'yaml']);
      return {
        table: await k(api, ns, ['get', 'widgets']),
        shortName: await k(api, ns, ['get', 'wdg']),
        category: await k(api, ns, ['get', 'kbmc']),
        wide: await k(api, ns, ['get', 'widgets', '-o', 'wide']),
        name: await k(api, ns, ['get', 'widgets', '-o', 'name']),
        yaml: { code: yaml.code, object: normalize(parseYaml(yaml.stdout) as Obj) },
        jsonpath: await k(api, ns, [
          'get',
          'widget',
          'w1',
          '-o',
          'jsonpath={.spec.size} {.metadata.generation}',
        ]),
        missing: await k(api, ns, ['get', 'widget', 'nope']),
        empty: await k(api, ns, ['get', 'configmaps', '-l', 'nothing=here']),
      };
    },
  ),

  check(
    'kubectl/patch',
    'kubectl patch --type=merge|json, and the default (strategic) type on a CR: 415',
    async (api, { ns }) => {
      ok(
        await api.post(wPath(ns), {
          apiVersion: 'test.kubevirtbmc.io/v1',
          kind: 'Widget',
          metadata: { name: 'w1' },
          spec: { size: 1 },
        }),
        'w1',
      );
      return {
        merge: await k(api, ns, ['patch', 'widget', 'w1', '--type=merge', '-p', '{"spec":{"size":2}}']),
        json: await k(api, ns, [
          'patch',
          'widget',
          'w1',
          '--type=json',
          '-p',
          '[{"op":"replace","path":"/spec/size","value":3}]',
        ]),
        jsonTestFails: await k(api, ns, [
          'patch',
          'widget',
          'w1',
          '--type=json',
          '-p',
          '[{"op":"test","path":"/spec/size","value":9}]',
        ]),
        unchanged: await k(api, ns, ['patch', 'widget', 'w1', '--type=merge', '-p', '{"spec":{"size":3}}']),
        strategicOnCr: await k(api, ns, ['patch', 'widget', 'w1', '-p', '{"spec":{"size":4}}']),
        status: await k(api, ns, [
          'patch',
          'widget',
          'w1',
          '--subresource=status',
          '--type=merge',
          '-p',
          '{"status":{"phase":"Ready"}}',
        ]),
        size: (await api.get(wPath(ns, 'w1'))).json?.spec?.size,
      };
    },
  ),

  check(
    'kubectl/delete',
    'kubectl delete: deleted (waiting for the object to go), a missing object, --ignore-not-found',
    async (api, { ns }) => {
      ok(
        await api.post(wPath(ns), {
          apiVersion: 'test.kubevirtbmc.io/v1',
          kind: 'Widget',
          metadata: { name: 'w1' },
          spec: { size: 1 },
        }),
        'w1',
      );
      return {
        delete: await k(api, ns, ['delete', 'widget', 'w1']),
        missing: await k(api, ns, ['delete', 'widget', 'w1']),
        ignore: await k(api, ns, ['delete', 'widget', 'w1', '--ignore-not-found']),
      };
    },
  ),

  check(
    'kubectl/wait',
    'kubectl wait --for=condition (honours observedGeneration) and --for=delete',
    async (api, { ns }) => {
      ok(
        await api.post(wPath(ns), {
          apiVersion: 'test.kubevirtbmc.io/v1',
          kind: 'Widget',
          metadata: { name: 'w1', finalizers: ['example.com/hold'] },
          spec: { size: 1 },
        }),
        'w1',
      );
      // Ready first with a stale observedGeneration, then with the current one
      ok(
        await api.patch(
          wPath(ns, 'w1', 'status'),
          { status: { conditions: [{ type: 'Ready', status: 'True', observedGeneration: 0 }] } },
          'application/merge-patch+json',
        ),
        'stale ready',
      );
      const late = (async () => {
        await sleep(1500);
        await api.patch(
          wPath(ns, 'w1', 'status'),
          { status: { conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1 }] } },
          'application/merge-patch+json',
        );
      })();
      const start = Date.now();
      const waited = await k(api, ns, ['wait', '--for=condition=Ready', 'widget/w1', '--timeout=20s']);
      const waitedForGeneration = Date.now() - start >= 1200;
      await late;
      const timeout = await k(api, ns, ['wait', '--for=condition=Missing', 'widget/w1', '--timeout=1s']);
      ok(await api.del(wPath(ns, 'w1')), 'delete');
      const gone = (async () => {
        await sleep(1000);
        await api.patch(wPath(ns, 'w1'), { metadata: { finalizers: null } }, 'application/merge-patch+json');
      })();
      const del = await k(api, ns, ['wait', '--for=delete', 'widget/w1', '--timeout=20s']);
      await gone;
      return { waited, waitedForGeneration, timeout, del };
    },
  ),

  check(
    'kubectl/create-imperative',
    'kubectl create secret generic / configmap / serviceaccount (protobuf bodies)',
    async (api, { ns }) => {
      const secret = await k(api, ns, [
        'create',
        'secret',
        'generic',
        's1',
        '--from-literal=user=admin',
        '--from-literal=password=x y',
      ]);
      const cm = await k(api, ns, ['create', 'configmap', 'c1', '--from-literal=a=1']);
      const sa = await k(api, ns, ['create', 'serviceaccount', 'sa1']);
      const role = await k(api, ns, ['create', 'role', 'r1', '--verb=get', '--resource=configmaps']);
      const again = await k(api, ns, ['create', 'configmap', 'c1', '--from-literal=a=1']);
      const s = (await api.get(`/api/v1/namespaces/${ns}/secrets/s1`)).json;
      return { secret, cm, sa, role, again, stored: { type: s?.type, data: s?.data } };
    },
  ),

  check('kubectl/describe', 'kubectl describe of a ConfigMap and a Widget', async (api, { ns }) => {
    ok(
      await api.post(`/api/v1/namespaces/${ns}/configmaps`, {
        metadata: { name: 'c1', labels: { a: 'b' } },
        data: { k: 'v' },
      }),
      'c1',
    );
    const d = await api.kubectl(['-n', ns, 'describe', 'configmap', 'c1']);
    return {
      code: d.code,
      lines: d.stdout
        .split('\n')
        .filter((l) => /^(Name|Namespace|Labels|Annotations|Data|k|v|Events):?/.test(l.trim()))
        .map((l) => l.trim()),
    };
  }),
];

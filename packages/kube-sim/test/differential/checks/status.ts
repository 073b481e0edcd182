/** The /status subresource and generation (D4, A9). */
import { brief, type Check, check, cmPath, failure, ok, widget, wPath } from '../lib.ts';

const MERGE = 'application/merge-patch+json';

export const statusChecks: Check[] = [
  check(
    'status/create-drops-status',
    'POST of a CR with status: the status is dropped (status subresource)',
    async (api, { ns }) => {
      const r = ok(await api.post(wPath(ns), { ...widget('w1'), status: { phase: 'Ready' } }), 'create');
      return { status: r.status, generation: r.metadata.generation };
    },
  ),

  check(
    'status/spec-via-status-ignored',
    'PUT /status: spec and labels ignored, status stored, generation kept',
    async (api, { ns }) => {
      const w = ok(await api.post(wPath(ns), widget('w1', { size: 1 })), 'create');
      const r = await api.put(wPath(ns, 'w1', 'status'), {
        ...w,
        metadata: { ...w.metadata, labels: { via: 'status' } },
        spec: { size: 9 },
        status: { phase: 'Ready' },
      });
      const after = ok(await api.get(wPath(ns, 'w1')), 'get');
      return {
        http: r.status,
        answer: {
          spec: r.json?.spec,
          status: r.json?.status,
          labels: r.json?.metadata?.labels,
          generation: r.json?.metadata?.generation,
        },
        stored: {
          spec: after.spec,
          status: after.status,
          labels: after.metadata.labels,
          generation: after.metadata.generation,
        },
        rvBumped: after.metadata.resourceVersion !== w.metadata.resourceVersion,
      };
    },
  ),

  check(
    'status/status-via-main-ignored',
    'PATCH of status through the main endpoint: ignored, no write',
    async (api, { ns }) => {
      const w = ok(await api.post(wPath(ns), widget('w1')), 'create');
      const r = ok(await api.patch(wPath(ns, 'w1'), { status: { phase: 'Hacked' } }, MERGE), 'patch');
      const put = ok(await api.put(wPath(ns, 'w1'), { ...r, status: { phase: 'Hacked' } }), 'put');
      return {
        status: r.status,
        rvKept: r.metadata.resourceVersion === w.metadata.resourceVersion,
        putStatus: put.status,
        putRvKept: put.metadata.resourceVersion === w.metadata.resourceVersion,
      };
    },
  ),

  check(
    'status/generation',
    'generation: bumps on spec changes only (not labels, annotations, status)',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1', { size: 1 })), 'create');
      const seen: number[] = [];
      const step = async (path: string, body: unknown) => {
        const r = ok(await api.patch(path, body, MERGE), `patch ${JSON.stringify(body)}`);
        seen.push(r.metadata.generation);
      };
      await step(wPath(ns, 'w1'), { spec: { size: 2 } });
      await step(wPath(ns, 'w1'), { metadata: { labels: { a: 'b' } } });
      await step(wPath(ns, 'w1'), { metadata: { annotations: { a: 'b' } } });
      await step(wPath(ns, 'w1', 'status'), { status: { phase: 'X', observedGeneration: 2 } });
      await step(wPath(ns, 'w1'), { spec: { size: 3 } });
      await step(wPath(ns, 'w1'), { spec: { size: 3 } });
      return { generations: seen };
    },
  ),

  check('status/get-status', 'GET /status returns the whole object', async (api, { ns }) => {
    ok(await api.post(wPath(ns), widget('w1', { size: 4 })), 'create');
    const r = await api.get(wPath(ns, 'w1', 'status'));
    return { http: r.status, kind: r.json?.kind, apiVersion: r.json?.apiVersion, spec: r.json?.spec };
  }),

  check(
    'status/patch-status-types',
    '/status of a CR: merge and JSON patch work, strategic merge is 415',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'create');
      const merge = await api.patch(wPath(ns, 'w1', 'status'), { status: { phase: 'A' } }, MERGE);
      const json = await api.patch(
        wPath(ns, 'w1', 'status'),
        [{ op: 'replace', path: '/status/phase', value: 'B' }],
        'application/json-patch+json',
      );
      const smp = await api.patch(
        wPath(ns, 'w1', 'status'),
        { status: { phase: 'C' } },
        'application/strategic-merge-patch+json',
      );
      return {
        merge: [merge.status, merge.json?.status],
        json: [json.status, json.json?.status],
        smp: brief(smp),
      };
    },
  ),

  check(
    'status/no-status-subresource',
    'A resource without a status subresource: /status is 404',
    async (api, { ns }) => {
      ok(
        await api.post(cmPath(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1' } }),
        'create',
      );
      return failure(await api.get(cmPath(ns, 'c1', 'status')));
    },
  ),

  check('status/missing-object', 'PUT /status of a missing object: 404 NotFound', async (api, { ns }) => {
    return failure(await api.put(wPath(ns, 'nope', 'status'), { ...widget('nope'), status: { phase: 'X' } }));
  }),
];

/** Custom resource validation: schema errors, CEL rules, pruning and fieldValidation; leases (D12, A14). */
import { type Check, check, failure, type Obj, type Observation, ok, widget, wPath } from '../lib.ts';

const LEASES = (ns: string, name?: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases${name ? `/${name}` : ''}`;

/**
 * kube-apiserver reports errors of sibling fields in Go map order, which varies from call to call:
 * the errors of a message and its causes are compared as sets.
 */
function unordered(f: Observation): Observation {
  const out = { ...f };
  const m = typeof out.message === 'string' ? /^(.*? is invalid: )\[(.*)\]$/s.exec(out.message) : null;
  if (m)
    out.message = `${m[1]}[${m[2]!
      .split(/, (?=spec\.|status\.|metadata\.|<nil>:)/)
      .sort()
      .join(', ')}]`;
  const details = out.details as Obj | undefined;
  if (details?.causes)
    out.details = {
      ...details,
      causes: [...details.causes].sort((a: Obj, b: Obj) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)),
    };
  return out;
}

export const crdChecks: Check[] = [
  check(
    'crd/schema-errors',
    'Schema validation: minimum, enum, pattern, maxLength, maxItems, required, type',
    async (api, { ns }) => {
      const out: Record<string, unknown> = {};
      const cases: Array<[string, Obj]> = [
        ['minimum', { size: 0 }],
        ['maximum', { size: 11 }],
        ['enum', { size: 1, color: 'purple' }],
        ['pattern', { size: 1, name: 'ABC' }],
        ['maxLength', { size: 1, name: 'abcdefghijklmnopqrstuvwxyz' }],
        ['maxItems', { size: 1, tags: ['a', 'b', 'c', 'd'] }],
        ['required', { color: 'red' }],
        ['type', { size: 'big' }],
        ['several', { size: 0, color: 'purple' }],
      ];
      for (const [name, spec] of cases)
        out[name] = unordered(failure(await api.post(wPath(ns), widget(`w-${name.toLowerCase()}`, spec))));
      return out;
    },
  ),

  check(
    'crd/cel',
    'x-kubernetes-validations: CEL rule messages on create, transition rules (oldSelf) on update',
    async (api, { ns }) => {
      const rule = await api.post(wPath(ns), widget('w1', { size: 1, min: 5, max: 2 }));
      ok(await api.post(wPath(ns), widget('w2', { size: 1, immutableId: 'one' })), 'w2');
      const transition = await api.patch(
        wPath(ns, 'w2'),
        { spec: { immutableId: 'two' } },
        'application/merge-patch+json',
      );
      const same = await api.patch(
        wPath(ns, 'w2'),
        { spec: { immutableId: 'one', size: 2 } },
        'application/merge-patch+json',
      );
      return { rule: failure(rule), transition: failure(transition), unchangedOk: same.status };
    },
  ),

  check(
    'crd/strict-unknown-fields',
    'fieldValidation=Strict: unknown fields are a 400; default (Warn) prunes with a Warning header; Ignore prunes silently',
    async (api, { ns }) => {
      const body = { ...widget('w1', { size: 1, bogus: 1 }), extra: true };
      const strict = await api.post(`${wPath(ns)}?fieldValidation=Strict`, body);
      const warn = await api.post(wPath(ns), body);
      const ignore = await api.post(`${wPath(ns)}?fieldValidation=Ignore`, {
        ...body,
        metadata: { name: 'w2' },
      });
      const patchStrict = await api.patch(
        `${wPath(ns, 'w1')}?fieldValidation=Strict`,
        { spec: { other: 1 } },
        'application/merge-patch+json',
      );
      return {
        strict: failure(strict),
        warn: [warn.status, warn.json?.spec, warn.json?.extra, warn.headers.warning],
        ignore: [ignore.status, ignore.json?.spec, ignore.headers.warning],
        // the message quotes the whole patched object (managedFields and timestamps differ): elided
        patchStrict: JSON.parse(
          JSON.stringify(failure(patchStrict)).replace(
            /Invalid value: \\"\{.*?\}\\": strict/g,
            'Invalid value: <object>: strict',
          ),
        ),
      };
    },
  ),

  check(
    'crd/defaults-and-preserve',
    'Status conditions with x-kubernetes-preserve-unknown-fields keep their fields',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1')), 'w1');
      const r = await api.patch(
        wPath(ns, 'w1', 'status'),
        { status: { conditions: [{ type: 'Ready', status: 'True', anything: { deep: 1 } }], unknown: 1 } },
        'application/merge-patch+json',
      );
      return { http: r.status, status: r.json?.status };
    },
  ),

  check('crd/null-pruned', 'A null for a non-nullable field is dropped', async (api, { ns }) => {
    const r = await api.post(wPath(ns), widget('w1', { size: 1, color: null }));
    return r.status === 201 ? { http: 201, spec: r.json.spec } : failure(r);
  }),

  check(
    'crd/validation-on-update',
    'An update that breaks the schema: 422 Invalid; the stored object is unchanged',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1', { size: 2 })), 'w1');
      const r = await api.patch(wPath(ns, 'w1'), { spec: { size: 20 } }, 'application/merge-patch+json');
      return { ...failure(r), stored: ok(await api.get(wPath(ns, 'w1')), 'get').spec };
    },
  ),

  check('leases/microtime', 'A Lease round-trips MicroTime with 6 fractional digits', async (api, { ns }) => {
    const r = await api.post(LEASES(ns), {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'l1' },
      spec: {
        holderIdentity: 'a',
        leaseDurationSeconds: 15,
        acquireTime: '2026-01-01T10:00:00.123456Z',
        renewTime: '2026-01-01T10:00:01.000001Z',
        leaseTransitions: 0,
      },
    });
    return { http: r.status, spec: r.json?.spec };
  }),

  check(
    'leases/election-conflicts',
    'Leader election writes: a stale PUT is 409 Conflict, a second create 409 AlreadyExists',
    async (api, { ns }) => {
      const l = ok(
        await api.post(LEASES(ns), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: 'leader' },
          spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: '2026-01-01T10:00:00.000000Z' },
        }),
        'lease',
      );
      const renewed = ok(
        await api.put(LEASES(ns, 'leader'), {
          ...l,
          spec: { ...l.spec, renewTime: '2026-01-01T10:00:02.000000Z' },
        }),
        'renew',
      );
      const stale = await api.put(LEASES(ns, 'leader'), { ...l, spec: { ...l.spec, holderIdentity: 'b' } });
      const again = await api.post(LEASES(ns), { ...l, metadata: { name: 'leader' } });
      return { renewed: renewed.spec.renewTime, stale: failure(stale), again: failure(again) };
    },
  ),
];

/** Comparing two observations: the paths where they differ, and a readable report of them. */
import { isDeepStrictEqual } from 'node:util';
import { normalize, type Observation } from './lib.ts';

export interface Delta {
  path: string;
  embedded: unknown;
  real: unknown;
}

export function deltas(a: unknown, b: unknown, path = ''): Delta[] {
  if (isDeepStrictEqual(a, b)) return [];
  const bothObjects =
    a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects || (Array.isArray(a) && (a as unknown[]).length !== (b as unknown[]).length)) {
    return [{ path: path || '.', embedded: a, real: b }];
  }
  const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])];
  return keys.flatMap((k) =>
    deltas((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`),
  );
}

export function describeDeltas(ds: Delta[]): string {
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));
  return ds
    .map((d) => `  ${d.path}\n    embedded: ${show(d.embedded)}\n    real:     ${show(d.real)}`)
    .join('\n');
}

export type Verdict =
  | { kind: 'match' }
  | { kind: 'documented'; deltas: Delta[] }
  | { kind: 'mismatch'; deltas: Delta[] }
  | { kind: 'stale'; fields: string[] };

/**
 * Compares after normalising. `documented` names top-level observation fields (or `*` for all)
 * whose difference is intentional: they are left out of the comparison, and at least one of them
 * must still differ (else the entry is stale and must be removed).
 */
export function compare(embedded: Observation, real: Observation, documented?: readonly string[]): Verdict {
  const a = normalize(embedded) as Observation;
  const b = normalize(real) as Observation;
  if (!documented) {
    const ds = deltas(a, b);
    return ds.length ? { kind: 'mismatch', deltas: ds } : { kind: 'match' };
  }
  const all = documented.includes('*');
  const pick = (o: Observation, keep: boolean) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => all || documented.includes(k) === keep));
  const rest = all ? [] : deltas(pick(a, false), pick(b, false));
  if (rest.length) return { kind: 'mismatch', deltas: rest };
  const documentedDeltas = deltas(all ? a : pick(a, true), all ? b : pick(b, true));
  if (!documentedDeltas.length) return { kind: 'stale', fields: [...documented] };
  return { kind: 'documented', deltas: documentedDeltas };
}

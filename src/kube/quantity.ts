/**
 * Kubernetes resource quantities (`resource.Quantity`): a signed decimal number, optionally with a
 * decimal exponent (`1e3`), then a decimal SI suffix (`n u m k M G T P E`) or a binary one
 * (`Ki Mi Gi Ti Pi Ei`). One parser for the product (memory and disk sizes of VMs) and the fake
 * cluster (pod resources, volume capacities).
 */

const FACTOR: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity (`100m`, `64Mi`, `1e3`, `2`) as a number of base units; null when it is not one. */
export function parseQuantity(q: string | number | undefined | null): number | null {
  if (typeof q === 'number') return Number.isFinite(q) ? q : null;
  if (typeof q !== 'string') return null;
  const m = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:[eE]([+-]?[0-9]+))?([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return null;
  const factor = FACTOR[m[3]!];
  if (factor === undefined) return null;
  const value = Number(m[1]) * (m[2] ? 10 ** Number(m[2]) : 1) * factor;
  return Number.isFinite(value) ? value : null;
}

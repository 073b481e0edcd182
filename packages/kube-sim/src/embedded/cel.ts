/** CEL rules of x-kubernetes-validations, evaluated with @marcbachmann/cel-js (integers as CEL ints). */
import { parse } from '@marcbachmann/cel-js';

type Compiled = ReturnType<typeof parse>;
const cache = new Map<string, Compiled | Error>();

function toCel(v: unknown): unknown {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (Array.isArray(v)) return v.map(toCel);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v;
}

/** ok=false with `error` set when the rule cannot be compiled or evaluated (reported like the real server). */
export function evaluateRule(rule: string, self: unknown, oldSelf: unknown): { ok: boolean; error?: string } {
  let fn = cache.get(rule);
  if (!fn) {
    try {
      fn = parse(rule);
    } catch (e) {
      fn = e as Error;
    }
    cache.set(rule, fn);
  }
  if (fn instanceof Error) return { ok: false, error: `compilation failed: ${fn.message.split('\n')[0]}` };
  try {
    const ctx: Record<string, unknown> = { self: toCel(self) };
    if (oldSelf !== undefined) ctx.oldSelf = toCel(oldSelf);
    const result = fn(ctx);
    return { ok: result === true };
  } catch (e) {
    return { ok: false, error: `${(e as Error).message.split('\n')[0]} evaluating rule: ${rule}` };
  }
}

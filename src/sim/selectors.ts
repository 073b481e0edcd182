/** Label and field selectors (k8s.io/apimachinery labels and fields grammar, the parts clients use). */
import { badRequest } from './errors.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

export type LabelRequirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

export type LabelSelector = LabelRequirement[];

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, text: string): string {
  if (!KEY.test(key))
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${text}"`);
  return key;
}
function checkValue(v: string, text: string): string {
  if (!VALUE.test(v) || v.length > 63) {
    throw badRequest(`unable to parse requirement: invalid label value: "${v}" in selector "${text}"`);
  }
  return v;
}

/** Splits on commas that are not inside parentheses. */
function splitTop(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function parseLabelSelector(text: string | undefined): LabelSelector {
  if (!text?.trim()) return [];
  const reqs: LabelSelector = [];
  for (const raw of splitTop(text)) {
    const part = raw.trim();
    if (!part)
      throw badRequest(`unable to parse requirement: found '', expected: identifier in selector "${text}"`);
    let m = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    if (m) {
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v, _i, a) => v !== '' || a.length > 1);
      for (const v of values) checkValue(v, text);
      reqs.push({ op: m[2] as 'in' | 'notin', key: checkKey(m[1]!, text), values });
      continue;
    }
    m = /^(.+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (m) {
      reqs.push({
        op: m[2] === '!=' ? 'neq' : 'eq',
        key: checkKey(m[1]!.trim(), text),
        value: checkValue(m[3]!.trim(), text),
      });
      continue;
    }
    if (part.startsWith('!')) {
      reqs.push({ op: 'notexists', key: checkKey(part.slice(1).trim(), text) });
      continue;
    }
    if (/[\s()<>]/.test(part))
      throw badRequest(
        `unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt in selector "${text}"`,
      );
    reqs.push({ op: 'exists', key: checkKey(part, text) });
  }
  return reqs;
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of sel) {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'eq':
        if (!has || v !== r.value) return false;
        break;
      case 'neq':
        if (has && v === r.value) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** metav1.LabelSelector (matchLabels + matchExpressions) as used by Deployments and Services' selectors. */
export function matchLabelSelectorObject(
  sel:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }
    | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!sel) return false;
  const reqs: LabelSelector = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push({ op: 'eq', key: k, value: v });
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator;
    if (op === 'In') reqs.push({ op: 'in', key: e.key, values: e.values ?? [] });
    else if (op === 'NotIn') reqs.push({ op: 'notin', key: e.key, values: e.values ?? [] });
    else if (op === 'Exists') reqs.push({ op: 'exists', key: e.key });
    else if (op === 'DoesNotExist') reqs.push({ op: 'notexists', key: e.key });
  }
  return matchLabels(reqs, labels);
}

export interface FieldRequirement {
  field: string;
  op: 'eq' | 'neq';
  value: string;
}

/** Parses a field selector, allowing only the given field paths (400 like the real server otherwise). */
export function parseFieldSelector(text: string | undefined, allowed: readonly string[]): FieldRequirement[] {
  if (!text?.trim()) return [];
  const out: FieldRequirement[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const field = m[1]!.trim();
    if (!allowed.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    out.push({ field, op: m[2] === '!=' ? 'neq' : 'eq', value: m[3]! });
  }
  return out;
}

export function fieldValue(obj: Obj, path: string): string {
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
  let cur: any = obj;
  for (const p of path.split('.')) {
    if (cur == null) return '';
    cur = cur[p];
  }
  if (cur == null) return '';
  return String(cur);
}

export function matchFields(sel: readonly FieldRequirement[], obj: Obj): boolean {
  for (const r of sel) {
    const v = fieldValue(obj, r.field);
    if (r.op === 'eq' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

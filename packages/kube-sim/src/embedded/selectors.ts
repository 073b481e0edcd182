/** Label and field selectors (k8s.io/apimachinery labels and fields grammar, the parts clients use). */
import { badRequest } from './errors.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

export type LabelRequirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

export type LabelSelector = LabelRequirement[];

const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Label key validation with upstream's wording (qualified name: optional DNS prefix, name part). */
function keyError(key: string): string | undefined {
  const parts = key.split('/');
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length > 2)
    return `<nil>: Invalid value: "${key}": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`;
  if (parts.length === 2 && (!PREFIX.test(parts[0]!) || parts[0]!.length > 253))
    return `<nil>: Invalid value: "${key}": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
  if (name.length > 63) return `<nil>: Invalid value: "${key}": name part must be no more than 63 characters`;
  if (!NAME_PART.test(name))
    return `<nil>: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`;
  return undefined;
}

function valueError(key: string, v: string, i: number): string | undefined {
  if (v.length > 63) return `values[${i}][${key}]: Invalid value: "${v}": must be no more than 63 characters`;
  if (!VALUE.test(v))
    return `values[${i}][${key}]: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`;
  return undefined;
}

type Tok = 'id' | 'in' | 'notin' | '!' | '!=' | '=' | '==' | '>' | '<' | '(' | ')' | ',' | 'end' | 'error';

const SYMBOLS = new Set(['!', '!=', '=', '==', '>', '<', '(', ')', ',']);
const SPECIAL = /[=!()<>,]/;
const SPACE = /[ \t\r\n]/;

/** The tokens of a label selector, as k8s.io/apimachinery's lexer splits it. */
function lex(text: string): Array<{ tok: Tok; lit: string }> {
  const out: Array<{ tok: Tok; lit: string }> = [];
  let i = 0;
  for (;;) {
    while (i < text.length && SPACE.test(text[i]!)) i++;
    if (i >= text.length) {
      out.push({ tok: 'end', lit: '' });
      return out;
    }
    if (SPECIAL.test(text[i]!)) {
      let lit = '';
      let tok: Tok | undefined;
      let j = i;
      while (j < text.length && SPECIAL.test(text[j]!)) {
        const next = lit + text[j];
        if (!SYMBOLS.has(next)) break;
        lit = next;
        tok = next as Tok;
        j++;
      }
      if (!tok) {
        out.push({ tok: 'error', lit: `error expected: keyword found '${text[i]}'` });
        return out;
      }
      out.push({ tok, lit });
      i = j;
      continue;
    }
    let j = i;
    while (j < text.length && !SPACE.test(text[j]!) && !SPECIAL.test(text[j]!)) j++;
    const lit = text.slice(i, j);
    out.push({ tok: lit === 'in' ? 'in' : lit === 'notin' ? 'notin' : 'id', lit });
    i = j;
  }
}

class SelectorError extends Error {}

/** Parses a label selector with upstream's grammar and error messages (400 BadRequest on errors). */
export function parseLabelSelector(text: string | undefined): LabelSelector {
  if (!text?.trim()) return [];
  const toks = lex(text);
  let pos = 0;
  // in "values" position the keywords in/notin are plain identifiers
  const peek = (values = true) => {
    const t = toks[Math.min(pos, toks.length - 1)]!;
    return values && (t.tok === 'in' || t.tok === 'notin') ? { tok: 'id' as Tok, lit: t.lit } : t;
  };
  const next = (values = true) => {
    const t = peek(values);
    pos++;
    return t;
  };
  const fail = (m: string): never => {
    throw new SelectorError(m);
  };
  const requirement = (): LabelRequirement => {
    let t = next();
    let notExists = false;
    if (t.tok === '!') {
      notExists = true;
      t = next();
    }
    if (t.tok !== 'id') fail(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const ke = keyError(key);
    if (ke) fail(ke);
    const after = peek().tok;
    if (after === 'end' || after === ',') return notExists ? { op: 'notexists', key } : { op: 'exists', key };
    const op = next(false);
    let values: string[];
    if (op.tok === 'in' || op.tok === 'notin') {
      const open = next();
      if (open.tok !== '(') fail(`found '${open.lit}' expected: '('`);
      values = [];
      const first = peek();
      if (first.tok === ')') {
        next();
        values = [''];
      } else if (first.tok === 'id' || first.tok === ',') {
        for (;;) {
          const v = next();
          if (v.tok === 'id') {
            values.push(v.lit);
            const n = peek();
            if (n.tok === ',') continue;
            if (n.tok === ')') break;
            fail(`found '${n.lit}', expected: ',' or ')'`);
          } else if (v.tok === ',') {
            if (values.length === 0) values.push('');
            const n = peek();
            if (n.tok === ')') {
              values.push('');
              break;
            }
            if (n.tok === ',') {
              next();
              values.push('');
            }
          } else fail(`found '${v.lit}', expected: ',', or identifier`);
        }
        const close = next();
        if (close.tok !== ')') fail(`found '${close.lit}', expected: ')'`);
      } else fail(`found '${first.lit}', expected: ',', ')' or identifier`);
      values = [...new Set(values)].sort();
      if (values.length === 0)
        fail("values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty");
      values.forEach((v, i) => {
        const ve = valueError(key, v, i);
        if (ve) fail(ve);
      });
      return { op: op.tok, key, values };
    }
    // (upstream also has the integer comparisons gt and lt, which nothing here uses)
    if (!['=', '==', '!='].includes(op.tok))
      fail(`found '${op.lit}', expected: in, notin, =, ==, !=, gt, lt`);
    const n = peek();
    let value = '';
    if (n.tok !== 'end' && n.tok !== ',') {
      const v = next();
      if (v.tok !== 'id') fail(`found '${v.lit}', expected: identifier`);
      value = v.lit;
    }
    const ve = valueError(key, value, 0);
    if (ve) fail(ve);
    return { op: op.tok === '!=' ? 'neq' : 'eq', key, value };
  };
  const reqs: LabelSelector = [];
  try {
    for (;;) {
      const t = peek();
      if (t.tok === 'end') return reqs;
      if (t.tok !== 'id' && t.tok !== '!')
        throw badRequest(`found '${t.lit}', expected: !, identifier, or 'end of string'`);
      try {
        reqs.push(requirement());
      } catch (e) {
        if (e instanceof SelectorError) throw badRequest(`unable to parse requirement: ${e.message}`);
        throw e;
      }
      const sep = next();
      if (sep.tok === 'end') return reqs;
      if (sep.tok !== ',') throw badRequest(`found '${sep.lit}', expected: ',' or 'end of string'`);
      const n = peek();
      if (n.tok !== 'id' && n.tok !== '!')
        throw badRequest(`found '${n.lit}', expected: identifier after ','`);
    }
  } catch (e) {
    if (e instanceof SelectorError) throw badRequest(e.message);
    throw e;
  }
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
/**
 * `allowed` lists the supported fields; `generic` marks kinds that support only metadata.name and
 * metadata.namespace, which upstream refuses with a different message than kinds with own fields.
 */
export function parseFieldSelector(
  text: string | undefined,
  allowed: readonly string[],
  generic = false,
): FieldRequirement[] {
  if (!text?.trim()) return [];
  const out: FieldRequirement[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const field = m[1]!.trim();
    if (!allowed.includes(field)) {
      throw badRequest(
        generic
          ? `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`
          : `field label not supported: ${field}`,
      );
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

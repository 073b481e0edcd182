import { fail } from './messages.ts';
import type { Json } from './resource.ts';

/**
 * OData query options, as `ServiceRoot.ProtocolFeaturesSupported` declares them: `$expand`
 * (`.`, `*`, `~`, with `($levels=n)` up to MAX_EXPAND_LEVELS), `$select`, `$top`, `$skip`. Other
 * `$` options are 501 `QueryParameterUnsupported`; parameters without `$` are ignored. Pure.
 */
export const MAX_EXPAND_LEVELS = 3;

export interface QueryOptions {
  expand: { mode: '.' | '*' | '~'; levels: number } | null;
  select: string[][] | null;
  top: number | null;
  skip: number | null;
}

export const NO_QUERY: QueryOptions = { expand: null, select: null, top: null, skip: null };

export function parseQuery(search: string): QueryOptions {
  if (search.length <= 1) return NO_QUERY;
  const q: QueryOptions = { expand: null, select: null, top: null, skip: null };
  for (const part of search.slice(1).split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const key = safeDecode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : safeDecode(part.slice(eq + 1));
    if (!key.startsWith('$')) continue;
    switch (key) {
      case '$expand': {
        const m = /^([.*~])(?:\(\$levels=(\d+)\))?$/.exec(value);
        if (!m) throw fail(400, 'QueryParameterValueFormatError', [value, '$expand']);
        const levels = m[2] === undefined ? 1 : Number(m[2]);
        if (levels < 1 || levels > MAX_EXPAND_LEVELS) {
          throw fail(400, 'QueryParameterValueFormatError', [value, '$expand']);
        }
        q.expand = { mode: m[1] as '.' | '*' | '~', levels };
        break;
      }
      case '$select': {
        const paths = value.split(',').map((p) => p.trim());
        if (paths.some((p) => !/^[A-Za-z_@#][A-Za-z0-9_.@#]*(\/[A-Za-z_@#][A-Za-z0-9_.@#]*)*$/.test(p))) {
          throw fail(400, 'QueryParameterValueFormatError', [value, '$select']);
        }
        q.select = paths.map((p) => p.split('/'));
        break;
      }
      case '$top':
      case '$skip': {
        if (!/^\d{1,9}$/.test(value)) throw fail(400, 'QueryParameterValueTypeError', [value, key]);
        if (key === '$top') q.top = Number(value);
        else q.skip = Number(value);
        break;
      }
      default:
        throw fail(501, 'QueryParameterUnsupported', [key]);
    }
  }
  return q;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** `$skip`/`$top` on a collection; adds `Members@odata.nextLink` when members remain. */
export function applyPaging(body: Json, path: string, q: QueryOptions): Json {
  const members = body.Members;
  if (!Array.isArray(members) || (q.top === null && q.skip === null)) return body;
  const skip = q.skip ?? 0;
  const end = q.top === null ? members.length : Math.min(members.length, skip + q.top);
  const page = members.slice(skip, end);
  const out: Json = { ...body, Members: page };
  if (end < members.length) {
    const top = q.top ?? members.length;
    out['Members@odata.nextLink'] = `${path}?$skip=${end}&$top=${top}`;
  }
  return out;
}

const KEEP = new Set(['@odata.id', '@odata.type', '@odata.context', '@odata.etag', 'Id', 'Name']);

/** `$select`: keeps the listed properties (paths with `/`) and the identity properties. */
export function applySelect(body: Json, select: string[][]): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(body)) if (KEEP.has(k)) out[k] = v;
  for (const path of select) copyPath(body, out, path);
  if ('Members' in out && 'Members@odata.count' in body)
    out['Members@odata.count'] = body['Members@odata.count'];
  return out;
}

function copyPath(from: Json, to: Json, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined || !(head in from)) return;
  const value = from[head];
  if (rest.length === 0 || value === null || typeof value !== 'object' || Array.isArray(value)) {
    to[head] = value;
    return;
  }
  const child = (to[head] && typeof to[head] === 'object' ? to[head] : {}) as Json;
  copyPath(value as Json, child, rest);
  to[head] = child;
}

/**
 * `$expand`: replaces navigation references (`{"@odata.id": …}` alone) by the resources they name.
 * `.` expands subordinate references (not under `Links`), `~` only those under `Links`, `*` both.
 * `resolve` renders a URI for the same user, or returns null to leave the reference as is.
 */
export function expand(
  body: Json,
  mode: '.' | '*' | '~',
  levels: number,
  resolve: (uri: string) => Json | null,
): Json {
  const walk = (value: unknown, inLinks: boolean, top: boolean): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v, inLinks, false));
    if (value === null || typeof value !== 'object') return value;
    const obj = value as Json;
    const keys = Object.keys(obj);
    if (!top && keys.length === 1 && keys[0] === '@odata.id' && typeof obj['@odata.id'] === 'string') {
      const wanted = mode === '*' || (mode === '.' && !inLinks) || (mode === '~' && inLinks);
      if (!wanted) return obj;
      const target = resolve(obj['@odata.id']);
      if (!target) return obj;
      return levels > 1 ? expand(target, mode, levels - 1, resolve) : target;
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(obj)) {
      if (k === 'Actions' || k.includes('@')) out[k] = v;
      else out[k] = walk(v, inLinks || k === 'Links', false);
    }
    return out;
  };
  return walk(body, false, true) as Json;
}

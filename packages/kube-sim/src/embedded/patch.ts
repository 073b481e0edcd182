/** Patch types: RFC 6902 JSON patch, RFC 7386 merge patch, strategic merge patch (built-ins). Pure. */
import { ApiError, badRequest } from './errors.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Json = any;

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
}

/**
 * The real server's 422 for a JSON patch op that does not apply: a generic server response whose
 * message does not carry the json-patch library's detail (kept here as the Error message only).
 */
function patchFailure(message: string): ApiError {
  const e = new ApiError(
    422,
    'Invalid',
    'the server rejected our request due to an error in our request',
    {},
  );
  e.message = message;
  return e;
}

function decodePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw patchFailure(`invalid JSON pointer: ${ptr}`);
  return ptr
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, parts: string[], path: string, op: string): Json {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object')
      throw patchFailure(`${op} operation does not apply: doc is missing path: "${path}"`);
    cur = Array.isArray(cur) ? cur[Number(p)] : cur[p];
    if (cur === undefined)
      throw patchFailure(`${op} operation does not apply: doc is missing path: "${path}"`);
  }
  if (cur === null || typeof cur !== 'object')
    throw patchFailure(`${op} operation does not apply: doc is missing path: "${path}"`);
  return cur;
}

function getAt(doc: Json, path: string, op: string): Json {
  let cur = doc;
  for (const p of decodePointer(path)) {
    if (cur === null || typeof cur !== 'object')
      throw patchFailure(`${op} operation does not apply: doc is missing path: "${path}"`);
    cur = Array.isArray(cur) ? cur[Number(p)] : Object.hasOwn(cur, p) ? cur[p] : undefined;
    if (cur === undefined)
      throw patchFailure(`${op} operation does not apply: doc is missing path: "${path}"`);
  }
  return cur;
}

function arrayIndex(arr: Json[], key: string, path: string, forAdd: boolean): number {
  if (forAdd && key === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(key)) throw patchFailure(`Unable to access invalid index: ${key}`);
  const i = Number(key);
  if (i > arr.length || (!forAdd && i >= arr.length))
    throw patchFailure(`Unable to access invalid index: ${i} for path ${path}`);
  return i;
}

function addAt(doc: Json, path: string, value: Json, op = 'add'): Json {
  const parts = decodePointer(path);
  if (parts.length === 0) return value;
  const parent = parentOf(doc, parts, path, op);
  const key = parts[parts.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, value);
  else parent[key] = value;
  return doc;
}

function removeAt(doc: Json, path: string, op = 'remove'): Json {
  const parts = decodePointer(path);
  const parent = parentOf(doc, parts, path, op);
  const key = parts[parts.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, false), 1);
  else {
    if (!Object.hasOwn(parent, key))
      throw patchFailure(`${op} operation does not apply: doc is missing path: "${path}"`);
    delete parent[key];
  }
  return doc;
}

/** Applies an RFC 6902 patch; 400 for a malformed patch document, 422 when an operation fails. */
export function applyJsonPatch(doc: Json, patch: unknown): Json {
  if (!Array.isArray(patch)) {
    throw badRequest(
      `error decoding patch: json: cannot unmarshal ${patch === null ? 'null' : typeof patch === 'object' ? 'object' : typeof patch === 'string' ? 'string' : 'number'} into Go value of type []handlers.jsonPatchOp`,
    );
  }
  if (patch.length > 10000) {
    throw new ApiError(
      413,
      'RequestEntityTooLarge',
      `The allowed maximum operations in a JSON patch is 10000, got ${patch.length}`,
    );
  }
  let out = clone(doc);
  for (const raw of patch) {
    if (raw === null || typeof raw !== 'object' || typeof raw.op !== 'string') {
      throw badRequest('json: cannot unmarshal patch operation: missing op');
    }
    const { op, path, from, value } = raw as { op: string; path: string; from?: string; value?: Json };
    if (typeof path !== 'string') throw badRequest(`Unable to patch: ${op} operation is missing path`);
    switch (op) {
      case 'add':
        if (!('value' in raw)) throw badRequest('add operation is missing value');
        out = addAt(out, path, clone(value));
        break;
      case 'remove':
        out = removeAt(out, path);
        break;
      case 'replace': {
        if (!('value' in raw)) throw badRequest('replace operation is missing value');
        const parts = decodePointer(path);
        // like upstream's json-patch library, replacing a missing key of an object adds it
        const parentIsObject = (() => {
          try {
            const p = parts.length ? parentOf(out, parts, path, 'replace') : undefined;
            return p !== undefined && !Array.isArray(p);
          } catch {
            return false;
          }
        })();
        if (!parentIsObject) getAt(out, path, 'replace');
        if (parts.length === 0) out = clone(value);
        else {
          const parent = parentOf(out, parts, path, 'replace');
          const key = parts[parts.length - 1]!;
          if (Array.isArray(parent)) parent[arrayIndex(parent, key, path, false)] = clone(value);
          else parent[key] = clone(value);
        }
        break;
      }
      case 'move': {
        if (typeof from !== 'string') throw badRequest('move operation is missing from');
        const v = getAt(out, from, 'move');
        out = removeAt(out, from, 'move');
        out = addAt(out, path, v, 'move');
        break;
      }
      case 'copy': {
        if (typeof from !== 'string') throw badRequest('copy operation is missing from');
        out = addAt(out, path, clone(getAt(out, from, 'copy')), 'copy');
        break;
      }
      case 'test': {
        let actual: Json;
        try {
          actual = getAt(out, path, 'test');
        } catch {
          throw patchFailure(`jsonpatch test operation does not apply: doc is missing path: "${path}"`);
        }
        if (!deepEqual(actual, value)) throw patchFailure(`testing value ${path} failed: test failed`);
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${op}`);
    }
  }
  return out;
}

/** RFC 7386 merge patch: objects merge recursively, null deletes, arrays replace. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Json =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/** patchMergeKey for list fields of the built-in types this cluster serves (by field name). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  conditions: 'type',
  ownerReferences: 'uid',
  tolerations: 'key',
  hostAliases: 'ip',
  secrets: 'name',
};
/** Lists merged as sets of primitives (patchStrategy merge on []string). */
const PRIMITIVE_MERGE = new Set(['finalizers']);

function mergeKeyFor(field: string, items: Json[], kind?: string): string | undefined {
  if (field === 'ports') {
    const sample = items.find((i) => i && typeof i === 'object');
    if (kind === 'Service' || (sample && 'port' in sample && !('containerPort' in sample))) return 'port';
    return 'containerPort';
  }
  return MERGE_KEYS[field];
}

/**
 * The order of a merged list, as upstream's strategic merge enforces it: the items the patch
 * names (in the patch's order, or `$setElementOrder`'s) and the server-only items (in the live
 * order) are interleaved, a server-only item going first only when the live list had it before
 * the next patch item; so new items come before server-only ones that follow no named item.
 */
function enforceOrder(
  merged: Json[],
  patchOrder: Json[],
  serverOrder: Json[],
  keyOf: (x: Json) => Json,
): Json[] {
  const indexIn = (list: Json[], x: Json) => list.findIndex((y) => keyOf(y) === keyOf(x));
  const named = merged
    .filter((x) => indexIn(patchOrder, x) >= 0)
    .sort((a, b) => indexIn(patchOrder, a) - indexIn(patchOrder, b));
  const serverOnly = merged
    .filter((x) => indexIn(patchOrder, x) < 0)
    .sort((a, b) => indexIn(serverOrder, a) - indexIn(serverOrder, b));
  const out: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < named.length) {
    if (j >= named.length) out.push(serverOnly[i++]);
    else if (i >= serverOnly.length) out.push(named[j++]);
    else {
      const li = indexIn(serverOrder, serverOnly[i]);
      const ri = indexIn(serverOrder, named[j]);
      if (li >= 0 && ri >= 0 && li < ri) out.push(serverOnly[i++]);
      else out.push(named[j++]);
    }
  }
  return out;
}

/** Strategic merge patch over built-in types (merge keys by field name, $patch, $setElementOrder, $retainKeys, $deleteFromPrimitiveList). */
export function applyStrategicMergePatch(target: Json, patch: Json, kind?: string): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  let out: Json =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? clone(target) : {};
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set<string>(patch.$retainKeys);
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$setElementOrder/')) {
      // an order without the list itself reorders the live list
      const f = k.slice('$setElementOrder/'.length);
      if (!(f in patch) && Array.isArray(out[f]) && Array.isArray(v)) {
        const key = PRIMITIVE_MERGE.has(f) ? undefined : mergeKeyFor(f, out[f], kind);
        out[f] = enforceOrder(out[f], v, out[f], key ? (x) => x?.[key] : (x) => x);
      }
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[f]) && Array.isArray(v)) out[f] = out[f].filter((x: Json) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      const cur = Array.isArray(out[k]) ? out[k] : [];
      const key = mergeKeyFor(k, [...cur, ...v], kind);
      const order = patch[`$setElementOrder/${k}`];
      if (PRIMITIVE_MERGE.has(k)) {
        const merged = [...cur, ...v.filter((x: Json) => !cur.includes(x))];
        out[k] = enforceOrder(merged, Array.isArray(order) ? order : v, cur, (x) => x);
      } else if (key && v.every((i: Json) => i && typeof i === 'object')) {
        if (v.some((i: Json) => i.$patch === 'replace')) {
          out[k] = v.filter((i: Json) => i.$patch !== 'replace').map(clone);
          continue;
        }
        const result: Json[] = cur.map(clone);
        const items = v.filter((i: Json) => i.$patch !== 'delete');
        for (const item of v) {
          if (item.$patch !== 'delete') continue;
          for (let idx = result.findIndex((r) => r && r[key] === item[key]); idx >= 0; ) {
            result.splice(idx, 1);
            idx = result.findIndex((r) => r && r[key] === item[key]);
          }
        }
        for (const item of items) {
          const idx = result.findIndex((r) => r && r[key] === item[key]);
          if (idx >= 0) result[idx] = applyStrategicMergePatch(result[idx], item, kind);
          else result.push(applyStrategicMergePatch({}, item, kind));
        }
        out[k] = enforceOrder(result, Array.isArray(order) ? order : items, cur, (x) => x?.[key]);
      } else {
        out[k] = clone(v);
      }
      continue;
    }
    if (typeof v === 'object') {
      const merged = applyStrategicMergePatch(out[k], v, kind);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
      continue;
    }
    out[k] = v;
  }
  return out;
}

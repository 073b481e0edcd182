/**
 * Validation of custom resources against a CRD's structural OpenAPI v3 schema, with the real API
 * server's field paths and messages: types, required, enum, pattern, bounds, and CEL rules
 * (x-kubernetes-validations). Unknown fields are pruned, as the real server does.
 */

import { evaluateRule } from './cel.ts';
import type { FieldError } from './errors.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Schema = Record<string, any>;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? '"array"' : '"object"';
  return String(v);
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Removes fields the schema does not declare (unless preserve-unknown-fields). */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export function prune(schema: Schema | undefined, value: any, root = true): any {
  if (!schema || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    if (schema.items) for (let i = 0; i < value.length; i++) value[i] = prune(schema.items, value[i], false);
    return value;
  }
  const props = schema.properties as Record<string, Schema> | undefined;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  for (const k of Object.keys(value)) {
    if (root && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    // a null for a field that is not nullable is dropped (and then defaulted, if it has a default)
    if (props && k in props && value[k] === null && !props[k]!.nullable) {
      delete value[k];
      continue;
    }
    if (props && k in props) value[k] = prune(props[k], value[k], false);
    else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      value[k] = prune(schema.additionalProperties, value[k], false);
    } else if (!preserve && schema.additionalProperties !== true) delete value[k];
  }
  return value;
}

/** Lists the declared-unknown fields (for fieldValidation=Strict). */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export function unknownFields(schema: Schema | undefined, value: any, path = '', root = true): string[] {
  if (!schema || value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) {
    return schema.items
      ? value.flatMap((v, i) => unknownFields(schema.items, v, `${path}[${i}]`, false))
      : [];
  }
  const props = schema.properties as Record<string, Schema> | undefined;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const out: string[] = [];
  for (const k of Object.keys(value)) {
    if (root && (k === 'apiVersion' || k === 'kind' || k === 'metadata' || k === 'status')) continue;
    const p = join(path, k);
    if (props && k in props) out.push(...unknownFields(props[k], value[k], p, false));
    else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      out.push(...unknownFields(schema.additionalProperties, value[k], p, false));
    } else if (!preserve && schema.additionalProperties !== true) out.push(p);
  }
  return out;
}

function check(
  schema: Schema,
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
  v: any,
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
  old: any,
  path: string,
  out: FieldError[],
  mode: 'schema' | 'cel',
): void {
  if (v === undefined) return;
  // the schema pass collects schema errors, the CEL pass only rule failures (upstream runs them apart)
  const errs: FieldError[] = mode === 'schema' ? out : [];
  if (v === null) {
    if (schema.nullable) return;
  }
  const t = schema.type as string | undefined;
  const actual = typeName(v);
  if (schema['x-kubernetes-int-or-string']) {
    if (actual !== 'integer' && actual !== 'string') {
      errs.push({
        type: 'FieldValueTypeInvalid',
        field: path,
        detail: `Invalid value: "${actual}": ${path} in body must be of type int-or-string: "${actual}"`,
      });
      return;
    }
  } else if (t) {
    const ok = t === actual || (t === 'number' && actual === 'integer');
    if (!ok) {
      errs.push({
        type: 'FieldValueTypeInvalid',
        field: path,
        detail: `Invalid value: "${actual}": ${path} in body must be of type ${t}: "${actual}"`,
      });
      return;
    }
  }
  if (
    Array.isArray(schema.enum) &&
    !schema.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(v))
  ) {
    errs.push({
      type: 'FieldValueNotSupported',
      field: path,
      detail: `Unsupported value: ${JSON.stringify(v)}: supported values: ${schema.enum.map((e: unknown) => JSON.stringify(e)).join(', ')}`,
    });
  }
  if (typeof v === 'string') {
    if (schema.maxLength !== undefined && [...v].length > schema.maxLength) {
      errs.push({
        type: 'FieldValueTooLong',
        field: path,
        detail: `Too long: may not be more than ${schema.maxLength} bytes`,
      });
    }
    if (schema.minLength !== undefined && [...v].length < schema.minLength) {
      errs.push({
        type: 'FieldValueInvalid',
        field: path,
        detail: `Invalid value: ${show(v)}: ${path} in body should be at least ${schema.minLength} chars long`,
      });
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(v)) {
      errs.push({
        type: 'FieldValueInvalid',
        field: path,
        detail: `Invalid value: ${show(v)}: ${path} in body should match '${schema.pattern}'`,
      });
    }
  }
  if (typeof v === 'number') {
    if (
      schema.minimum !== undefined &&
      (schema.exclusiveMinimum ? v <= schema.minimum : v < schema.minimum)
    ) {
      errs.push({
        type: 'FieldValueInvalid',
        field: path,
        detail: `Invalid value: ${v}: ${path} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}`,
      });
    }
    if (
      schema.maximum !== undefined &&
      (schema.exclusiveMaximum ? v >= schema.maximum : v > schema.maximum)
    ) {
      errs.push({
        type: 'FieldValueInvalid',
        field: path,
        detail: `Invalid value: ${v}: ${path} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}`,
      });
    }
  }
  if (Array.isArray(v)) {
    if (schema.maxItems !== undefined && v.length > schema.maxItems) {
      errs.push({
        type: 'FieldValueTooMany',
        field: path,
        detail: `Too many: ${v.length}: must have at most ${schema.maxItems} items`,
      });
    }
    if (schema.minItems !== undefined && v.length < schema.minItems) {
      errs.push({
        type: 'FieldValueInvalid',
        field: path,
        detail: `Invalid value: ${v.length}: ${path} in body should have at least ${schema.minItems} items`,
      });
    }
    if (schema.items) {
      for (const [i, item] of v.entries()) check(schema.items, item, undefined, join(path, i), out, mode);
    }
  } else if (v && typeof v === 'object') {
    for (const r of schema.required ?? []) {
      if (v[r] === undefined)
        errs.push({ type: 'FieldValueRequired', field: join(path, r), detail: 'Required value' });
    }
    if (schema.maxProperties !== undefined && Object.keys(v).length > schema.maxProperties) {
      errs.push({
        type: 'FieldValueTooMany',
        field: path,
        detail: `Too many: ${Object.keys(v).length}: must have at most ${schema.maxProperties} items`,
      });
    }
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [k, sub] of Object.entries(props)) {
      if (path === '' && k === 'metadata') continue;
      check(sub, v[k], old && typeof old === 'object' ? old[k] : undefined, join(path, k), out, mode);
    }
    if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      for (const [k, sub] of Object.entries(v)) {
        if (!(k in props)) check(schema.additionalProperties, sub, old?.[k], join(path, k), out, mode);
      }
    }
  }
  if (mode !== 'cel') return;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const isTransition = /\boldSelf\b/.test(rule.rule);
    if (isTransition && old === undefined) continue;
    const result = evaluateRule(rule.rule, v, old);
    if (result.ok) continue;
    const field = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
    const message = result.error ?? rule.message ?? `failed rule: ${rule.rule}`;
    const reason = rule.reason ?? 'FieldValueInvalid';
    const prefix =
      reason === 'FieldValueRequired'
        ? 'Required value'
        : reason === 'FieldValueForbidden'
          ? 'Forbidden'
          : reason === 'FieldValueDuplicate'
            ? 'Duplicate value'
            : // kube-apiserver 1.37 leaves the value out for objects and lists
              v !== null && typeof v === 'object'
              ? 'Invalid value'
              : `Invalid value: ${show(v)}`;
    out.push({ type: reason, field: field || '<nil>', detail: `${prefix}: ${message}` });
  }
}

/**
 * Structural-schema defaulting, as the real server applies it: a property with a `default` that is
 * absent from an object present in the value gets a copy of the default; objects and arrays are
 * walked. A missing parent object is not created unless it has a default of its own.
 */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export function applyDefaults(schema: Schema | undefined, value: any): void {
  if (!schema || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) applyDefaults(schema.items, item);
    return;
  }
  const props = schema.properties as Record<string, Schema> | undefined;
  if (props) {
    for (const [k, sub] of Object.entries(props)) {
      if (value[k] === undefined && sub.default !== undefined) value[k] = structuredClone(sub.default);
      if (value[k] !== undefined) applyDefaults(sub, value[k]);
    }
  } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    for (const k of Object.keys(value)) applyDefaults(schema.additionalProperties, value[k]);
  }
}

/**
 * Defaults, prunes unknown fields and validates obj in place. Status is validated only as a
 * subresource write would see it.
 */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export function validateAgainstSchema(schema: Schema, obj: any, old: any, _hasStatus: boolean): FieldError[] {
  prune(schema, obj);
  applyDefaults(schema, obj);
  const errs: FieldError[] = [];
  check(schema, obj, old, '', errs, 'schema');
  if (!hasRules(schema)) return errs;
  // as upstream: errors that make CEL evaluation unsafe skip the rules, and say so
  if (errs.some((e) => BLOCKING.has(e.type))) {
    errs.push({
      type: 'FieldValueInvalid',
      field: '<nil>',
      detail:
        'Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
    });
    return errs;
  }
  check(schema, obj, old, '', errs, 'cel');
  return errs;
}

const BLOCKING = new Set([
  'FieldValueNotSupported',
  'FieldValueRequired',
  'FieldValueTooLong',
  'FieldValueTooMany',
  'FieldValueTypeInvalid',
]);

function hasRules(schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return false;
  if (Array.isArray(schema)) return schema.some(hasRules);
  const o = schema as Schema;
  if (Array.isArray(o['x-kubernetes-validations']) && o['x-kubernetes-validations'].length) return true;
  return Object.values(o).some((x) => typeof x === 'object' && hasRules(x));
}

const META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

const EVENT_FIELDS = [
  'involvedObject',
  'reason',
  'message',
  'source',
  'firstTimestamp',
  'lastTimestamp',
  'count',
  'type',
  'eventTime',
  'series',
  'action',
  'related',
  'reportingComponent',
  'reportingInstance',
];

/** The top-level fields of the built-in kinds served (besides apiVersion, kind, metadata). */
const BUILTIN_FIELDS: Record<string, string[]> = {
  '/configmaps': ['data', 'binaryData', 'immutable'],
  '/secrets': ['data', 'stringData', 'type', 'immutable'],
  '/serviceaccounts': ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'],
  '/endpoints': ['subsets'],
  '/events': EVENT_FIELDS,
  'events.k8s.io/events': [
    'eventTime',
    'series',
    'reportingController',
    'reportingInstance',
    'action',
    'reason',
    'regarding',
    'related',
    'note',
    'type',
    'deprecatedSource',
    'deprecatedFirstTimestamp',
    'deprecatedLastTimestamp',
    'deprecatedCount',
  ],
  'rbac.authorization.k8s.io/roles': ['rules'],
  'rbac.authorization.k8s.io/clusterroles': ['rules', 'aggregationRule'],
  'rbac.authorization.k8s.io/rolebindings': ['subjects', 'roleRef'],
  'rbac.authorization.k8s.io/clusterrolebindings': ['subjects', 'roleRef'],
  'apps/controllerrevisions': ['data', 'revision'],
};

/**
 * Unknown fields of a built-in object, at its top level and in its metadata only (nested fields
 * are not known here): what fieldValidation reports upstream for such fields.
 */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export function unknownBuiltinFields(storageKey: string, obj: any, prune: boolean): string[] {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return [];
  const known = new Set([
    'apiVersion',
    'kind',
    'metadata',
    ...(BUILTIN_FIELDS[storageKey] ?? ['spec', 'status']),
  ]);
  const out: string[] = [];
  for (const k of Object.keys(obj)) {
    if (known.has(k)) continue;
    out.push(k);
    if (prune) delete obj[k];
  }
  out.push(...unknownMetadataFields(obj, prune));
  return out;
}

/** Unknown fields of an object's metadata (ObjectMeta is the same for every kind). */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export function unknownMetadataFields(obj: any, prune: boolean): string[] {
  const md = obj?.metadata;
  if (!md || typeof md !== 'object' || Array.isArray(md)) return [];
  const out: string[] = [];
  for (const k of Object.keys(md)) {
    if (META_FIELDS.has(k)) continue;
    out.push(`metadata.${k}`);
    if (prune) delete md[k];
  }
  return out;
}

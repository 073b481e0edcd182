/**
 * The API semantics shared by the HTTP layer and the simulated controllers: create, read, list,
 * update, patch and delete with resourceVersions, generation, status separation, finalizers and
 * admission checks.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  type FieldError,
  forbidden,
  invalid,
  notFound,
  OPTIMISTIC_LOCK_MESSAGE,
  qualifiedResource,
  successStatus,
  unsupportedMediaType,
} from './errors.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, clone, deepEqual } from './patch.ts';
import { apiVersionOf, BUILTIN_TYPES, type ResourceType, storageKey, typesFromCrd } from './resources.ts';
import { validateAgainstSchema } from './schema.ts';
import {
  type LabelSelector,
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.ts';
import { type Obj, Store } from './store.ts';

export type Admission = (ctx: {
  op: 'CREATE' | 'UPDATE';
  type: ResourceType;
  obj: Obj;
  old?: Obj;
  subresource?: string;
}) => void;

export interface WriteOptions {
  subresource?: string;
  dryRun?: boolean;
  fieldManager?: string;
  /** Skip admission (controllers writing their own objects). */
  internal?: boolean;
  /** Who writes (API requests): for checks that depend on the requester, e.g. RBAC escalation. */
  user?: { name: string; groups: string[]; admin: boolean };
}

/** A check of a write that depends on who makes it (runs before validation, as upstream's RBAC storage). */
export type UserGuard = (t: ResourceType, obj: Obj, user: NonNullable<WriteOptions['user']>) => void;

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Finalizers the built-in types accept without a domain prefix. */
const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

/** Kinds whose name must be a DNS-1123 label rather than a subdomain. */
const LABEL_NAMED = new Set(['/namespaces', '/services']);

function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function stripForCompare(o: Obj): Obj {
  const c = clone(o);
  delete c.metadata?.resourceVersion;
  delete c.metadata?.managedFields;
  return c;
}

export class Registry {
  readonly store = new Store();
  private readonly types = new Map<string, ResourceType>();
  private readonly admissions = new Map<string, Admission[]>();
  private readonly guards: UserGuard[] = [];
  private readonly defaulters = new Map<string, Array<(obj: Obj, old: Obj | undefined) => void>>();
  /** Called when the set of served types changes (CRD added/removed). */
  onTypesChanged: () => void = () => {};

  constructor() {
    for (const t of BUILTIN_TYPES) this.types.set(this.typeKey(t.group, t.version, t.plural), t);
    this.store.subscribe((e) => {
      if (e.key === 'apiextensions.k8s.io/customresourcedefinitions')
        this.syncCrd(e.type === 'DELETED' ? undefined : e.obj, e.old);
    });
  }

  private typeKey(group: string, version: string, plural: string): string {
    return `${group}/${version}/${plural}`;
  }

  private syncCrd(crd: Obj | undefined, old: Obj | undefined): void {
    for (const t of old ? typesFromCrd(old) : [])
      this.types.delete(this.typeKey(t.group, t.version, t.plural));
    if (!crd && old) {
      // CRD deleted: its custom resources go with it
      const [first] = typesFromCrd(old);
      if (first)
        for (const o of this.store.list(storageKey(first)))
          this.store.remove(storageKey(first), o.metadata.namespace, o.metadata.name);
    }
    for (const t of crd ? typesFromCrd(crd) : [])
      this.types.set(this.typeKey(t.group, t.version, t.plural), t);
    this.onTypesChanged();
  }

  addAdmission(group: string, plural: string, fn: Admission): void {
    const k = storageKey({ group, plural });
    const list = this.admissions.get(k) ?? [];
    list.push(fn);
    this.admissions.set(k, list);
  }

  addUserGuard(fn: UserGuard): void {
    this.guards.push(fn);
  }

  /** A defaulting step run on every create and update of a type (like the built-in strategies' defaulting). */
  addDefaulter(group: string, plural: string, fn: (obj: Obj, old: Obj | undefined) => void): void {
    const k = storageKey({ group, plural });
    const list = this.defaulters.get(k) ?? [];
    list.push(fn);
    this.defaulters.set(k, list);
  }

  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(this.typeKey(group, version, plural));
  }

  /** The preferred (first registered) version of a group+plural. */
  lookupAnyVersion(group: string, plural: string): ResourceType | undefined {
    for (const t of this.types.values()) if (t.group === group && t.plural === plural) return t;
    return undefined;
  }

  lookupKind(apiVersion: string, kind: string): ResourceType | undefined {
    for (const t of this.types.values()) if (apiVersionOf(t) === apiVersion && t.kind === kind) return t;
    return undefined;
  }

  allTypes(): ResourceType[] {
    return [...this.types.values()];
  }

  /** Decorates a stored object with this type's apiVersion/kind. */
  present(t: ResourceType, o: Obj): Obj {
    const out = clone(o);
    out.apiVersion = apiVersionOf(t);
    out.kind = t.kind;
    return out;
  }

  get(t: ResourceType, ns: string | undefined, name: string): Obj {
    const o = this.store.get(storageKey(t), t.namespaced ? ns : undefined, name);
    if (!o) throw notFound(t.group, t.plural, name);
    return this.present(t, o);
  }

  tryGet(t: ResourceType, ns: string | undefined, name: string): Obj | undefined {
    const o = this.store.get(storageKey(t), t.namespaced ? ns : undefined, name);
    return o ? this.present(t, o) : undefined;
  }

  fieldSelectorFields(t: ResourceType): string[] {
    return ['metadata.name', ...(t.namespaced ? ['metadata.namespace'] : []), ...(t.fieldSelectors ?? [])];
  }

  compileFilter(t: ResourceType, opts: ListOptions): (o: Obj) => boolean {
    const labels: LabelSelector = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(
      opts.fieldSelector,
      this.fieldSelectorFields(t),
      t.builtin && !t.fieldSelectors?.length,
    );
    return (o) => matchLabels(labels, o.metadata?.labels) && matchFields(fields, o);
  }

  list(
    t: ResourceType,
    ns: string | undefined,
    opts: ListOptions = {},
  ): { items: Obj[]; resourceVersion: string } {
    const filter = this.compileFilter(t, opts);
    const items = this.store
      .list(storageKey(t), t.namespaced ? ns : undefined)
      .filter(filter)
      .map((o) => this.present(t, o));
    return { items, resourceVersion: String(this.store.resourceVersion) };
  }

  /** A list as of an older resourceVersion (undefined when the history no longer reaches it). */
  listAt(
    t: ResourceType,
    ns: string | undefined,
    opts: ListOptions,
    rv: number,
  ): { items: Obj[]; resourceVersion: string } | undefined {
    const filter = this.compileFilter(t, opts);
    const items = this.store.listAt(storageKey(t), t.namespaced ? ns : undefined, rv);
    if (!items) return undefined;
    return { items: items.filter(filter).map((o) => this.present(t, o)), resourceVersion: String(rv) };
  }

  private checkNamespace(
    t: ResourceType,
    ns: string | undefined,
    opts: WriteOptions,
    nameHint?: string,
  ): void {
    if (!t.namespaced) return;
    if (!ns) throw badRequest('the server could not find the requested resource (namespace required)');
    const nsObj = this.store.peek('/namespaces', undefined, ns);
    if (!nsObj) throw notFound('', 'namespaces', ns);
    if (nsObj.metadata.deletionTimestamp && !opts.internal) {
      throw new ApiError(
        403,
        'Forbidden',
        `${t.group ? `${t.plural}.${t.group}` : t.plural} "${nameHint ?? ''}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        {
          ...(nameHint ? { name: nameHint } : {}),
          group: t.group,
          kind: t.plural,
          causes: [
            {
              reason: 'NamespaceTerminating',
              message: `namespace ${ns} is being terminated`,
              field: 'metadata.namespace',
            },
          ],
        },
      );
    }
  }

  private validate(t: ResourceType, obj: Obj, old: Obj | undefined, opts: WriteOptions): void {
    if (!opts.internal && opts.user) for (const g of this.guards) g(t, obj, opts.user);
    const name = obj.metadata?.name ?? '';
    const errs: FieldError[] = [];
    if (!old) {
      const re = LABEL_NAMED.has(storageKey(t)) ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
      if (!name)
        errs.push({
          type: 'FieldValueRequired',
          field: 'metadata.name',
          detail: 'Required value: name or generateName is required',
        });
      else if (!re.test(name) || name.length > (re === DNS1123_LABEL ? 63 : 253)) {
        errs.push({
          type: 'FieldValueInvalid',
          field: 'metadata.name',
          detail:
            re === DNS1123_LABEL
              ? `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
              : `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
        });
      }
    }
    for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) {
      if (
        typeof v !== 'string' ||
        !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v) ||
        v.length > 63
      ) {
        errs.push({
          type: 'FieldValueInvalid',
          field: 'metadata.labels',
          detail: `Invalid value: "${String(v)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
        });
        void k;
      }
    }
    (obj.metadata?.finalizers ?? []).forEach((f: unknown, i: number) => {
      if (typeof f !== 'string' || STANDARD_FINALIZERS.has(f) || !t.builtin) return;
      if (!f.includes('/'))
        errs.push({
          type: 'FieldValueInvalid',
          field: `metadata.finalizers[${i}]`,
          detail: `Invalid value: "${f}": name is neither a standard finalizer name nor is it fully qualified`,
        });
    });
    if (old?.metadata?.deletionTimestamp) {
      const before = new Set<string>(old.metadata.finalizers ?? []);
      const added = (obj.metadata.finalizers ?? []).filter((f: string) => !before.has(f));
      if (added.length) {
        errs.push({
          type: 'FieldValueForbidden',
          field: 'metadata.finalizers',
          detail: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f: string) => JSON.stringify(f)).join(', ')}}`,
        });
      }
    }
    if (!t.builtin && t.schema) errs.push(...validateAgainstSchema(t.schema, obj, old, t.status));
    if (errs.length) throw invalid(t.group, t.kind, name, errs);
    if (!opts.internal)
      for (const fn of this.admissions.get(storageKey(t)) ?? [])
        fn({
          op: old ? 'UPDATE' : 'CREATE',
          type: t,
          obj,
          ...(old ? { old } : {}),
          ...(opts.subresource ? { subresource: opts.subresource } : {}),
        });
  }

  create(t: ResourceType, ns: string | undefined, body: Obj, opts: WriteOptions = {}): Obj {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw badRequest('the object provided is unrecognized (must be of type Object)');
    const obj = clone(body);
    obj.metadata ??= {};
    if (obj.kind !== undefined && obj.kind !== t.kind) {
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(t)})`,
      );
    }
    if (t.namespaced) {
      if (obj.metadata.namespace && ns && obj.metadata.namespace !== ns) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = ns ?? obj.metadata.namespace;
    } else delete obj.metadata.namespace;
    if (!obj.metadata.name && obj.metadata.generateName) {
      obj.metadata.name = `${obj.metadata.generateName}${randomBytes(5)
        .toString('hex')
        .slice(0, 5)
        .replace(/[^a-z0-9]/g, 'x')}`;
    }
    this.checkNamespace(t, obj.metadata.namespace, opts, obj.metadata.name);
    const key = storageKey(t);
    if (obj.metadata.name && this.store.peek(key, obj.metadata.namespace, obj.metadata.name)) {
      throw alreadyExists(t.group, t.plural, obj.metadata.name);
    }
    if (t.status && !opts.internal && !t.statusOnCreate) delete obj.status;
    delete obj.metadata.resourceVersion;
    delete obj.metadata.deletionTimestamp;
    delete obj.metadata.deletionGracePeriodSeconds;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = nowSeconds();
    if (t.generation !== false && (t.generation || !t.builtin)) obj.metadata.generation = 1;
    else delete obj.metadata.generation;
    obj.apiVersion = apiVersionOf(t);
    obj.kind = t.kind;
    for (const fn of this.defaulters.get(key) ?? []) fn(obj, undefined);
    this.validate(t, obj, undefined, opts);
    if (opts.fieldManager) this.recordManager(obj, opts.fieldManager, 'Update');
    if (opts.dryRun) return this.present(t, obj);
    const stored = this.store.put(key, this.toStored(obj));
    return this.present(t, stored);
  }

  private toStored(o: Obj): Obj {
    const c = clone(o);
    delete c.apiVersion;
    delete c.kind;
    return c;
  }

  private recordManager(obj: Obj, manager: string, operation: 'Update' | 'Apply'): void {
    const entries = (obj.metadata.managedFields ?? []).filter(
      (m: Obj) => m.manager !== manager || m.operation !== operation,
    );
    entries.push({
      manager,
      operation,
      apiVersion: obj.apiVersion,
      time: nowSeconds(),
      fieldsType: 'FieldsV1',
      fieldsV1: {},
    });
    obj.metadata.managedFields = entries;
  }

  /**
   * The common write path: `next` is the desired full object (already merged by the caller).
   * Enforces status separation, server-owned metadata, generation, no-op detection and finalizers.
   */
  private write(t: ResourceType, current: Obj, nextIn: Obj, opts: WriteOptions): Obj {
    const next = clone(nextIn);
    const name = current.metadata.name;
    next.metadata ??= {};
    if (next.metadata.name !== undefined && next.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    if (
      t.namespaced &&
      next.metadata.namespace !== undefined &&
      next.metadata.namespace !== current.metadata.namespace
    ) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    if (!opts.internal && next.metadata.uid && next.metadata.uid !== current.metadata.uid) {
      // an update carrying another uid is a storage precondition failure upstream
      const key = [t.group, t.plural, t.namespaced ? current.metadata.namespace : undefined, name]
        .filter(Boolean)
        .join('/');
      throw conflict(
        t.group,
        t.plural,
        name,
        `StorageError: invalid object, Code: 4, Key: /registry/${key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ${next.metadata.uid}, UID in object meta: ${current.metadata.uid}`,
      );
    }
    let out: Obj;
    if (opts.subresource === 'status') {
      out = clone(current);
      if (next.status === undefined) delete out.status;
      else out.status = next.status;
    } else {
      out = next;
      if (t.status && !opts.internal) {
        if (current.status === undefined) delete out.status;
        else out.status = clone(current.status);
      }
      // server-owned metadata
      out.metadata.name = name;
      if (t.namespaced) out.metadata.namespace = current.metadata.namespace;
      out.metadata.uid = current.metadata.uid;
      out.metadata.creationTimestamp = current.metadata.creationTimestamp;
      if (current.metadata.deletionTimestamp) {
        out.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
        out.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
      } else {
        delete out.metadata.deletionTimestamp;
        delete out.metadata.deletionGracePeriodSeconds;
      }
      if (current.metadata.generation !== undefined) out.metadata.generation = current.metadata.generation;
      else delete out.metadata.generation;
    }
    out.apiVersion = apiVersionOf(t);
    out.kind = t.kind;
    out.metadata.resourceVersion = current.metadata.resourceVersion;
    if (opts.fieldManager)
      this.recordManager(out, opts.fieldManager, opts.fieldManager === 'kubectl' ? 'Apply' : 'Update');
    else out.metadata.managedFields = current.metadata.managedFields;
    if (out.metadata.managedFields === undefined) delete out.metadata.managedFields;
    // generation: bumps on changes outside metadata (and status when it is a subresource)
    if (out.metadata.generation !== undefined && opts.subresource !== 'status') {
      const strip = (o: Obj) => {
        const c = clone(o);
        delete c.metadata;
        delete c.apiVersion;
        delete c.kind;
        if (t.status) delete c.status;
        if (storageKey(t) === '/pods' && c.spec) delete c.spec.nodeName;
        return c;
      };
      if (!deepEqual(strip(out), strip(current))) out.metadata.generation = current.metadata.generation + 1;
    }
    for (const fn of this.defaulters.get(storageKey(t)) ?? []) fn(out, current);
    this.validate(t, out, current, opts);
    if (
      deepEqual(stripForCompare(out), stripForCompare(current)) ||
      (opts.fieldManager && deepEqual(withoutManaged(out), withoutManaged(current)))
    ) {
      return this.present(t, current);
    }
    if (opts.dryRun) return this.present(t, out);
    const key = storageKey(t);
    // (namespaces wait for spec.finalizers instead: the namespace controller removes them)
    if (
      out.metadata.deletionTimestamp &&
      (out.metadata.finalizers ?? []).length === 0 &&
      key !== '/namespaces'
    ) {
      // the last finalizer is gone: the object is deleted by this write (a single DELETED event)
      const last = this.store.remove(key, out.metadata.namespace, out.metadata.name, this.toStored(out))!;
      return this.present(t, last);
    }
    return this.present(t, this.store.put(key, this.toStored(out)));
  }

  private current(t: ResourceType, ns: string | undefined, name: string): Obj {
    const o = this.store.get(storageKey(t), t.namespaced ? ns : undefined, name);
    if (!o) throw notFound(t.group, t.plural, name);
    return this.present(t, o);
  }

  update(t: ResourceType, ns: string | undefined, name: string, body: Obj, opts: WriteOptions = {}): Obj {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw badRequest('the object provided is unrecognized (must be of type Object)');
    const current = this.current(t, ns, name);
    const rv = body.metadata?.resourceVersion;
    if (rv === undefined || rv === '') {
      // custom resources do not allow unconditional updates; most built-ins do
      if (!t.builtin) {
        // upstream names the resource here (not the kind), and prints the missing value as 0
        const detail = 'Invalid value: 0: must be specified for an update';
        throw new ApiError(
          422,
          'Invalid',
          `${qualifiedResource(t.group, t.plural)} "${name}" is invalid: metadata.resourceVersion: ${detail}`,
          {
            name,
            group: t.group,
            kind: t.plural,
            causes: [{ reason: 'FieldValueInvalid', message: detail, field: 'metadata.resourceVersion' }],
          },
        );
      }
    } else if (rv !== current.metadata.resourceVersion) {
      throw conflict(t.group, t.plural, name, OPTIMISTIC_LOCK_MESSAGE);
    }
    return this.write(t, current, body, opts);
  }

  patch(
    t: ResourceType,
    ns: string | undefined,
    name: string,
    contentType: string,
    raw: unknown,
    opts: WriteOptions & { force?: boolean; inspectPatched?: (patched: Obj) => void } = {},
  ): { obj: Obj; created: boolean } {
    const ct = contentType.split(';')[0]!.trim();
    const allowed: string[] = [
      PATCH_TYPES.json,
      PATCH_TYPES.merge,
      ...(t.builtin ? [PATCH_TYPES.strategic] : []),
      PATCH_TYPES.apply,
    ];
    if (!allowed.includes(ct)) {
      // built-in types answer from the generic handler, custom resources list what they accept
      if (t.builtin) throw new ApiError(415, 'UnsupportedMediaType', '415: Unsupported Media Type', {});
      throw unsupportedMediaType(allowed);
    }
    if (ct === PATCH_TYPES.apply) {
      if (!opts.fieldManager)
        throw invalid('meta.k8s.io', 'PatchOptions', '', [
          {
            type: 'FieldValueRequired',
            field: 'fieldManager',
            detail: 'Required value: is required for apply patch',
          },
        ]);
      const existing = this.store.get(storageKey(t), t.namespaced ? ns : undefined, name);
      const body = raw as Obj;
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        throw badRequest('error decoding YAML: the object provided is unrecognized');
      if (!existing) {
        if (opts.subresource) throw notFound(t.group, t.plural, name);
        const created = this.create(t, ns, { ...body, metadata: { ...(body.metadata ?? {}), name } }, opts);
        return { obj: created, created: true };
      }
      const current = this.present(t, existing);
      const merged = applyMergePatch(current, body);
      if (
        body.metadata?.resourceVersion &&
        body.metadata.resourceVersion !== current.metadata.resourceVersion
      ) {
        throw conflict(t.group, t.plural, name, OPTIMISTIC_LOCK_MESSAGE);
      }
      return { obj: this.write(t, current, merged, opts), created: false };
    }
    const current = this.current(t, ns, name);
    let next: Obj;
    if (ct === PATCH_TYPES.json) next = applyJsonPatch(current, raw);
    else if (ct === PATCH_TYPES.merge) {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
        throw badRequest(
          `error decoding patch: json: cannot unmarshal ${goJsonKind(raw)} into Go value of type map[string]interface {}`,
        );
      next = applyMergePatch(current, raw);
    } else {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
        throw badRequest(
          `json: cannot unmarshal ${goJsonKind(raw)} into Go value of type map[string]interface {}`,
        );
      next = applyStrategicMergePatch(current, raw, t.kind);
    }
    if (next === null || typeof next !== 'object' || Array.isArray(next))
      throw badRequest('the patch produced something that is not an object');
    opts.inspectPatched?.(next);
    const prv = next.metadata?.resourceVersion;
    if (prv !== undefined && prv !== current.metadata.resourceVersion) {
      throw conflict(t.group, t.plural, name, OPTIMISTIC_LOCK_MESSAGE);
    }
    return { obj: this.write(t, current, next, opts), created: false };
  }

  /** DELETE: the object itself (finalizers pending), or the deleted object/Success Status. */
  delete(
    t: ResourceType,
    ns: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): { body: Obj; gone: boolean } {
    const key = storageKey(t);
    const current = this.current(t, ns, name);
    const pre = opts.preconditions;
    // upstream's delete preconditions name the kind (not the resource) in the message and details
    const preconditionFailed = (detail: string) =>
      new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualifiedResource(t.group, t.kind)} "${name}": ${detail}`,
        {
          name,
          group: t.group,
          kind: t.kind,
        },
      );
    if (pre?.uid && pre.uid !== current.metadata.uid) {
      throw preconditionFailed(
        `the UID in the precondition (${pre.uid}) does not match the UID in record (${current.metadata.uid}). The object might have been deleted and then recreated`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw preconditionFailed(
        `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${current.metadata.resourceVersion}). The object might have been modified`,
      );
    }
    if (opts.dryRun) return { body: current, gone: false };
    const next = clone(current);
    const fins: string[] = next.metadata.finalizers ?? [];
    if (!next.metadata.deletionTimestamp) {
      if (opts.propagationPolicy === 'Foreground' && !fins.includes('foregroundDeletion'))
        fins.push('foregroundDeletion');
      if (opts.propagationPolicy === 'Orphan' && !fins.includes('orphan')) fins.push('orphan');
    }
    // graceful pod deletion: the kubelet finishes it
    const graceful =
      key === '/pods' &&
      !next.metadata.deletionTimestamp &&
      next.spec?.nodeName &&
      !['Succeeded', 'Failed'].includes(next.status?.phase) &&
      (opts.gracePeriodSeconds ?? next.spec?.terminationGracePeriodSeconds ?? 30) > 0;
    const namespace = key === '/namespaces';
    if (fins.length > 0 || graceful || namespace) {
      if (next.metadata.deletionTimestamp) return { body: current, gone: false };
      next.metadata.finalizers = fins.length ? fins : undefined;
      if (!next.metadata.finalizers) delete next.metadata.finalizers;
      const grace = graceful
        ? (opts.gracePeriodSeconds ?? next.spec?.terminationGracePeriodSeconds ?? 30)
        : 0;
      next.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z');
      next.metadata.deletionGracePeriodSeconds = grace;
      if (graceful && next.metadata.generation !== undefined) next.metadata.generation += 1;
      if (namespace) next.status = { ...(next.status ?? {}), phase: 'Terminating' };
      const stored = this.store.put(key, this.toStored(next));
      return { body: this.present(t, stored), gone: false };
    }
    const last = this.store.remove(key, t.namespaced ? ns : undefined, name)!;
    const returnsObject =
      t.builtin &&
      // the kinds whose upstream storage sets ReturnDeletedObject
      [
        '/pods',
        '/namespaces',
        '/services',
        '/serviceaccounts',
        '/persistentvolumeclaims',
        '/persistentvolumes',
      ].includes(key);
    return {
      body: returnsObject
        ? this.present(t, last)
        : successStatus({ name, group: t.group, kind: t.plural, uid: current.metadata.uid }),
      gone: true,
    };
  }

  /** Removes an object immediately (kubelet finishing a graceful pod delete, namespace controller). */
  forceRemove(t: ResourceType, ns: string | undefined, name: string): void {
    this.store.remove(storageKey(t), t.namespaced ? ns : undefined, name);
  }

  /** Convenience for controllers: the first served type of a group+plural (throws if unknown). */
  type(group: string, plural: string): ResourceType {
    const t = this.lookupAnyVersion(group, plural);
    if (!t) throw new Error(`unknown resource ${plural}.${group}`);
    return t;
  }

  forbid = forbidden;
}

/** How Go's encoding/json names a JSON value's type in an unmarshal error. */
function goJsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object'
    ? 'object'
    : typeof v === 'string'
      ? 'string'
      : typeof v === 'boolean'
        ? 'bool'
        : 'number';
}

function withoutManaged(o: Obj): Obj {
  const c = stripForCompare(o);
  return c;
}

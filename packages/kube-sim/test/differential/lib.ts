/** What a differential check is, and the small helpers the checks share. */
import type { Api, Obj, Resp } from './api.ts';

export type { Api, Obj, Resp, WatchEvent } from './api.ts';

/** What a check saw: plain JSON, compared between the two servers after `normalize`. */
export type Observation = Record<string, unknown>;

export interface Ctx {
  /** A namespace made for this check alone, with the same name on both servers. */
  readonly ns: string;
}

export interface Check {
  /** `area/what`, unique; also the name of the check's namespace (slugged). */
  readonly id: string;
  /** One line: what is checked. */
  readonly what: string;
  run(api: Api, ctx: Ctx): Promise<Observation>;
}

export function check(id: string, what: string, run: (api: Api, ctx: Ctx) => Promise<Observation>): Check {
  return { id, what, run };
}

export const WIDGETS = '/apis/test.kubevirtbmc.io/v1';

export function cmPath(ns: string, name?: string, sub?: string): string {
  return `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}${sub ? `/${sub}` : ''}`;
}

export function wPath(ns: string, name?: string, sub?: string): string {
  return `${WIDGETS}/namespaces/${ns}/widgets${name ? `/${name}` : ''}${sub ? `/${sub}` : ''}`;
}

export function configMap(name: string, data: Record<string, string> = {}, metadata: Obj = {}): Obj {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...metadata }, data };
}

export function widget(name: string, spec: Obj = { size: 1 }, metadata: Obj = {}): Obj {
  return { apiVersion: 'test.kubevirtbmc.io/v1', kind: 'Widget', metadata: { name, ...metadata }, spec };
}

/** The parts of an error answer a client reads: HTTP code, and the Status's reason, message, details. */
export function failure(r: Resp): Observation {
  if (r.json && r.json.kind === 'Status') {
    return {
      http: r.status,
      kind: r.json.kind,
      apiVersion: r.json.apiVersion,
      status: r.json.status,
      reason: r.json.reason,
      message: r.json.message,
      code: r.json.code,
      ...(r.json.details !== undefined ? { details: r.json.details } : {}),
    };
  }
  if (r.json) return { http: r.status, kind: r.json.kind };
  return { http: r.status, contentType: r.contentType.split(';')[0], text: r.text.trim() };
}

/** Only code, reason and message. */
export function brief(r: Resp): Observation {
  if (r.json && r.json.kind === 'Status')
    return { http: r.status, reason: r.json.reason, message: r.json.message };
  if (r.json) return { http: r.status, kind: r.json.kind };
  return { http: r.status, text: r.text.trim() };
}

/** Throws unless the answer is 2xx (a setup step of a check that must work on both servers). */
export function ok(r: Resp, what: string): Obj {
  if (r.status < 200 || r.status > 299) throw new Error(`${what}: HTTP ${r.status} ${r.text.slice(0, 400)}`);
  return r.json;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls until `fn` returns something truthy; returns that, or undefined after `timeoutMs`. */
export async function poll<T>(
  fn: () => Promise<T>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) return undefined;
    await sleep(intervalMs);
  }
}

/** Waits until GET of `path` is 404; true if it went away in time. */
export async function gone(api: Api, path: string, timeoutMs = 20_000): Promise<boolean> {
  return (await poll(async () => (await api.get(path)).status === 404, timeoutMs, 150)) === true;
}

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UID_IN_TEXT = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * What must differ between two servers, replaced by placeholders: uids, timestamps (keeping their
 * precision, which clients parse), resourceVersions (keeping "set" vs "unset"), managedFields
 * (coarse in the embedded server, documented).
 */
export function normalize(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => normalize(x));
  if (v && typeof v === 'object') {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v as Obj)) {
      if (k === 'managedFields') continue;
      out[k] = normalize(x, k);
    }
    return out;
  }
  if (typeof v === 'string') {
    if (UID.test(v)) return '<uid>';
    if (TIME.test(v)) return v.includes('.') ? `<time.${v.split('.')[1]!.length - 1}>` : '<time>';
    if (key === 'resourceVersion' && /^\d+$/.test(v)) return '<rv>';
    return v.replace(UID_IN_TEXT, '<uid>');
  }
  return v;
}

/** Metadata of an object with what must differ normalised, and server-owned fields kept. */
export function meta(o: Obj | undefined): Obj | undefined {
  if (!o?.metadata) return undefined;
  return normalize(o.metadata) as Obj;
}

/** The object without metadata fields that differ per server, for comparing whole objects. */
export function shape(o: Obj | undefined): Obj | undefined {
  if (!o) return undefined;
  return normalize(o) as Obj;
}

/** Replaces every run of digits in a message by N (resourceVersions, ports inside messages). */
export function digits(s: unknown): unknown {
  return typeof s === 'string' ? s.replace(/\d+/g, 'N') : s;
}

/** Seconds-precision `YYYY-MM-DDTHH:MM:SSZ`? */
export function isSecondsTime(s: unknown): boolean {
  return typeof s === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(s);
}

export function names(list: Obj | undefined): string[] {
  return ((list?.items ?? []) as Obj[]).map((o) => o.metadata?.name as string);
}

export function sortedNames(list: Obj | undefined): string[] {
  return names(list).sort();
}

/** Creates a ServiceAccount and returns a TokenRequest token for it. */
export async function saToken(api: Api, ns: string, name: string): Promise<string> {
  const r = await api.post(`/api/v1/namespaces/${ns}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name },
  });
  if (r.status !== 201 && r.status !== 409) ok(r, `create serviceaccount ${name}`);
  const t = await api.post(`/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  });
  return ok(t, `token for ${name}`).status.token as string;
}

export const RBAC = '/apis/rbac.authorization.k8s.io/v1';

export async function bindRole(
  api: Api,
  ns: string,
  name: string,
  rules: Obj[],
  sa: string,
  roleKind: 'Role' | 'ClusterRole' = 'Role',
): Promise<void> {
  const rolePath = roleKind === 'Role' ? `${RBAC}/namespaces/${ns}/roles` : `${RBAC}/clusterroles`;
  ok(
    await api.post(rolePath, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: roleKind,
      metadata: { name },
      rules,
    }),
    `create ${roleKind} ${name}`,
  );
  ok(
    await api.post(`${RBAC}/namespaces/${ns}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    }),
    `bind ${name}`,
  );
}

/** Polls a request until its status is `code` (RBAC changes reach the real authorizer through a cache). */
export async function until(
  fn: () => Promise<Resp>,
  pred: (r: Resp) => boolean,
  timeoutMs = 5000,
): Promise<Resp> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fn();
    if (pred(r) || Date.now() > deadline) return r;
    await sleep(100);
  }
}

/** Waits for the namespace's default ServiceAccount (pods cannot be created before it exists). */
export async function defaultServiceAccount(api: Api, ns: string): Promise<void> {
  await poll(
    async () => (await api.get(`/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200,
    20_000,
  );
}

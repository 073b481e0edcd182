/**
 * RBAC: authorization of non-admin users (ServiceAccount tokens, anonymous requests) by Roles,
 * ClusterRoles and their bindings, and the escalation checks on writes of roles and bindings
 * (create a role only with permissions you hold or with `escalate`; bind one only if you hold its
 * permissions or have `bind` on it).
 */
import { ApiError, forbidden } from './errors.ts';
import type { Registry } from './registry.ts';
import type { ResourceType } from './resources.ts';
import type { RequestInfo, User } from './server.ts';
import type { Obj } from './store.ts';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** One permission asked for: verb on group/resource[/subresource] (optionally a named object). */
interface Attributes {
  verb: string;
  group: string;
  /** `resource` or `resource/subresource`. */
  resource: string;
  name?: string;
  /** For list/watch restricted by resourceNames: the metadata.name field selector, if any. */
  fieldSelector?: string;
}

function ruleAllows(rule: Obj, a: Attributes): boolean {
  const verbs: string[] = rule.verbs ?? [];
  if (!verbs.includes('*') && !verbs.includes(a.verb)) return false;
  const groups: string[] = rule.apiGroups ?? [];
  if (!groups.includes('*') && !groups.includes(a.group)) return false;
  const resources: string[] = rule.resources ?? [];
  const [base, sub] = a.resource.split('/');
  const ok = resources.some(
    (r) => r === '*' || r === a.resource || (sub !== undefined && (r === `${base}/*` || r === `*/${sub}`)),
  );
  if (!ok) return false;
  const names: string[] = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  if (a.name) return names.includes(a.name);
  if (a.verb === 'list' || a.verb === 'watch') {
    const m = /^metadata\.name(?:==|=)([^,]+)$/.exec((a.fieldSelector ?? '').trim());
    return !!m && names.includes(m[1]!);
  }
  return false;
}

function subjectMatches(subject: Obj, user: User, bindingNs: string | undefined): boolean {
  if (subject.kind === 'ServiceAccount') {
    const ns = subject.namespace ?? bindingNs;
    return user.name === `system:serviceaccount:${ns}:${subject.name}`;
  }
  if (subject.kind === 'User') return subject.name === user.name;
  if (subject.kind === 'Group') return user.groups.includes(subject.name);
  return false;
}

function rulesOfRef(reg: Registry, ref: Obj, ns: string | undefined): Obj[] {
  if (ref?.kind === 'ClusterRole')
    return reg.store.peek(`${RBAC_GROUP}/clusterroles`, undefined, ref.name)?.rules ?? [];
  if (ref?.kind === 'Role' && ns) return reg.store.peek(`${RBAC_GROUP}/roles`, ns, ref.name)?.rules ?? [];
  return [];
}

/** Every rule that applies to the user in a namespace (or at the cluster scope when undefined). */
export function rulesFor(reg: Registry, user: User, ns: string | undefined): Obj[] {
  const out: Obj[] = [];
  for (const [key, b] of reg.store.all()) {
    if (key === `${RBAC_GROUP}/clusterrolebindings`) {
      if ((b.subjects ?? []).some((s: Obj) => subjectMatches(s, user, undefined)))
        out.push(...rulesOfRef(reg, b.roleRef, undefined));
    } else if (key === `${RBAC_GROUP}/rolebindings` && ns && b.metadata.namespace === ns) {
      if ((b.subjects ?? []).some((s: Obj) => subjectMatches(s, user, ns)))
        out.push(...rulesOfRef(reg, b.roleRef, ns));
    }
  }
  return out;
}

function allows(reg: Registry, user: User, ns: string | undefined, a: Attributes): boolean {
  return rulesFor(reg, user, ns).some((r) => ruleAllows(r, a));
}

export function authorizeRbac(reg: Registry, user: User, info: RequestInfo): ApiError | undefined {
  if (!info.isResource) {
    // system:discovery and system:public-info-viewer: every authenticated user reads discovery
    if (user.groups.includes('system:authenticated')) return undefined;
    return new ApiError(
      403,
      'Forbidden',
      `forbidden: User "${user.name}" cannot ${info.method.toLowerCase()} path "${info.path}"`,
      {},
    );
  }
  // system:basic-user: every authenticated user may ask who it is
  if (
    info.group === 'authentication.k8s.io' &&
    info.resource === 'selfsubjectreviews' &&
    user.groups.includes('system:authenticated')
  )
    return undefined;
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource!;
  const verb =
    info.group === 'subresources.kubevirt.io' && info.method === 'GET' && info.subresource
      ? 'get'
      : info.verb;
  const a: Attributes = {
    verb,
    group: info.group,
    resource,
    ...(info.name ? { name: info.name } : {}),
    fieldSelector: info.query.get('fieldSelector') ?? '',
  };
  // a request for a namespace object is "in" that namespace (RoleBindings there apply)
  const ns = info.namespace ?? (!info.group && info.resource === 'namespaces' ? info.name : undefined);
  if (allows(reg, user, ns, a)) return undefined;
  return forbidden(user.name, verb, info.group, resource, ns, info.name);
}

/** A rule broken into single permissions (one verb, group, resource and name each). */
function expand(rule: Obj): Attributes[] {
  const out: Attributes[] = [];
  const names: string[] = rule.resourceNames?.length ? rule.resourceNames : [undefined];
  for (const group of rule.apiGroups ?? [])
    for (const resource of rule.resources ?? [])
      for (const verb of rule.verbs ?? [])
        for (const name of names) out.push({ verb, group, resource, ...(name ? { name } : {}) });
  return out;
}

/** A rule that names a wildcard is covered only by an owner rule with the same wildcard. */
function covered(owner: Obj[], a: Attributes): boolean {
  return owner.some((r) => {
    const verbs: string[] = r.verbs ?? [];
    const groups: string[] = r.apiGroups ?? [];
    const resources: string[] = r.resources ?? [];
    const names: string[] = r.resourceNames ?? [];
    if (!verbs.includes('*') && !verbs.includes(a.verb)) return false;
    if (!groups.includes('*') && !groups.includes(a.group)) return false;
    const [base, sub] = a.resource.split('/');
    if (
      !resources.some(
        (x) =>
          x === '*' || x === a.resource || (sub !== undefined && (x === `${base}/*` || x === `*/${sub}`)),
      )
    )
      return false;
    if (names.length === 0) return true;
    return !!a.name && names.includes(a.name);
  });
}

/** Go's %q of a string list: ["a" "b"]. */
function quoted(list: string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/** The missing permissions as upstream prints them: simple rules merged by verb, one per line, sorted. */
function describeMissing(missing: Attributes[]): string {
  const merged = new Map<string, { group: string; resource: string; name?: string; verbs: string[] }>();
  for (const m of missing) {
    const key = JSON.stringify([m.group, m.resource, m.name ?? null]);
    const cur = merged.get(key) ?? {
      group: m.group,
      resource: m.resource,
      ...(m.name ? { name: m.name } : {}),
      verbs: [],
    };
    if (!cur.verbs.includes(m.verb)) cur.verbs.push(m.verb);
    merged.set(key, cur);
  }
  const lines = [...merged.values()].map((r) => {
    const parts = [`APIGroups:${quoted([r.group])}`, `Resources:${quoted([r.resource])}`];
    if (r.name) parts.push(`ResourceNames:${quoted([r.name])}`);
    parts.push(`Verbs:${quoted(r.verbs)}`);
    return `{${parts.join(', ')}}`;
  });
  return [...new Set(lines)].sort().join('\n');
}

/**
 * The RBAC escalation checks on a write by a non-admin user of a Role, ClusterRole, RoleBinding
 * or ClusterRoleBinding (kube-apiserver's registry/rbac policy-based strategies).
 */
export function checkEscalation(reg: Registry, t: ResourceType, obj: Obj, user: User): void {
  if (user.admin || t.group !== RBAC_GROUP) return;
  const ns: string | undefined = t.namespaced ? obj.metadata?.namespace : undefined;
  const name: string = obj.metadata?.name ?? '';
  let rules: Obj[];
  if (t.plural === 'roles' || t.plural === 'clusterroles') {
    if (allows(reg, user, ns, { verb: 'escalate', group: RBAC_GROUP, resource: t.plural, name })) return;
    rules = obj.rules ?? [];
  } else if (t.plural === 'rolebindings' || t.plural === 'clusterrolebindings') {
    const ref = obj.roleRef ?? {};
    const refResource = ref.kind === 'Role' ? 'roles' : 'clusterroles';
    if (allows(reg, user, ns, { verb: 'bind', group: RBAC_GROUP, resource: refResource, name: ref.name }))
      return;
    rules = rulesOfRef(reg, ref, ns);
  } else return;
  const owner = rulesFor(reg, user, ns);
  const missing = rules.flatMap(expand).filter((a) => !covered(owner, a));
  if (missing.length === 0) return;
  throw new ApiError(
    403,
    'Forbidden',
    `${t.plural}.${RBAC_GROUP} "${name}" is forbidden: user ${JSON.stringify(user.name)} (groups=${quoted(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${describeMissing(missing)}`,
    { name, group: RBAC_GROUP, kind: t.plural },
  );
}

/** RBAC authorization of ServiceAccount tokens (Role/RoleBinding/ClusterRole/ClusterRoleBinding). */
import { type ApiError, forbidden } from './errors.ts';
import type { Registry } from './registry.ts';
import type { RequestInfo, User } from './server.ts';
import type { Obj } from './store.ts';

function ruleAllows(rule: Obj, info: RequestInfo, resource: string, verb: string): boolean {
  const verbs: string[] = rule.verbs ?? [];
  if (!verbs.includes('*') && !verbs.includes(verb)) return false;
  const groups: string[] = rule.apiGroups ?? [];
  if (!groups.includes('*') && !groups.includes(info.group)) return false;
  const resources: string[] = rule.resources ?? [];
  const [base] = resource.split('/');
  const ok = resources.some(
    (r) =>
      r === '*' ||
      r === resource ||
      r === `${base}/*` ||
      (r === `*/${resource.split('/')[1]}` && resource.includes('/')),
  );
  if (!ok) return false;
  const names: string[] = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  if (info.name) return names.includes(info.name);
  if (verb === 'list' || verb === 'watch') {
    const fs = info.query.get('fieldSelector') ?? '';
    const m = /^metadata\.name(?:==|=)([^,]+)$/.exec(fs.trim());
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

function rulesOf(reg: Registry, ref: Obj, ns: string | undefined): Obj[] {
  if (ref.kind === 'ClusterRole')
    return reg.store.peek('rbac.authorization.k8s.io/clusterroles', undefined, ref.name)?.rules ?? [];
  if (ref.kind === 'Role' && ns)
    return reg.store.peek('rbac.authorization.k8s.io/roles', ns, ref.name)?.rules ?? [];
  return [];
}

/** Built-in grants every authenticated user has (discovery, self-review). */
function isDiscovery(info: RequestInfo): boolean {
  return !info.isResource;
}

export function authorizeRbac(reg: Registry, user: User, info: RequestInfo): ApiError | undefined {
  if (isDiscovery(info)) return undefined;
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource!;
  const verb =
    info.group === 'subresources.kubevirt.io' && info.method === 'GET' && info.subresource
      ? 'get'
      : info.verb;
  const allowed = (rules: Obj[]) => rules.some((r) => ruleAllows(r, info, resource, verb));
  for (const [key, b] of reg.store.all()) {
    if (key === 'rbac.authorization.k8s.io/clusterrolebindings') {
      if (
        (b.subjects ?? []).some((s: Obj) => subjectMatches(s, user, undefined)) &&
        allowed(rulesOf(reg, b.roleRef, undefined))
      )
        return undefined;
    } else if (
      key === 'rbac.authorization.k8s.io/rolebindings' &&
      info.namespace &&
      b.metadata.namespace === info.namespace
    ) {
      if (
        (b.subjects ?? []).some((s: Obj) => subjectMatches(s, user, b.metadata.namespace)) &&
        allowed(rulesOf(reg, b.roleRef, b.metadata.namespace))
      )
        return undefined;
    }
  }
  return forbidden(user.name, verb, info.group, resource, info.namespace, info.name);
}

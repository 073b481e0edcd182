/**
 * Kubernetes' RBAC escalation rule as a function: a subject may create a Role only if every
 * permission in it is one it already holds. A rule is broken into single permissions (API group,
 * resource, verb, resource name) and each must be allowed by one held rule, with `*` wildcards and
 * empty resourceNames meaning "any", as kube-apiserver's rule covering does.
 */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

function allows(
  held: PolicyRule,
  group: string,
  resource: string,
  verb: string,
  name: string | null,
): boolean {
  const groups = held.apiGroups ?? [];
  const resources = held.resources ?? [];
  if (!held.verbs.includes('*') && !held.verbs.includes(verb)) return false;
  if (!groups.includes('*') && !groups.includes(group)) return false;
  const sub = resource.includes('/');
  const resourceOk =
    resources.includes('*') ||
    resources.includes(resource) ||
    (sub && resources.includes(`*/${resource.split('/')[1]}`));
  if (!resourceOk) return false;
  const names = held.resourceNames ?? [];
  if (names.length === 0) return true;
  return name !== null && names.includes(name);
}

/** The single permissions of `granted` that no rule of `held` allows (empty: covered). */
export function uncovered(held: readonly PolicyRule[], granted: readonly PolicyRule[]): string[] {
  const missing: string[] = [];
  for (const g of granted) {
    const names = g.resourceNames && g.resourceNames.length > 0 ? g.resourceNames : [null];
    for (const group of g.apiGroups ?? [])
      for (const resource of g.resources ?? [])
        for (const verb of g.verbs)
          for (const name of names)
            if (!held.some((h) => allows(h, group, resource, verb, name)))
              missing.push(`${verb} ${group || 'core'}/${resource}${name ? `/${name}` : ''}`);
  }
  return missing;
}

/**
 * `node --import tsx scripts/sync-chart.ts`: regenerates the parts of the Helm chart (deploy/chart)
 * that are deploy/'s files as they are: the CRD (crds/) and the RBAC and admission-policy templates,
 * each with the label deploy/'s kustomization adds and the controller's namespace as a value. Run it
 * after changing those files in deploy/; test/e2e/helm.test.ts fails until the chart matches. The
 * controller Deployment and the namespace are templates of their own (values reach them), and so is
 * the RBAC of watched namespaces (watch-namespaces-rbac.yaml): the documents listed in `ONLY_IF`
 * are wrapped here in the condition under which the chart renders them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEPLOY = fileURLToPath(new URL('../deploy/', import.meta.url));
const CHART = join(DEPLOY, 'chart');
const NS = '{{ include "kubevirtbmc.namespace" . }}';
const PART_OF = '    {{- include "kubevirtbmc.partOf" . | nindent 4 }}';

/** deploy/ path → chart template, for the files the chart renders unchanged. */
export const SYNCED: Record<string, string> = {
  'rbac/cluster-role.yaml': 'templates/cluster-role.yaml',
  'rbac/leader-election.yaml': 'templates/leader-election.yaml',
  'rbac/datavolume-policy.yaml': 'templates/datavolume-policy.yaml',
  'rbac/agent-secret-policy.yaml': 'templates/agent-secret-policy.yaml',
  'rbac/secret-label-policy.yaml': 'templates/secret-label-policy.yaml',
  'controller/rbac.yaml': 'templates/controller-self-rbac.yaml',
};

/**
 * deploy/ path → kind → the chart condition (a template expression) under which that file's
 * document of that kind is rendered. With `watchNamespaces` set, RoleBindings in those namespaces
 * (watch-namespaces-rbac.yaml) take the place of the cluster-wide binding.
 */
export const ONLY_IF: Record<string, Record<string, string>> = {
  'rbac/cluster-role.yaml': { ClusterRoleBinding: 'not (include "kubevirtbmc.watchNamespaces" .)' },
};

/** Wraps a document in `{{ if <condition> }}…{{ end }}` (rendering nothing, not even a blank line, when false). */
function onlyIf(doc: string, condition: string | undefined): string {
  if (!condition) return doc;
  const body = doc.endsWith('\n') ? doc.slice(0, -1) : doc;
  return `{{ if ${condition} -}}\n${body}\n{{- end }}${doc.endsWith('\n') ? '\n' : ''}`;
}

/** Adds `line` as the last entry of each document's metadata.labels (creating the map). */
function addLabel(doc: string, line: string): string {
  const lines = doc.split('\n');
  const meta = lines.indexOf('metadata:');
  if (meta < 0) return doc;
  let end = meta + 1;
  while (end < lines.length && lines[end]!.startsWith('  ')) end++;
  const block = lines.slice(meta + 1, end);
  const at = block.findIndex((l) => l.startsWith('  labels:'));
  if (at >= 0) {
    let j = at + 1;
    while (j < block.length && block[j]!.startsWith('    ')) j++;
    block.splice(j, 0, line);
  } else block.push('  labels:', line);
  return [...lines.slice(0, meta + 1), ...block, ...lines.slice(end)].join('\n');
}

function template(from: string): string {
  const text = readFileSync(join(DEPLOY, from), 'utf8');
  const body = text
    .split('\n---\n')
    .map((d) =>
      onlyIf(
        addLabel(d, PART_OF).replaceAll('namespace: kubevirtbmc-system', `namespace: ${NS}`),
        ONLY_IF[from]?.[/^kind: (\S+)$/m.exec(d)?.[1] ?? ''],
      ),
    )
    .join('\n---\n');
  return `# Generated from deploy/${from} by scripts/sync-chart.ts: edit that file and run the script.\n${body}`;
}

function crd(): string {
  const text = readFileSync(join(DEPLOY, 'crd', 'virtualmachinebmcs.yaml'), 'utf8');
  const body = text
    .split('\n')
    .filter((l, i, all) => !(l.startsWith('#') && all.slice(0, i).every((p) => p.startsWith('#'))))
    .join('\n');
  return [
    '# Generated from deploy/crd/virtualmachinebmcs.yaml by scripts/sync-chart.ts: edit that file and run',
    "# the script. Helm installs a chart's crds/ on the first install and never upgrades or deletes them:",
    '# upgrade it with `kubectl apply --server-side --force-conflicts -f deploy/chart/crds/` before `helm upgrade`',
    '# (docs/getting-started.md, "Upgrade and uninstall").',
    addLabel(body, '    app.kubernetes.io/part-of: kubevirtbmc'),
  ].join('\n');
}

/** What each synced chart file should contain, by its path under deploy/chart. */
export function syncedChartFiles(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [from, to] of Object.entries(SYNCED)) out.set(to, template(from));
  out.set('crds/virtualmachinebmcs.yaml', crd());
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [path, text] of syncedChartFiles()) {
    writeFileSync(join(CHART, path), text);
    console.log(`wrote deploy/chart/${path}`);
  }
}

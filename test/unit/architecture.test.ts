import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

/** The import rules of docs/architecture.md: which src/ folders each folder must not import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  machine: ['ipmi', 'redfish', 'kubevirt', 'controller', 'agent', 'cli', 'demo', 'kube'],
  ipmi: ['redfish', 'kubevirt', 'controller', 'agent', 'cli', 'demo', 'kube'],
  redfish: ['ipmi', 'kubevirt', 'controller', 'agent', 'cli', 'demo', 'kube'],
  kubevirt: ['ipmi', 'redfish', 'controller', 'agent', 'cli', 'demo'],
  controller: ['ipmi', 'redfish', 'agent', 'cli', 'demo'],
  agent: ['controller', 'cli', 'demo'],
  kube: ['machine', 'ipmi', 'redfish', 'kubevirt', 'controller', 'agent', 'cli', 'demo'],
  demo: ['cli'],
  cli: [],
};

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const SRC = join(ROOT, 'src');
const SIM = join(ROOT, 'packages/kube-sim');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    if (e === 'node_modules') return [];
    const p = join(dir, e);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mts|mjs)$/.test(p) ? [p] : [];
  });
}

/** Every import of a file: relative ones resolved to repo paths, package ones by name. */
function imports(file: string): Array<{ spec: string; target: string | null }> {
  const text = readFileSync(file, 'utf8');
  const out: Array<{ spec: string; target: string | null }> = [];
  for (const m of text.matchAll(/(?:^|[^.\w])(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/gm)) {
    const spec = m[1]!;
    out.push({ spec, target: spec.startsWith('.') ? relative(ROOT, resolve(dirname(file), spec)) : null });
  }
  return out;
}

test('src/ has exactly the folders the rules know', () => {
  const folders = readdirSync(SRC).filter((e) => statSync(join(SRC, e)).isDirectory());
  assert.deepEqual(folders.sort(), Object.keys(FORBIDDEN).sort());
});

test('src/ folders respect the import rules', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const layer = relative(SRC, file).split('/')[0]!;
    const forbidden = FORBIDDEN[layer] ?? [];
    for (const { spec, target } of imports(file)) {
      if (target === null) continue;
      const [top, folder] = target.split('/');
      if (top !== 'src') violations.push(`${relative(ROOT, file)} reaches outside src/: ${spec}`);
      else if (forbidden.includes(folder!)) violations.push(`${relative(ROOT, file)} imports ${spec}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the product does not import client-node or the simulator package', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    for (const { spec } of imports(file)) {
      // the simulator is loaded by name at run time only (src/demo/kube-sim.ts), never imported
      if (spec.startsWith('@kubernetes/client-node') || spec.startsWith('@kubevirtbmc/kube-sim'))
        violations.push(`${relative(ROOT, file)} imports ${spec}`);
    }
  }
  assert.deepEqual(violations, []);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.dependencies['@kubernetes/client-node'], undefined, 'client-node is a devDependency');
  assert.ok(pkg.devDependencies['@kubernetes/client-node']);
});

test('the simulator package uses nothing of the product but the src/kube client', () => {
  const violations: string[] = [];
  for (const file of files(join(SIM, 'src'))) {
    const part = relative(join(SIM, 'src'), file).split('/')[0]!;
    for (const { spec, target } of imports(file)) {
      if (target === null || target.startsWith('packages/kube-sim/src/')) continue;
      // the fake components are Kubernetes clients like any other; the embedded server stands
      // for a real cluster and uses nothing of the product
      if (part === 'fakecluster' && target.startsWith('src/kube/')) continue;
      violations.push(`${relative(ROOT, file)} imports ${spec}`);
    }
  }
  assert.deepEqual(violations, []);
});

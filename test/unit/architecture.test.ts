import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

/** The import rules of docs/architecture.md: which src/ folders each folder must not import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  machine: ['ipmi', 'redfish', 'kubevirt', 'controller', 'agent', 'sim', 'fakecluster', 'cli', 'kube'],
  ipmi: ['redfish', 'kubevirt', 'controller', 'agent', 'sim', 'fakecluster', 'cli', 'kube'],
  redfish: ['ipmi', 'kubevirt', 'controller', 'agent', 'sim', 'fakecluster', 'cli', 'kube'],
  kubevirt: ['ipmi', 'redfish', 'controller', 'agent', 'sim', 'fakecluster', 'cli'],
  controller: ['ipmi', 'redfish', 'agent', 'sim', 'fakecluster', 'cli'],
  agent: ['controller', 'sim', 'fakecluster', 'cli'],
  sim: ['machine', 'ipmi', 'redfish', 'kubevirt', 'controller', 'agent', 'cli', 'kube'],
  // the fake cluster components: Kubernetes clients of any API server, never of the product
  fakecluster: ['machine', 'ipmi', 'redfish', 'kubevirt', 'controller', 'agent', 'cli', 'demo'],
  kube: ['machine', 'ipmi', 'redfish', 'kubevirt', 'controller', 'agent', 'sim', 'fakecluster', 'cli'],
};

const SRC = resolve(new URL('../../src', import.meta.url).pathname);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('src/ folders respect the import rules', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const layer = relative(SRC, file).split('/')[0]!;
    const forbidden = FORBIDDEN[layer] ?? [];
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = relative(SRC, resolve(dirname(file), m[1]!)).split('/')[0]!;
      if (forbidden.includes(target)) violations.push(`${relative(SRC, file)} imports ${m[1]}`);
    }
  }
  assert.deepEqual(violations, []);
});

/**
 * The demo installs deploy/ without kubectl, with its own small kustomize. It must produce exactly
 * what `kubectl kustomize` produces, object for object, or the demo would not be showing the real
 * install; and it must refuse kustomization features it does not implement instead of ignoring them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { kustomize } from '../../src/demo/kustomize.ts';
import { missingClients } from '../support/clients.ts';
import { REPO } from './helpers.ts';

for (const dir of ['deploy', 'deploy/samples']) {
  test(`${dir}/ renders as kubectl kustomize renders it`, { skip: missingClients('kubectl') }, () => {
    const r = spawnSync('kubectl', ['kustomize', join(REPO, dir)], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const key = (o: { kind: string; metadata: { name: string; namespace?: string } }) =>
      `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const theirs = new Map(
      parseAllDocuments(r.stdout)
        .map((d) => d.toJSON())
        .filter(Boolean)
        .map((o) => [key(o), o]),
    );
    const ours = kustomize(join(REPO, dir));
    assert.deepEqual(ours.map(key).sort(), [...theirs.keys()].sort());
    for (const o of ours) assert.deepEqual(o, theirs.get(key(o)), key(o));
  });
}

test('a kustomization feature the demo does not implement is refused, not ignored', () => {
  const d = mkdtempSync(join(tmpdir(), 'kustomize-'));
  writeFileSync(join(d, 'kustomization.yaml'), 'resources: [cm.yaml]\npatches:\n  - path: p.yaml\n');
  writeFileSync(join(d, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
  assert.throws(() => kustomize(d), /does not support patches; use kubectl apply -k/);
});

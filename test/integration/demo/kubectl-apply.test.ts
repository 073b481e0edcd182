/**
 * After the demo has installed deploy/, a user runs `kubectl apply -k deploy/` (docs/getting-started.md
 * shows it). The real kubectl must apply every object and write nothing on stderr: no
 * "missing the kubectl.kubernetes.io/last-applied-configuration annotation" warning, no "unable to
 * find api field". Checked on the embedded cluster the demo runs on, and on the real control plane
 * (the reference) when it is built.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { applyAll, LAST_APPLIED, withLastApplied } from '../../../src/demo/apply.ts';
import { kustomize, type Manifest } from '../../../src/demo/kustomize.ts';
import { DEPLOY_DIR } from '../../../src/demo/run.ts';
import { SAMPLE_VMS, sampleManifests } from '../../../src/demo/samples.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import { missingClients } from '../../support/clients.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { kubectl } from '../../support/sim-kubectl.ts';

const STUB = new URL('../../support/sim-agent-stub.mjs', import.meta.url).pathname;
const skip = missingClients('kubectl');

async function installedByTheDemo(cluster: TestCluster): Promise<void> {
  const client = new KubeClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), 'demo-apply-test');
  await applyAll(client, kustomize(DEPLOY_DIR));
}

function checkQuietApply(r: { code: number | null; stdout: string; stderr: string }): void {
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'kubectl apply -k deploy/ wrote to stderr');
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, kustomize(DEPLOY_DIR).length, r.stdout);
  // `configured` for the ValidatingAdmissionPolicies on kube-apiserver: it defaults fields in them
  // that kubectl's patch then sets again; kubectl's own second apply says the same there.
  for (const l of lines) assert.match(l, / (unchanged|configured)$/, r.stdout);
}

describe('kubectl apply -k deploy/ after the demo installed it', { skip, timeout: 180_000 }, () => {
  let cluster: TestCluster | undefined;
  after(async () => cluster?.stop());

  test('applies every object and writes nothing on stderr', async () => {
    cluster = await startCluster({ agentCommand: [process.execPath, STUB] });
    await installedByTheDemo(cluster);
    checkQuietApply(
      await kubectl(cluster.kubeconfigPath, ['apply', '-k', DEPLOY_DIR], { timeoutMs: 60_000 }),
    );
  });
});

describe('the last-applied annotation the demo writes', () => {
  test('is the manifest as kubectl writes it: JSON, keys sorted, HTML characters escaped, a final newline', () => {
    const m: Manifest = {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'x', namespace: 'default', annotations: { a: 'b' } },
      data: { z: '1', expr: 'a < b && c > d' },
    };
    const a = withLastApplied(m).metadata.annotations as Record<string, string>;
    assert.equal(a.a, 'b');
    assert.equal(
      a[LAST_APPLIED],
      '{"apiVersion":"v1","data":{"expr":"a \\u003c b \\u0026\\u0026 c \\u003e d","z":"1"},"kind":"ConfigMap",' +
        '"metadata":{"annotations":{"a":"b"},"name":"x","namespace":"default"}}\n',
    );
  });

  test('is not put on Secrets, where it would copy the password into an annotation', () => {
    const secret = sampleManifests(SAMPLE_VMS[0]!, { username: 'admin', password: 'Sekrit-123' }).find(
      (o) => o.kind === 'Secret',
    );
    assert.ok(secret);
    assert.doesNotMatch(JSON.stringify(withLastApplied(secret).metadata), /Sekrit-123/);
  });
});

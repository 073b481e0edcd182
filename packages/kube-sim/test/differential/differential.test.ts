/**
 * The differential suite: every check of packages/kube-sim/test/differential/checks runs against the embedded server
 * and the real kube-apiserver, and their observations must be equal (after normalising what must
 * differ), or the difference must be documented in differences.ts. The last line printed says how
 * many checks match. KUBEVIRTBMC_DIFF_ONLY=<regexp> runs only the checks whose id matches.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CHECKS } from './checks/index.ts';
import { compare, describeDeltas } from './compare.ts';
import { DIFFERENCES, PENDING } from './differences.ts';
import type { Api, Check, Observation } from './lib.ts';
import { realSkipReason, type Servers, startServers } from './servers.ts';

const only = process.env.KUBEVIRTBMC_DIFF_ONLY ? new RegExp(process.env.KUBEVIRTBMC_DIFF_ONLY) : undefined;
const checks = CHECKS.filter((c) => !only || only.test(c.id));
const skipReal = realSkipReason();
const results = new Map<string, 'match' | 'documented' | 'mismatch' | 'embedded-only'>();
let servers: Servers | undefined;

function nsFor(c: Check): string {
  return `d-${c.id.replace(/[^a-z0-9]+/g, '-')}`.slice(0, 63).replace(/-+$/, '');
}

async function observe(api: Api, c: Check): Promise<Observation> {
  const ns = nsFor(c);
  try {
    const r = await api.post('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns },
    });
    if (r.status !== 201) throw new Error(`creating namespace ${ns}: HTTP ${r.status} ${r.text}`);
    return await c.run(api, { ns });
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

before(async () => {
  if (skipReal && process.env.CI === 'true') return;
  servers = await startServers();
  if (skipReal) process.stdout.write(`# differential: ${skipReal}\n`);
});

after(async () => {
  await servers?.stop();
  const total = results.size;
  const count = (k: string) => [...results.values()].filter((v) => v === k).length;
  const pending = PENDING.length
    ? `; ${PENDING.length} pending (${PENDING.map((p) => p.check).join(', ')})`
    : '';
  if (skipReal) {
    process.stdout.write(
      `differential: real control plane not built; ${total} checks ran on the embedded server only (run \`npm run control-plane\`)${pending}\n`,
    );
  } else {
    process.stdout.write(
      `differential: ${count('match')} of ${total} checks match; ${count('documented')} documented differences${pending}\n`,
    );
  }
});

test('the real control plane is built (required under CI=true)', {
  skip: process.env.CI !== 'true' && skipReal,
}, () => {
  assert.equal(skipReal, undefined, skipReal);
});

for (const c of checks) {
  const documented = DIFFERENCES.find((d) => d.check === c.id);
  test(`${c.id}: ${c.what}`, { timeout: 90_000 }, async () => {
    if (!servers) assert.fail('the servers did not start');
    const { embedded, real } = servers;
    const [a, b] = await Promise.all([observe(embedded, c), real ? observe(real, c) : undefined]);
    if (!b) {
      results.set(c.id, 'embedded-only');
      assert.equal(a.error, undefined, `the check failed on the embedded server: ${String(a.error)}`);
      return;
    }
    const v = compare(a, b, documented?.fields);
    if (v.kind === 'match') results.set(c.id, 'match');
    else if (v.kind === 'documented') results.set(c.id, 'documented');
    else results.set(c.id, 'mismatch');
    if (v.kind === 'stale')
      assert.fail(
        `documented difference in ${v.fields.join(', ')} no longer differs: remove it from differences.ts`,
      );
    if (v.kind === 'mismatch')
      assert.fail(`${c.id}: the embedded server and kube-apiserver differ\n${describeDeltas(v.deltas)}`);
  });
}

for (const p of PENDING) test(`${p.check}: pending`, { todo: p.why }, () => {});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const BIN = new URL('../../../bin/kubevirtbmc.js', import.meta.url).pathname;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('controller --help documents every flag', () => {
  const r = run('controller', '--help');
  assert.equal(r.code, 0);
  for (const flag of [
    '--kubeconfig',
    '--placement',
    '--agent-image',
    '--auto-create-label',
    '--leader-elect',
    '--leader-election-namespace',
    '--metrics-port',
    '--log-level',
  ])
    assert.ok(r.out.includes(flag), flag);
  assert.match(r.out, /choices:\s+"per-vm",\s+"shared",\s+default:\s+"shared"/);
});

test('agent --help documents the modes and flags', () => {
  const r = run('agent', '--help');
  assert.equal(r.code, 0);
  for (const flag of [
    '--vm',
    '--namespace',
    '--auth-secret',
    '--username',
    '--password-file',
    '--tls-secret',
    '--ipmi-port',
    '--redfish-port',
  ])
    assert.ok(r.out.includes(flag), flag);
  assert.match(r.out, /standalone/);
});

test('a bad placement or kubeconfig is a one-line error', () => {
  const p = run('controller', '--placement', 'everywhere');
  assert.notEqual(p.code, 0);
  assert.match(
    p.err,
    /option '--placement <mode>' argument 'everywhere' is invalid\. Allowed choices are per-vm, shared\./,
  );
  const k = run('controller', '--kubeconfig', '/nonexistent/kubeconfig');
  assert.equal(k.code, 2);
  assert.match(k.err, /^kubevirtbmc controller: cannot load the kubeconfig: /m);
});

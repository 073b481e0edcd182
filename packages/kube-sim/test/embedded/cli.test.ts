// `kubevirtbmc sim`: prints a kubeconfig path with which a person can kubectl apply a VM and watch it start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { missingClients } from '../../../../test/support/clients.ts';
import { kubectl } from '../../../../test/support/sim-kubectl.ts';
import { vmManifest, simWait as waitFor } from '../../../../test/support/sim-kubevirt.ts';

const BIN = new URL('../../../../bin/kubevirtbmc.js', import.meta.url).pathname;

test('kubevirtbmc sim prints the kubeconfig path; kubectl applies a VM and sees it start; SIGTERM stops it', {
  skip: missingClients('kubectl'),
}, async () => {
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'sim-cli-')), 'kubeconfig');
  const child = spawn(
    process.execPath,
    [BIN, 'sim', '--port', '0', '--timing', 'fast', '--kubeconfig', kubeconfig],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    await waitFor(() => out.includes('\n'), { what: `first line (stderr: ${err})`, timeoutMs: 30_000 });
    assert.equal(out.split('\n')[0], kubeconfig);
    assert.match(readFileSync(kubeconfig, 'utf8'), /server: https:\/\/127\.0\.0\.1:\d+/);
    const a = await kubectl(kubeconfig, ['apply', '-f', '-'], {
      input: JSON.stringify(vmManifest('demo', { runStrategy: 'Always' })),
    });
    assert.equal(a.code, 0, a.stderr);
    const w = await kubectl(kubeconfig, [
      'wait',
      '--for=jsonpath={.status.printableStatus}=Running',
      'vm/demo',
      '--timeout=20s',
    ]);
    assert.equal(w.code, 0, w.stderr);
    const g = await kubectl(kubeconfig, ['get', 'vmi', 'demo', '-o', 'jsonpath={.status.phase}']);
    assert.equal(g.stdout, 'Running');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
});

test('kubevirtbmc sim refuses a bad port with a clear error', async () => {
  const child = spawn(process.execPath, [BIN, 'sim', '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  assert.equal(code, 2);
  assert.match(err, /option '--port <port>' argument 'abc' is invalid\. must be a port number, 0\.\.65535/);
});

// `kubevirtbmc sim --control-plane real`: the real control plane with the fake node and KubeVirt, for kubectl.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { missingClients } from '../../../../test/support/clients.ts';
import { realOnly } from '../../../../test/support/cluster.ts';
import { kubectl } from '../../../../test/support/sim-kubectl.ts';
import { vmManifest, simWait as waitFor } from '../../../../test/support/sim-kubevirt.ts';

const BIN = new URL('../../../../bin/kubevirtbmc.js', import.meta.url).pathname;

function processesIn(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', dir], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

test('kubevirtbmc sim --control-plane real: kube-apiserver v1.37, a Ready fake node, a VM that starts; SIGTERM stops every process', {
  skip: missingClients('kubectl') || realOnly().skip,
  timeout: 180_000,
}, async () => {
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'sim-real-cli-')), 'kubeconfig');
  const child = spawn(
    process.execPath,
    [BIN, 'sim', '--control-plane', 'real', '--port', '0', '--timing', 'fast', '--kubeconfig', kubeconfig],
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
  const killer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  try {
    await waitFor(() => out.includes('Ctrl-C stops'), {
      what: `the banner (stderr: ${err})`,
      timeoutMs: 120_000,
    });
    assert.equal(out.split('\n')[0], kubeconfig);
    assert.match(
      out,
      /real control plane \(kube-apiserver v1\.37\.\d+, etcd, controller-manager, scheduler\) started in \d+\.\d s/,
    );
    const apiserver = /fault proxy in front of kube-apiserver (https:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    assert.ok(apiserver, out);
    assert.match(readFileSync(kubeconfig, 'utf8'), /server: https:\/\/127\.0\.0\.1:\d+/);
    const nodes = await kubectl(kubeconfig, [
      'get',
      'nodes',
      '-o',
      'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
    ]);
    assert.equal(nodes.stdout, 'True', nodes.stderr);
    const a = await kubectl(kubeconfig, ['apply', '-f', '-'], {
      input: JSON.stringify(vmManifest('demo', { runStrategy: 'Always' })),
    });
    assert.equal(a.code, 0, a.stderr);
    const w = await kubectl(kubeconfig, [
      'wait',
      '--for=jsonpath={.status.printableStatus}=Running',
      'vm/demo',
      '--timeout=30s',
    ]);
    assert.equal(w.code, 0, w.stderr);
    const port = new URL(apiserver).port;
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
    await waitFor(() => processesIn(`--secure-port=${port}`).length === 0, {
      what: 'kube-apiserver stopped',
      timeoutMs: 20_000,
    });
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
});

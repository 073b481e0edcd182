// The KubeVirt machine behind an HTTP proxy (a kubeconfig's proxy-url): its watches and actions go
// through a CONNECT tunnel, and so does the serial console's websocket (HTTP/1.1 upgrade). The
// proxy is the small CONNECT proxy of test/support/connect-proxy.ts; the cluster the usual one.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import type { ConsoleEvent } from '../../../src/machine/index.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { type ConnectProxy, startConnectProxy } from '../../support/connect-proxy.ts';
import {
  loadKubeConfig,
  startBackend,
  UserClient,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

let sim: TestCluster;
let proxy: ConnectProxy;
let backend: KubeVirtBackend;
let user: UserClient;

before(async () => {
  sim = await startCluster({ timing: 'fast' });
  proxy = await startConnectProxy();
  user = new UserClient(loadKubeConfig(sim.kubeconfigPath));
  // the cluster's kubeconfig with a proxy-url added to its cluster
  const dir = mkdtempSync(join(tmpdir(), 'console-proxy-'));
  const path = join(dir, 'kubeconfig');
  const original = readFileSync(sim.kubeconfigPath, 'utf8');
  const proxied = original.replace(/^(\s+)server: (.*)$/m, `$1server: $2\n$1proxy-url: ${proxy.url}`);
  assert.notEqual(proxied, original, 'proxy-url added');
  writeFileSync(path, proxied);
  backend = await startBackend(loadKubeConfig(path));
});

after(async () => {
  await backend?.stop();
  await proxy?.close();
  await sim?.stop();
});

describe('behind an HTTP proxy (kubeconfig proxy-url)', () => {
  test('power actions, the watch caches and the serial console all go through the proxy', async () => {
    const name = uniqueName('proxied');
    await user.createVm(vmManifest(name, { runStrategy: 'Halted' }));
    const m = backend.machine(name);
    await waitFor(
      () => {
        try {
          return m.getPowerState() === 'Off';
        } catch {
          return false;
        }
      },
      { timeoutMs: 15_000, what: 'the VM cached, off' },
    );
    const console = await m.openConsole();
    let text = '';
    console.on((e: ConsoleEvent) => {
      if (e.type === 'data') text += new TextDecoder().decode(e.data);
    });
    const before = proxy.connects.length;
    await m.power('On');
    await waitFor(() => m.getPowerState() === 'On', { timeoutMs: 15_000, what: 'power state On' });
    // KubeVirt replays nothing and the console attaches once the VMI runs: Enter brings the prompt.
    await waitFor(
      () => {
        if (/login: $/.test(text)) return true;
        console.write(new TextEncoder().encode('\r'));
        return false;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'the login prompt' },
    );
    await console.close();
    const target = new URL(sim.url).host;
    assert.ok(proxy.connects.length > before, 'the console opened a tunnel of its own');
    for (const t of proxy.connects) assert.deepEqual(t, { target, status: 200 });
    await m.power('ForceOff');
    await waitFor(() => m.getPowerState() === 'Off', { timeoutMs: 15_000, what: 'power state Off' });
  });
});

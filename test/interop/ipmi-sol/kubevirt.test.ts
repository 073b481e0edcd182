import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import type { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import type { Machine } from '../../../src/machine/index.ts';
import { missingClients } from '../../support/clients.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { ADMIN } from '../../support/ipmi-bmc.ts';
import { run } from '../../support/ipmi-run.ts';
import {
  loadKubeConfig,
  startBackend,
  UserClient,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';
import { lanplus, PtyClient } from './helpers.ts';

// The whole path: ipmitool's SOL console → our IPMI server → the KubeVirt machine → the VMI console
// websocket of the fake KubeVirt's simulated guest (on the real control plane when built).

describe('SOL on a KubeVirt VM', { skip: missingClients('ipmitool') }, () => {
  let sim: TestCluster;
  let backend: KubeVirtBackend;
  let machine: Machine;
  let server: IpmiServer;
  let port: number;
  let name: string;
  const clients: PtyClient[] = [];
  const tool = (...args: string[]) => run('ipmitool', [...lanplus(port), '-R', '2', '-N', '1', ...args]);
  const powerIs = (state: string) =>
    waitFor(
      () => {
        try {
          return machine.getPowerState() === state;
        } catch {
          return false;
        }
      },
      { timeoutMs: 15_000, intervalMs: 20, what: `power ${state}` },
    );

  before(async () => {
    sim = await startCluster({ timing: 'fast' });
    const kc = loadKubeConfig(sim.kubeconfigPath);
    name = uniqueName('sol');
    await new UserClient(kc).createVm(vmManifest(name, { runStrategy: 'Halted' }));
    backend = await startBackend(kc, { vmName: name });
    machine = backend.machine(name);
    await powerIs('Off');
    server = new IpmiServer({
      machine,
      accounts: () => [ADMIN],
      loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000 },
    });
    port = (await server.listen(0)).port;
  });
  after(async () => {
    for (const c of clients) c.kill();
    await server?.close();
    await backend?.stop();
    await sim?.stop();
  });

  /**
   * Presses Enter until the login prompt shows after `from`. KubeVirt's console replays nothing, and
   * the console can only attach once the VMI runs: what the guest printed before that (here, with
   * the fast timing, its whole boot) is in its serial log, not on SOL.
   */
  async function loginPrompt(sol: PtyClient, from: number): Promise<void> {
    const re = new RegExp(`${name} login: $`);
    await waitFor(
      () => {
        if (re.test(sol.output.slice(from))) return true;
        sol.type('\r');
        return false;
      },
      { timeoutMs: 20_000, intervalMs: 300, what: `login prompt; output: ${JSON.stringify(sol.output)}` },
    );
  }

  test('ipmitool sol activate: live console after power cycle, login echo, reboot, power off, ~.', async () => {
    const sol = new PtyClient('ipmitool', [...lanplus(port), 'sol', 'activate'], 90_000);
    clients.push(sol);
    await sol.waitFor('[SOL Session operational.  Use ~? for help]');
    await sol.waitFor('[SOL: the machine is off');
    assert.equal((await tool('power', 'cycle')).stdout, 'Chassis Power Control: Cycle\n');
    await waitFor(() => sim.consoleTranscript('default', name).includes('login: '), {
      timeoutMs: 20_000,
      what: 'booted (serial log)',
    });
    assert.match(sim.consoleTranscript('default', name), /SeaBIOS \(simulated\) starting in BIOS mode/);
    await loginPrompt(sol, 0);
    sol.type('root\r');
    await sol.waitFor(`${name} login: root\r\nPassword: `);
    sol.type('secret\r');
    await sol.waitFor(/Last login: .* on ttyS0\r\n\[root@/);
    sol.type('hostname\r');
    await sol.waitFor(`hostname\r\n${name}\r\n`);

    // A reboot from IPMI: the same SOL session follows the guest into its next boot, live (the
    // VMI, and so the console connection, stay).
    const mark = sol.output.length;
    assert.equal((await tool('power', 'reset')).code, 0);
    await sol.waitFor('Linux version 6.1.0-sim', 20_000, mark);
    await sol.waitFor(new RegExp(`${name} login: $`), 20_000, mark);
    sol.type('again\r');
    await sol.waitFor(`${name} login: again\r\n`, 15_000, mark);

    // Power off: the console reports it instead of going silent.
    const offMark = sol.output.length;
    assert.equal((await tool('power', 'off')).code, 0);
    await powerIs('Off');
    await sol.waitFor('[SOL: console detached', 20_000, offMark);

    // Power on again: a new VMI; the same SOL session reattaches to its console.
    const onMark = sol.output.length;
    assert.equal((await tool('power', 'on')).code, 0);
    await loginPrompt(sol, onMark);
    sol.type('third\r');
    await sol.waitFor(`${name} login: third\r\n`, 15_000, onMark);

    sol.type('\r~.');
    assert.equal(await sol.exit(), 0, sol.output);
    await waitFor(() => server.sol!.activeSessionId === null, { what: 'SOL deactivated' });
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import WebSocket from 'ws';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import type { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import type { Machine } from '../../../src/machine/index.ts';
import { missingClients } from '../../support/clients.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { ADMIN } from '../../support/ipmi-bmc.ts';
import {
  loadKubeConfig,
  NAMESPACE,
  startBackend,
  UserClient,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';
import { lanplus, PtyClient } from './helpers.ts';

// KubeVirt's serial console takes one client at a time: virt-handler cuts the older connection when
// another one connects (v1.9.0 pkg/virt-handler/rest/console.go, `newStopChan`). Two consoles on one
// VM: ipmitool's SOL (through our BMC) and a plain websocket client standing for `virtctl console`.
// The BMC must not take the console back by itself; when it did (reconnecting 100 ms after every
// close), the two cut each other in turn for as long as both kept trying.

/** `virtctl console` as far as the console is concerned: one websocket, reconnecting if asked to. */
class VirtctlConsole {
  ws: WebSocket | null = null;
  out = '';
  /** Times its connection was cut while it held the console (a close it did not ask for). */
  cut = 0;
  connects = 0;
  reconnect = true;
  #stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly vmi: string,
  ) {}

  async connect(): Promise<void> {
    const options: Record<string, unknown> & { headers?: Record<string, string> } = {};
    await this.kc.applyToHTTPSOptions(options as never);
    const server = this.kc.getCurrentCluster()!.server;
    const url = `${server.replace(/^http/, 'ws')}/apis/subresources.kubevirt.io/v1/namespaces/${NAMESPACE}/virtualmachineinstances/${this.vmi}/console`;
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, ['plain.kubevirt.io'], {
        headers: options.headers,
        ca: options.ca as never,
        cert: options.cert as never,
        key: options.key as never,
        rejectUnauthorized: options.rejectUnauthorized as boolean | undefined,
      });
      this.ws = ws;
      ws.on('message', (d: Buffer) => {
        this.out += d.toString('latin1');
      });
      ws.on('open', () => {
        this.connects++;
        resolve();
      });
      ws.on('unexpected-response', (_q, res) => reject(new Error(`console refused: ${res.statusCode}`)));
      ws.on('error', reject);
      ws.on('close', () => {
        if (this.#stopped || this.ws !== ws) return;
        this.cut++;
        this.ws = null;
        // a user who runs `virtctl console` again, or a tool that reconnects
        if (this.reconnect) setTimeout(() => void this.connect().catch(() => {}), 20);
      });
    });
  }

  type(text: string): void {
    this.ws?.send(Buffer.from(text), { binary: true });
  }

  stop(): void {
    this.#stopped = true;
    this.ws?.terminate();
  }
}

const NOTICE = '[SOL: console taken over by another client (e.g. virtctl console);';

describe('SOL and virtctl console on one VM', { skip: missingClients('ipmitool') }, () => {
  let sim: TestCluster;
  let kc: KubeConfig;
  let backend: KubeVirtBackend;
  let machine: Machine;
  let server: IpmiServer;
  let port: number;
  let name: string;
  const clients: PtyClient[] = [];
  let virtctl: VirtctlConsole | null = null;

  before(async () => {
    sim = await startCluster({ timing: 'fast' });
    kc = loadKubeConfig(sim.kubeconfigPath);
    name = uniqueName('solx');
    await new UserClient(kc).createVm(vmManifest(name, { runStrategy: 'Halted' }));
    backend = await startBackend(kc, { vmName: name });
    machine = backend.machine(name);
    await waitFor(
      () => {
        try {
          return machine.getPowerState() === 'Off';
        } catch {
          return false;
        }
      },
      { timeoutMs: 15_000, what: 'VM cached' },
    );
    server = new IpmiServer({
      machine,
      accounts: () => [ADMIN],
      loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000 },
    });
    port = (await server.listen(0)).port;
    await machine.power('On');
    await waitFor(() => machine.getPowerState() === 'On', { timeoutMs: 15_000, what: 'power On' });
  });
  after(async () => {
    virtctl?.stop();
    for (const c of clients) c.kill();
    await server?.close();
    await backend?.stop();
    await sim?.stop();
  });

  /** Presses Enter until the guest's login prompt shows (the console attaches when the VMI runs). */
  async function prompt(sol: PtyClient, from: number): Promise<void> {
    const re = new RegExp(`${name} login: `);
    await waitFor(
      () => {
        if (re.test(sol.output.slice(from))) return true;
        sol.type('\r');
        return false;
      },
      {
        timeoutMs: 20_000,
        intervalMs: 300,
        what: `login prompt on SOL; output: ${JSON.stringify(sol.output)}`,
      },
    );
  }

  test('virtctl console takes the console from SOL once; SOL says so and does not take it back', async () => {
    const sol = new PtyClient('ipmitool', [...lanplus(port), 'sol', 'activate'], 90_000);
    clients.push(sol);
    await sol.waitFor('[SOL Session operational.  Use ~? for help]');
    await prompt(sol, 0);

    // virtctl console connects (and connects again whenever it is cut): it takes the console.
    virtctl = new VirtctlConsole(kc, name);
    await virtctl.connect();

    // A bounded time (longer than the BMC's 3 s settle time, and 50 times its old 100 ms retry):
    // nobody cut virtctl's connection, so the two did not take turns.
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(
      virtctl.cut,
      0,
      `virtctl was cut ${virtctl.cut} times; SOL output: ${JSON.stringify(sol.output)}`,
    );
    assert.equal(virtctl.connects, 1);
    // SOL says why it went quiet, once.
    await sol.waitFor(NOTICE, 5000);
    assert.equal(sol.output.split(NOTICE).length - 1, 1, 'one notice');
    assert.doesNotMatch(sol.output, /console detached/);

    // virtctl has the console: what it types reaches the guest, and SOL sees none of it.
    const solMark = sol.output.length;
    virtctl.type('virtctl-user\r');
    await waitFor(() => virtctl!.out.includes(`virtctl-user\r\nPassword: `), { what: 'virtctl echo' });
    virtctl.type('x\r');
    await waitFor(() => virtctl!.out.includes('$ '), { what: 'virtctl shell' });
    assert.doesNotMatch(sol.output.slice(solMark), /virtctl-user/);

    // Keystrokes typed into SOL meanwhile go nowhere (virtctl does not see them).
    sol.type('from-sol\r');
    await new Promise((r) => setTimeout(r, 500));
    assert.doesNotMatch(virtctl.out, /from-sol/);

    // The SOL user takes it back on purpose: deactivate and activate again. virtctl is cut once.
    virtctl.reconnect = false;
    sol.type('\r~.');
    assert.equal(await sol.exit(), 0, sol.output);
    await waitFor(() => server.sol!.activeSessionId === null, { what: 'SOL deactivated' });
    const again = new PtyClient('ipmitool', [...lanplus(port), 'sol', 'activate'], 60_000);
    clients.push(again);
    await again.waitFor('[SOL Session operational.  Use ~? for help]');
    await waitFor(() => virtctl!.cut === 1, {
      timeoutMs: 15_000,
      what: 'virtctl cut by the new SOL session',
    });
    // virtctl's user left the guest at its shell prompt: Enter brings it to the new SOL session.
    await waitFor(
      () => {
        if (again.output.includes('$ ')) return true;
        again.type('\r');
        return false;
      },
      { timeoutMs: 15_000, intervalMs: 300, what: 'shell prompt on the new SOL session' },
    );
    again.type('hostname\r');
    await again.waitFor(`hostname\r\n${name}\r\n`, 15_000);
    again.type('\r~.');
    assert.equal(await again.exit(), 0, again.output);
  });
});

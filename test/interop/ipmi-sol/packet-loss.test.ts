import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import type { ConsoleEvent, ConsoleStream } from '../../../src/machine/index.ts';
import { missingClients } from '../../support/clients.ts';
import { ADMIN } from '../../support/ipmi-bmc.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { waitFor } from '../../support/wait.ts';
import { lanplus, PtyClient } from './helpers.ts';
import { isSolDatagram, LossyRelay } from './relay.ts';

// A UDP relay between the console client and the BMC loses every third SOL datagram in each
// direction. Output reaches the screen exactly once; keystrokes reach the machine exactly once.

interface Rig {
  machine: MemoryMachine;
  server: IpmiServer;
  relay: LossyRelay;
  /** What reached the machine's console input. */
  typed: string[];
  /** Makes the machine print, as a guest writing to its serial port would. */
  print: (text: string) => void;
  stop(): Promise<void>;
}

async function rig(lowPort: boolean): Promise<Rig> {
  const machine = new MemoryMachine({ timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0 } });
  await machine.power('On');
  await waitFor(() => machine.getPowerState() === 'On');
  const counters = { toBmc: 0, toConsole: 0 };
  const relay = await LossyRelay.start(
    0,
    (direction, buf) => {
      if (!isSolDatagram(buf)) return false;
      counters[direction]++;
      return counters[direction] % 3 === 0;
    },
    lowPort,
  );
  // The relay is a NAT: consoles reach the BMC on the relay's port, so that is the port Activate
  // Payload must report (ipmitool and ipmiconsole insist on the port they used).
  const server = new IpmiServer({
    machine,
    accounts: () => [ADMIN],
    loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000 },
    sol: { advertisedPort: relay.port },
  });
  relay.target = (await server.listen(0)).port;
  const typed: string[] = [];
  const listeners = new Set<(e: ConsoleEvent) => void>();
  // Observe the console stream SOL opens: record input, and let the test add output.
  const open = machine.openConsole.bind(machine);
  machine.openConsole = async (): Promise<ConsoleStream> => {
    const c = await open();
    return {
      get attached() {
        return c.attached;
      },
      write(data) {
        typed.push(Buffer.from(data).toString('latin1'));
        c.write(data);
      },
      sendBreak: () => c.sendBreak(),
      on(listener) {
        listeners.add(listener);
        const off = c.on(listener);
        return () => {
          listeners.delete(listener);
          off();
        };
      },
      close: () => c.close(),
    };
  };
  const print = (text: string) => {
    for (const l of listeners) l({ type: 'data', data: new TextEncoder().encode(text) });
  };
  return {
    machine,
    server,
    relay,
    typed,
    print,
    async stop() {
      await server.close();
      await relay.close();
      machine.dispose();
    },
  };
}

const line = (i: number) => `line-${String(i).padStart(3, '0')}-abcdefghijklmnopqrstuvwxyz-0123456789`;
const LINES = Array.from({ length: 40 }, (_, i) => line(i));
/** 120 distinct lines, so the last one marks the end of the output. */
const OUTPUT = Array.from({ length: 120 }, (_, i) => `${line(i)}\r\n`).join('');

function lossReport(r: Rig): string {
  return `machine received: ${JSON.stringify(r.typed.join(''))}; relay ${JSON.stringify({ dropped: r.relay.dropped, passed: r.relay.passed })}; BMC ${JSON.stringify(r.server.sol?.stats)}`;
}

describe('SOL over a lossy link', () => {
  let r: Rig | undefined;
  let client: PtyClient | undefined;
  afterEach(async () => {
    client?.kill();
    await r?.stop();
  });

  test('ipmitool: 5.8 KB of machine output arrives once, in order', {
    skip: missingClients('ipmitool'),
  }, async () => {
    r = await rig(false);
    client = new PtyClient('ipmitool', [...lanplus(r.relay.port), 'sol', 'activate'], 120_000);
    await client.waitFor('[SOL Session operational.  Use ~? for help]', 20_000);
    await waitFor(() => r!.server.sol!.stats !== null, { what: 'SOL instance' });
    const mark = client.output.length;
    const text = OUTPUT;
    for (let i = 0; i < text.length; i += 500) r.print(text.slice(i, i + 500));
    await client.waitFor(`${line(119)}\r\n`, 60_000, mark).catch((err) => {
      throw new Error(`${err.message}\n${lossReport(r!)}`);
    });
    await new Promise((res) => setTimeout(res, 500)); // a late duplicate would show now
    assert.equal(client.output.slice(mark), text, 'every character exactly once');
    assert.ok(r.relay.dropped.toBmc > 0 && r.relay.dropped.toConsole > 0, lossReport(r));
    assert.ok(r.server.sol!.stats!.retransmitted > 0, lossReport(r));
    client.type('\r~.');
    assert.equal(await client.exit(30_000), 0, client.output);
  });

  test('ipmiconsole: typed lines reach the machine once and their echo the screen once', {
    skip: missingClients('ipmiconsole'),
  }, async () => {
    r = await rig(true);
    client = new PtyClient(
      'ipmiconsole',
      ['-h', `127.0.0.1:${r.relay.port}`, '-u', 'admin', '-p', 'password'],
      120_000,
    );
    await client.waitFor('[SOL established]', 20_000);
    await waitFor(() => r!.server.sol!.stats !== null, { what: 'SOL instance' });
    const input = LINES.map((l) => `${l}\r`).join('');
    const mark = client.output.length;
    for (let i = 0; i < input.length; i += 200) {
      client.type(input.slice(i, i + 200));
      await new Promise((res) => setTimeout(res, 50));
    }
    await client.waitFor(`${LINES.at(-1)}\r\n`, 60_000, mark).catch((err) => {
      throw new Error(`${err.message}\n${lossReport(r!)}`);
    });
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(r.typed.join(''), input, `keystrokes exactly once; ${lossReport(r)}`);
    assert.equal(client.output.slice(mark), input.replace(/\r/g, '\r\n'), 'echo exactly once');
    assert.ok(r.relay.dropped.toBmc > 0 && r.relay.dropped.toConsole > 0, lossReport(r));
    client.type('\r&.');
    assert.equal(await client.exit(30_000), 0, client.output);
  });
});

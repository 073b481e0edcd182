import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import { missingClients } from '../../support/clients.ts';
import { ADMIN } from '../../support/ipmi-bmc.ts';
import { run } from '../../support/ipmi-run.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { waitFor } from '../../support/wait.ts';
import { lanplus, listenLowPort, PtyClient, PYGHMI_CONSOLE } from './helpers.ts';

// FreeIPMI's ipmiconsole and pyghmi's Console against the in-memory machine.

describe('FreeIPMI ipmiconsole and pyghmi Console', () => {
  let machine: MemoryMachine;
  let server: IpmiServer;
  let port: number;
  const clients: PtyClient[] = [];
  const tool = (...args: string[]) => run('ipmitool', [...lanplus(port), '-R', '2', '-N', '1', ...args]);
  const ipmiconsole = (...extra: string[]) => {
    const c = new PtyClient('ipmiconsole', [
      '-h',
      `127.0.0.1:${port}`,
      '-u',
      'admin',
      '-p',
      'password',
      ...extra,
    ]);
    clients.push(c);
    return c;
  };

  before(async () => {
    machine = new MemoryMachine({ timings: { powerOnMs: 1, forceOffMs: 1, gracefulOffMs: 1 } });
    server = new IpmiServer({
      machine,
      accounts: () => [ADMIN],
      loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000 },
    });
    port = await listenLowPort(server);
  });
  after(async () => {
    for (const c of clients) c.kill();
    await server.close();
    machine.dispose();
  });

  test('ipmiconsole: boot transcript after power cycle, echo at the login prompt, &. leaves', {
    skip: missingClients('ipmiconsole', 'ipmitool'),
  }, async () => {
    await machine.power('ForceOff').catch(() => {});
    const c = ipmiconsole();
    await c.waitFor('[SOL established]');
    assert.equal((await tool('power', 'cycle')).stdout, 'Chassis Power Control: Cycle\n');
    await c.waitFor(/Booting from Hard Disk\.\.\.\r\n\r\nvm1 login: $/);
    c.type('admin\r');
    await c.waitFor('vm1 login: admin\r\n');
    c.type('\r&.');
    assert.equal(await c.exit(), 0, c.output);
    await waitFor(() => server.sol!.activeSessionId === null, { what: 'SOL deactivated' });
  });

  test('ipmiconsole: sol deactivate from ipmitool ends its session; ipmiconsole --deactivate frees a stuck one', {
    skip: missingClients('ipmiconsole', 'ipmitool'),
  }, async () => {
    const c = ipmiconsole();
    await c.waitFor('[SOL established]');
    assert.equal((await tool('sol', 'deactivate')).code, 0);
    // The BMC tells the console (status "SOL deactivating"); ipmiconsole reports it and exits.
    assert.equal(await c.exit(), 0, c.output);
    assert.match(c.output, /\[SOL session stolen\]/);
    // A stuck ipmitool console, freed with `ipmiconsole --deactivate`.
    const stuck = new PtyClient('ipmitool', [...lanplus(port), 'sol', 'activate']);
    clients.push(stuck);
    await stuck.waitFor('[SOL Session operational.');
    stuck.freeze();
    try {
      const d = await run(
        'ipmiconsole',
        ['-h', `127.0.0.1:${port}`, '-u', 'admin', '-p', 'password', '--deactivate'],
        20_000,
      );
      assert.equal(d.code, 0, d.stdout + d.stderr);
      assert.equal(server.sol!.activeSessionId, null);
    } finally {
      stuck.kill();
    }
  });

  test('pyghmi Console receives the boot output and the echo of what it types', {
    skip: missingClients('pyghmi', 'ipmitool'),
  }, async () => {
    await machine.power('ForceOff').catch(() => {});
    await waitFor(() => machine.getPowerState() === 'Off');
    const py = run(
      '/usr/bin/python3',
      [PYGHMI_CONSOLE, String(port), 'admin', 'password', 'login: pyuser', 'pyuser\r', '20'],
      30_000,
    );
    await waitFor(() => server.sol!.activeSessionId !== null, {
      timeoutMs: 15_000,
      what: 'pyghmi activated SOL',
    });
    assert.equal((await tool('power', 'cycle')).code, 0);
    const r = await py;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Booting from Hard Disk\.\.\.\r\n\r\nvm1 login: pyuser/);
    await waitFor(() => server.sol!.activeSessionId === null, { what: 'pyghmi closed its console' });
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import { missingClients } from '../../support/clients.ts';
import { ADMIN, OPERATOR, READONLY } from '../../support/ipmi-bmc.ts';
import { run } from '../../support/ipmi-run.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { waitFor } from '../../support/wait.ts';
import { lanplus, PtyClient } from './helpers.ts';

// ipmitool's SOL console (`sol activate`) against the in-memory machine, on a pseudo-terminal.

describe('ipmitool sol', { skip: missingClients('ipmitool') }, () => {
  let machine: MemoryMachine;
  let server: IpmiServer;
  let port: number;
  const clients: PtyClient[] = [];
  const tool = (...args: string[]) => run('ipmitool', [...lanplus(port), '-R', '2', '-N', '1', ...args]);
  const activate = (extra: string[] = []) => {
    const c = new PtyClient('ipmitool', [...lanplus(port, 'admin', 'password', extra), 'sol', 'activate']);
    clients.push(c);
    return c;
  };

  before(async () => {
    machine = new MemoryMachine({ timings: { powerOnMs: 1, forceOffMs: 1, gracefulOffMs: 1 } });
    server = new IpmiServer({
      machine,
      accounts: () => [ADMIN, OPERATOR, READONLY],
      loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000 },
    });
    port = (await server.listen(0)).port;
  });
  after(async () => {
    for (const c of clients) c.kill();
    await server.close();
    machine.dispose();
  });

  test('sol activate shows the boot transcript after power cycle, echoes typing, ~. leaves', async () => {
    const sol = activate();
    await sol.waitFor('[SOL Session operational.  Use ~? for help]');
    // The machine is off: the console says so instead of staying silent.
    await sol.waitFor('[SOL: the machine is off');
    const cycle = await tool('power', 'cycle');
    assert.equal(cycle.stdout, 'Chassis Power Control: Cycle\n', cycle.stderr);
    await sol.waitFor(/Booting from Hard Disk\.\.\.\r\n\r\nvm1 login: $/);
    sol.type('root\r');
    await sol.waitFor('vm1 login: root\r\n');
    sol.type('\r~.');
    assert.equal(await sol.exit(), 0, sol.output);
    assert.match(sol.output, /terminated ipmitool/);
    await waitFor(() => server.sol!.activeSessionId === null, { what: 'SOL deactivated' });
    const status = await tool('raw', '0x06', '0x4a', '0x01');
    assert.equal(status.stdout.trim(), '01 00 00', 'Get Payload Activation Status: capacity 1, none active');
  });

  test('a reboot during the session shows the new boot in the same session', async () => {
    const sol = activate(['-C', '3']);
    await sol.waitFor('[SOL Session operational.');
    const mark = sol.output.length;
    assert.equal((await tool('power', 'reset')).code, 0);
    await sol.waitFor('reboot: Restarting system', 15_000, mark);
    await sol.waitFor(/Booting from Hard Disk\.\.\.\r\n\r\nvm1 login: $/, 15_000, mark);
    assert.equal((await tool('power', 'off')).code, 0);
    await sol.waitFor('[SOL: console detached: the machine is off]', 15_000, mark);
    sol.type('\r~.');
    assert.equal(await sol.exit(), 0, sol.output);
    await waitFor(() => server.sol!.activeSessionId === null, { what: 'SOL deactivated' });
  });

  test('a second activation by another user is refused; sol deactivate from another ipmitool ends a stuck session', async () => {
    const stuck = activate();
    await stuck.waitFor('[SOL Session operational.');
    const owner = server.sol!.activeSessionId;
    assert.ok(owner);
    const info = await tool('raw', '0x06', '0x4b', '0x01', '0x01');
    const id = Buffer.alloc(4);
    id.writeUInt32LE(owner);
    assert.equal(
      info.stdout.trim().split(/\s+/).slice(0, 4).join(' '),
      [...id].map((b) => b.toString(16).padStart(2, '0')).join(' '),
      'instance info names the owning session',
    );
    const second = await run('ipmitool', [
      ...lanplus(port, OPERATOR.username, OPERATOR.password, ['-L', 'OPERATOR']),
      'sol',
      'activate',
    ]);
    assert.equal(second.code, 1);
    assert.match(second.stdout + second.stderr, /SOL payload already active on another session/);
    // The first console hangs (stopped); an administrator frees the port from another ipmitool.
    stuck.freeze();
    try {
      const d = await tool('sol', 'deactivate');
      assert.equal(d.code, 0, d.stdout + d.stderr);
      assert.equal(server.sol!.activeSessionId, null);
      const again = await tool('sol', 'deactivate');
      assert.equal(again.code, 1);
      assert.match(again.stdout + again.stderr, /SOL payload already de-activated/);
    } finally {
      stuck.kill();
    }
    const fresh = activate();
    await fresh.waitFor('[SOL Session operational.');
    fresh.type('\r~.');
    assert.equal(await fresh.exit(), 0, fresh.output);
  });

  test('sol info reads the parameters; sol set changes them (administrator only)', async () => {
    const info = await tool('sol', 'info');
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^Enabled\s+: true$/m);
    assert.match(info.stdout, /^Force Encryption\s+: true$/m);
    assert.match(info.stdout, /^Privilege Level\s+: OPERATOR$/m);
    assert.match(info.stdout, new RegExp(`^Payload Port\\s+: ${port}$`, 'm'));
    const denied = await run('ipmitool', [
      ...lanplus(port, OPERATOR.username, OPERATOR.password, ['-L', 'OPERATOR']),
      'sol',
      'set',
      'enabled',
      'false',
    ]);
    assert.notEqual(denied.code, 0);
    assert.equal(server.sol!.config.enabled, true, 'an operator cannot disable SOL');
    const set = await tool('sol', 'set', 'enabled', 'false');
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.match((await tool('sol', 'info')).stdout, /^Enabled\s+: false$/m);
    const refused = await run('ipmitool', [...lanplus(port), 'sol', 'activate']);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout + refused.stderr, /SOL payload disabled/);
    assert.equal(server.sol!.activeSessionId, null);
    assert.equal((await tool('sol', 'set', 'enabled', 'true')).code, 0);
    assert.equal(server.sol!.config.enabled, true);
  });

  test('a session without encryption cannot activate SOL (force encryption is on)', async () => {
    const r = await run('ipmitool', [...lanplus(port, 'admin', 'password', ['-C', '2']), 'sol', 'activate']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /cannot activate SOL payload without encryption/);
    assert.equal(server.sol!.activeSessionId, null);
  });

  test('a read-only (USER) account cannot type into the VM unless SOL privilege is lowered to USER', async () => {
    const asViewer = () => [
      ...lanplus(port, READONLY.username, READONLY.password, ['-L', 'USER']),
      'sol',
      'activate',
    ];
    const refused = await run('ipmitool', asViewer());
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout + refused.stderr,
      /Error activating SOL payload: Insufficient privilege level/,
    );
    assert.equal(server.sol!.activeSessionId, null);
    assert.equal((await tool('sol', 'set', 'privilege-level', 'user')).code, 0);
    assert.match((await tool('sol', 'info')).stdout, /^Privilege Level\s+: USER$/m);
    const c = new PtyClient('ipmitool', asViewer());
    clients.push(c);
    await c.waitFor('[SOL Session operational.');
    c.type('\r~.');
    assert.equal(await c.exit(), 0, c.output);
    assert.equal((await tool('sol', 'set', 'privilege-level', 'operator')).code, 0);
    assert.equal(server.sol!.config.privilege, 3);
  });
});

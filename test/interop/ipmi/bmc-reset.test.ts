/**
 * BMC reset, as the clients that send it see it: `ipmitool mc reset cold|warm` (App 0x02/0x03),
 * `redfishtool Managers reset`, and sushy's `Manager.reset_manager` (Redfish `Manager.Reset`). The
 * request is answered (exit 0 / 204) and then the BMC's service restarts: IPMI sessions, SOL and
 * Redfish sessions end, the next command works after logging in again, and the VM is untouched.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { AgentHost, type BmcDefinition, type MachineProvider } from '../../../src/agent/host.ts';
import { defaultWiring } from '../../../src/agent/wiring.ts';
import { missingClients } from '../../support/clients.ts';
import { ADMIN } from '../../support/ipmi-bmc.ts';
import { ipmitool, type RunResult, run } from '../../support/ipmi-run.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { curlSessionLogin, curlSystemStatus } from '../../support/redfish-curl.ts';
import { runCommand } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';
import { lanplus, PtyClient } from '../ipmi-sol/helpers.ts';

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit code ${r.code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
  return r.stdout;
}

describe('BMC reset through the agent', { skip: missingClients('ipmitool', 'redfishtool', 'sushy') }, () => {
  let host: AgentHost;
  let machine: MemoryMachine;
  let ipmiPort = 0;
  let redfishPort = 0;
  let sol: PtyClient | undefined;
  let starts = 0;
  /** Waits until the old service stopped and the new one started (the reply comes before that). */
  const restarted = (before: number) =>
    waitFor(() => starts >= before + 2, { what: 'the BMC service restarted', timeoutMs: 20_000 });
  const tool = (...args: string[]) => ipmitool(ipmiPort, ['-I', 'lanplus'], ADMIN, args);
  const base = () => `http://127.0.0.1:${redfishPort}`;
  const curl = (...args: string[]) =>
    runCommand('curl', ['-sS', '--max-time', '10', ...args], { timeoutMs: 15_000 });
  /** Get Channel Info (App 0x42) byte 4: active sessions on the channel, this query's own included. */
  const activeSessions = async () => {
    const out = ok(await tool('raw', '0x06', '0x42', '0x01'), 'Get Channel Info');
    return Number.parseInt(out.trim().split(/\s+/)[3]!, 16) & 0x3f;
  };
  /** The service answers again (the restart takes a moment after the reply). */
  const redfishBack = () =>
    waitFor(
      async () =>
        (
          await curl(
            '-o',
            '/dev/null',
            '-w',
            '%{http_code}',
            '-u',
            'admin:password',
            `${base()}/redfish/v1/Managers/BMC`,
          )
        ).stdout === '200',
      { what: 'Redfish back after the reset', timeoutMs: 20_000 },
    );
  const ipmiBack = () =>
    waitFor(async () => (await tool('mc', 'info')).code === 0, {
      what: 'IPMI back after the reset',
      timeoutMs: 20_000,
    });

  before(async () => {
    machine = new MemoryMachine({ power: 'On', timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0 } });
    // A reset takes the Machine twice: a hold across the restart, then the new start (after the
    // old listeners closed).
    const provider: MachineProvider = {
      acquire: async () => {
        starts++;
        return machine;
      },
      release: async () => {},
    };
    host = new AgentHost({
      client: null,
      servers: defaultWiring(null).servers,
      machines: provider,
      address: '127.0.0.1',
    });
    ipmiPort = await freeUdpPort();
    redfishPort = await freeTcpPort();
    const def: BmcDefinition = {
      key: 'ns/b1',
      namespace: 'ns',
      vm: 'vm1',
      eventTarget: { apiVersion: 'v1', kind: 'VirtualMachine', name: 'vm1' },
      credentials: { kind: 'static', username: ADMIN.username, password: ADMIN.password },
      tls: null,
      ipmiPort,
      redfishPort,
    };
    await host.sync([def]);
  });
  after(async () => {
    sol?.kill();
    await host?.stop();
    machine?.dispose();
  });

  test('ipmitool mc reset cold: exit 0, the SOL session ends, the next command logs in again', async () => {
    sol = new PtyClient('ipmitool', [...lanplus(ipmiPort), 'sol', 'activate'], 60_000);
    await sol.waitFor('[SOL Session operational.  Use ~? for help]', 20_000);
    assert.equal(await activeSessions(), 2, 'the SOL session and the query');
    const power = machine.getPowerState();
    const actions = machine.actionLog.length;
    const n = starts;
    assert.equal(ok(await tool('mc', 'reset', 'cold'), 'mc reset cold'), 'Sent cold reset command to MC\n');
    await restarted(n);
    // Only the query's own session is left once the service restarted: SOL was dropped with it.
    await waitFor(
      async () => (await tool('raw', '0x06', '0x42', '0x01')).code === 0 && (await activeSessions()) === 1,
      {
        what: 'the SOL session dropped by the reset',
        timeoutMs: 20_000,
      },
    );
    assert.equal(machine.getPowerState(), power);
    assert.equal(machine.actionLog.length, actions);
    sol.kill();
    sol = undefined;
  });

  test('ipmitool mc reset warm: exit 0, BMC back, VM untouched', async () => {
    const actions = machine.actionLog.length;
    const n = starts;
    assert.equal(ok(await tool('mc', 'reset', 'warm'), 'mc reset warm'), 'Sent warm reset command to MC\n');
    await restarted(n);
    await ipmiBack();
    assert.match(ok(await tool('power', 'status'), 'power status'), /Chassis Power is on/);
    assert.equal(machine.actionLog.length, actions);
  });

  test('the Manager offers Manager.Reset with its allowable values', async () => {
    const m = JSON.parse((await curl('-u', 'admin:password', `${base()}/redfish/v1/Managers/BMC`)).stdout);
    const action = m.Actions['#Manager.Reset'];
    assert.equal(action.target, '/redfish/v1/Managers/BMC/Actions/Manager.Reset');
    assert.deepEqual(action['ResetType@Redfish.AllowableValues'], ['GracefulRestart', 'ForceRestart']);
    const info = JSON.parse(
      (await curl('-u', 'admin:password', `${base()}${action['@Redfish.ActionInfo']}`)).stdout,
    );
    assert.deepEqual(info.Parameters[0].AllowableValues, ['GracefulRestart', 'ForceRestart']);
  });

  test('a ResetType outside the list is 400 and resets nothing', async () => {
    const token = await curlSessionLogin(base(), 'admin', 'password');
    const n = starts;
    const r = await curl(
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-u',
      'admin:password',
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify({ ResetType: 'On' }),
      `${base()}/redfish/v1/Managers/BMC/Actions/Manager.Reset`,
    );
    assert.equal(r.stdout, '400');
    const still = await curl(
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      `X-Auth-Token: ${token}`,
      `${base()}/redfish/v1/Systems/1`,
    );
    assert.equal(still.stdout, '200', 'the session survived: nothing was reset');
    assert.equal(starts, n);
  });

  test('redfishtool Managers reset GracefulRestart: success, old token refused, VM untouched', async () => {
    const token = await curlSessionLogin(base(), 'admin', 'password');
    const actions = machine.actionLog.length;
    const n = starts;
    const r = await run('redfishtool', [
      '-r',
      `127.0.0.1:${redfishPort}`,
      '-S',
      'Never',
      '-u',
      'admin',
      '-p',
      'password',
      'Managers',
      '-I',
      'BMC',
      'reset',
      'GracefulRestart',
    ]);
    ok(r, 'redfishtool Managers reset');
    await restarted(n);
    await redfishBack();
    assert.equal(
      await curlSystemStatus(base(), { token }),
      '401',
      'the session from before the reset is gone',
    );
    assert.equal(machine.getPowerState(), 'On');
    assert.equal(machine.actionLog.length, actions);
  });

  test("sushy's reset_manager(ForceRestart): accepted, the service comes back", async () => {
    const actions = machine.actionLog.length;
    const n = starts;
    const script = `
import sushy
c = sushy.Sushy('${base()}/redfish/v1', auth=sushy.auth.BasicAuth('admin', 'password'))
m = c.get_manager('/redfish/v1/Managers/BMC')
values = sorted(str(getattr(v, 'value', v)) for v in m.get_allowed_reset_manager_values())
print(','.join(values))
m.reset_manager(sushy.ResetType.FORCE_RESTART if hasattr(sushy, 'ResetType') else sushy.RESET_MANAGER_FORCE_RESTART)
print('reset sent')
`;
    const r = await run('/usr/bin/python3', ['-c', script]);
    const out = ok(r, 'sushy reset_manager');
    assert.match(out, /^ForceRestart,GracefulRestart$/m);
    assert.match(out, /reset sent/);
    await restarted(n);
    await redfishBack();
    await ipmiBack();
    assert.equal(machine.actionLog.length, actions);
  });
});

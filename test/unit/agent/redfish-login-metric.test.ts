/**
 * Failed Redfish logins are counted per BMC in `kubevirtbmc_login_failures_total{protocol="redfish"}`
 * (docs/security.md), as IPMI's are: the agent host wired to the real Redfish server, scraped on
 * its /metrics endpoint.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { AgentHost, type MachineProvider } from '../../../src/agent/host.ts';
import { defaultWiring } from '../../../src/agent/wiring.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';

const machine = new MemoryMachine({ power: 'Off' });
const provider: MachineProvider = { acquire: async () => machine, release: async () => {} };
const host = new AgentHost({
  client: null,
  servers: defaultWiring(null, { redfishLoginLimits: { sourceBurst: 2, sourceRefillMs: 600_000 } }).servers,
  machines: provider,
  address: '127.0.0.1',
});
let redfish = '';
let health = '';

const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

async function failures(): Promise<string | undefined> {
  const text = await (await fetch(`${health}/metrics`)).text();
  return /^kubevirtbmc_login_failures_total\{bmc="ns\/b1",protocol="redfish"\} (\d+)$/m.exec(text)?.[1];
}

before(async () => {
  health = `http://127.0.0.1:${(await host.listenHealth(0)).port}`;
  const free = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  await host.sync([
    {
      key: 'ns/b1',
      namespace: 'ns',
      vm: 'vm1',
      eventTarget: { apiVersion: 'v1', kind: 'VirtualMachine', name: 'vm1' },
      credentials: { kind: 'static', username: 'admin', password: 'pw-123' },
      tls: null,
      ipmiPort: 0,
      redfishPort: free,
    },
  ]);
  redfish = host.status()[0]!.endpoints.redfish!;
});
after(() => host.stop());

test('wrong Basic credentials, a wrong session login and a refused login are each counted', async () => {
  const ok = await fetch(`${redfish}/redfish/v1/Systems/1`, { headers: basic('admin', 'pw-123') });
  assert.equal(ok.status, 200);
  assert.equal(await failures(), undefined, 'a success is not a failure');
  const bad = await fetch(`${redfish}/redfish/v1/Systems/1`, { headers: basic('admin', 'nope') });
  assert.equal(bad.status, 401);
  assert.equal(await failures(), '1');
  const session = await fetch(`${redfish}/redfish/v1/SessionService/Sessions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ UserName: 'mallory', Password: 'nope' }),
  });
  assert.equal(session.status, 401);
  assert.equal(await failures(), '2');
  // The agent's limits (2 failures per address here) apply: refused, and counted too.
  const refused = await fetch(`${redfish}/redfish/v1/Systems/1`, { headers: basic('admin', 'pw-123') });
  assert.equal(refused.status, 503);
  assert.equal(await failures(), '3');
});

/**
 * The agent behind a Service or NAT: clients reach its IPMI on another port than it binds, and
 * Serial over LAN must name the port they used (ipmitool refuses any other). The agent takes that
 * port from the BMC definition (`--ipmi-client-port`, or the endpoint in the BMC's status).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { afterEach, describe, test } from 'node:test';
import { AgentHost, type BmcDefinition, type MachineProvider } from '../../../src/agent/host.ts';
import { defaultWiring } from '../../../src/agent/wiring.ts';
import { missingClients } from '../../support/clients.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { lanplus, PtyClient } from './helpers.ts';
import { LossyRelay } from './relay.ts';

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('agent behind a port-mapping relay', { skip: missingClients('ipmitool') }, () => {
  let host: AgentHost | undefined;
  let relay: LossyRelay | undefined;
  let client: PtyClient | undefined;
  let machine: MemoryMachine | undefined;
  afterEach(async () => {
    client?.kill();
    await host?.stop();
    await relay?.close();
    machine?.dispose();
  });

  async function start(advertise: boolean): Promise<number> {
    machine = new MemoryMachine({ power: 'On' });
    const provider: MachineProvider = { acquire: async () => machine!, release: async () => {} };
    host = new AgentHost({
      client: null,
      servers: defaultWiring(null).servers,
      machines: provider,
      address: '127.0.0.1',
    });
    relay = await LossyRelay.start(0, () => false); // a NAT that loses nothing
    const bound = await freeUdpPort();
    const def: BmcDefinition = {
      key: 'ns/b1',
      namespace: 'ns',
      vm: 'vm1',
      eventTarget: { apiVersion: 'v1', kind: 'VirtualMachine', name: 'vm1' },
      credentials: { kind: 'static', username: 'admin', password: 'password' },
      tls: null,
      ipmiPort: bound,
      redfishPort: 0,
      ...(advertise ? { ipmiClientPort: relay.port } : {}),
    };
    await host.sync([def]);
    relay.target = bound;
    return relay.port;
  }

  test('with the client port known, ipmitool sol activate through the relay works', async () => {
    const port = await start(true);
    client = new PtyClient('ipmitool', [...lanplus(port), 'sol', 'activate'], 60_000);
    await client.waitFor('[SOL Session operational.  Use ~? for help]', 20_000);
    client.type('\r~.');
    assert.equal(await client.exit(20_000), 0, client.output);
  });

  test('without it, ipmitool refuses the port the BMC names (what the option is for)', async () => {
    const port = await start(false);
    client = new PtyClient('ipmitool', [...lanplus(port), 'sol', 'activate'], 60_000);
    await client.waitFor(/different port/, 20_000);
    assert.notEqual(await client.exit(20_000), 0);
  });
});

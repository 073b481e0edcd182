import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { AgentHost, type BmcDefinition, type MachineProvider } from '../../../src/agent/host.ts';
import { defaultWiring } from '../../../src/agent/wiring.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { type Subscriber, startSubscriber } from '../../support/redfish-events.ts';
import { selfSignedCert } from '../../support/redfish-tls.ts';
import { runCommand } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The agent's TLS and event-destination settings reach each BMC's Redfish service: an agent
 * wired with the `modern` profile and loopback allowed for events refuses TLS 1.2 (openssl
 * s_client), delivers to a 127.0.0.1 receiver, and still refuses its own address in another
 * spelling (curl).
 */
async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let host: AgentHost;
let machine: MemoryMachine;
let receiver: Subscriber;
let port: number;

before(async () => {
  machine = new MemoryMachine({
    timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 0 },
  });
  receiver = await startSubscriber();
  const provider: MachineProvider = { acquire: async () => machine, release: async () => {} };
  const wiring = defaultWiring(null, {
    tlsSettings: { profile: 'modern' },
    eventDestinations: { allow: ['127.0.0.1/32'] },
  });
  host = new AgentHost({ client: null, servers: wiring.servers, machines: provider, address: '127.0.0.1' });
  port = await freeTcpPort();
  const pair = selfSignedCert();
  const def: BmcDefinition = {
    key: 'ns/b1',
    namespace: 'ns',
    vm: 'vm1',
    eventTarget: { apiVersion: 'v1', kind: 'VirtualMachine', name: 'vm1' },
    credentials: { kind: 'static', username: 'admin', password: 'password' },
    tls: { kind: 'pem', cert: pair.cert, key: pair.key },
    ipmiPort: 0,
    redfishPort: port,
  };
  await host.sync([def]);
});
after(async () => {
  await host?.stop();
  await receiver?.close();
  machine?.dispose();
});

const subscribe = (destination: string) =>
  runCommand('curl', [
    '-sS',
    '-k',
    '--max-time',
    '20',
    '-u',
    'admin:password',
    '-H',
    'Content-Type: application/json',
    '-d',
    JSON.stringify({ Destination: destination, Protocol: 'Redfish' }),
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    `https://127.0.0.1:${port}/redfish/v1/EventService/Subscriptions`,
  ]);

test('the TLS profile of the agent applies: TLS 1.2 refused, TLS 1.3 agreed', async () => {
  const sClient = (...args: string[]) =>
    runCommand('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-brief', ...args], {
      input: '',
      timeoutMs: 20_000,
    });
  const h12 = await sClient('-tls1_2');
  assert.notEqual(h12.code, 0);
  assert.match(h12.stderr, /alert protocol version/);
  const h13 = await sClient('-tls1_3');
  assert.match(h13.stderr, /Protocol version: TLSv1\.3/, h13.stderr);
});

test('the destination rules of the agent apply', async () => {
  assert.equal((await subscribe(`http://[::ffff:127.0.0.1]:${port}/redfish/v1/`)).stdout, '400');
  assert.equal((await subscribe(`http://127.1:${port}/redfish/v1/`)).stdout, '400');
  assert.equal((await subscribe('http://169.254.169.254/')).stdout, '400');
  assert.equal((await subscribe(receiver.url)).stdout, '201', 'loopback allowed by the agent flags');
  await machine.power('On');
  await waitFor(() => receiver.received.length >= 1, { timeoutMs: 10_000, what: 'an event at the receiver' });
});

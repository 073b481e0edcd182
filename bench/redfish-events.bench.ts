/**
 * Redfish events, in one process (client, service and subscriber share a core):
 *  1. delivery throughput: machine changes → events POSTed to one subscriber on 127.0.0.1, beside a
 *     bare node:http keep-alive POST loop of the same payload to the same subscriber (baseline);
 *  2. SSE throughput: events per second read by one plain node:http SSE client;
 *  3. the cost to a power action: p50/p99 of `POST …/ComputerSystem.Reset` with no subscriptions and
 *     with 16 subscriptions whose destinations never answer.
 *
 *   node --import tsx bench/redfish-events.bench.ts [--events 3000] [--resets 400]
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedfishServer } from '../src/redfish/server.ts';
import { MemoryMachine } from '../test/support/memory-machine.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const EVENTS = arg('events', 3000);
const RESETS = arg('resets', 400);
const ADMIN = { username: 'admin', password: 'Adm1n-pass', role: 'Administrator' as const };
const AUTH = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function request(
  port: number,
  method: string,
  path: string,
  body?: unknown,
  agent?: http.Agent,
): Promise<number> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: agent ?? false,
        headers: {
          Authorization: AUTH,
          ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

async function main(): Promise<void> {
  const machine = new MemoryMachine({
    timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 0 },
  });
  const service = new RedfishServer({
    systems: { kind: 'single', machine },
    accounts: () => [ADMIN],
    // Keep every event of the burst (the default bound drops the oldest beyond 256).
    // The subscriber and the sink are on 127.0.0.1, which the default destination policy refuses.
    events: { maxQueuePerSubscription: EVENTS + 16, destinations: { allow: ['127.0.0.1/32'] } },
  });
  const port = (await service.listen(0)).port;

  // A subscriber counting POSTs.
  let received = 0;
  let onReceive: (() => void) | null = null;
  const subscriber = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      onReceive?.();
      res.writeHead(204).end();
    });
  });
  subscriber.keepAliveTimeout = 30_000;
  const subPort = await listen(subscriber);

  // 1a. Baseline: a bare keep-alive POST loop of an Event-sized payload.
  const payload = JSON.stringify({
    '@odata.type': '#Event.v1_13_0.Event',
    Id: '1',
    Name: 'Event',
    Context: 'bench',
    Events: [{ EventType: 'StatusChange', MessageId: 'ResourceEvent.1.4.ResourcePoweredOn', MemberId: '0' }],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  received = 0;
  let t0 = performance.now();
  for (let i = 0; i < EVENTS; i++) await request(subPort, 'POST', '/events', JSON.parse(payload), agent);
  const baseline = EVENTS / ((performance.now() - t0) / 1000);
  agent.destroy();

  // 1b. The service: machine changes → events → POSTs (each power toggle is 3 events).
  const created = await new Promise<string>((resolve, reject) => {
    const body = Buffer.from(
      JSON.stringify({ Destination: `http://127.0.0.1:${subPort}/events`, Protocol: 'Redfish' }),
    );
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/redfish/v1/EventService/Subscriptions',
        headers: { Authorization: AUTH, 'Content-Type': 'application/json', 'Content-Length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers.location)));
      },
    );
    req.on('error', reject);
    req.end(body);
  });

  // 2. An SSE reader counting events.
  let sseEvents = 0;
  const sse = http.get({
    host: '127.0.0.1',
    port,
    path: '/redfish/v1/EventService/SSE',
    headers: { Authorization: AUTH, Accept: 'text/event-stream' },
  });
  await new Promise<void>((resolve) =>
    sse.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        sseEvents += chunk.split('\ndata: ').length - 1;
      });
      resolve();
    }),
  );

  received = 0;
  sseEvents = 0;
  const target = Math.floor(EVENTS / 3) * 3;
  const allDelivered = new Promise<void>((resolve) => {
    onReceive = () => {
      if (received >= target) resolve();
    };
  });
  t0 = performance.now();
  for (let i = 0; i < target / 3; i++) {
    await machine.power(i % 2 === 0 ? 'On' : 'ForceOff');
    // Let I/O run between changes, as real changes are spaced by the backend.
    await new Promise((r) => setImmediate(r));
  }
  await allDelivered;
  const pushed = target / ((performance.now() - t0) / 1000);
  while (sseEvents < target) await new Promise((r) => setTimeout(r, 5));
  const sseRate = target / ((performance.now() - t0) / 1000);
  onReceive = null;
  sse.destroy();
  await request(port, 'DELETE', created);

  // 3. Reset latency, without subscriptions and with 16 destinations that never answer.
  const resets = async (): Promise<number[]> => {
    const lat: number[] = [];
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < RESETS; i++) {
      const s = performance.now();
      const status = await request(
        port,
        'POST',
        '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
        { ResetType: i % 2 === 0 ? 'On' : 'ForceOff' },
        a,
      );
      if (status !== 204) throw new Error(`reset answered ${status}`);
      lat.push(performance.now() - s);
    }
    a.destroy();
    return lat;
  };
  const quiet = await resets();
  const sink = http.createServer(() => undefined); // accepts, never answers
  const sinkPort = await listen(sink);
  for (let i = 0; i < 16; i++) {
    await request(port, 'POST', '/redfish/v1/EventService/Subscriptions', {
      Destination: `http://127.0.0.1:${sinkPort}/hang/${i}`,
      Protocol: 'Redfish',
      DeliveryRetryPolicy: 'RetryForever',
    });
  }
  const loaded = await resets();

  const f = (n: number) => n.toFixed(0).padStart(8);
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  console.log('Redfish events (one process, one core)');
  console.log(`  bare node:http POST loop (baseline)   ${f(baseline)} POST/s`);
  console.log(
    `  events pushed to one subscriber       ${f(pushed)} events/s (${(pushed / baseline).toFixed(2)}x baseline)`,
  );
  console.log(`  events read by one SSE client         ${f(sseRate)} events/s (same run as above)`);
  console.log(`  Reset, no subscriptions               p50 ${ms(pct(quiet, 50))}  p99 ${ms(pct(quiet, 99))}`);
  console.log(
    `  Reset, 16 hanging destinations        p50 ${ms(pct(loaded, 50))}  p99 ${ms(pct(loaded, 99))}`,
  );

  sink.closeAllConnections();
  sink.close();
  subscriber.closeAllConnections();
  subscriber.close();
  await service.close();
  machine.dispose();
}

await main();

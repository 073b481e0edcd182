/**
 * GET /redfish/v1/Systems/1 with keep-alive connections, against the Redfish service (session token
 * and Basic auth) and, in the same run, against a bare node:http server answering the same bytes.
 * Prints req/s, p50 and p99 and the ratio. Client and servers share this process (one core's worth).
 *
 *   node --import tsx bench/redfish.bench.ts [--seconds 3] [--connections 8]
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { RedfishServer } from '../src/redfish/server.ts';
import { MemoryMachine } from '../test/support/memory-machine.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 3);
const CONNECTIONS = arg('connections', 8);
const PATH = '/redfish/v1/Systems/1';

interface Result {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
}

/** A minimal keep-alive HTTP/1.1 client: one request in flight per connection, framed by Content-Length. */
function load(port: number, headers: string, seconds: number): Promise<Result> {
  const request = Buffer.from(
    `GET ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n${headers}\r\n`,
  );
  const latencies: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      let buf: Buffer = Buffer.alloc(0);
      let started = 0n;
      const send = () => {
        if (Date.now() >= deadline) {
          socket.end();
          resolve();
          return;
        }
        started = process.hrtime.bigint();
        socket.write(request);
      };
      socket.on('connect', send);
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length < end + 4 + len) return;
          if (!head.startsWith('HTTP/1.1 200')) errors++;
          buf = buf.subarray(end + 4 + len);
          latencies.push(Number(process.hrtime.bigint() - started) / 1e3);
          send();
        }
      });
      socket.on('error', () => {
        errors++;
        resolve();
      });
    });
  const t0 = process.hrtime.bigint();
  return Promise.all(Array.from({ length: CONNECTIONS }, one)).then(() => {
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    if (errors) throw new Error(`${errors} failed requests`);
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0;
    return { requests: latencies.length, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99) };
  });
}

const fmt = (name: string, r: Result) =>
  `${name.padEnd(34)} ${Math.round(r.rps).toString().padStart(7)} req/s   p50 ${r.p50.toFixed(0).padStart(5)} µs   p99 ${r.p99.toFixed(0).padStart(5)} µs   (${r.requests} requests)`;

const machine = new MemoryMachine({ power: 'On' });
const account = { username: 'admin', password: 'Bench-pass1', role: 'Administrator' as const };
const server = new RedfishServer({ systems: { kind: 'single', machine }, accounts: () => [account] });
const { port } = await server.listen(0);

const login = await fetch(`http://127.0.0.1:${port}/redfish/v1/SessionService/Sessions`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ UserName: account.username, Password: account.password }),
});
const token = login.headers.get('x-auth-token');
if (login.status !== 201 || !token) throw new Error(`login failed: ${login.status}`);
const basic = `Basic ${Buffer.from(`${account.username}:${account.password}`).toString('base64')}`;

// The baseline answers with the very bytes and headers the service sends.
const sample = await fetch(`http://127.0.0.1:${port}${PATH}`, { headers: { 'X-Auth-Token': token } });
const body = Buffer.from(await sample.arrayBuffer());
const sampleHeaders = Object.fromEntries(
  [...sample.headers].filter(([k]) => !['date', 'connection', 'keep-alive', 'content-length'].includes(k)),
);
const bare = http.createServer((_req, res) => {
  res.writeHead(200, { ...sampleHeaders, 'Content-Length': body.length });
  res.end(body);
});
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
const barePort = (bare.address() as AddressInfo).port;

console.log(
  `GET ${PATH}, ${CONNECTIONS} keep-alive connections, ${SECONDS} s each, body ${body.length} bytes, Node ${process.version}`,
);
await load(barePort, '', 0.5); // warm-up
await load(port, `X-Auth-Token: ${token}\r\n`, 0.5);
const baseline = await load(barePort, '', SECONDS);
const session = await load(port, `X-Auth-Token: ${token}\r\n`, SECONDS);
const withBasic = await load(port, `Authorization: ${basic}\r\n`, SECONDS);
console.log(fmt('bare node:http, same bytes', baseline));
console.log(fmt('Redfish, session token', session));
console.log(fmt('Redfish, Basic auth', withBasic));
console.log(
  `ratio Redfish/bare: session ${(session.rps / baseline.rps).toFixed(2)}, Basic ${(withBasic.rps / baseline.rps).toFixed(2)}`,
);

await server.close();
await new Promise<void>((r) => bare.close(() => r()));
bare.closeAllConnections?.();
machine.dispose();

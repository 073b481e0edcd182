/**
 * IPMI benchmark: one RMCP+ session (suite 3, then suite 17) issuing Get Chassis Status as fast as
 * replies come, against a bare `dgram` echo server measured in the same run. Each server runs in
 * its own child process (one core); the load generator runs on the main thread and fully verifies
 * and decrypts every reply like a real console.
 *
 *   npm run bench ipmi -- --duration=3 --window=8
 *
 * --duration  seconds per measurement (default 2)
 * --window    requests kept in flight (default 8; 1 = strict request/reply ping-pong)
 */

import { type ChildProcess, fork } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';

type Role = 'echo' | 'ipmi';

async function serve(role: Role): Promise<void> {
  process.on('message', (m) => {
    if (m === 'stop') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
  if (role === 'echo') {
    const s = createSocket('udp4');
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    process.send!(s.address().port);
    return;
  }
  const { IpmiServer } = await import('../src/ipmi/server.ts');
  const { MemoryMachine } = await import('../test/support/memory-machine.ts');
  const server = new IpmiServer({
    machine: new MemoryMachine({ power: 'On' }),
    accounts: () => [{ username: 'admin', password: 'password', role: 'Administrator' }],
  });
  const { port } = await server.listen(0);
  process.send!(port);
}

function arg(name: string, fallback: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : fallback;
}

interface Result {
  readonly name: string;
  readonly requests: number;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
}

/** Keeps `window` requests in flight for `durationMs`; returns throughput and latency percentiles. */
function drive(
  name: string,
  socket: Socket,
  port: number,
  next: () => { pkt: Buffer; key: number },
  keyOf: (reply: Buffer) => number | null,
  durationMs: number,
  window: number,
): Promise<Result> {
  return new Promise((resolve) => {
    const inflight = new Map<number, bigint>();
    const latencies: number[] = [];
    const start = process.hrtime.bigint();
    const end = start + BigInt(durationMs) * 1_000_000n;
    let done = false;
    const send = () => {
      const { pkt, key } = next();
      inflight.set(key, process.hrtime.bigint());
      socket.send(pkt, port, '127.0.0.1');
    };
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(watchdog);
      socket.removeAllListeners('message');
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      latencies.sort((a, b) => a - b);
      const pct = (p: number) =>
        latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
      resolve({ name, requests: latencies.length, seconds, p50: pct(0.5), p99: pct(0.99) });
    };
    socket.on('message', (m) => {
      const key = keyOf(m);
      if (key === null) return;
      const t0 = inflight.get(key);
      if (t0 === undefined) return;
      inflight.delete(key);
      const now = process.hrtime.bigint();
      latencies.push(Number(now - t0) / 1000);
      if (now < end) send();
      else if (inflight.size === 0) finish();
    });
    // A lost datagram must not stall the loop: resend for anything older than 200 ms.
    const watchdog = setInterval(() => {
      const now = process.hrtime.bigint();
      if (now >= end + 500_000_000n) return finish();
      for (const [k, t] of inflight) {
        if (now - t > 200_000_000n) {
          inflight.delete(k);
          if (now < end) send();
        }
      }
      if (now >= end && inflight.size === 0) finish();
    }, 50);
    for (let i = 0; i < window; i++) send();
  });
}

async function startWorker(role: Role): Promise<{ worker: ChildProcess; port: number }> {
  const worker = fork(new URL(import.meta.url).pathname, [`--serve=${role}`], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.IPMI_BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=.tmp/prof'] : []),
    ],
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m) => resolve(Number(m)));
    worker.once('error', reject);
  });
  return { worker, port };
}

async function main(): Promise<void> {
  const durationMs = arg('duration', 2) * 1000;
  const window = Math.max(1, Math.min(32, arg('window', 8)));
  const { RmcpPlusClient } = await import('../test/support/ipmi-client.ts');
  const results: Result[] = [];

  // Baseline: bare dgram echo of a 64-byte datagram (the size of an encrypted Get Chassis Status).
  const echo = await startWorker('echo');
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let n = 0;
  const payload = Buffer.alloc(64);
  results.push(
    await drive(
      'dgram echo (baseline)',
      sock,
      echo.port,
      () => {
        const key = n++ & 0xffff;
        const pkt = Buffer.from(payload);
        pkt.writeUInt16LE(key, 0);
        return { pkt, key };
      },
      (m) => (m.length === 64 ? m.readUInt16LE(0) : null),
      durationMs,
      window,
    ),
  );
  sock.close();
  echo.worker.send('stop');

  const ipmi = await startWorker('ipmi');
  for (const suite of [3, 17]) {
    const client = await RmcpPlusClient.connect(ipmi.port, {
      username: 'admin',
      password: 'password',
      suite,
    });
    results.push(
      await drive(
        `RMCP+ suite ${suite}, Get Chassis Status`,
        client.socket,
        ipmi.port,
        () => {
          const pkt = client.buildRequest(0x00, 0x01);
          return { pkt, key: client.rqSeq };
        },
        (m) => {
          const r = client.parseReply(m);
          return r && r.completionCode === 0 && r.data.length === 4 ? r.rqSeq : null;
        },
        durationMs,
        window,
      ),
    );
    client.close();
  }
  ipmi.worker.send('stop');

  const base = results[0]!;
  console.log(
    `IPMI over loopback, ${new Date().toISOString()}, window ${window}, ${durationMs / 1000} s each, node ${process.version}`,
  );
  console.log('server in its own process; load generator verifies/decrypts every reply');
  console.log(
    `${'measurement'.padEnd(38)} ${'req/s'.padStart(9)} ${'p50 µs'.padStart(8)} ${'p99 µs'.padStart(8)} ${'vs echo'.padStart(8)}`,
  );
  for (const r of results) {
    const rate = r.requests / r.seconds;
    const ratio = rate / (base.requests / base.seconds);
    console.log(
      `${r.name.padEnd(38)} ${rate.toFixed(0).padStart(9)} ${r.p50.toFixed(0).padStart(8)} ${r.p99.toFixed(0).padStart(8)} ${(`${(ratio * 100).toFixed(0)}%`).padStart(8)}`,
    );
  }
}

const role = process.argv.find((a) => a.startsWith('--serve='))?.split('=')[1] as Role | undefined;
if (role) await serve(role);
else await main();

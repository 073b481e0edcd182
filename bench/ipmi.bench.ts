/**
 * IPMI load generator and benchmark. Opens N RMCP+ sessions (cipher suite 3 and/or 17) and issues
 * Get Chassis Status on each as fast as verified replies come; measures RMCP+ handshakes per second
 * separately; and drives a bare dgram echo on this machine with the same pattern in the same run
 * (the runtime's ceiling), printing the ratio.
 *
 * Against our own server (started in a child process over an in-memory machine):
 *   npm run bench ipmi -- --seconds 3 --sessions 4 --window 2
 * Against any BMC (ours in a cluster, VirtualBMC, upstream KubeVirtBMC, hardware):
 *   node --import tsx bench/ipmi.bench.ts --host 10.0.0.5 --port 623 --username admin \
 *     --password-file ./pw --suite 17 --sessions 8
 *
 * --host, --port            target; without --host our server is started locally
 * --username, --password    credentials (or --password-file, or $BMC_PASSWORD)
 * --suite                   3, 17 or 3,17 (default 3,17)
 * --sessions                concurrent RMCP+ sessions (default 4; a BMC may allow only a few)
 * --window                  requests in flight per session (default 2; 1 = strict ping-pong)
 * --seconds                 per measurement (default 2; --duration is an alias)
 * --handshake-concurrency   handshakes in parallel (default 2; 0 skips the handshake measurement)
 */
import { conditions, type LoadResult, numFlag, passwordFlag, printTable, strFlag } from './lib/common.ts';
import { chassisStatusLoad, echoLoad, handshakeLoad, openSessions } from './lib/ipmi-load.ts';
import type { Target } from './lib/rmcp.ts';
import { startServer } from './lib/serve.ts';

const seconds = numFlag(['seconds', 'duration'], 2);
const sessions = Math.max(1, numFlag('sessions', 4));
const window = Math.max(1, Math.min(16, numFlag('window', 2)));
const hsConcurrency = numFlag('handshake-concurrency', 2);
const suites = strFlag('suite', '3,17')
  .split(',')
  .map(Number)
  .filter((s) => s === 3 || s === 17);
if (suites.length === 0) throw new Error('--suite must be 3, 17 or 3,17');
const username = strFlag('username', strFlag('user', 'admin'));
const password = passwordFlag('Bench-pass1');
const host = strFlag('host');

const own = host ? null : await startServer('ipmi', { username, password });
const target = (suite: number): Target => ({
  host: host ?? '127.0.0.1',
  port: own ? own.port : numFlag('port', 623),
  username,
  password,
  suite,
});

const results: LoadResult[] = [];
const echo = await startServer('dgram-echo');
const baseline = await echoLoad(
  `dgram echo, ${sessions} sockets (baseline)`,
  '127.0.0.1',
  echo.port,
  sessions,
  seconds,
  window,
);
await echo.stop();
results.push(baseline);

const handshakes: LoadResult[] = [];
try {
  for (const suite of suites) {
    const consoles = await openSessions(target(suite), sessions);
    results.push(await chassisStatusLoad(`suite ${suite}, Get Chassis Status`, consoles, seconds, window));
    await Promise.all(consoles.map((c) => c.close()));
    if (hsConcurrency > 0)
      handshakes.push(
        await handshakeLoad(`suite ${suite}, RMCP+ handshake`, target(suite), hsConcurrency, seconds),
      );
  }
} finally {
  await own?.stop();
}

const t = target(suites[0]!);
console.log(
  `IPMI ${own ? `our server (child process, in-memory machine) on 127.0.0.1:${t.port}` : `${t.host}:${t.port}`}; ${sessions} sessions × window ${window}; ${seconds} s each; ${conditions()}`,
);
printTable(results, baseline);
if (handshakes.length) {
  console.log(`handshakes (Open Session + RAKP 1-4, then Close Session), ${hsConcurrency} in parallel:`);
  printTable(handshakes, undefined, 'hs/s');
}
const bad = [...results, ...handshakes].filter((r) => r.count === 0);
if (bad.length) {
  console.error(`no successful operation in: ${bad.map((r) => r.name).join(', ')}`);
  process.exitCode = 1;
}

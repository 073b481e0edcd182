/**
 * Redfish load generator and benchmark: N keep-alive connections, each issuing GET as fast as
 * replies come, with a session token and with Basic auth; and, in the same run, a bare node:http
 * server on this machine answering the very same bytes and headers (the runtime's ceiling), with the
 * ratio. Servers run in child processes; the client is this process.
 *
 * Against our own service (started locally over an in-memory machine):
 *   npm run bench redfish -- --seconds 3 --connections 8
 * Against any BMC (ours, sushy-tools, upstream KubeVirtBMC, hardware):
 *   node --import tsx bench/redfish.bench.ts --host 10.0.0.5 --port 443 --https \
 *     --username admin --password-file ./pw [--path /redfish/v1/Systems/xyz]
 *
 * --host, --port, --https   target; without --host our service is started locally
 * --username, --password    credentials (or --password-file, or $BMC_PASSWORD)
 * --path                    resource to GET (default: the first member of /redfish/v1/Systems)
 * --connections             keep-alive connections (default 8)
 * --seconds                 per measurement (default 2)
 * --auth                    session, basic or both (default both); basic never logs in
 */
import {
  boolFlag,
  conditions,
  type LoadResult,
  numFlag,
  passwordFlag,
  printTable,
  strFlag,
} from './lib/common.ts';
import { HttpConn } from './lib/http-conn.ts';
import { basicHeader, type HttpTarget, httpLoad, login, logout } from './lib/redfish-load.ts';
import { startServer } from './lib/serve.ts';

const seconds = numFlag('seconds', 2);
const connections = Math.max(1, numFlag('connections', 8));
const username = strFlag('username', strFlag('user', 'admin'));
const password = passwordFlag('Bench-pass1');
const auth = strFlag('auth', 'both');
const host = strFlag('host');
const secure = boolFlag('https');

const own = host ? null : await startServer('redfish', { username, password, tls: secure });
const target: HttpTarget = {
  host: host ?? '127.0.0.1',
  port: own ? own.port : numFlag('port', secure ? 443 : 80),
  secure,
};

// `--auth basic` needs no session: services without a SessionService (sushy-tools) work with it.
const session =
  auth === 'basic'
    ? { header: basicHeader(username, password), location: null }
    : await login(target, username, password);
const probe = new HttpConn(target.host, target.port, target.secure);
let path = strFlag('path');
if (!path) {
  const r = await probe.request('GET', '/redfish/v1/Systems', session.header);
  const members = (JSON.parse(r.body.toString()) as { Members?: Array<{ '@odata.id': string }> }).Members;
  path = members?.[0]?.['@odata.id'];
  if (!path) throw new Error('the service lists no System; give --path');
}
const sample = await probe.request('GET', path, session.header);
probe.close();
if (sample.status !== 200) throw new Error(`GET ${path}: HTTP ${sample.status}`);
const sampleHeaders: Record<string, string> = {};
for (const line of sample.head.split('\r\n').slice(1)) {
  const i = line.indexOf(':');
  const k = line.slice(0, i).trim().toLowerCase();
  if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(k))
    sampleHeaders[k] = line.slice(i + 1).trim();
}

const bare = await startServer('http-bare', {
  body: sample.body.toString('latin1'),
  headers: sampleHeaders,
  tls: secure,
});
const bareTarget: HttpTarget = { host: '127.0.0.1', port: bare.port, secure };
const results: LoadResult[] = [];
try {
  // Warm-up (JIT, connection set-up) on both, not measured.
  await httpLoad('warm-up', [bareTarget], ['/'], '', connections, Math.min(0.5, seconds));
  await httpLoad('warm-up', [target], [path], session.header, connections, Math.min(0.5, seconds));
  results.push(
    await httpLoad(
      `bare node:http${secure ? 's' : ''}, same bytes (baseline)`,
      [bareTarget],
      ['/'],
      '',
      connections,
      seconds,
    ),
  );
  if (auth !== 'basic')
    results.push(
      await httpLoad(`GET ${path}, session token`, [target], [path], session.header, connections, seconds),
    );
  if (auth !== 'session')
    results.push(
      await httpLoad(
        `GET ${path}, Basic auth`,
        [target],
        [path],
        basicHeader(username, password),
        connections,
        seconds,
      ),
    );
} finally {
  if (auth !== 'basic') await logout(target, session.header, session.location);
  await bare.stop();
  await own?.stop();
}

console.log(
  `Redfish ${own ? `our service (child process, in-memory machine) on 127.0.0.1:${target.port}` : `${target.host}:${target.port}`}${secure ? ' over TLS' : ''}; ${connections} keep-alive connections; ${seconds} s each; body ${sample.body.length} bytes; ${conditions()}`,
);
printTable(results, results[0]);
if (results.some((r) => r.count === 0)) {
  console.error('a measurement completed no request');
  process.exitCode = 1;
}

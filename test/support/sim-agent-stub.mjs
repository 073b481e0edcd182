#!/usr/bin/env node
// Stand-in for the agent process in kubelet tests: binds the mapped ports from
// KUBEVIRTBMC_SIM_PORT_MAP, answers HTTP with a JSON dump of what it received (args, selected env),
// echoes UDP datagrams, and exits on SIGTERM (or with code 3 when asked via /exit).
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';

const map = JSON.parse(process.env.KUBEVIRTBMC_SIM_PORT_MAP ?? '{}');
const info = {
  args: process.argv.slice(2),
  env: Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => k.startsWith('STUB_') || ['POD_IP', 'KUBECONFIG', 'KUBEVIRTBMC_SIM_PORT_MAP'].includes(k),
    ),
  ),
};
console.log(`stub agent started with args ${JSON.stringify(info.args)}`);
for (const [key, port] of Object.entries(map)) {
  if (key.endsWith('/UDP')) {
    const s = createSocket('udp4');
    s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
    s.bind(port, '127.0.0.1');
  } else {
    createServer((req, res) => {
      if (req.url === '/exit') {
        res.end('bye');
        setTimeout(() => process.exit(3), 10);
        return;
      }
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ ...info, port: key }));
    }).listen(port, '127.0.0.1');
  }
}
process.on('SIGTERM', () => {
  console.log('stub agent got SIGTERM');
  process.exit(0);
});

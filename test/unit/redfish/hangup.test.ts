import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { RedfishServer } from '../../../src/redfish/server.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';

const lines: Array<{ level: number; msg: string }> = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
    done();
  },
});
const machine = new MemoryMachine();
const server = new RedfishServer({
  systems: { kind: 'single', machine },
  accounts: () => [{ username: 'admin', password: 'pw-123456', role: 'Administrator' }],
  logger: pino({ level: 'debug' }, sink),
});
let port = 0;
before(async () => {
  port = (await server.listen(0)).port;
});
after(async () => {
  await server.close();
  machine.dispose();
});

test('a client that hangs up mid-body is not a server error, and the service keeps answering', async () => {
  const auth = Buffer.from('admin:pw-123456').toString('base64');
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(
        'PATCH /redfish/v1/Systems/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Authorization: Basic ${auth}\r\nContent-Length: 500\r\n\r\n{"Boot":`,
      );
      setTimeout(() => s.destroy(), 50);
    });
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  await new Promise((r) => setTimeout(r, 100));
  const res = await fetch(`http://127.0.0.1:${port}/redfish/v1/Systems/1`, {
    headers: { Authorization: `Basic ${auth}` },
  });
  assert.equal(res.status, 200);
  assert.deepEqual(
    lines.filter((l) => l.level >= 50).map((l) => l.msg),
    [],
    'nothing logged at error level',
  );
  assert.ok(
    lines.some((l) => /hung up/.test(l.msg)),
    'the hang-up is logged at debug level',
  );
});

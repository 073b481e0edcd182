import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { RedfishServer } from '../../../src/redfish/server.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';

/**
 * Node's HTTP parser refuses method tokens it does not know; the server still answers such a
 * request 405 with Allow (or 404 for an unknown URI). These tests send the bytes themselves so that
 * the unknown request shares one TCP segment with the end of the request before it on a kept-alive
 * connection, as the DMTF Protocol Validator's requests sometimes do.
 */
const machine = new MemoryMachine();
const server = new RedfishServer({
  systems: { kind: 'single', machine },
  accounts: () => [{ username: 'admin', password: 'pw-123456', role: 'Administrator' }],
});
const auth = `Basic ${Buffer.from('admin:pw-123456').toString('base64')}`;
let port = 0;
before(async () => {
  port = (await server.listen(0, '127.0.0.1')).port;
});
after(async () => {
  await server.close();
  machine.dispose();
});

/** Writes `bytes` in one write and reads until the server closes the connection (bounded). */
function exchange(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.setNoDelay(true);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close; got: ${Buffer.concat(chunks).toString('latin1')}`));
    }, 10_000);
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

function withBody(body: string): string {
  return (
    'PATCH /redfish/v1/Systems/1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n' +
    `Authorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

test('an unknown method right after a request body in the same segment gets 405 with Allow', async () => {
  const out = await exchange(
    `${withBody('{"AssetTag": "a"}')}FAKEMETHOD /redfish/v1/Systems/1 HTTP/1.1\r\nHost: x\r\n\r\n`,
  );
  assert.match(out, /HTTP\/1\.1 405 Method Not Allowed\r\n/, out);
  assert.match(out, /\r\nAllow: GET, HEAD, PATCH\r\n/);
  assert.match(out, /"code":"Base\.1\.22\.OperationNotAllowed"/);
  assert.doesNotMatch(out, /HTTP\/1\.1 400 /);
});

test('the same when the body ends in letters and digits, and when the request before has no body', async () => {
  const letters = await exchange(
    `${withBody('xyz09')}BREW /redfish/v1/Systems/1 HTTP/1.1\r\nHost: x\r\n\r\n`,
  );
  assert.match(letters, /HTTP\/1\.1 405 Method Not Allowed\r\n/, letters);
  const pipelined = await exchange(
    `GET /redfish/v1/ HTTP/1.1\r\nHost: x\r\n\r\nFAKEMETHOD /redfish/v1/Systems/1 HTTP/1.1\r\nHost: x\r\n\r\n`,
  );
  assert.match(pipelined, /HTTP\/1\.1 405 Method Not Allowed\r\n/, pipelined);
});

test('the same when the body and the unknown request arrive in a later read than the head', async () => {
  // The head goes first; once the server has read it (it answers 100 Continue), the body and the
  // next request go in one write, so the read the parser fails on starts with the body.
  const head =
    'PATCH /redfish/v1/Systems/1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n' +
    `Authorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n`;
  const out = await new Promise<string>((resolve, reject) => {
    let text = '';
    let sent = false;
    const s = net.connect(port, '127.0.0.1', () => s.write(head));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close; got: ${text}`));
    }, 10_000);
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (!sent && text.includes('100 Continue\r\n\r\n')) {
        sent = true;
        s.write('{}FAKEMETHOD /redfish/v1/Systems/1 HTTP/1.1\r\nHost: x\r\n\r\n');
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  assert.match(out, /HTTP\/1\.1 405 Method Not Allowed\r\n/, out);
  assert.match(out, /\r\nAllow: GET, HEAD, PATCH\r\n/);
  assert.doesNotMatch(out, /HTTP\/1\.1 400 /);
});

test('an unknown method on an unknown URI after a body is 404 ResourceMissingAtURI', async () => {
  const out = await exchange(`${withBody('{}')}FAKEMETHOD /redfish/v1/Nothing HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.match(out, /HTTP\/1\.1 404 Not Found\r\n/, out);
  assert.match(out, /"code":"Base\.1\.22\.ResourceMissingAtURI"/);
});

test('a request line that is not HTTP at all is still 400', async () => {
  const out = await exchange(`${withBody('{}')}\x01\x02 garbage\r\n\r\n`);
  assert.match(out, /HTTP\/1\.1 400 Bad Request\r\n/, out);
});

/**
 * The IPMI server and a changeable account source (a watched Secret): a password IPMI cannot carry
 * does not stop the server (the agent reports it once); IPMI refuses that account and its failed
 * logins say why, not "unknown user name". Sessions ending on rotation, with real clients:
 * test/interop/ipmi/rotation.test.ts.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import { AccountList, type BmcAccount } from '../../../src/machine/index.ts';
import { RmcpPlusClient } from '../../support/ipmi-client.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';

const LONG: BmcAccount = { username: 'admin', password: 'p'.repeat(21), role: 'Administrator' };

test('an account over the limits from a changeable source: refused with its reason; a fix applies at once', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const machine = new MemoryMachine();
  const list = new AccountList([LONG]);
  const server = new IpmiServer({ machine, accounts: list.source, logger: pino({ level: 'info' }, sink) });
  const { port } = await server.listen(0);
  try {
    await assert.rejects(
      RmcpPlusClient.connect(port, {
        username: 'admin',
        password: LONG.password,
        suite: 17,
        proveAnyway: true,
      }),
      /RAKP4 status 15/,
    );
    const failed = lines.map((l) => JSON.parse(l)).filter((o) => o.msg === 'IPMI login failed');
    assert.equal(failed.length, 1);
    assert.equal(
      failed[0].reason,
      'account not usable over IPMI: password is 21 bytes; IPMI allows at most 20',
    );
    assert.ok(!lines.join('\n').includes(LONG.password), 'the password is never logged');
    // An unknown name is still just that.
    await assert.rejects(
      RmcpPlusClient.connect(port, { username: 'nobody', password: 'x', suite: 17, proveAnyway: true }),
      /RAKP4 status 15/,
    );
    assert.equal(JSON.parse(lines.at(-1)!).reason, 'unknown user name');
    list.set([{ ...LONG, password: 'p'.repeat(20) }]);
    const c = await RmcpPlusClient.connect(port, { username: 'admin', password: 'p'.repeat(20), suite: 17 });
    c.close();
    assert.equal(server.sessionCount, 1);
  } finally {
    await server.close();
    machine.dispose();
  }
  assert.equal(list.subscribers, 0, 'close() unsubscribes');
});

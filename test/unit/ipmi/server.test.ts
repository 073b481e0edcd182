import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  decodeOpenSessionResponse,
  encodeOpenSessionRequest,
  encodeRakp1,
} from '../../../src/ipmi/codec/handshake.ts';
import { decodeResponse, encodeRequest } from '../../../src/ipmi/codec/message.ts';
import { encodeAsfPing } from '../../../src/ipmi/codec/rmcp.ts';
import { encodeUnauthenticated } from '../../../src/ipmi/codec/rmcpplus.ts';
import type { BmcAccount } from '../../../src/machine/index.ts';
import { ADMIN, READONLY, startTestBmc, type TestBmc } from '../../support/ipmi-bmc.ts';
import { RmcpPlusClient } from '../../support/ipmi-client.ts';
import { waitFor } from '../../support/wait.ts';

const creds = { username: ADMIN.username, password: ADMIN.password };

async function rawClient(port: number): Promise<RmcpPlusClient> {
  // A connected client whose socket we also use for raw, session-less exchanges.
  return RmcpPlusClient.connect(port, { ...creds, suite: 3 });
}

describe('IPMI server with our own RMCP+ client', () => {
  let bmc: TestBmc;
  before(async () => {
    bmc = await startTestBmc();
  });
  after(async () => {
    await bmc.stop();
  });

  for (const suite of [1, 2, 3, 15, 16, 17]) {
    test(`cipher suite ${suite}: session, Get Chassis Status, Close Session`, async () => {
      const c = await RmcpPlusClient.connect(bmc.port, { ...creds, suite });
      try {
        const r = await c.request(0x00, 0x01);
        assert.equal(r.completionCode, 0);
        assert.equal(r.data.length, 4);
        const close = await c.request(0x06, 0x3c, [...Buffer.from(new Uint32Array([c.bmcSessionId]).buffer)]);
        assert.equal(close.completionCode, 0);
        assert.equal(await c.exchange(c.buildRequest(0x00, 0x01), 200), null, 'closed session is gone');
      } finally {
        c.close();
      }
    });
  }

  test('ASF presence ping is answered with a pong', async () => {
    const c = await rawClient(bmc.port);
    try {
      const pong = await c.exchange(encodeAsfPing(7));
      assert.equal(pong?.length, 28);
      assert.equal(pong?.[8], 0x40);
      assert.equal(pong?.[9], 7);
    } finally {
      c.close();
    }
  });

  test('pre-session v2.0 messages: auth caps and cipher suites answered, anything else 0xD4', async () => {
    const c = await rawClient(bmc.port);
    try {
      const ask = async (netFn: number, cmd: number, data: number[]) => {
        const pkt = encodeUnauthenticated(
          0,
          encodeRequest({ netFn, cmd, rqSeq: 0, data: Buffer.from(data) }),
        );
        const reply = await c.exchange(pkt);
        assert.ok(reply, 'answered');
        assert.equal(reply.readUInt32LE(6), 0, 'session-less reply');
        return decodeResponse(reply.subarray(16))!;
      };
      assert.deepEqual([...(await ask(6, 0x38, [0x8e, 4])).data], [1, 0x84, 4, 3, 0, 0, 0, 0]);
      const ciphers = await ask(6, 0x54, [0x0e, 0, 0x80]);
      assert.deepEqual([...ciphers.data.subarray(0, 6)], [1, 0xc0, 1, 1, 0x40, 0x80]);
      assert.equal(ciphers.data.length, 17);
      assert.equal((await ask(6, 0x54, [0x0e, 0, 0x81])).data.length, 15);
      assert.equal((await ask(0, 0x01, [])).completionCode, 0xd4);
      assert.equal((await ask(0, 0x02, [0x01])).completionCode, 0xd4);
      assert.equal((await ask(0x2c, 0x3e, [0, 2])).completionCode, 0xc1);
      assert.equal(bmc.machine.actionLog.length, 0);
    } finally {
      c.close();
    }
  });

  test('cipher suite 0 and unknown algorithms are refused in Open Session', async () => {
    const c = await rawClient(bmc.port);
    try {
      for (const [auth, integ, conf, status] of [
        [0, 0, 0, 0x04],
        [1, 4, 1, 0x11],
        [3, 4, 2, 0x10],
        [2, 2, 1, 0x04],
      ] as const) {
        const open = encodeOpenSessionRequest({
          tag: 5,
          privilege: 0,
          consoleSessionId: 99,
          auth,
          integrity: integ,
          confidentiality: conf,
        });
        const reply = await c.exchange(encodeUnauthenticated(0x10, open));
        assert.deepEqual(decodeOpenSessionResponse(reply!.subarray(16)), {
          tag: 5,
          status,
          privilege: 0,
          consoleSessionId: 99,
          bmcSessionId: 0,
        });
      }
    } finally {
      c.close();
    }
  });

  test('repeated handshake messages get the same answers (idempotent)', async () => {
    const c = await rawClient(bmc.port);
    try {
      const open = encodeUnauthenticated(
        0x10,
        encodeOpenSessionRequest({
          tag: 1,
          privilege: 0,
          consoleSessionId: 0x1111,
          auth: 1,
          integrity: 1,
          confidentiality: 1,
        }),
      );
      const o1 = await c.exchange(open);
      const o2 = await c.exchange(open);
      assert.ok(o1 && o2);
      assert.deepEqual(o1, o2);
      const sid = decodeOpenSessionResponse(o1.subarray(16))!.bmcSessionId;
      const rakp1 = encodeUnauthenticated(
        0x12,
        encodeRakp1({
          tag: 2,
          bmcSessionId: sid,
          rm: Buffer.alloc(16, 3),
          role: 0x14,
          username: Buffer.from('admin'),
        }),
      );
      const r1 = await c.exchange(rakp1);
      const r2 = await c.exchange(rakp1);
      assert.ok(r1 && r2);
      assert.equal(r1[17], 0, 'RAKP2 status ok');
      assert.deepEqual(r1, r2);
    } finally {
      c.close();
    }
  });

  test('replayed packets are dropped; the session keeps working', async () => {
    const c = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 17 });
    try {
      const pkt = c.buildRequest(0x06, 0x01);
      assert.ok(await c.exchange(pkt));
      assert.equal(await c.exchange(pkt, 200), null, 'replay dropped');
      assert.equal((await c.request(0x06, 0x01)).completionCode, 0);
    } finally {
      c.close();
    }
  });

  test('unknown user and wrong password alike: RAKP2 HMAC does not verify; the null user: 0x0D', async () => {
    // An unknown name is not told apart (login-policy.test.ts compares the bytes).
    await assert.rejects(
      RmcpPlusClient.connect(bmc.port, { username: 'nobody', password: 'x', suite: 3 }),
      /RAKP 2 HMAC is invalid/,
    );
    await assert.rejects(
      RmcpPlusClient.connect(bmc.port, { username: 'admin', password: 'wrong', suite: 17 }),
      /RAKP 2 HMAC is invalid/,
    );
    await assert.rejects(
      RmcpPlusClient.connect(bmc.port, { username: '', password: 'x', suite: 3 }),
      /RAKP2 status 13/,
    );
  });

  test('a USER-level account: ADMIN refused at RAKP2, a USER session cannot change power', async () => {
    const user = { username: READONLY.username, password: READONLY.password };
    await assert.rejects(RmcpPlusClient.connect(bmc.port, { ...user, suite: 3 }), /RAKP2 status 9\b/);
    await assert.rejects(
      RmcpPlusClient.connect(bmc.port, { ...user, suite: 17, privilege: 3 }),
      /RAKP2 status 9\b/,
    );
    const c = await RmcpPlusClient.connect(bmc.port, { ...user, suite: 3, privilege: 2 });
    try {
      assert.equal((await c.request(0x06, 0x3b, [0x04])).completionCode, 0x81);
      assert.equal((await c.request(0x00, 0x02, [0x01])).completionCode, 0xd4);
      assert.equal((await c.request(0x00, 0x01)).completionCode, 0);
      assert.equal(bmc.machine.getPowerState(), 'Off');
    } finally {
      c.close();
    }
  });
});

test('idle sessions expire', async () => {
  const bmc = await startTestBmc({ server: { sessionIdleTimeoutMs: 150 } });
  const c = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 });
  try {
    assert.equal((await c.request(0x00, 0x01)).completionCode, 0);
    await waitFor(() => bmc.server.sessionCount === 0, { intervalMs: 20, what: 'session expiry' });
    assert.equal(await c.exchange(c.buildRequest(0x00, 0x01), 200), null);
    // The expiry sweep stops once the table is empty; a later session must still expire.
    await new Promise((r) => setTimeout(r, 200));
    const again = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 17 });
    try {
      assert.equal(bmc.server.sessionCount, 1);
      await waitFor(() => bmc.server.sessionCount === 0, {
        intervalMs: 20,
        what: 'the later session to expire',
      });
    } finally {
      again.close();
    }
  } finally {
    c.close();
    await bmc.stop();
  }
});

test('concurrent sessions are bounded; closing one frees a slot', async () => {
  const bmc = await startTestBmc({ server: { maxSessions: 2 } });
  const a = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 });
  const b = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 17 });
  try {
    await assert.rejects(
      RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 }),
      /Open Session failed: status 1/,
    );
    await a.request(0x06, 0x3c, [...Buffer.from(new Uint32Array([a.bmcSessionId]).buffer)]);
    const c = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 });
    c.close();
  } finally {
    a.close();
    b.close();
    await bmc.stop();
  }
});

test('failed logins from one source are rate limited, then forgiven', async () => {
  const bmc = await startTestBmc({ server: { loginLimits: { sourceBurst: 2, sourceRefillMs: 300 } } });
  try {
    // Only a failed proof counts: a guesser that sends RAKP 3 with the wrong password.
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        RmcpPlusClient.connect(bmc.port, {
          username: 'admin',
          password: 'guess',
          suite: 3,
          proveAnyway: true,
        }),
        /RAKP4 status 15/,
      );
    }
    // Even the right password is refused while the source is limited…
    await assert.rejects(RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 }), /RAKP2 status 1\b/);
    // …and accepted again once a token came back.
    const c = await waitFor(
      () => RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 }).catch(() => null),
      {
        intervalMs: 100,
        what: 'rate limit to clear',
      },
    );
    c.close();
  } finally {
    await bmc.stop();
  }
});

test('accounts are read at every login: a rotated password takes effect without restart', async () => {
  const accounts: BmcAccount[] = [{ ...ADMIN }];
  const bmc = await startTestBmc({ accounts });
  try {
    (await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 })).close();
    accounts[0] = { ...ADMIN, password: 'rotated-secret' };
    await assert.rejects(RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 }), /HMAC/);
    (
      await RmcpPlusClient.connect(bmc.port, { username: 'admin', password: 'rotated-secret', suite: 17 })
    ).close();
  } finally {
    await bmc.stop();
  }
});

test('a retransmitted request (same rqSeq, new packet) is answered again but executed once', async () => {
  const bmc = await startTestBmc({ machine: { power: 'On' } });
  const c = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3 });
  try {
    assert.equal((await c.request(0x06, 0x3b, [0x04])).completionCode, 0);
    const first = await c.exchange(c.buildRequest(0x00, 0x02, [0x02]));
    const again = await c.exchange(c.buildRequest(0x00, 0x02, [0x02], true));
    assert.equal(c.parseReply(first!)?.completionCode, 0);
    assert.equal(c.parseReply(again!)?.completionCode, 0);
    assert.equal(c.parseReply(again!)?.rqSeq, c.rqSeq);
    // a new request with the same content but a new rqSeq runs again
    assert.equal((await c.request(0x00, 0x02, [0x02])).completionCode, 0);
    assert.deepEqual(
      bmc.machine.actionLog.map((a) => a.action),
      ['PowerCycle', 'PowerCycle'],
    );
  } finally {
    c.close();
    await bmc.stop();
  }
});

test('accounts beyond the IPMI limits are refused at configuration time with a clear error', async () => {
  const { IpmiServer } = await import('../../../src/ipmi/server.ts');
  const { MemoryMachine } = await import('../../support/memory-machine.ts');
  const machine = new MemoryMachine();
  const make = (a: BmcAccount) => () => new IpmiServer({ machine, accounts: () => [a] });
  assert.throws(
    make({ username: 'admin', password: 'x'.repeat(21), role: 'Administrator' }),
    /"admin": password is 21 bytes; IPMI allows at most 20/,
  );
  assert.throws(
    make({ username: 'u'.repeat(17), password: 'pw', role: 'Administrator' }),
    /username is 17 bytes; IPMI allows at most 16/,
  );
  assert.doesNotThrow(make({ username: 'u'.repeat(16), password: 'p'.repeat(20), role: 'Operator' }));
});

test('a 16-byte user name and a 20-byte password work end to end', async () => {
  const account: BmcAccount = {
    username: 'abcdefghijklmnop',
    password: '01234567890123456789',
    role: 'Administrator',
  };
  const bmc = await startTestBmc({ accounts: [account] });
  try {
    for (const suite of [3, 17]) {
      const c = await RmcpPlusClient.connect(bmc.port, {
        username: account.username,
        password: account.password,
        suite,
      });
      assert.equal((await c.request(0x00, 0x01)).completionCode, 0);
      c.close();
    }
  } finally {
    await bmc.stop();
  }
});

test('IPMI 1.5: challenge refused for auth type NONE and the null user; granted to any other name', async () => {
  const { encodeLan15, decodeLan15 } = await import('../../../src/ipmi/codec/lan15.ts');
  const long: BmcAccount = { username: 'long', password: '01234567890123456789', role: 'Administrator' };
  const bmc = await startTestBmc({ accounts: [ADMIN, long] });
  const c = await rawClient(bmc.port);
  try {
    const challenge = async (authType: number, user: string) => {
      const name = Buffer.alloc(16);
      name.write(user);
      const msg = encodeRequest({
        netFn: 6,
        cmd: 0x39,
        rqSeq: 1,
        data: Buffer.concat([Buffer.from([authType]), name]),
      });
      const reply = await c.exchange(encodeLan15({ authType: 0, sequence: 0, sessionId: 0, message: msg }));
      return decodeResponse(decodeLan15(reply!)!.message)!;
    };
    const ok = await challenge(2, 'admin');
    assert.equal(ok.completionCode, 0);
    assert.equal(ok.data.length, 20);
    assert.notEqual(ok.data.readUInt32LE(0), 0);
    assert.equal((await challenge(0, 'admin')).completionCode, 0xcc);
    // Which names exist, or have a password too long for 1.5, shows only in the server's log:
    // the activation fails (login-policy.test.ts).
    assert.equal((await challenge(2, 'long')).completionCode, 0);
    assert.equal((await challenge(2, 'nobody')).completionCode, 0);
    assert.equal((await challenge(2, '')).completionCode, 0x82);
  } finally {
    c.close();
    await bmc.stop();
  }
});

test('listen rejects cleanly when the port is taken, and the server can listen elsewhere', async () => {
  const bmc = await startTestBmc();
  const { IpmiServer } = await import('../../../src/ipmi/server.ts');
  const other = new IpmiServer({ machine: bmc.machine, accounts: () => [ADMIN] });
  try {
    await assert.rejects(other.listen(bmc.port), /EADDRINUSE/);
    const { port } = await other.listen(0);
    assert.notEqual(port, bmc.port);
  } finally {
    await other.close();
    await bmc.stop();
  }
});

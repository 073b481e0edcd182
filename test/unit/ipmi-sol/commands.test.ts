import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  decodeRmcpPlusHeader,
  encodeSessionPacket,
  openSessionPacket,
} from '../../../src/ipmi/codec/rmcpplus.ts';
import { randomIv } from '../../../src/ipmi/crypto/packet.ts';
import { decodeSol, encodeSol } from '../../../src/ipmi/sol/codec.ts';
import { NotSupportedError } from '../../../src/machine/index.ts';
import { ADMIN, OPERATOR, READONLY, startTestBmc, type TestBmc } from '../../support/ipmi-bmc.ts';
import { RmcpPlusClient } from '../../support/ipmi-client.ts';
import { waitFor } from '../../support/wait.ts';

// The SOL commands and payload through the server, with our own RMCP+ console (the real clients
// are in test/interop/ipmi-sol/).

const ACTIVATE = [0x01, 0x01, 0xc0, 0, 0, 0];
const le32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

describe('SOL commands', () => {
  let bmc: TestBmc;
  const clients: RmcpPlusClient[] = [];
  const connect = async (account = ADMIN, suite = 17, privilege = 4) => {
    const c = await RmcpPlusClient.connect(bmc.port, {
      username: account.username,
      password: account.password,
      suite,
      privilege,
    });
    clients.push(c);
    if (privilege > 2) assert.equal((await c.request(0x06, 0x3b, [privilege])).completionCode, 0);
    return c;
  };
  const closeSession = (c: RmcpPlusClient) => c.request(0x06, 0x3c, le32(c.bmcSessionId));

  before(async () => {
    bmc = await startTestBmc();
    // Powered on before any console opens, so nothing is printed while the test talks commands.
    await bmc.machine.power('On');
    await waitFor(() => bmc.machine.getPowerState() === 'On');
  });
  after(async () => {
    for (const c of clients) c.close();
    await bmc.stop();
  });

  test('Get Channel Payload Support flags SOL; Get Channel Payload Version answers 1.0', async () => {
    const c = await connect();
    const support = await c.request(0x06, 0x4e, [0x0e]);
    assert.deepEqual(
      [support.completionCode, ...support.data],
      [0, 0x03, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00],
    );
    const version = await c.request(0x06, 0x4f, [0x0e, 0x01]);
    assert.deepEqual([version.completionCode, ...version.data], [0, 0x10]);
    assert.equal((await c.request(0x06, 0x4f, [0x0e, 0x05])).completionCode, 0x80, 'no such payload type');
    assert.equal((await c.request(0x06, 0x4e, [])).completionCode, 0xc7);
    await closeSession(c);
  });

  test('activate: 12-byte response with the port; status and instance info name the session; another user gets 0x80', async () => {
    const a = await connect();
    const b = await connect(OPERATOR, 17, 3);
    const act = await a.request(0x06, 0x48, ACTIVATE);
    assert.equal(act.completionCode, 0);
    assert.deepEqual(
      [...act.data],
      [0, 0, 0, 0, 0xff, 0, 0xff, 0, bmc.port & 0xff, bmc.port >> 8, 0xff, 0xff],
    );
    const status = await b.request(0x06, 0x4a, [0x01]);
    assert.deepEqual([...status.data], [0x01, 0x01, 0x00]);
    const info = await b.request(0x06, 0x4b, [0x01, 0x01]);
    assert.deepEqual([...info.data.subarray(0, 4)], le32(a.bmcSessionId));
    assert.equal(
      (await b.request(0x06, 0x48, ACTIVATE)).completionCode,
      0x80,
      'already active on another session (of another user)',
    );
    assert.equal((await a.request(0x06, 0x48, ACTIVATE)).completionCode, 0x80, 'already active here');
    assert.equal(bmc.server.sol!.activeSessionId, a.bmcSessionId);
    // Close Session ends the instance.
    await closeSession(a);
    await waitFor(() => bmc.server.sol!.activeSessionId === null, { what: 'deactivated by Close Session' });
    assert.deepEqual([...(await b.request(0x06, 0x4a, [0x01])).data], [0x01, 0x00, 0x00]);
    assert.equal((await b.request(0x06, 0x49, ACTIVATE)).completionCode, 0x80, 'already deactivated');
    await closeSession(b);
  });

  test('SOL data both ways, encrypted and authenticated like every packet of the session', async () => {
    const c = await connect();
    assert.equal((await c.request(0x06, 0x48, ACTIVATE)).completionCode, 0);
    await waitFor(() => bmc.server.sol!.stats !== null);
    // Keystrokes: the memory machine echoes them.
    const reply = await c.exchange(
      encodeSessionPacket(
        c.keys,
        1,
        c.bmcSessionId,
        c.seq++,
        encodeSol({ seq: 1, ackSeq: 0, accepted: 0, flags: 0, data: Buffer.from('hi\r') }),
        randomIv(),
      ),
    );
    const got: Array<ReturnType<typeof decodeSol>> = [];
    const take = (pkt: Buffer | null) => {
      assert.ok(pkt);
      const h = decodeRmcpPlusHeader(pkt)!;
      assert.equal(h.payloadType, 1);
      assert.ok(h.encrypted && h.authenticated);
      got.push(decodeSol(openSessionPacket(c.keys, h, pkt)!));
    };
    take(reply);
    const more = new Promise<Buffer | null>((resolve) => {
      c.socket.once('message', (m) => resolve(m));
    });
    take(await Promise.race([more, new Promise<null>((r) => setTimeout(() => r(null), 2000))]));
    const ack = got.find((p) => p!.seq === 0)!;
    assert.deepEqual([ack.ackSeq, ack.accepted], [1, 3]);
    const data = got.find((p) => p!.seq !== 0)!;
    assert.equal(data.data.toString(), 'hi\r\n');
    // Deactivate Payload from the owner.
    c.sendRaw(
      encodeSessionPacket(
        c.keys,
        1,
        c.bmcSessionId,
        c.seq++,
        encodeSol({ seq: 0, ackSeq: data.seq, accepted: data.data.length, flags: 0, data: Buffer.alloc(0) }),
        randomIv(),
      ),
    );
    assert.equal((await c.request(0x06, 0x49, ACTIVATE)).completionCode, 0);
    await waitFor(() => bmc.server.sol!.activeSessionId === null);
    await closeSession(c);
  });

  test('the same user activating from a new session takes SOL over; the old console is told "SOL deactivating"', async () => {
    // A console whose client died (ipmitool killed, Ironic's socat client gone) never deactivates;
    // the next `sol activate` with the same account must not wait for the idle timeout.
    const dead = await connect(OPERATOR, 17, 3);
    const other = await connect();
    assert.equal((await dead.request(0x06, 0x48, ACTIVATE)).completionCode, 0);
    await waitFor(() => bmc.server.sol!.stats !== null);
    const notice = new Promise<Buffer>((resolve) => dead.socket.once('message', (m) => resolve(m)));
    const fresh = await connect(OPERATOR, 17, 3);
    assert.equal((await fresh.request(0x06, 0x48, ACTIVATE)).completionCode, 0, 'taken over');
    const pkt = await notice;
    const sol = decodeSol(openSessionPacket(dead.keys, decodeRmcpPlusHeader(pkt)!, pkt)!)!;
    assert.equal(sol.flags & 0x10, 0x10, 'the old console is told SOL deactivating');
    assert.equal(bmc.server.sol!.activeSessionId, fresh.bmcSessionId);
    const info = await other.request(0x06, 0x4b, [0x01, 0x01]);
    assert.deepEqual(
      [...info.data.subarray(0, 4)],
      le32(fresh.bmcSessionId),
      'instance info names the new session',
    );
    // The old session itself stays usable for other commands, but no longer owns SOL.
    assert.equal((await dead.request(0x06, 0x01, [])).completionCode, 0);
    assert.equal((await dead.request(0x06, 0x49, ACTIVATE)).completionCode, 0, 'same account may deactivate');
    await waitFor(() => bmc.server.sol!.activeSessionId === null);
    for (const c of [dead, other, fresh]) await closeSession(c);
  });

  test('deactivation by another session needs ADMIN; the owner is told "SOL deactivating"', async () => {
    const owner = await connect();
    const viewer = await connect(READONLY, 17, 2);
    const admin = await connect();
    assert.equal((await owner.request(0x06, 0x48, ACTIVATE)).completionCode, 0);
    assert.equal((await viewer.request(0x06, 0x49, ACTIVATE)).completionCode, 0xd4);
    assert.equal(bmc.server.sol!.activeSessionId, owner.bmcSessionId);
    const notice = new Promise<Buffer>((resolve) => owner.socket.once('message', (m) => resolve(m)));
    assert.equal((await admin.request(0x06, 0x49, ACTIVATE)).completionCode, 0);
    const pkt = await notice;
    const h = decodeRmcpPlusHeader(pkt)!;
    const sol = decodeSol(openSessionPacket(owner.keys, h, pkt)!)!;
    assert.equal(sol.flags & 0x10, 0x10, 'SOL deactivating');
    assert.equal(bmc.server.sol!.activeSessionId, null);
    for (const c of [owner, viewer, admin]) await closeSession(c);
  });

  test('refusals: bad lengths and types, payload disabled, no encryption; nothing changes', async () => {
    const c = await connect();
    assert.equal((await c.request(0x06, 0x48, [0x01, 0x01])).completionCode, 0xc7);
    assert.equal((await c.request(0x06, 0x48, [0x02, 0x01, 0, 0, 0, 0])).completionCode, 0xcc);
    assert.equal((await c.request(0x06, 0x48, [0x01, 0x02, 0, 0, 0, 0])).completionCode, 0xcc);
    assert.equal((await c.request(0x0c, 0x21, [0x0e, 0x01, 0x00])).completionCode, 0);
    assert.equal((await c.request(0x06, 0x48, ACTIVATE)).completionCode, 0x81, 'disabled');
    assert.equal((await c.request(0x0c, 0x21, [0x0e, 0x01, 0x01])).completionCode, 0);
    const plain = await connect(ADMIN, 16);
    assert.equal(
      (await plain.request(0x06, 0x48, ACTIVATE)).completionCode,
      0x84,
      'suite 16 has no encryption',
    );
    assert.equal(bmc.server.sol!.activeSessionId, null);
    const viewer = await connect(READONLY, 17, 2);
    assert.equal((await viewer.request(0x06, 0x48, ACTIVATE)).completionCode, 0xd4, 'SOL needs OPERATOR');
    assert.equal(
      (await viewer.request(0x0c, 0x21, [0x0e, 0x01, 0x00])).completionCode,
      0xd4,
      'Set SOL config is ADMIN',
    );
    assert.equal(bmc.server.sol!.config.enabled, true);
    const get = await viewer.request(0x0c, 0x22, [0x0e, 0x01, 0x00, 0x00]);
    assert.deepEqual([get.completionCode, ...get.data], [0, 0x11, 0x01]);
    assert.deepEqual(
      [...(await viewer.request(0x0c, 0x22, [0x8e, 0x01, 0x00, 0x00])).data],
      [0x11],
      'revision only',
    );
    assert.equal((await viewer.request(0x0c, 0x22, [0x0e, 0x30, 0x00, 0x00])).completionCode, 0x80);
    for (const s of [c, plain, viewer]) await closeSession(s);
  });

  test('a machine without a serial console: Activate Payload 0x81, nothing stays active', async () => {
    const c = await connect();
    const open = bmc.machine.openConsole;
    bmc.machine.openConsole = async () => {
      throw new NotSupportedError('This VM has no serial console (autoattachSerialConsole is false).');
    };
    try {
      assert.equal((await c.request(0x06, 0x48, ACTIVATE)).completionCode, 0x81);
      assert.equal(bmc.server.sol!.activeSessionId, null);
      assert.deepEqual([...(await c.request(0x06, 0x4a, [0x01])).data], [0x01, 0x00, 0x00]);
    } finally {
      bmc.machine.openConsole = open;
    }
    await closeSession(c);
  });

  test('sol: false turns SOL off (payload support without SOL, Activate Payload 0xC1)', async () => {
    const off = await startTestBmc({ server: { sol: false } });
    try {
      const c = await RmcpPlusClient.connect(off.port, {
        username: ADMIN.username,
        password: ADMIN.password,
        suite: 17,
      });
      clients.push(c);
      assert.equal((await c.request(0x06, 0x4e, [0x0e])).data[0], 0x01);
      assert.equal((await c.request(0x06, 0x48, ACTIVATE)).completionCode, 0xc1);
    } finally {
      await off.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeRmcpPlusHeader,
  encodeSessionPacket,
  openSessionPacket,
} from '../../../src/ipmi/codec/rmcpplus.ts';
import { randomIv } from '../../../src/ipmi/crypto/packet.ts';
import { ADMIN, startTestBmc } from '../../support/ipmi-bmc.ts';
import { RmcpPlusClient } from '../../support/ipmi-client.ts';
import { waitFor } from '../../support/wait.ts';

// The seam SOL (payload type 1) will use: a payload handler, commands of its own, close listeners.
test('a payload type and commands can be added without touching the session layer', async () => {
  const bmc = await startTestBmc();
  const closed: string[] = [];
  bmc.server.registerPayload(1, (session, payload, sender) => {
    if (!session.closeListeners.length) session.closeListeners.push((reason) => closed.push(reason));
    sender.send(session, 1, Buffer.from(payload).reverse());
  });
  bmc.server.registerCommand({
    netFn: 0x06,
    cmd: 0x48,
    name: 'Activate Payload (test)',
    privilege: 2,
    handler: (_req, ctx) => ({
      cc: 0,
      data: Uint8Array.from([ctx.port() & 0xff, ctx.port() >> 8, ctx.session?.id === undefined ? 0 : 1]),
    }),
  });
  assert.throws(() => bmc.server.registerPayload(0, () => {}), /reserved/);
  const c = await RmcpPlusClient.connect(bmc.port, {
    username: ADMIN.username,
    password: ADMIN.password,
    suite: 17,
  });
  try {
    const act = await c.request(0x06, 0x48, [1, 1, 0xc0, 0, 0, 0]);
    assert.deepEqual([...act.data], [bmc.port & 0xff, bmc.port >> 8, 1]);
    const pkt = encodeSessionPacket(
      c.keys,
      1,
      c.bmcSessionId,
      c.seq++,
      Buffer.from([1, 0, 0, 0, 0x41, 0x42]),
      randomIv(),
    );
    const reply = await c.exchange(pkt);
    assert.ok(reply);
    const h = decodeRmcpPlusHeader(reply)!;
    assert.equal(h.payloadType, 1);
    assert.equal(h.encrypted && h.authenticated, true, 'protected like every in-session packet');
    assert.deepEqual([...openSessionPacket(c.keys, h, reply)!], [0x42, 0x41, 0, 0, 0, 1]);
    await c.request(0x06, 0x3c, [...Buffer.from(new Uint32Array([c.bmcSessionId]).buffer)]);
    await waitFor(() => closed.length === 1);
    assert.deepEqual(closed, ['closed by console']);
  } finally {
    c.close();
    await bmc.stop();
  }
});

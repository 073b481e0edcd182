import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Subscriber, startSubscriber } from '../../support/redfish-events.ts';
import { ADMIN, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { runCommand } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Event destinations as an attacker with Operator rights would try them, with curl: every other
 * spelling of the BMC's own address is refused (400, DMTF error, nothing created), loopback and
 * cloud metadata are refused by default, a management-network address is accepted, a loopback
 * receiver on another port gets its events once the administrator allows it, and a name that is
 * pointed at a refused address after the subscription was made is refused at delivery.
 */
const SUBS = '/redfish/v1/EventService/Subscriptions';

async function curlSubscribe(
  fx: RedfishFixture,
  destination: string,
): Promise<{ status: number; body: { error?: { '@Message.ExtendedInfo': Record<string, string>[] } } }> {
  const r = await runCommand(
    'curl',
    [
      '-sS',
      '--max-time',
      '20',
      '-u',
      `${ADMIN.username}:${ADMIN.password}`,
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify({ Destination: destination, Protocol: 'Redfish' }),
      '-w',
      '\n%{http_code}',
      `${fx.url}${SUBS}`,
    ],
    { timeoutMs: 30_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const cut = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, cut);
  return { status: Number(r.stdout.slice(cut + 1)), body: text ? JSON.parse(text) : {} };
}

/** Other spellings of 127.0.0.1 / the local host, each with the BMC's own port. */
const SELF_FORMS = [
  '[::ffff:127.0.0.1]',
  '[0:0:0:0:0:ffff:7f00:1]',
  '[::ffff:7f00:1]',
  '2130706433',
  '0177.0.0.1',
  '0x7f.0.0.1',
  '0x7f000001',
  '127.1',
  'localhost.',
  'bmc.localhost',
  '127.0.0.2',
  '[::1]',
  '[::]',
  '0.0.0.0',
  '[::127.0.0.1]',
  '[::ffff:0:7f00:1]',
];

async function expectRefused(fx: RedfishFixture, destination: string, resolution: RegExp): Promise<void> {
  const r = await curlSubscribe(fx, destination);
  assert.equal(r.status, 400, destination);
  const info = r.body.error!['@Message.ExtendedInfo'][0]!;
  assert.match(info.MessageId!, /^Base\.1\.\d+\.PropertyValueFormatError$/, destination);
  assert.deepEqual(info.RelatedProperties, ['#/Destination']);
  assert.match(info.Resolution!, resolution, destination);
}

describe('default destination policy', () => {
  let fx: RedfishFixture;
  let receiver: Subscriber;
  before(async () => {
    // `destinations: {}`: the defaults, not the loopback allowance the test fixture adds.
    fx = await startRedfish({ server: { events: { destinations: {} } } });
    receiver = await startSubscriber();
  });
  after(async () => {
    await receiver?.close();
    await fx?.close();
  });

  test('every spelling of the BMC itself is refused with 400 and nothing is created', async () => {
    for (const host of SELF_FORMS) {
      await expectRefused(fx, `http://${host}:${fx.port}/redfish/v1/`, /this Redfish service itself/);
    }
    assert.equal((await fx.request('GET', SUBS)).json['Members@odata.count'], 0);
  });

  test('loopback receivers and cloud metadata are refused; a management-network address is accepted', async () => {
    await expectRefused(fx, receiver.url, /loopback addresses \(127\.0\.0\.1\).*--event-destination-allow/);
    await expectRefused(fx, receiver.url.replace('127.0.0.1', '[::ffff:127.0.0.1]'), /loopback/);
    await expectRefused(fx, 'http://169.254.169.254/latest/meta-data/', /cloud metadata/);
    await expectRefused(fx, 'http://[::ffff:a9fe:a9fe]/latest/meta-data/', /cloud metadata/);
    await expectRefused(fx, 'http://0xa9fea9fe/latest/meta-data/', /cloud metadata/);
    assert.equal((await fx.request('GET', SUBS)).json['Members@odata.count'], 0);
    const ok = await curlSubscribe(fx, 'http://10.20.30.40:8080/events');
    assert.equal(ok.status, 201, 'private ranges stay allowed');
    const list = await fx.request('GET', SUBS);
    assert.equal(list.json['Members@odata.count'], 1);
    assert.equal((await fx.request('DELETE', list.json.Members[0]['@odata.id'])).status, 204);
  });
});

describe('loopback allowed by the administrator', () => {
  let fx: RedfishFixture;
  let receiver: Subscriber;
  before(async () => {
    receiver = await startSubscriber();
    fx = await startRedfish({ server: { events: { destinations: { allow: ['127.0.0.0/8', '::1/128'] } } } });
  });
  after(async () => {
    await receiver?.close();
    await fx?.close();
  });

  test('the BMC itself stays refused in every spelling', async () => {
    for (const host of SELF_FORMS) {
      await expectRefused(fx, `http://${host}:${fx.port}/redfish/v1/`, /this Redfish service itself/);
    }
    assert.equal((await fx.request('GET', SUBS)).json['Members@odata.count'], 0);
  });

  test('a 127.0.0.1 receiver on another port gets the events', async () => {
    const r = await curlSubscribe(fx, receiver.url);
    assert.equal(r.status, 201);
    await fx.machine.power('On');
    await waitFor(() => receiver.received.length >= 1, {
      timeoutMs: 10_000,
      what: 'an event at the receiver',
    });
    assert.equal(receiver.received[0]!.body['@odata.type'], '#Event.v1_13_0.Event');
  });
});

test('a name pointed at a refused address after subscribing is refused at delivery and suspended', async () => {
  const receiver = await startSubscriber();
  const port = Number(new URL(receiver.url).port);
  // The name resolves to a management-network address when the subscription is made, then to
  // the loopback receiver (DNS rebinding).
  let lookups = 0;
  const fx = await startRedfish({
    server: {
      events: {
        destinations: {
          lookup: async (name) => {
            assert.equal(name, 'receiver.rebind.test');
            lookups++;
            return lookups === 1 ? ['10.20.30.40'] : ['::ffff:127.0.0.1'];
          },
        },
      },
    },
  });
  try {
    const r = await curlSubscribe(fx, `http://receiver.rebind.test:${port}/events`);
    assert.equal(r.status, 201);
    const uri = (await fx.request('GET', SUBS)).json.Members[0]['@odata.id'] as string;
    await fx.machine.power('On');
    await waitFor(async () => (await fx.request('GET', uri)).json.Status.State === 'Disabled', {
      timeoutMs: 10_000,
      what: 'the subscription suspended',
    });
    const s = (await fx.request('GET', uri)).json;
    assert.equal(s.Oem.KubeVirt.FailedDeliveryAttempts, 1, 'refused at once, not retried');
    assert.equal(s.Oem.KubeVirt.DeliveredEvents, 0);
    assert.equal(receiver.attempts, 0, 'nothing reached the loopback receiver');
    assert.ok(lookups >= 2, 'resolved again at delivery');
  } finally {
    await fx.close();
    await receiver.close();
  }
});

import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { isLocalAddress } from '../../../src/redfish/events/destination.ts';
import { MemorySubscriptionStore, type StoredSubscription } from '../../../src/redfish/events/store.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { openSse, type Subscriber, startSubscriber } from '../../support/redfish-events.ts';
import { ADMIN, OPERATOR, READER, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { selfSignedCert } from '../../support/redfish-tls.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The subscription API as a client sees it: validation with DMTF messages and no change on bad
 * input, who may subscribe and change what, write-only headers, refused destinations, the
 * EventService settings, SubmitTestEvent, SSE refusals and the store.
 */
const SUBS = '/redfish/v1/EventService/Subscriptions';
const ids = (r: { json: { error: { '@Message.ExtendedInfo': { MessageId: string }[] } } }) =>
  r.json.error['@Message.ExtendedInfo'].map((i) => i.MessageId.split('.').pop());

describe('subscriptions API', () => {
  let fx: RedfishFixture;
  let subscriber: Subscriber;
  before(async () => {
    fx = await startRedfish();
    subscriber = await startSubscriber();
  });
  after(async () => {
    await subscriber?.close();
    await fx?.close();
  });
  const count = async () => (await fx.request('GET', SUBS)).json['Members@odata.count'] as number;

  test('bad bodies are 400 with the right messages, and nothing is created', async () => {
    const cases: [unknown, string[]][] = [
      [{ Protocol: 'Redfish' }, ['PropertyMissing']],
      [{ Destination: subscriber.url }, ['PropertyMissing']],
      [{ Destination: subscriber.url, Protocol: 'FTP' }, ['PropertyValueNotInList']],
      [{ Destination: 'ftp://127.0.0.1/x', Protocol: 'Redfish' }, ['PropertyValueFormatError']],
      [{ Destination: 'not a url', Protocol: 'Redfish' }, ['PropertyValueFormatError']],
      [{ Destination: 'http://user:pw@127.0.0.1:9/x', Protocol: 'Redfish' }, ['PropertyValueFormatError']],
      [
        { Destination: subscriber.url, Protocol: 'Redfish', RegistryPrefixes: ['Nope'] },
        ['PropertyValueNotInList'],
      ],
      [
        { Destination: subscriber.url, Protocol: 'Redfish', ResourceTypes: 'ComputerSystem' },
        ['PropertyValueTypeError'],
      ],
      [
        { Destination: subscriber.url, Protocol: 'Redfish', OriginResources: [{ '@odata.id': 'x' }] },
        ['PropertyValueFormatError'],
      ],
      [{ Destination: subscriber.url, Protocol: 'Redfish', Context: 7 }, ['PropertyValueTypeError']],
      [
        { Destination: subscriber.url, Protocol: 'Redfish', Context: 'x'.repeat(300) },
        ['StringValueTooLong'],
      ],
      [
        { Destination: subscriber.url, Protocol: 'Redfish', HttpHeaders: [{ 'Content-Length': '1' }] },
        ['PropertyValueFormatError'],
      ],
      [
        { Destination: subscriber.url, Protocol: 'Redfish', HttpHeaders: [{ X: 'a\r\nb' }] },
        ['PropertyValueFormatError'],
      ],
      [
        { Destination: subscriber.url, Protocol: 'Redfish', SubscriptionType: 'SSE' },
        ['PropertyValueNotInList'],
      ],
      [
        { Destination: subscriber.url, Protocol: 'Redfish', DeliveryRetryPolicy: 'Sometimes' },
        ['PropertyValueNotInList'],
      ],
      [{ Destination: subscriber.url, Protocol: 'Redfish', Id: '5' }, ['PropertyNotWritable']],
      [{ Destination: subscriber.url, Protocol: 'Redfish', Bogus: 1 }, ['PropertyUnknown']],
    ];
    for (const [json, expected] of cases) {
      const r = await fx.request('POST', SUBS, { json });
      assert.equal(r.status, 400, JSON.stringify(json));
      assert.deepEqual(ids(r), expected, JSON.stringify(json));
      assert.ok(!r.text.includes('a\\r\\nb') && !r.text.includes(':pw@'), 'secrets are not echoed');
    }
    assert.equal(await count(), 0);
  });

  test('the service refuses its own listener as a destination', async () => {
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      const r = await fx.request('POST', SUBS, {
        json: { Destination: `http://${host}:${fx.port}/redfish/v1/`, Protocol: 'Redfish' },
      });
      assert.equal(r.status, 400, host);
      assert.match(r.json.error['@Message.ExtendedInfo'][0].Resolution, /this Redfish service itself/);
    }
    assert.equal(await count(), 0);
  });

  test('who may subscribe: not anonymous, not ReadOnly; operators and administrators may', async () => {
    const body = { Destination: subscriber.url, Protocol: 'Redfish' };
    assert.equal((await fx.request('POST', SUBS, { json: body, auth: null })).status, 401);
    assert.equal((await fx.request('POST', SUBS, { json: body, auth: READER })).status, 403);
    assert.equal((await fx.request('GET', SUBS, { auth: null })).status, 401);
    const sse = await openSse(fx.port, '/redfish/v1/EventService/SSE', READER);
    assert.equal(sse.status, 403);
    assert.equal(await count(), 0);
    const mine = await fx.request('POST', SUBS, { json: body, auth: OPERATOR });
    assert.equal(mine.status, 201);
    const admins = await fx.request('POST', SUBS, { json: body });
    assert.equal(admins.status, 201);
    // An operator changes their own subscription, not an administrator's; an administrator any.
    const own = mine.headers.location!;
    const other = admins.headers.location!;
    assert.equal((await fx.request('PATCH', own, { json: { Context: 'mine' }, auth: OPERATOR })).status, 200);
    assert.equal((await fx.request('PATCH', other, { json: { Context: 'x' }, auth: OPERATOR })).status, 403);
    assert.equal((await fx.request('DELETE', other, { auth: OPERATOR })).status, 403);
    assert.equal((await fx.request('DELETE', own, { auth: READER })).status, 403);
    assert.equal((await fx.request('DELETE', own)).status, 204);
    assert.equal((await fx.request('DELETE', other, { auth: OPERATOR })).status, 403);
    assert.equal((await fx.request('DELETE', other)).status, 204);
    assert.equal((await fx.request('DELETE', other)).status, 404);
  });

  test('HttpHeaders are write-only; PATCH changes Context, not Destination', async () => {
    const r = await fx.request('POST', SUBS, {
      json: {
        Destination: subscriber.url,
        Protocol: 'Redfish',
        Context: 'one',
        HttpHeaders: [{ Authorization: 'Bearer top-secret', 'X-Extra': 'also-secret' }],
      },
    });
    assert.equal(r.status, 201);
    const uri = r.headers.location!;
    const texts = [
      r.text,
      (await fx.request('GET', uri)).text,
      (await fx.request('GET', `${SUBS}?$expand=*`)).text,
    ];
    for (const t of texts) assert.ok(!t.includes('secret'), t);
    assert.deepEqual((await fx.request('GET', uri)).json.HttpHeaders, []);
    const p = await fx.request('PATCH', uri, { json: { Context: 'two' } });
    assert.equal(p.status, 200);
    assert.equal(p.json.Context, 'two');
    const d = await fx.request('PATCH', uri, { json: { Destination: 'http://127.0.0.1:1/' } });
    assert.equal(d.status, 400);
    assert.deepEqual(ids(d), ['PropertyNotWritable']);
    assert.equal((await fx.request('GET', uri)).json.Destination, subscriber.url);
    // The headers are sent (a test event shows it), and the new Context with them.
    const t = await fx.request('POST', '/redfish/v1/EventService/Actions/EventService.SubmitTestEvent', {
      json: { MessageId: 'ResourceEvent.1.4.TestMessage' },
    });
    assert.equal(t.status, 204);
    await waitFor(() => subscriber.received.length >= 1);
    const got = subscriber.received.at(-1)!;
    assert.equal(got.headers.authorization, 'Bearer top-secret');
    assert.equal(got.headers['x-extra'], 'also-secret');
    assert.equal(got.body.Context, 'two');
    assert.equal((await fx.request('DELETE', uri)).status, 204);
  });

  test('SubmitTestEvent validates its parameters; only administrators may send one', async () => {
    const url = '/redfish/v1/EventService/Actions/EventService.SubmitTestEvent';
    assert.deepEqual(ids(await fx.request('POST', url, { json: {} })), ['ActionParameterMissing']);
    assert.deepEqual(ids(await fx.request('POST', url, { json: { MessageId: 5 } })), [
      'ActionParameterValueTypeError',
    ]);
    assert.deepEqual(ids(await fx.request('POST', url, { json: { MessageId: 'A.B', Severity: 'Bad' } })), [
      'ActionParameterValueNotInList',
    ]);
    assert.deepEqual(
      ids(await fx.request('POST', url, { json: { MessageId: 'A.B', EventTimestamp: 'yesterday' } })),
      ['ActionParameterValueFormatError'],
    );
    assert.deepEqual(ids(await fx.request('POST', url, { json: { MessageId: 'A.B', Nope: 1 } })), [
      'ActionParameterUnknown',
    ]);
    assert.equal((await fx.request('POST', url, { json: { MessageId: 'A.B' }, auth: OPERATOR })).status, 403);
  });

  test('EventService settings: administrators PATCH retry settings and ServiceEnabled; bad values are 400', async () => {
    const es = '/redfish/v1/EventService';
    assert.equal(
      (await fx.request('PATCH', es, { json: { DeliveryRetryAttempts: 5 }, auth: OPERATOR })).status,
      403,
    );
    assert.deepEqual(ids(await fx.request('PATCH', es, { json: { DeliveryRetryAttempts: 99 } })), [
      'PropertyValueOutOfRange',
    ]);
    assert.deepEqual(ids(await fx.request('PATCH', es, { json: { DeliveryRetryIntervalSeconds: 'x' } })), [
      'PropertyValueTypeError',
    ]);
    assert.deepEqual(ids(await fx.request('PATCH', es, { json: { ServerSentEventUri: '/x' } })), [
      'PropertyNotWritable',
    ]);
    const ok = await fx.request('PATCH', es, {
      json: { DeliveryRetryAttempts: 5, DeliveryRetryIntervalSeconds: 7 },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.DeliveryRetryAttempts, 5);
    assert.equal(ok.json.DeliveryRetryIntervalSeconds, 7);
    // Disabled: SSE refused with ServiceDisabled, open streams end, nothing is published.
    const stream = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN);
    assert.equal((await fx.request('PATCH', es, { json: { ServiceEnabled: false } })).status, 200);
    await waitFor(() => stream.ended, { what: 'the open stream to end' });
    const refused = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN);
    assert.equal(refused.status, 503);
    assert.match(refused.text ?? '', /ServiceDisabled/);
    assert.equal((await fx.request('PATCH', es, { json: { ServiceEnabled: true } })).status, 200);
  });

  test('SSE refuses a JSON-only Accept with a JSON error (406) and unknown $ options (501)', async () => {
    const json = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN, {
      Accept: 'application/json',
    });
    assert.equal(json.status, 406);
    assert.match(String(json.headers['content-type']), /application\/json/);
    assert.ok(JSON.parse(json.text ?? '{}').error);
    const top = await openSse(fx.port, '/redfish/v1/EventService/SSE?$top=1', ADMIN);
    assert.equal(top.status, 501);
  });
});

test('an SSE stream carries heartbeat comments while nothing happens', async () => {
  const fx = await startRedfish({ server: { events: { sseHeartbeatSeconds: 0.05 } } });
  try {
    const stream = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN);
    assert.equal(stream.status, 200);
    await waitFor(() => stream.comments.filter((c) => c === 'heartbeat').length >= 2, { what: 'heartbeats' });
    assert.equal(stream.messages.length, 0);
    stream.close();
  } finally {
    await fx.close();
  }
});

test('a resume older than the buffer starts with Base EventBufferExceeded, then what is left', async () => {
  const fx = await startRedfish({
    machine: { timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0 } },
    server: { events: { bufferSize: 3 } },
  });
  try {
    const live = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN);
    await fx.machine.power('On');
    await fx.machine.power('ForceOff');
    await waitFor(() => live.messages.length >= 6, { what: 'six events' });
    live.close();
    const first = live.messages[0]!.id!;
    const resumed = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN, { 'Last-Event-ID': first });
    await waitFor(() => resumed.messages.length >= 4, { what: 'the notice and the replay' });
    assert.equal(resumed.messages[0]!.id, null, 'the notice has no id');
    assert.equal(resumed.messages[0]!.data.Events[0].MessageId, 'Base.1.22.EventBufferExceeded');
    assert.deepEqual(
      resumed.messages.slice(1).map((m) => m.id),
      live.messages.slice(3).map((m) => m.id),
    );
    // A resume within the buffer has no notice.
    const exact = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN, {
      'Last-Event-ID': live.messages[3]!.id!,
    });
    await waitFor(() => exact.messages.length >= 2, { what: 'the replay' });
    assert.ok(exact.messages.every((m) => m.id !== null));
    resumed.close();
    exact.close();
  } finally {
    await fx.close();
  }
});

test('aggregate mode: events name each system by its id, and OriginResources selects one', async () => {
  const fx = await startRedfish({
    aggregate: [
      { identity: { namespace: 'ns1', name: 'a' }, timings: { powerOnMs: 0 } },
      { identity: { namespace: 'ns1', name: 'b' }, timings: { powerOnMs: 0 } },
    ],
  });
  const subscriber = await startSubscriber();
  try {
    const r = await fx.request('POST', SUBS, {
      json: {
        Destination: subscriber.url,
        Protocol: 'Redfish',
        OriginResources: [{ '@odata.id': '/redfish/v1/Systems/ns1.b' }],
      },
    });
    assert.equal(r.status, 201);
    await fx.machines[0]!.power('On');
    await fx.machines[1]!.power('On');
    await waitFor(() => subscriber.received.length >= 3, { what: 'events of b' });
    const origins = new Set(subscriber.received.map((x) => x.body.Events[0].OriginOfCondition['@odata.id']));
    assert.deepEqual([...origins], ['/redfish/v1/Systems/ns1.b']);
    assert.deepEqual(subscriber.received[0]!.body.Events[0].MessageArgs, ['/redfish/v1/Systems/ns1.b']);
  } finally {
    await subscriber.close();
    await fx.close();
  }
});

test('aggregate mode: a machine that joins while the service runs has its events delivered too', async () => {
  const fx = await startRedfish({
    aggregate: [{ identity: { namespace: 'ns1', name: 'a' }, timings: { powerOnMs: 0 } }],
  });
  const subscriber = await startSubscriber();
  const late = new MemoryMachine({
    identity: { namespace: 'ns1', name: 'late' },
    timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0 },
  });
  try {
    const r = await fx.request('POST', SUBS, { json: { Destination: subscriber.url, Protocol: 'Redfish' } });
    assert.equal(r.status, 201);
    fx.machines.push(late);
    assert.equal((await fx.request('GET', '/redfish/v1/Systems/ns1.late')).status, 200);
    // The event service looks at the list of machines once a second: power the machine on and off
    // until one of its events arrives (no fixed sleep, so a busy machine does not fail the test).
    const joined = () =>
      subscriber.received.some(
        (x) => x.body.Events[0].OriginOfCondition['@odata.id'] === '/redfish/v1/Systems/ns1.late',
      );
    await waitFor(
      async () => {
        await late.power(late.getPowerState() === 'On' ? 'ForceOff' : 'On');
        await new Promise((res) => setTimeout(res, 250));
        return joined();
      },
      { what: 'an event of the machine that joined', timeoutMs: 15_000 },
    );
  } finally {
    await subscriber.close();
    await fx.close();
  }
});

test('https destinations: delivered without certificate checks by default; VerifyCertificate refuses a self-signed one', async () => {
  const tlsSubscriber = await startSubscriber({ tls: selfSignedCert() });
  const fx = await startRedfish({
    machine: { timings: { powerOnMs: 0 } },
    server: { events: { deliveryRetryAttempts: 0, deliveryRetryIntervalSeconds: 0 } },
  });
  try {
    const lax = await fx.request('POST', SUBS, {
      json: { Destination: tlsSubscriber.url, Protocol: 'Redfish' },
    });
    const strict = await fx.request('POST', SUBS, {
      json: {
        Destination: tlsSubscriber.url,
        Protocol: 'Redfish',
        VerifyCertificate: true,
        Context: 'strict',
      },
    });
    assert.equal(lax.status, 201);
    assert.equal(strict.status, 201);
    await fx.machine.power('On');
    await waitFor(() => tlsSubscriber.received.length >= 3, { what: 'delivery over https' });
    await waitFor(
      async () => (await fx.request('GET', strict.headers.location!)).json.Status.State === 'Disabled',
      {
        what: 'the verifying subscription to give up',
      },
    );
    assert.ok(tlsSubscriber.received.every((r) => r.body.Context !== 'strict'));
    assert.equal((await fx.request('GET', lax.headers.location!)).json.Status.State, 'Enabled');
  } finally {
    await fx.close();
    await tlsSubscriber.close();
  }
});

describe('the subscription store', () => {
  test('a failed save is 503 and changes nothing; a restart with the same store keeps subscriptions', async () => {
    const store = new MemorySubscriptionStore();
    let failSaves = true;
    const flaky = {
      load: () => store.load(),
      save: async (s: readonly StoredSubscription[]) => {
        if (failSaves) throw new Error('cluster unreachable');
        return store.save(s);
      },
    };
    const subscriber = await startSubscriber();
    const first = await startRedfish({ server: { subscriptionStore: flaky } });
    try {
      const body = { Destination: subscriber.url, Protocol: 'Redfish', Context: 'kept' };
      const r = await first.request('POST', SUBS, { json: body });
      assert.equal(r.status, 503);
      assert.equal((await first.request('GET', SUBS)).json['Members@odata.count'], 0);
      failSaves = false;
      assert.equal((await first.request('POST', SUBS, { json: body })).status, 201);
    } finally {
      await first.close();
    }
    const second = await startRedfish({ server: { subscriptionStore: flaky } });
    try {
      const list = await second.request('GET', SUBS);
      assert.equal(list.json['Members@odata.count'], 1);
      const s = await second.request('GET', list.json.Members[0]['@odata.id']);
      assert.equal(s.json.Context, 'kept');
      await second.machine.power('On');
      await waitFor(() => subscriber.received.length >= 1, { what: 'delivery after restart' });
    } finally {
      await second.close();
      await subscriber.close();
    }
  });

  test('a destination whose name resolves to the service itself is refused when subscribing', async (t) => {
    // Names are resolved at creation (every address must pass) and again at every delivery (see
    // test/interop/redfish-events/destinations.test.ts for a name re-pointed after creation).
    const name = hostname();
    const address = await lookup(name).then(
      (a) => a.address,
      () => null,
    );
    if (!address || !isLocalAddress(address)) {
      t.skip(`${name} does not resolve to a local address here`);
      return;
    }
    const fx = await startRedfish();
    try {
      const r = await fx.request('POST', SUBS, {
        json: { Destination: `http://${name}:${fx.port}/redfish/v1/`, Protocol: 'Redfish' },
      });
      assert.equal(r.status, 400);
      assert.match(r.json.error['@Message.ExtendedInfo'][0].Resolution, /this Redfish service itself/);
      assert.equal((await fx.request('GET', SUBS)).json['Members@odata.count'], 0);
    } finally {
      await fx.close();
    }
  });
});

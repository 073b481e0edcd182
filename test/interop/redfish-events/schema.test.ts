import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openSse, type SseClient, type Subscriber, startSubscriber } from '../../support/redfish-events.ts';
import { SchemaValidator } from '../../support/redfish-schemas.ts';
import { ADMIN, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * EventService, EventDestination (push and SSE), their collection and every kind of Event payload
 * this service sends, validated against the DMTF JSON schemas (DSP8010 2025.4, in test/fixtures/redfish/).
 */
let v: SchemaValidator;
let fx: RedfishFixture;
let subscriber: Subscriber;
let sse: SseClient;

before(async () => {
  v = SchemaValidator.open();
  fx = await startRedfish({
    machine: { timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 10 } },
  });
  subscriber = await startSubscriber();
  sse = await openSse(fx.port, '/redfish/v1/EventService/SSE?$filter=EventFormatType%20eq%20Event', ADMIN);
});
after(async () => {
  sse?.close();
  await subscriber?.close();
  await fx?.close();
});

function valid(payload: Record<string, unknown>, what: string): void {
  assert.deepEqual(v.validate(payload), [], `${what}: ${JSON.stringify(payload).slice(0, 400)}`);
}

test('EventService, EventDestinations and the collection validate', async () => {
  const created = await fx.request('POST', '/redfish/v1/EventService/Subscriptions', {
    json: {
      Destination: subscriber.url,
      Protocol: 'Redfish',
      Context: 'schema',
      RegistryPrefixes: ['ResourceEvent', 'TaskEvent'],
      ResourceTypes: ['ComputerSystem', 'VirtualMedia', 'Task'],
      OriginResources: [
        { '@odata.id': '/redfish/v1/Systems/1' },
        { '@odata.id': '/redfish/v1/TaskService/Tasks' },
      ],
      SubordinateResources: true,
      HttpHeaders: [{ Authorization: 'Bearer x' }],
      DeliveryRetryPolicy: 'SuspendRetries',
    },
  });
  assert.equal(created.status, 201);
  valid(created.json, 'POST response');
  for (const uri of ['/redfish/v1/EventService', '/redfish/v1/EventService/Subscriptions']) {
    const r = await fx.request('GET', uri);
    assert.equal(r.status, 200);
    valid(r.json, uri);
  }
  const members: { '@odata.id': string }[] = (
    await fx.request('GET', '/redfish/v1/EventService/Subscriptions')
  ).json.Members;
  assert.equal(members.length, 2, 'the push subscription and the SSE stream');
  for (const m of members) {
    const r = await fx.request('GET', m['@odata.id']);
    valid(r.json, m['@odata.id']);
  }
});

test('every kind of Event payload validates (push and SSE)', async () => {
  const m = fx.machine;
  await m.power('On');
  await m.setBootOverride({ target: 'Pxe' });
  await m.setSecureBoot(true);
  const ins = await fx.request(
    'POST',
    '/redfish/v1/Systems/1/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia',
    {
      json: { Image: 'http://images.example/a.iso' },
    },
  );
  assert.equal(ins.status, 202);
  await waitFor(() => m.getMediaSlots()[0]!.state === 'Inserted');
  await m.ejectMedia('Cd');
  await fx.request('POST', '/redfish/v1/Systems/1/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia', {
    json: { Image: 'http://x.invalid/a.iso' },
  });
  await waitFor(() => m.getMediaSlots()[0]!.state === 'Failed');
  const test = await fx.request('POST', '/redfish/v1/EventService/Actions/EventService.SubmitTestEvent', {
    json: {
      MessageId: 'ResourceEvent.1.4.TestMessage',
      EventTimestamp: '2026-01-02T03:04:05Z',
      OriginOfCondition: '/redfish/v1/Systems/1',
      Severity: 'OK',
      EventType: 'Alert',
      MessageArgs: [],
      Message: 'Test message.',
      EventId: 'ignored',
    },
  });
  assert.equal(test.status, 204);
  await waitFor(() => sse.messages.some((x) => x.data.Events[0].MessageId.endsWith('TestMessage')), {
    what: 'test event',
  });
  const kinds = new Set(sse.messages.map((x) => x.data.Events[0].MessageId));
  for (const id of [
    'ResourceEvent.1.4.ResourcePoweredOn',
    'ResourceEvent.1.4.ResourceStateChanged',
    'ResourceEvent.1.4.ResourceChanged',
    'ResourceEvent.1.4.ResourceStatusChangedCritical',
    'TaskEvent.1.0.TaskCompletedOK',
    'TaskEvent.1.0.TaskAborted',
    'ResourceEvent.1.4.TestMessage',
  ]) {
    assert.ok(kinds.has(id), `${id} was sent`);
  }
  for (const x of sse.messages) valid(x.data, `SSE ${x.data.Events[0].MessageId}`);
  await waitFor(() => subscriber.received.length >= 5, { what: 'pushed events' });
  for (const r of subscriber.received) valid(r.body, `POST ${r.body.Events[0].MessageId}`);
  const t = sse.messages.find((x) => x.data.Events[0].MessageId.endsWith('TestMessage'))!.data.Events[0];
  assert.equal(t.EventTimestamp, '2026-01-02T03:04:05Z', 'the given timestamp is kept');
  assert.notEqual(t.EventId, 'ignored', 'the service numbers events itself');
});

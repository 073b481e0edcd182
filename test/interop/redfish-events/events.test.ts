import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { missingClients } from '../../support/clients.ts';
import { pythonLines } from '../../support/redfish-clients.ts';
import {
  messageIds,
  openSse,
  type SseClient,
  type Subscriber,
  startSubscriber,
} from '../../support/redfish-events.ts';
import { ADMIN, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * python3-sushy (Ironic's Redfish library) subscribes through its EventService API and changes the
 * machine; a subscriber on 127.0.0.1 and a plain-HTTP SSE client both receive the same events, in
 * order; the SSE client resumes with Last-Event-ID and filters with $filter.
 */
const skip = missingClients('sushy');
const EVENTS_PY = fileURLToPath(new URL('./sushy_events.py', import.meta.url));
const IRONIC_PY = fileURLToPath(new URL('../redfish/sushy_ironic.py', import.meta.url));

const events = (fx: RedfishFixture, ops: object[]) =>
  pythonLines(EVENTS_PY, [fx.url, ADMIN.username, ADMIN.password, JSON.stringify(ops)]);
const ironic = (fx: RedfishFixture, ops: object[]) =>
  pythonLines(IRONIC_PY, [fx.url, ADMIN.username, ADMIN.password, 'session', JSON.stringify(ops)]);

const SYSTEM = '/redfish/v1/Systems/1';

describe('events driven by sushy', { skip }, () => {
  let fx: RedfishFixture;
  let subscriber: Subscriber;
  let sse: SseClient;
  let subPath: string;

  before(async () => {
    fx = await startRedfish({
      machine: { timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 30 } },
    });
    subscriber = await startSubscriber();
    sse = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN);
    assert.equal(sse.status, 200);
  });
  after(async () => {
    sse?.close();
    await subscriber?.close();
    await fx?.close();
  });

  test('sushy reads the EventService and subscribes (201 + Location); HttpHeaders are not echoed', async () => {
    const [svc, sub] = await events(fx, [
      { op: 'service' },
      {
        op: 'subscribe',
        payload: {
          Destination: subscriber.url,
          Protocol: 'Redfish',
          Context: 'ironic-node-1',
          EventTypes: ['StatusChange', 'ResourceUpdated', 'Alert', 'Other'],
          HttpHeaders: [{ 'X-Ironic-Token': 'do-not-echo' }],
        },
      },
    ]);
    assert.equal(svc!.enabled, true);
    assert.deepEqual(svc!.types, ['Alert', 'Other', 'ResourceUpdated', 'StatusChange']);
    assert.equal(sub!.context, 'ironic-node-1');
    assert.equal(sub!.destination, subscriber.url);
    assert.equal(sub!.protocol, 'Redfish');
    assert.deepEqual(sub!.http_headers, []);
    subPath = sub!.path;
    const raw = await fx.request('GET', subPath);
    assert.ok(!raw.text.includes('do-not-echo'));
  });

  test('power, boot and virtual media changes arrive in order at the subscriber and on the SSE stream', async () => {
    // One step at a time, each waited for, so the expected order does not depend on timing.
    const step = async (ops: object[], count: number) => {
      await ironic(fx, ops);
      await waitFor(() => subscriber.received.length >= count, {
        what: `${count} events`,
        timeoutMs: 10_000,
      });
    };
    await step([{ op: 'power', value: 'On' }], 3);
    await step([{ op: 'boot', target: 'Pxe', enabled: 'Once' }], 4);
    await step([{ op: 'insert', image: 'http://images.example/boot.iso' }], 6);
    await step([{ op: 'power', value: 'ForceOff' }], 9);
    await step([{ op: 'eject' }], 10);
    await step([{ op: 'insert', image: 'http://broken.invalid/boot.iso' }], 12);
    await events(fx, [{ op: 'test_event', origin: SYSTEM }]);

    const expected = [
      'ResourceEvent.1.4.ResourcePoweringOn',
      'ResourceEvent.1.4.ResourcePoweredOn',
      'ResourceEvent.1.4.ResourceStateChanged', // reset requested (On)
      'ResourceEvent.1.4.ResourceChanged', // boot override Pxe/Once
      'ResourceEvent.1.4.ResourceStateChanged', // media Inserted
      'TaskEvent.1.0.TaskCompletedOK', // the insert task
      'ResourceEvent.1.4.ResourcePoweringOff',
      'ResourceEvent.1.4.ResourcePoweredOff',
      'ResourceEvent.1.4.ResourceStateChanged', // reset requested (ForceOff)
      'ResourceEvent.1.4.ResourceStateChanged', // media Ejected
      'ResourceEvent.1.4.ResourceStatusChangedCritical', // insert failed
      'TaskEvent.1.0.TaskAborted', // its task
      'ResourceEvent.1.4.TestMessage',
    ];
    await waitFor(() => subscriber.received.length >= expected.length, {
      what: 'pushed events',
      timeoutMs: 10_000,
    });
    await waitFor(() => sse.messages.length >= expected.length, { what: 'SSE events', timeoutMs: 10_000 });
    const pushed = subscriber.received.map((r) => r.body);
    assert.deepEqual(messageIds(pushed), expected);
    const streamed = sse.messages.map((m) => m.data);
    assert.deepEqual(messageIds(streamed), expected);

    const records = pushed.map((p) => p.Events[0]);
    // The details a provisioning tool acts on.
    assert.deepEqual(records[0].MessageArgs, [SYSTEM]);
    assert.equal(records[1].Message, `The resource '${SYSTEM}' has powered on.`);
    assert.equal(records[2].Oem.KubeVirt.ResetType, 'On');
    assert.equal(records[2].Username, 'admin');
    assert.deepEqual(records[3].Oem.KubeVirt.Boot, {
      BootSourceOverrideTarget: 'Pxe',
      BootSourceOverrideEnabled: 'Once',
      BootSourceOverrideMode: 'UEFI',
    });
    assert.deepEqual(records[4].MessageArgs, [`${SYSTEM}/VirtualMedia/Cd`, 'Inserted']);
    assert.match(records[5].OriginOfCondition['@odata.id'], /^\/redfish\/v1\/TaskService\/Tasks\/\d+$/);
    assert.deepEqual(records[9].MessageArgs, [`${SYSTEM}/VirtualMedia/Cd`, 'Ejected']);
    assert.equal(records[10].MessageSeverity, 'Critical');
    assert.equal(records[10].EventType, 'Alert');
    for (const r of records) assert.ok(r.OriginOfCondition['@odata.id'].startsWith('/redfish/v1/'));
    // Every payload carries the subscription's Context; EventIds strictly increase; same ids on both paths.
    assert.ok(pushed.every((p) => p.Context === 'ironic-node-1' && p.Events[0].Context === 'ironic-node-1'));
    const ids = records.map((r) => Number(r.EventId));
    for (let i = 1; i < ids.length; i++)
      assert.ok(ids[i]! > ids[i - 1]!, `EventId ${ids[i]} after ${ids[i - 1]}`);
    assert.deepEqual(
      sse.messages.map((m) => m.id),
      records.map((r) => r.EventId),
    );
    assert.ok(records.every((r) => !Number.isNaN(Date.parse(r.EventTimestamp))));
  });

  test('an SSE client resumes with Last-Event-ID and gets exactly what it missed', async () => {
    const all = [...sse.messages];
    const cut = all[5]!.id!;
    const resumed = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN, { 'Last-Event-ID': cut });
    try {
      await waitFor(() => resumed.messages.length >= all.length - 6, { what: 'the replay' });
      assert.deepEqual(
        resumed.messages.map((m) => m.id),
        all.slice(6).map((m) => m.id),
      );
      // …then live events follow on the same stream.
      await ironic(fx, [{ op: 'power', value: 'On' }]);
      await waitFor(
        () =>
          resumed.messages.some(
            (m) =>
              m.data.Events[0].MessageId.endsWith('ResourcePoweredOn') &&
              Number(m.id) > Number(all.at(-1)!.id),
          ),
        {
          what: 'a live event after the replay',
        },
      );
    } finally {
      resumed.close();
    }
  });

  test('$filter narrows the stream (RegistryPrefix, MessageId, ResourceType, OriginResource)', async () => {
    const q = (f: string) => `/redfish/v1/EventService/SSE?$filter=${encodeURIComponent(f)}`;
    const tasks = await openSse(fx.port, q("RegistryPrefix eq 'TaskEvent'"), ADMIN);
    const media = await openSse(fx.port, q(`OriginResource eq '${SYSTEM}/VirtualMedia/Cd'`), ADMIN);
    const off = await openSse(
      fx.port,
      q('MessageId eq ResourceEvent.1.4.ResourcePoweredOff or ResourceType eq VirtualMedia'),
      ADMIN,
    );
    const subordinate = await openSse(
      fx.port,
      q(`OriginResource eq '${SYSTEM}' and SubordinateResources eq true`),
      ADMIN,
    );
    try {
      for (const c of [tasks, media, off, subordinate]) assert.equal(c.status, 200);
      await ironic(fx, [
        { op: 'insert', image: 'http://images.example/two.iso' },
        { op: 'power', value: 'ForceOff' },
      ]);
      await waitFor(() => tasks.messages.length >= 1 && off.messages.length >= 2, {
        what: 'filtered events',
      });
      // Inserted, PoweringOff, PoweredOff, reset requested.
      await waitFor(() => subordinate.messages.length >= 4, { what: 'subordinate events' });
      assert.deepEqual(messageIds(tasks.messages.map((m) => m.data)), ['TaskEvent.1.0.TaskCompletedOK']);
      await waitFor(() => media.messages.length >= 1, { what: 'the media stream' });
      assert.ok(
        media.messages.every(
          (m) => m.data.Events[0].OriginOfCondition['@odata.id'] === `${SYSTEM}/VirtualMedia/Cd`,
        ),
      );
      const offIds = messageIds(off.messages.map((m) => m.data));
      assert.ok(offIds.includes('ResourceEvent.1.4.ResourcePoweredOff'));
      assert.ok(!offIds.includes('ResourceEvent.1.4.ResourcePoweringOff'));
      assert.ok(!offIds.includes('TaskEvent.1.0.TaskCompletedOK'));
      const subIds = messageIds(subordinate.messages.map((m) => m.data));
      assert.ok(subIds.includes('ResourceEvent.1.4.ResourcePoweredOff'), 'the system itself');
      assert.ok(subIds.includes('ResourceEvent.1.4.ResourceStateChanged'), 'its virtual media');
      assert.ok(!subIds.some((id) => id.startsWith('TaskEvent')), 'tasks are not below the system');
    } finally {
      for (const c of [tasks, media, off, subordinate]) c.close();
    }
    const bad = await openSse(fx.port, q('Severity eq OK'), ADMIN);
    assert.equal(bad.status, 400);
    assert.match(bad.text ?? '', /QueryParameterValueFormatError/);
  });

  test('closing a stream removes its SSE subscription; deleting the subscription closes the stream; sushy unsubscribes', async () => {
    const extra = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN);
    const sseSubscriptions = async () => {
      const list = await fx.request('GET', '/redfish/v1/EventService/Subscriptions');
      const members: string[] = list.json.Members.map((m: { '@odata.id': string }) => m['@odata.id']);
      const details = await Promise.all(members.map((m) => fx.request('GET', m)));
      return details.filter((d) => d.status === 200 && d.json.SubscriptionType === 'SSE');
    };
    // The filtered streams of the previous test were closed by their clients: their subscriptions go.
    await waitFor(async () => (await sseSubscriptions()).length === 2, { what: 'closed streams to leave' });
    const sseSubs = await sseSubscriptions();
    assert.equal(sseSubs.length, 2, 'the long-lived stream and this one');
    for (const d of sseSubs) assert.match(d.json.Destination, /^redfish-sse:\/\/127\.0\.0\.1:\d+$/);
    const mine = sseSubs.find((d) => d.json.Context !== sseSubs[0]!.json.Context) ?? sseSubs[1]!;
    assert.equal((await fx.request('DELETE', mine.json['@odata.id'])).status, 204);
    await waitFor(() => extra.ended || sse.ended, { what: 'the deleted stream to close' });
    extra.close();
    await events(fx, [{ op: 'unsubscribe', path: subPath }]);
    await waitFor(async () => (await fx.request('GET', subPath)).status === 404, {
      what: 'the subscription to go',
    });
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import { missingClients } from '../../support/clients.ts';
import { ipmitool } from '../../support/ipmi-run.ts';
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
 * The REAL ipmitool changes the machine over IPMI (lanplus); the Redfish event service of the same
 * machine tells a subscriber and an SSE client. Then a destination that never answers is retried
 * and suspended while ipmitool's power actions keep completing at once.
 */
const skip = missingClients('ipmitool');
const LAN = ['-I', 'lanplus', '-C', '17'];

describe('events from ipmitool', { skip }, () => {
  let fx: RedfishFixture;
  let ipmi: IpmiServer;
  let port: number;
  let subscriber: Subscriber;
  let sse: SseClient;

  before(async () => {
    fx = await startRedfish({
      machine: { timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 0 } },
      server: {
        events: { deliveryRetryAttempts: 2, deliveryRetryIntervalSeconds: 1, deliveryTimeoutMs: 1000 },
      },
    });
    ipmi = new IpmiServer({
      machine: fx.machine,
      accounts: () => [ADMIN],
      loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000 },
    });
    port = (await ipmi.listen(0)).port;
    subscriber = await startSubscriber();
    sse = await openSse(fx.port, '/redfish/v1/EventService/SSE', ADMIN);
  });
  after(async () => {
    sse?.close();
    await subscriber?.close();
    await ipmi?.close();
    await fx?.close();
  });

  const tool = async (...args: string[]) => {
    const r = await ipmitool(port, LAN, ADMIN, args);
    assert.equal(r.code, 0, `ipmitool ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  test('chassis power on / bootdev pxe / power off arrive in order, with who did it', async () => {
    const created = await fx.request('POST', '/redfish/v1/EventService/Subscriptions', {
      json: {
        Destination: subscriber.url,
        Protocol: 'Redfish',
        Context: 'ipmi-watch',
        ResourceTypes: ['ComputerSystem'],
      },
    });
    assert.equal(created.status, 201);
    assert.match(await tool('chassis', 'power', 'on'), /Up\/On/);
    await waitFor(() => subscriber.received.length >= 3, { what: 'power-on events' });
    assert.match(await tool('chassis', 'bootdev', 'pxe'), /Set Boot Device to pxe/);
    await waitFor(() => subscriber.received.length >= 4, { what: 'boot event' });
    assert.match(await tool('chassis', 'power', 'off'), /Down\/Off/);
    await waitFor(() => subscriber.received.length >= 7, { what: 'power-off events' });
    const pushed = subscriber.received.map((r) => r.body);
    assert.deepEqual(messageIds(pushed), [
      'ResourceEvent.1.4.ResourcePoweringOn',
      'ResourceEvent.1.4.ResourcePoweredOn',
      'ResourceEvent.1.4.ResourceStateChanged',
      'ResourceEvent.1.4.ResourceChanged',
      'ResourceEvent.1.4.ResourcePoweringOff',
      'ResourceEvent.1.4.ResourcePoweredOff',
      'ResourceEvent.1.4.ResourceStateChanged',
    ]);
    const reset = pushed[2]!.Events[0];
    assert.equal(reset.Username, 'admin');
    assert.deepEqual(reset.Oem.KubeVirt, { ResetType: 'On', Protocol: 'ipmi' });
    assert.equal(pushed[6]!.Events[0].Oem.KubeVirt.ResetType, 'ForceOff');
    assert.equal(pushed[3]!.Events[0].Oem.KubeVirt.Boot.BootSourceOverrideTarget, 'Pxe');
    await waitFor(() => sse.messages.length >= 7, { what: 'the same on SSE' });
    assert.deepEqual(
      sse.messages.slice(0, 7).map((m) => m.id),
      pushed.map((p) => p.Events[0].EventId),
    );
    assert.equal((await fx.request('DELETE', created.headers.location!)).status, 204);
  });

  test('a destination that never answers is retried, then suspended; power actions are not delayed', async () => {
    subscriber.mode = 'hang';
    subscriber.attempts = 0;
    subscriber.received.length = 0;
    const created = await fx.request('POST', '/redfish/v1/EventService/Subscriptions', {
      json: { Destination: subscriber.url, Protocol: 'Redfish', Context: 'dead-end' },
    });
    assert.equal(created.status, 201);
    const uri = created.headers.location!;
    const state = async () => (await fx.request('GET', uri)).json.Status.State as string;

    // ipmitool's power on completes (and the machine is on) while the first POST hangs.
    assert.match(await tool('chassis', 'power', 'on'), /Up\/On/);
    assert.equal(fx.machine.getPowerState(), 'On');
    assert.equal(await state(), 'Enabled', 'the power action finished before delivery gave up');
    assert.equal(subscriber.received.length, 0);

    // 1 attempt + 2 retries (DeliveryRetryAttempts), each timing out, then Status.State Disabled.
    await waitFor(async () => (await state()) === 'Disabled', {
      what: 'suspension',
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    assert.equal(subscriber.attempts, 3);
    const stats = (await fx.request('GET', uri)).json.Oem.KubeVirt;
    assert.equal(stats.FailedDeliveryAttempts, 3);
    assert.equal(stats.DeliveredEvents, 0);

    // Suspended: no more attempts, and more power actions still complete at once.
    assert.match(await tool('chassis', 'power', 'off'), /Down\/Off/);
    assert.equal(fx.machine.getPowerState(), 'Off');
    const reset = await fx.request('POST', '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset', {
      json: { ResetType: 'On' },
    });
    assert.equal(reset.status, 204);
    assert.equal(subscriber.attempts, 3);

    // The destination recovers; ResumeSubscription delivers what was kept, in order.
    subscriber.mode = 'ok';
    const resumed = await fx.request('POST', `${uri}/Actions/EventDestination.ResumeSubscription`, {
      json: {},
    });
    assert.equal(resumed.status, 204);
    assert.equal(await state(), 'Enabled');
    await waitFor(() => subscriber.received.length >= 10, { what: 'buffered events', timeoutMs: 10_000 });
    const ids = messageIds(subscriber.received.map((r) => r.body));
    assert.deepEqual(ids, [
      'ResourceEvent.1.4.ResourcePoweringOn',
      'ResourceEvent.1.4.ResourcePoweredOn',
      'ResourceEvent.1.4.ResourceChanged', // the boot-once PXE of the first test was consumed
      'ResourceEvent.1.4.ResourceStateChanged',
      'ResourceEvent.1.4.ResourcePoweringOff',
      'ResourceEvent.1.4.ResourcePoweredOff',
      'ResourceEvent.1.4.ResourceStateChanged',
      'ResourceEvent.1.4.ResourcePoweringOn',
      'ResourceEvent.1.4.ResourcePoweredOn',
      'ResourceEvent.1.4.ResourceStateChanged',
    ]);
    assert.equal(
      subscriber.received[2]!.body.Events[0].Oem.KubeVirt.Boot.BootSourceOverrideEnabled,
      'Disabled',
    );
    assert.equal((await fx.request('DELETE', uri)).status, 204);
  });

  test('a destination answering 500 under TerminateAfterRetries is deleted after the retries', async () => {
    subscriber.mode = 500;
    subscriber.attempts = 0;
    const created = await fx.request('POST', '/redfish/v1/EventService/Subscriptions', {
      json: {
        Destination: subscriber.url,
        Protocol: 'Redfish',
        DeliveryRetryPolicy: 'TerminateAfterRetries',
      },
    });
    assert.equal(created.status, 201);
    assert.match(await tool('chassis', 'power', 'cycle'), /Cycle/);
    await waitFor(async () => (await fx.request('GET', created.headers.location!)).status === 404, {
      what: 'termination',
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    assert.equal(subscriber.attempts, 3);
  });
});

import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../messages.ts';
import { baseFail, baseInfo } from './base-messages.ts';
import type { EventEngine, SseClient, Subscription } from './engine.ts';
import { FilterSyntaxError, NO_FILTER, parseSseFilter } from './filter.ts';
import { EVENT_ODATA_TYPE, type EventRecord, renderEvent } from './records.ts';

/**
 * The SSE stream (`GET /redfish/v1/EventService/SSE`, DSP0266 "Server-sent events"): one
 * `text/event-stream` response per client, each event as `id: <EventId>` + `data: <Event JSON>`.
 * While open it appears in `Subscriptions` as an `SSE` EventDestination; closing the connection
 * removes it and deleting it closes the connection. `$filter` narrows the events; `Last-Event-ID`
 * replays what the ring buffer still holds after that id; a comment line every heartbeat period
 * keeps proxies from timing the stream out. A reader too slow to keep up (over 1 MiB unsent) is
 * disconnected rather than buffered without bound.
 */
export const SSE_URI = '/redfish/v1/EventService/SSE';
const MAX_UNSENT_BYTES = 1024 * 1024;

function acceptsEventStream(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept
    .split(',')
    .map((p) => p.split(';')[0]!.trim().toLowerCase())
    .some((t) => t === 'text/event-stream' || t === 'text/*' || t === '*/*');
}

export interface SseRequest {
  readonly owner: string;
  readonly search: string;
  readonly clientAddress: string;
  readonly clientPort: number;
}

/** Validates the request (throws a RedfishError before anything is written), then streams. */
export function openSse(engine: EventEngine, req: IncomingMessage, res: ServerResponse, r: SseRequest): void {
  if (!acceptsEventStream(req.headers.accept)) throw fail(406, 'HeaderInvalid', ['Accept']);
  if (!engine.serviceEnabled) throw baseFail(503, 'ServiceDisabled', ['/redfish/v1/EventService']);
  const params = new URLSearchParams(r.search.startsWith('?') ? r.search.slice(1) : r.search);
  let predicate: (rec: EventRecord) => boolean = () => true;
  const filter = params.get('$filter');
  for (const key of params.keys()) {
    if (key.startsWith('$') && key !== '$filter') throw fail(501, 'QueryParameterUnsupported', [key]);
  }
  if (filter !== null) {
    try {
      predicate = parseSseFilter(filter);
    } catch (err) {
      if (err instanceof FilterSyntaxError) {
        throw fail(400, 'QueryParameterValueFormatError', [filter.slice(0, 200), '$filter']);
      }
      throw err;
    }
  }
  if (engine.sseCount >= engine.maxSseStreams) throw baseFail(503, 'EventSubscriptionLimitExceeded');
  const lastHeader = req.headers['last-event-id'];
  const lastId =
    typeof lastHeader === 'string' && /^\d{1,16}$/.test(lastHeader.trim()) ? Number(lastHeader.trim()) : null;

  const id = engine.newId();
  const context = `sse-${id}`;
  const host = r.clientAddress.includes(':') ? `[${r.clientAddress}]` : r.clientAddress;
  const subscription: Subscription = {
    ...NO_FILTER,
    id,
    destination: `redfish-sse://${host}:${r.clientPort}`,
    context,
    protocol: 'Redfish',
    subscriptionType: 'SSE',
    httpHeaders: {},
    deliveryRetryPolicy: 'TerminateAfterRetries',
    verifyCertificate: false,
    state: 'Enabled',
    owner: r.owner,
    created: new Date().toISOString(),
  };

  res.writeHead(200, {
    'Content-Type': 'text/event-stream;charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true, 30_000);
  let closed = false;
  const heartbeat = setInterval(() => {
    write(': heartbeat\n\n');
  }, engine.heartbeatMs);
  heartbeat.unref();
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    engine.removeSse(id);
    if (!res.writableEnded) res.end();
  };
  const write = (text: string): void => {
    if (closed) return;
    res.write(text);
    if (res.writableLength > MAX_UNSENT_BYTES) {
      res.destroy();
      close();
    }
  };
  const client: SseClient = {
    subscription,
    predicate,
    send: (record) => write(`id: ${record.id}\ndata: ${JSON.stringify(renderEvent(record, context))}\n\n`),
    close,
  };
  // The response's close is the connection's (a request's close only means its body was read).
  res.on('close', close);
  write(`retry: 5000\n: kubevirtbmc event stream ${id}\n\n`);
  if (lastId !== null) {
    if (engine.lostSince(lastId)) {
      // Some events after Last-Event-ID are gone from the buffer: say so (no id, so the client's
      // last id stays the one it had), then replay what is left.
      write(`data: ${JSON.stringify(bufferExceeded(context))}\n\n`);
    }
    for (const record of engine.since(lastId)) if (predicate(record)) client.send(record);
  }
  engine.addSse(client);
}

/** The Base `EventBufferExceeded` event sent when a resume cannot replay everything. */
function bufferExceeded(context: string): Record<string, unknown> {
  const info = baseInfo('EventBufferExceeded');
  return {
    '@odata.type': EVENT_ODATA_TYPE,
    Id: '0',
    Name: 'Event',
    Context: context,
    Events: [
      {
        EventType: 'Alert',
        EventTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        MemberId: '0',
        MessageId: info.MessageId,
        Message: info.Message,
        MessageArgs: [],
        MessageSeverity: info.MessageSeverity,
        Resolution: info.Resolution,
        OriginOfCondition: { '@odata.id': '/redfish/v1/EventService' },
        Context: context,
      },
    ],
    'Events@odata.count': 1,
  };
}

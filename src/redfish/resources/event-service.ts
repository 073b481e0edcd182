import { baseInfo } from '../events/base-messages.ts';
import { type EventDraft, resourceTypeOfUri } from '../events/records.ts';
import { EVENT_TYPES, type EventType, REGISTRY_PREFIXES, type Severity } from '../events/registry.ts';
import { openSse, SSE_URI } from '../events/sse.ts';
import { fail, message, RedfishError } from '../messages.ts';
import { type Ctx, type Json, type ResourceDef, ref } from '../resource.ts';
import { odataType } from '../schemas.ts';

/**
 * EventService (`/redfish/v1/EventService`): what can be subscribed to, the retry settings
 * (writable by an administrator), the `SubmitTestEvent` action and the SSE stream. Subscriptions
 * are in `event-destination.ts`; the engine behind them is `../events/`.
 */
const URI = '/redfish/v1/EventService';

/** Origins of the events this service sends (what `ResourceTypes` may name). */
export const EVENT_RESOURCE_TYPES = ['ComputerSystem', 'VirtualMedia', 'SecureBoot', 'Task'] as const;

export function renderEventService(ctx: Ctx): Json {
  const e = ctx.service.events;
  return {
    '@odata.id': URI,
    '@odata.type': odataType('EventService'),
    Id: 'EventService',
    Name: 'Event Service',
    Description: 'Events of the virtual machines: power, reset requests, boot override, virtual media, tasks',
    ServiceEnabled: e.serviceEnabled,
    Status: { State: e.serviceEnabled ? 'Enabled' : 'Disabled', Health: 'OK' },
    DeliveryRetryAttempts: e.retryAttempts,
    DeliveryRetryIntervalSeconds: e.retryIntervalSeconds,
    EventFormatTypes: ['Event'],
    EventTypesForSubscription: [...EVENT_TYPES],
    RegistryPrefixes: [...REGISTRY_PREFIXES],
    ResourceTypes: [...EVENT_RESOURCE_TYPES],
    ExcludeMessageId: true,
    ExcludeRegistryPrefix: true,
    SubordinateResourcesSupported: true,
    OriginResourcesSupported: true,
    IncludeOriginOfConditionSupported: false,
    ServerSentEventUri: SSE_URI,
    SSEFilterPropertiesSupported: {
      EventFormatType: true,
      MessageId: true,
      MetricReportDefinition: false,
      OriginResource: true,
      RegistryPrefix: true,
      ResourceType: true,
      SubordinateResources: true,
      EventType: false,
    },
    Subscriptions: ref(`${URI}/Subscriptions`),
    Actions: {
      '#EventService.SubmitTestEvent': {
        target: `${URI}/Actions/EventService.SubmitTestEvent`,
      },
    },
  };
}

const WRITABLE: Record<string, { min: number; max: number } | 'boolean'> = {
  ServiceEnabled: 'boolean',
  DeliveryRetryAttempts: { min: 0, max: 10 },
  DeliveryRetryIntervalSeconds: { min: 0, max: 3600 },
};

export const eventService: ResourceDef = {
  uri: URI,
  get: renderEventService,
  patch: {
    privilege: 'ConfigureManager',
    run: async (ctx, body) => {
      const current = renderEventService(ctx);
      const errors = [];
      for (const [k, v] of Object.entries(body)) {
        if (k.includes('@')) continue;
        const rule = WRITABLE[k];
        if (!rule) {
          if (k in current) {
            if (JSON.stringify(current[k]) !== JSON.stringify(v)) {
              errors.push(message('PropertyNotWritable', [k], [`#/${k}`]));
            }
          } else errors.push(message('PropertyUnknown', [k], [`#/${k}`]));
          continue;
        }
        if (rule === 'boolean') {
          if (typeof v !== 'boolean')
            errors.push(message('PropertyValueTypeError', [JSON.stringify(v), k], [`#/${k}`]));
        } else if (typeof v !== 'number' || !Number.isInteger(v)) {
          errors.push(message('PropertyValueTypeError', [JSON.stringify(v), k], [`#/${k}`]));
        } else if (v < rule.min || v > rule.max) {
          errors.push(baseInfo('PropertyValueOutOfRange', [String(v), k], [`#/${k}`]));
        }
      }
      if (errors.length > 0) throw new RedfishError(400, errors);
      const e = ctx.service.events;
      if (typeof body.DeliveryRetryAttempts === 'number') e.retryAttempts = body.DeliveryRetryAttempts;
      if (typeof body.DeliveryRetryIntervalSeconds === 'number')
        e.retryIntervalSeconds = body.DeliveryRetryIntervalSeconds;
      if (typeof body.ServiceEnabled === 'boolean') e.setServiceEnabled(body.ServiceEnabled);
      return undefined;
    },
  },
};

const TEST_ACTION = 'EventService.SubmitTestEvent';
const TEST_PARAMS = new Set([
  'EventGroupId',
  'EventId',
  'EventTimestamp',
  'EventType',
  'Message',
  'MessageArgs',
  'MessageId',
  'MessageSeverity',
  'OriginOfCondition',
  'Severity',
]);
const SEVERITIES: readonly Severity[] = ['OK', 'Warning', 'Critical'];

/**
 * `SubmitTestEvent`: sends the given event to every matching subscriber. Only `MessageId` is
 * required; the service numbers the event itself (the spec allows ignoring `EventId`).
 */
export const submitTestEvent: ResourceDef = {
  uri: `${URI}/Actions/${TEST_ACTION}`,
  post: {
    privilege: 'ConfigureManager',
    run: async (ctx, body) => {
      const b = body ?? {};
      const bad = (param: string, value: unknown) =>
        fail(
          400,
          'ActionParameterValueTypeError',
          [JSON.stringify(value), param, TEST_ACTION],
          [`#/${param}`],
        );
      for (const k of Object.keys(b)) {
        if (!TEST_PARAMS.has(k) && !k.includes('@'))
          throw fail(400, 'ActionParameterUnknown', [TEST_ACTION, k], [`#/${k}`]);
      }
      const messageId = b.MessageId;
      if (messageId === undefined)
        throw fail(400, 'ActionParameterMissing', [TEST_ACTION, 'MessageId'], ['#/MessageId']);
      if (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > 256)
        throw bad('MessageId', messageId);
      const args = b.MessageArgs ?? [];
      if (!Array.isArray(args) || args.length > 16 || args.some((a) => typeof a !== 'string'))
        throw bad('MessageArgs', args);
      const text = b.Message ?? 'Test message.';
      if (typeof text !== 'string' || text.length > 1024) throw bad('Message', text);
      const origin = b.OriginOfCondition ?? '/redfish/v1/EventService';
      if (typeof origin !== 'string' || !origin.startsWith('/redfish/v1') || origin.length > 512)
        throw bad('OriginOfCondition', origin);
      const severity = b.MessageSeverity ?? b.Severity ?? 'OK';
      if (typeof severity !== 'string') throw bad('MessageSeverity', severity);
      if (!SEVERITIES.includes(severity as Severity)) {
        throw fail(
          400,
          'ActionParameterValueNotInList',
          [severity, 'MessageSeverity', TEST_ACTION],
          ['#/MessageSeverity'],
        );
      }
      const eventType = b.EventType ?? 'Other';
      if (
        typeof eventType !== 'string' ||
        ![...EVENT_TYPES, 'ResourceAdded', 'ResourceRemoved'].includes(eventType)
      ) {
        throw fail(
          400,
          'ActionParameterValueNotInList',
          [String(eventType), 'EventType', TEST_ACTION],
          ['#/EventType'],
        );
      }
      let timestamp: string | undefined;
      if (b.EventTimestamp !== undefined) {
        if (typeof b.EventTimestamp !== 'string' || Number.isNaN(Date.parse(b.EventTimestamp))) {
          throw fail(
            400,
            'ActionParameterValueFormatError',
            [String(b.EventTimestamp), 'EventTimestamp', TEST_ACTION],
            ['#/EventTimestamp'],
          );
        }
        timestamp = b.EventTimestamp;
      }
      if (!ctx.service.events.serviceEnabled) {
        throw new RedfishError(503, baseInfo('ServiceDisabled', [URI]));
      }
      const draft: EventDraft = {
        eventType: eventType as EventType,
        msg: {
          messageId,
          message: text,
          messageArgs: args as string[],
          severity: severity as Severity,
          resolution: 'None.',
        },
        origin,
        resourceType: resourceTypeOfUri(origin),
        username: ctx.actor.actor,
      };
      ctx.service.events.publish(draft, timestamp);
      return { status: 204 };
    },
  },
};

/** `GET ServerSentEventUri`: the event stream; opening it is subscribing (ConfigureComponents). */
export const eventStream: ResourceDef = {
  uri: SSE_URI,
  getPrivilege: 'ConfigureComponents',
  stream: (ctx, req, res, search) => {
    openSse(ctx.service.events, req, res, {
      owner: ctx.principal?.user ?? '',
      search,
      clientAddress: req.socket.remoteAddress ?? '',
      clientPort: req.socket.remotePort ?? 0,
    });
  },
};

import { baseFail, baseInfo } from '../events/base-messages.ts';
import { parseDestination } from '../events/destination.ts';
import type { Subscription } from '../events/engine.ts';
import { EVENT_TYPES, REGISTRY_PREFIXES } from '../events/registry.ts';
import {
  DELIVERY_RETRY_POLICIES,
  type DeliveryRetryPolicy,
  type StoredSubscription,
} from '../events/store.ts';
import { type ExtendedInfo, fail, message, RedfishError } from '../messages.ts';
import { type Ctx, collection, type Json, type Privilege, type ResourceDef } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { EVENT_RESOURCE_TYPES } from './event-service.ts';

/**
 * EventDestinationCollection and EventDestination (`/redfish/v1/EventService/Subscriptions`).
 * POST subscribes (ConfigureComponents: operators and administrators): `Destination` (an http(s)
 * URL that is not this service and that the destination policy of `../events/destination.ts`
 * allows) and `Protocol: Redfish` are required; `Context`, the filters
 * (`RegistryPrefixes`, `MessageIds`, `ResourceTypes`, `OriginResources` + `SubordinateResources`,
 * the excludes, the legacy `EventTypes`), `HttpHeaders` (write-only: never shown again),
 * `DeliveryRetryPolicy` and `VerifyCertificate` are optional. PATCH changes `Context`,
 * `HttpHeaders`, `DeliveryRetryPolicy`, `VerifyCertificate`; the owner (ConfigureSelf) or an
 * administrator (ConfigureManager) may PATCH, DELETE, suspend and resume. `Status.State` is
 * `Disabled` while suspended.
 */
const COLLECTION = '/redfish/v1/EventService/Subscriptions';
const MAX_CONTEXT = 256;
const MAX_LIST = 32;
const MAX_HEADERS = 16;
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'odata-version',
]);

export function renderDestination(
  s: Subscription,
  stats?: { delivered: number; failedAttempts: number; dropped: number },
): Json {
  const uri = `${COLLECTION}/${s.id}`;
  const body: Json = {
    '@odata.id': uri,
    '@odata.type': odataType('EventDestination'),
    Id: s.id,
    Name: s.subscriptionType === 'SSE' ? 'Server-Sent Event Stream' : 'Event Subscription',
    Destination: s.destination,
    Context: s.context,
    Protocol: s.protocol,
    SubscriptionType: s.subscriptionType,
    EventFormatType: 'Event',
    RegistryPrefixes: [...s.registryPrefixes],
    MessageIds: [...s.messageIds],
    ExcludeRegistryPrefixes: [...s.excludeRegistryPrefixes],
    ExcludeMessageIds: [...s.excludeMessageIds],
    ResourceTypes: [...s.resourceTypes],
    OriginResources: s.originResources.map((o) => ({ '@odata.id': o })),
    'OriginResources@odata.count': s.originResources.length,
    SubordinateResources: s.subordinateResources,
    // Write-only (it usually carries credentials): always empty in responses.
    HttpHeaders: [],
    Status: { State: s.state, Health: s.state === 'Enabled' ? 'OK' : 'Warning' },
  };
  if (s.eventTypes.length > 0) body.EventTypes = [...s.eventTypes];
  if (s.subscriptionType === 'RedfishEvent') {
    body.DeliveryRetryPolicy = s.deliveryRetryPolicy;
    body.VerifyCertificate = s.verifyCertificate;
    body.Actions = {
      '#EventDestination.SuspendSubscription': {
        target: `${uri}/Actions/EventDestination.SuspendSubscription`,
      },
      '#EventDestination.ResumeSubscription': {
        target: `${uri}/Actions/EventDestination.ResumeSubscription`,
      },
    };
    if (stats) {
      body.Oem = {
        KubeVirt: {
          DeliveredEvents: stats.delivered,
          FailedDeliveryAttempts: stats.failedAttempts,
          DroppedEvents: stats.dropped,
        },
      };
    }
  }
  return body;
}

// --- body validation --------------------------------------------------------------------------

type Errors = ExtendedInfo[];

function stringList(
  body: Json,
  key: string,
  errors: Errors,
  allowed?: readonly string[],
  check?: (v: string) => boolean,
): string[] {
  const v = body[key];
  if (v === undefined || v === null) return [];
  const rel = [`#/${key}`];
  if (!Array.isArray(v) || v.length > MAX_LIST || v.some((x) => typeof x !== 'string')) {
    errors.push(message('PropertyValueTypeError', [JSON.stringify(v).slice(0, 200), key], rel));
    return [];
  }
  for (const x of v as string[]) {
    if (allowed && !allowed.includes(x))
      errors.push(message('PropertyValueNotInList', [x.slice(0, 200), key], rel));
    else if (check && !check(x))
      errors.push(message('PropertyValueFormatError', [x.slice(0, 200), key], rel));
  }
  return [...new Set(v as string[])];
}

const MESSAGE_ID = /^[A-Za-z0-9]+(\.\d+\.\d+)?\.[A-Za-z0-9]+$/;

function originList(body: Json, errors: Errors): string[] {
  const v = body.OriginResources;
  if (v === undefined || v === null) return [];
  const rel = ['#/OriginResources'];
  if (!Array.isArray(v) || v.length > MAX_LIST) {
    errors.push(message('PropertyValueTypeError', [JSON.stringify(v).slice(0, 200), 'OriginResources'], rel));
    return [];
  }
  const out: string[] = [];
  for (const x of v) {
    const id = x && typeof x === 'object' ? (x as Json)['@odata.id'] : typeof x === 'string' ? x : undefined;
    if (typeof id !== 'string' || !id.startsWith('/redfish/v1/') || id.length > 512) {
      errors.push(
        message('PropertyValueFormatError', [JSON.stringify(x).slice(0, 200), 'OriginResources'], rel),
      );
    } else out.push(id.replace(/\/+$/, ''));
  }
  return [...new Set(out)];
}

/** `HttpHeaders`: an array of `{name: value}` objects; values are secrets (never echoed). */
function headers(body: Json, errors: Errors): Record<string, string> {
  const v = body.HttpHeaders;
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  const rel = ['#/HttpHeaders'];
  // Never echo header values in errors: they usually hold credentials.
  if (!Array.isArray(v)) {
    errors.push(message('PropertyValueTypeError', ['(hidden)', 'HttpHeaders'], rel));
    return out;
  }
  for (const entry of v) {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      errors.push(message('PropertyValueTypeError', ['(hidden)', 'HttpHeaders'], rel));
      continue;
    }
    for (const [name, value] of Object.entries(entry as Json)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(name) || FORBIDDEN_HEADERS.has(name.toLowerCase())) {
        errors.push(message('PropertyValueFormatError', [name.slice(0, 64), 'HttpHeaders'], rel));
      } else if (typeof value !== 'string' || value.length > 4096 || /[\r\n\0]/.test(value)) {
        errors.push(message('PropertyValueFormatError', [`${name}: (hidden)`, 'HttpHeaders'], rel));
      } else out[name] = value;
    }
  }
  if (Object.keys(out).length > MAX_HEADERS) {
    errors.push(message('PropertyValueFormatError', ['(too many headers)', 'HttpHeaders'], rel));
  }
  return out;
}

function contextOf(body: Json, errors: Errors): string {
  const v = body.Context;
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') {
    errors.push(
      message('PropertyValueTypeError', [JSON.stringify(v).slice(0, 200), 'Context'], ['#/Context']),
    );
    return '';
  }
  if (v.length > MAX_CONTEXT)
    errors.push(baseInfo('StringValueTooLong', [`${v.slice(0, 32)}...`, MAX_CONTEXT], ['#/Context']));
  return v;
}

function policyOf(body: Json, errors: Errors): DeliveryRetryPolicy | undefined {
  const v = body.DeliveryRetryPolicy;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !DELIVERY_RETRY_POLICIES.includes(v as DeliveryRetryPolicy)) {
    errors.push(
      message(
        'PropertyValueNotInList',
        [String(v).slice(0, 100), 'DeliveryRetryPolicy'],
        ['#/DeliveryRetryPolicy'],
      ),
    );
    return undefined;
  }
  return v as DeliveryRetryPolicy;
}

function boolOf(body: Json, key: string, errors: Errors): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    errors.push(message('PropertyValueTypeError', [JSON.stringify(v), key], [`#/${key}`]));
    return undefined;
  }
  return v;
}

const CREATE_PROPS = new Set([
  'Destination',
  'Protocol',
  'Context',
  'EventTypes',
  'RegistryPrefixes',
  'MessageIds',
  'ExcludeRegistryPrefixes',
  'ExcludeMessageIds',
  'ResourceTypes',
  'OriginResources',
  'SubordinateResources',
  'HttpHeaders',
  'DeliveryRetryPolicy',
  'VerifyCertificate',
  'SubscriptionType',
  'EventFormatType',
  'Name',
  'Description',
]);
const READ_ONLY = new Set(['Id', 'Status', 'Actions', 'OriginResources@odata.count', 'Oem']);

async function guardStore<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RedfishError) throw err;
    // The store (e.g. the cluster) could not record the change, or has not been read yet
    // (StoreNotLoadedError); either way nothing changed.
    throw new RedfishError(503, message('ServiceTemporarilyUnavailable', ['5']), { 'Retry-After': '5' });
  }
}

async function create(
  ctx: Ctx,
  body: Json | undefined,
): Promise<{ status: number; headers: Record<string, string>; body: Json }> {
  const b = body ?? {};
  const errors: Errors = [];
  for (const k of Object.keys(b)) {
    if (k.includes('@') && !k.startsWith('OriginResources@')) continue;
    if (READ_ONLY.has(k)) errors.push(message('PropertyNotWritable', [k], [`#/${k}`]));
    else if (!CREATE_PROPS.has(k)) errors.push(message('PropertyUnknown', [k], [`#/${k}`]));
  }
  for (const k of ['Destination', 'Protocol']) {
    if (b[k] === undefined || b[k] === null) errors.push(message('PropertyMissing', [k], [`#/${k}`]));
  }
  if (b.Protocol !== undefined && b.Protocol !== null && b.Protocol !== 'Redfish') {
    errors.push(
      message('PropertyValueNotInList', [String(b.Protocol).slice(0, 100), 'Protocol'], ['#/Protocol']),
    );
  }
  if (b.SubscriptionType !== undefined && b.SubscriptionType !== 'RedfishEvent') {
    errors.push(
      message(
        'PropertyValueNotInList',
        [String(b.SubscriptionType).slice(0, 100), 'SubscriptionType'],
        ['#/SubscriptionType'],
      ),
    );
  }
  if (b.EventFormatType !== undefined && b.EventFormatType !== 'Event') {
    errors.push(
      message(
        'PropertyValueNotInList',
        [String(b.EventFormatType).slice(0, 100), 'EventFormatType'],
        ['#/EventFormatType'],
      ),
    );
  }
  let destination = '';
  if (b.Destination !== undefined && b.Destination !== null) {
    if (typeof b.Destination !== 'string') {
      errors.push(
        message(
          'PropertyValueTypeError',
          [JSON.stringify(b.Destination).slice(0, 200), 'Destination'],
          ['#/Destination'],
        ),
      );
    } else {
      const d = parseDestination(b.Destination);
      // The URL is not echoed: it may carry credentials, which are refused.
      const shown = d.ok
        ? b.Destination
        : `${b.Destination.replace(/\/\/[^/@]*@/, '//(hidden)@').slice(0, 200)}`;
      if (!d.ok) {
        errors.push({
          ...message('PropertyValueFormatError', [shown, 'Destination'], ['#/Destination']),
          Resolution: `The destination is refused: ${d.reason}.`,
        });
      } else {
        // Every address the host is or resolves to now must pass; a name that does not resolve
        // yet is accepted (it is judged again at every delivery).
        const verdict = await ctx.service.events.guard.check(d.url);
        if (!verdict.ok && verdict.kind === 'self') {
          errors.push({
            ...message('PropertyValueFormatError', [shown, 'Destination'], ['#/Destination']),
            Resolution:
              'The destination is this Redfish service itself; events are not delivered to the service that sends them.',
          });
        } else if (!verdict.ok && verdict.kind === 'policy') {
          errors.push({
            ...message('PropertyValueFormatError', [shown, 'Destination'], ['#/Destination']),
            Resolution: `The destination is refused: ${verdict.reason}. Use an address on the management network, or ask the administrator of the BMC to allow it (agent flag --event-destination-allow).`,
          });
        } else destination = b.Destination;
      }
    }
  }
  const context = contextOf(b, errors);
  const sub = {
    registryPrefixes: stringList(b, 'RegistryPrefixes', errors, REGISTRY_PREFIXES),
    excludeRegistryPrefixes: stringList(b, 'ExcludeRegistryPrefixes', errors, REGISTRY_PREFIXES),
    messageIds: stringList(b, 'MessageIds', errors, undefined, (x) => MESSAGE_ID.test(x)),
    excludeMessageIds: stringList(b, 'ExcludeMessageIds', errors, undefined, (x) => MESSAGE_ID.test(x)),
    resourceTypes: stringList(b, 'ResourceTypes', errors, EVENT_RESOURCE_TYPES),
    originResources: originList(b, errors),
    eventTypes: stringList(b, 'EventTypes', errors, [...EVENT_TYPES, 'ResourceAdded', 'ResourceRemoved']),
  };
  const subordinate = boolOf(b, 'SubordinateResources', errors) ?? false;
  const verify = boolOf(b, 'VerifyCertificate', errors) ?? false;
  const policy = policyOf(b, errors) ?? 'SuspendRetries';
  const httpHeaders = headers(b, errors);
  if (errors.length > 0) throw new RedfishError(400, errors);
  const events = ctx.service.events;
  if (events.pushCount >= events.maxSubscriptions) throw baseFail(400, 'EventSubscriptionLimitExceeded');
  const s: Subscription = {
    id: events.newId(),
    destination,
    context,
    protocol: 'Redfish',
    subscriptionType: 'RedfishEvent',
    ...sub,
    subordinateResources: subordinate,
    httpHeaders,
    deliveryRetryPolicy: policy,
    verifyCertificate: verify,
    state: 'Enabled',
    owner: ctx.principal?.user ?? '',
    created: new Date().toISOString(),
  };
  await guardStore(() => events.create(s));
  const uri = `${COLLECTION}/${s.id}`;
  return { status: 201, headers: { Location: uri }, body: renderDestination(s) };
}

export const eventDestinations: ResourceDef = {
  uri: COLLECTION,
  get: (ctx) =>
    collection(
      collectionType('EventDestinationCollection'),
      COLLECTION,
      'Event Subscriptions',
      ctx.service.events.list().map((s) => `${COLLECTION}/${s.id}`),
    ),
  post: { privilege: 'ConfigureComponents', run: create },
};

function find(ctx: Ctx): Subscription {
  const id = ctx.params.EventDestinationId ?? '';
  const s = ctx.service.events.get(id);
  if (!s) throw fail(404, 'ResourceNotFound', ['EventDestination', id]);
  return s;
}

/** The owner may change their own subscription; anyone else needs ConfigureManager. */
const ownerOrManager = (ctx: Ctx): Privilege => {
  const s = ctx.service.events.get(ctx.params.EventDestinationId ?? '');
  return s && s.owner !== '' && s.owner === ctx.principal?.user ? 'ConfigureSelf' : 'ConfigureManager';
};

const PATCHABLE = new Set(['Context', 'HttpHeaders', 'DeliveryRetryPolicy', 'VerifyCertificate']);

export const eventDestination: ResourceDef = {
  uri: `${COLLECTION}/{EventDestinationId}`,
  get: (ctx) => {
    const s = find(ctx);
    return renderDestination(s, ctx.service.events.deliveryStats(s.id));
  },
  patch: {
    privilege: ownerOrManager,
    run: async (ctx, body) => {
      const s = find(ctx);
      const current = renderDestination(s);
      const errors: Errors = [];
      for (const [k, v] of Object.entries(body)) {
        if (k.includes('@') || PATCHABLE.has(k)) continue;
        if (k in current) {
          if (JSON.stringify(current[k]) !== JSON.stringify(v))
            errors.push(message('PropertyNotWritable', [k], [`#/${k}`]));
        } else errors.push(message('PropertyUnknown', [k], [`#/${k}`]));
      }
      const change: { -readonly [K in keyof StoredSubscription]?: StoredSubscription[K] } = {};
      if ('Context' in body) change.context = contextOf(body, errors);
      if ('HttpHeaders' in body) change.httpHeaders = headers(body, errors);
      if ('DeliveryRetryPolicy' in body) {
        const p = policyOf(body, errors);
        if (p) change.deliveryRetryPolicy = p;
      }
      if ('VerifyCertificate' in body) {
        const v = boolOf(body, 'VerifyCertificate', errors);
        if (v !== undefined) change.verifyCertificate = v;
      }
      if (errors.length > 0) throw new RedfishError(400, errors);
      if (s.subscriptionType === 'SSE' && Object.keys(change).some((k) => k !== 'context')) {
        throw fail(
          400,
          'PropertyNotWritable',
          [Object.keys(body)[0] ?? ''],
          [`#/${Object.keys(body)[0] ?? ''}`],
        );
      }
      await guardStore(() => ctx.service.events.update(s.id, change));
      return undefined;
    },
  },
  delete: {
    privilege: ownerOrManager,
    run: async (ctx) => {
      const s = find(ctx);
      await guardStore(() => ctx.service.events.delete(s.id));
      return { status: 204 };
    },
  },
};

function stateAction(name: 'SuspendSubscription' | 'ResumeSubscription'): ResourceDef {
  return {
    uri: `${COLLECTION}/{EventDestinationId}/Actions/EventDestination.${name}`,
    post: {
      privilege: ownerOrManager,
      run: async (ctx) => {
        const s = find(ctx);
        if (s.subscriptionType !== 'RedfishEvent')
          throw fail(400, 'ActionNotSupported', [`EventDestination.${name}`]);
        await guardStore(() =>
          ctx.service.events.setState(s.id, name === 'SuspendSubscription' ? 'Disabled' : 'Enabled'),
        );
        return { status: 204 };
      },
    },
  };
}

export const suspendSubscription = stateAction('SuspendSubscription');
export const resumeSubscription = stateAction('ResumeSubscription');

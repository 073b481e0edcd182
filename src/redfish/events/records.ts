import type { MachineEvent, MediaState, PowerState } from '../../machine/index.ts';
import type { Json } from '../resource.ts';
import { odataType } from '../schemas.ts';
import { type EventMessage, type EventType, eventMessage } from './registry.ts';

/**
 * Event records: what happened, in the words of the ResourceEvent and TaskEvent registries, and
 * the mapping from the Machine's change events to them. Pure functions; numbering and timestamps
 * are added by the event bus (`bus.ts`).
 */
export interface EventDraft {
  readonly eventType: EventType;
  readonly msg: EventMessage;
  /** URI of the resource the event is about (`OriginOfCondition`). */
  readonly origin: string;
  /** The schema name of that resource (what `ResourceTypes` filters on), e.g. `ComputerSystem`. */
  readonly resourceType: string;
  readonly username?: string;
  readonly oem?: Json;
}

export interface EventRecord extends EventDraft {
  /** Decimal, strictly increasing for the life of the service (and across restarts; see bus.ts). */
  readonly id: string;
  readonly seq: number;
  readonly timestamp: string;
}

/** Where a machine's resources live in the tree. */
export interface SystemUris {
  readonly system: string;
}

const POWER_MESSAGES = {
  On: 'ResourcePoweredOn',
  PoweringOn: 'ResourcePoweringOn',
  Off: 'ResourcePoweredOff',
  PoweringOff: 'ResourcePoweringOff',
  Paused: 'ResourcePaused',
} as const satisfies Record<PowerState, string>;

/** What the bus remembers per media slot to report transitions only (not progress ticks). */
export type MediaMemory = Map<string, MediaState>;

/**
 * The records one Machine event produces (often none: a progress tick or an unchanged state says
 * nothing new). `media` remembers each slot's last state so only transitions are reported.
 */
export function recordsForMachineEvent(
  event: MachineEvent,
  uris: SystemUris,
  media: MediaMemory,
): EventDraft[] {
  const system = uris.system;
  switch (event.type) {
    case 'power':
      return [
        {
          eventType: 'StatusChange',
          msg: eventMessage('ResourceEvent', POWER_MESSAGES[event.state], [system]),
          origin: system,
          resourceType: 'ComputerSystem',
          oem: { KubeVirt: { PowerState: event.state, PreviousPowerState: event.previous } },
        },
      ];
    case 'powerAction': {
      const actor = event.context?.actor;
      return [
        {
          eventType: 'StatusChange',
          msg: eventMessage('ResourceEvent', 'ResourceStateChanged', [
            system,
            `ResetRequested (${event.action})`,
          ]),
          origin: system,
          resourceType: 'ComputerSystem',
          ...(actor ? { username: actor } : {}),
          oem: {
            KubeVirt: {
              ResetType: event.action,
              ...(event.context ? { Protocol: event.context.protocol } : {}),
            },
          },
        },
      ];
    }
    case 'boot': {
      const o = event.override;
      return [
        {
          eventType: 'ResourceUpdated',
          msg: eventMessage('ResourceEvent', 'ResourceChanged'),
          origin: system,
          resourceType: 'ComputerSystem',
          oem: {
            KubeVirt: {
              Boot: {
                BootSourceOverrideTarget: o.target,
                BootSourceOverrideEnabled: o.persistence,
                BootSourceOverrideMode: o.mode,
              },
            },
          },
        },
      ];
    }
    case 'secureBoot':
      return [
        {
          eventType: 'ResourceUpdated',
          msg: eventMessage('ResourceEvent', 'ResourceChanged'),
          origin: `${system}/SecureBoot`,
          resourceType: 'SecureBoot',
          oem: { KubeVirt: { SecureBootEnable: event.state.enabled } },
        },
      ];
    case 'media': {
      const slot = event.slot;
      const key = `${system}#${slot.id}`;
      const before = media.get(key) ?? 'Empty';
      media.set(key, slot.state);
      if (before === slot.state) return [];
      const origin = `${system}/VirtualMedia/${slot.id}`;
      const oem = { KubeVirt: { MediaState: slot.state, Image: slot.image, Message: slot.message } };
      const base = { origin, resourceType: 'VirtualMedia', oem };
      switch (slot.state) {
        case 'Inserted':
          return [
            {
              ...base,
              eventType: 'StatusChange',
              msg: eventMessage('ResourceEvent', 'ResourceStateChanged', [origin, 'Inserted']),
            },
          ];
        case 'Empty':
          return [
            {
              ...base,
              eventType: 'StatusChange',
              msg: eventMessage('ResourceEvent', 'ResourceStateChanged', [origin, 'Ejected']),
            },
          ];
        case 'Failed':
          return [
            {
              ...base,
              eventType: 'Alert',
              msg: eventMessage('ResourceEvent', 'ResourceStatusChangedCritical', [origin, 'Critical']),
            },
          ];
        default:
          // Inserting / Ejecting: the outcome follows.
          return [];
      }
    }
    case 'inventory':
      return [
        {
          eventType: 'ResourceUpdated',
          msg: eventMessage('ResourceEvent', 'ResourceChanged'),
          origin: system,
          resourceType: 'ComputerSystem',
        },
      ];
    case 'availability':
      return [
        event.available
          ? {
              eventType: 'StatusChange',
              msg: eventMessage('ResourceEvent', 'ResourceStatusChangedOK', [system, 'OK']),
              origin: system,
              resourceType: 'ComputerSystem',
            }
          : {
              eventType: 'Alert',
              msg: eventMessage('ResourceEvent', 'ResourceStatusChangedCritical', [system, 'Critical']),
              origin: system,
              resourceType: 'ComputerSystem',
              ...(event.reason ? { oem: { KubeVirt: { Reason: event.reason } } } : {}),
            },
      ];
  }
}

/** A finished task (TaskEvent registry). */
export function recordForTask(
  taskId: string,
  state: 'Completed' | 'Exception' | 'Cancelled',
  status: 'OK' | 'Warning' | 'Critical',
  uri: string,
): EventDraft {
  const key =
    state === 'Cancelled'
      ? 'TaskCancelled'
      : state === 'Exception'
        ? 'TaskAborted'
        : status === 'OK'
          ? 'TaskCompletedOK'
          : 'TaskCompletedWarning';
  return {
    eventType: state === 'Exception' ? 'Alert' : 'Other',
    msg: eventMessage('TaskEvent', key, [taskId]),
    origin: uri,
    resourceType: 'Task',
  };
}

/** The schema name of a resource from its URI (for test events, whose origin is any URI). */
export function resourceTypeOfUri(uri: string): string {
  const path = uri.replace(/\/+$/, '');
  const rules: [RegExp, string][] = [
    [/^\/redfish\/v1\/Systems\/[^/]+$/, 'ComputerSystem'],
    [/\/VirtualMedia\/[^/]+$/, 'VirtualMedia'],
    [/\/SecureBoot$/, 'SecureBoot'],
    [/^\/redfish\/v1\/TaskService\/Tasks\/[^/]+$/, 'Task'],
    [/^\/redfish\/v1\/Managers\/[^/]+$/, 'Manager'],
    [/^\/redfish\/v1\/Chassis\/[^/]+$/, 'Chassis'],
    [/^\/redfish\/v1\/EventService$/, 'EventService'],
    [/^\/redfish\/v1\/EventService\/Subscriptions\/[^/]+$/, 'EventDestination'],
  ];
  for (const [re, type] of rules) if (re.test(path)) return type;
  return '';
}

export const EVENT_ODATA_TYPE = odataType('Event');

/** The `Event` payload one record is sent as (HTTP POST body, SSE `data:`). */
export function renderEvent(record: EventRecord, context: string): Json {
  const r: Json = {
    EventType: record.eventType,
    EventId: record.id,
    EventTimestamp: record.timestamp,
    MemberId: '0',
    MessageId: record.msg.messageId,
    Message: record.msg.message,
    MessageArgs: [...record.msg.messageArgs],
    MessageSeverity: record.msg.severity,
    Resolution: record.msg.resolution,
    OriginOfCondition: { '@odata.id': record.origin },
    Context: context,
  };
  if (record.username) r.Username = record.username;
  if (record.oem) r.Oem = record.oem;
  return {
    '@odata.type': EVENT_ODATA_TYPE,
    Id: record.id,
    Name: 'Event',
    Context: context,
    Events: [r],
    'Events@odata.count': 1,
  };
}

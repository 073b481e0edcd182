/**
 * The event messages this service sends, from the DMTF ResourceEvent 1.4.3 and TaskEvent 1.0.5
 * registries (DSP8011; copies in `test/fixtures/redfish/registries/`). A `MessageId` is `<Prefix>.<Major>.<Minor>.<Key>`;
 * `test/unit/redfish-events/registry.test.ts` checks texts, severities and argument counts against
 * the published registry files.
 */
export type Severity = 'OK' | 'Warning' | 'Critical';

/** The deprecated `EventType` an `EventRecord` still requires (and legacy `EventTypes` filter on). */
export type EventType =
  | 'StatusChange'
  | 'ResourceUpdated'
  | 'ResourceAdded'
  | 'ResourceRemoved'
  | 'Alert'
  | 'Other';

export const EVENT_TYPES: readonly EventType[] = ['StatusChange', 'ResourceUpdated', 'Alert', 'Other'];

interface EventMessageDef {
  readonly message: string;
  readonly args: number;
  readonly severity: Severity;
  readonly resolution: string;
}

const d = (message: string, args: number, severity: Severity, resolution = 'None.'): EventMessageDef => ({
  message,
  args,
  severity,
  resolution,
});

export const REGISTRIES = {
  ResourceEvent: {
    version: '1.4.3',
    messages: {
      ResourcePoweredOn: d("The resource '%1' has powered on.", 1, 'OK'),
      ResourcePoweringOn: d("The resource '%1' is powering on.", 1, 'OK'),
      ResourcePoweredOff: d("The resource '%1' has powered off.", 1, 'OK'),
      ResourcePoweringOff: d("The resource '%1' is powering off.", 1, 'OK'),
      ResourcePaused: d("The resource '%1' was paused.", 1, 'OK'),
      ResourceStateChanged: d("The state of resource '%1' has changed to %2.", 2, 'OK'),
      ResourceStatusChangedOK: d("The health of resource '%1' has changed to %2.", 2, 'OK'),
      ResourceStatusChangedCritical: d("The health of resource '%1' has changed to %2.", 2, 'Critical'),
      ResourceChanged: d('One or more resource properties have changed.', 0, 'OK'),
      PropertyValueModifiedByClient: d(
        "The property %1 was assigned the value '%2' due to modification by a client.",
        2,
        'OK',
        'No resolution is required.',
      ),
      TestMessage: d('Test message.', 0, 'OK'),
    },
  },
  TaskEvent: {
    version: '1.0.5',
    messages: {
      TaskCompletedOK: d("The task with Id '%1' has completed.", 1, 'OK'),
      TaskCompletedWarning: d("The task with Id '%1' has completed with warnings.", 1, 'Warning'),
      TaskAborted: d("The task with Id '%1' has completed with errors.", 1, 'Critical'),
      TaskCancelled: d(
        "Work on the task with Id '%1' was halted prior to completion due to an explicit request.",
        1,
        'Warning',
      ),
    },
  },
} as const;

export type RegistryPrefix = keyof typeof REGISTRIES;
export const REGISTRY_PREFIXES = Object.keys(REGISTRIES) as RegistryPrefix[];

export type EventMessageKey<P extends RegistryPrefix> = keyof (typeof REGISTRIES)[P]['messages'];

/** What a record says before it is numbered: the message and where it comes from. */
export interface EventMessage {
  readonly messageId: string;
  readonly message: string;
  readonly messageArgs: readonly string[];
  readonly severity: Severity;
  readonly resolution: string;
}

export function eventMessage<P extends RegistryPrefix>(
  prefix: P,
  key: EventMessageKey<P>,
  args: readonly (string | number)[] = [],
): EventMessage {
  const reg = REGISTRIES[prefix];
  const def = (reg.messages as Record<string, EventMessageDef>)[key as string];
  if (!def) throw new Error(`${prefix} has no message ${String(key)}`);
  const strArgs = args.map(String);
  if (strArgs.length !== def.args) throw new Error(`${prefix}.${String(key)} takes ${def.args} arguments`);
  const [major, minor] = reg.version.split('.');
  return {
    messageId: `${prefix}.${major}.${minor}.${String(key)}`,
    message: def.message.replace(/%(\d)/g, (_, n: string) => strArgs[Number(n) - 1] ?? ''),
    messageArgs: strArgs,
    severity: def.severity,
    resolution: def.resolution,
  };
}

/** `ResourceEvent.1.4.ResourcePoweredOn` → `ResourceEvent`. */
export function registryPrefixOf(messageId: string): string {
  return messageId.split('.')[0] ?? '';
}

/** `ResourceEvent.1.4.ResourcePoweredOn` → `ResourceEvent.ResourcePoweredOn` (versions ignored). */
export function unversionedMessageId(messageId: string): string {
  const parts = messageId.split('.');
  return parts.length >= 2 ? `${parts[0]}.${parts[parts.length - 1]}` : messageId;
}

import { BASE_PREFIX, type ExtendedInfo, RedfishError } from '../messages.ts';

/**
 * Base 1.22.0 messages only the event service answers with (the service-wide table is
 * `../messages.ts`). Checked against the registry file by `test/unit/redfish-events/registry.test.ts`.
 */
export const EVENT_BASE_MESSAGES = {
  EventSubscriptionLimitExceeded: {
    message:
      'The event subscription failed due to the number of simultaneous subscriptions exceeding the limit of the implementation.',
    args: 0,
    severity: 'Critical',
    resolution:
      'Reduce the number of other subscriptions before trying to establish the event subscription or increase the limit of simultaneous subscriptions, if supported.',
  },
  ServiceDisabled: {
    message: 'The operation failed because the service at %1 is disabled and cannot accept requests.',
    args: 1,
    severity: 'Warning',
    resolution: 'Enable the service and resubmit the request if the operation failed.',
  },
  PropertyValueOutOfRange: {
    message: "The value '%1' for the property %2 is not in the supported range of acceptable values.",
    args: 2,
    severity: 'Warning',
    resolution:
      'Correct the value for the property in the request body and resubmit the request if the operation failed.',
  },
  EventBufferExceeded: {
    message: 'Undelivered events may have been lost due to exceeding the event buffer.',
    args: 0,
    severity: 'Warning',
    resolution: 'None.',
  },
  StringValueTooLong: {
    message: "The string '%1' exceeds the length limit %2.",
    args: 2,
    severity: 'Warning',
    resolution: 'Resubmit the request with an appropriate string length.',
  },
} as const;

export type EventBaseMessageId = keyof typeof EVENT_BASE_MESSAGES;

export function baseInfo(
  id: EventBaseMessageId,
  args: readonly (string | number)[] = [],
  related?: string[],
): ExtendedInfo {
  const def = EVENT_BASE_MESSAGES[id];
  const strArgs = args.map(String);
  if (strArgs.length !== def.args) throw new Error(`Base message ${id} takes ${def.args} arguments`);
  return {
    '@odata.type': '#Message.v1_3_0.Message',
    MessageId: `${BASE_PREFIX}.${id}`,
    Message: def.message.replace(/%(\d)/g, (_, n: string) => strArgs[Number(n) - 1] ?? ''),
    MessageArgs: strArgs,
    MessageSeverity: def.severity,
    Resolution: def.resolution,
    ...(related ? { RelatedProperties: related } : {}),
  };
}

export const baseFail = (
  status: number,
  id: EventBaseMessageId,
  args: readonly (string | number)[] = [],
  related?: string[],
): RedfishError => new RedfishError(status, baseInfo(id, args, related));

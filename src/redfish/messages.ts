/**
 * The Base message registry entries this service answers with (DMTF DSP8011, Base 1.22.0), and the
 * error body format of the Redfish specification. Clients match on `MessageId` (sushy reads the
 * suffix, e.g. `GeneralError`, `ActionParameterMissing`), so ids and argument counts must be the
 * registry's own; `test/unit/redfish/messages.test.ts` checks them against the published registry.
 */
export const BASE_REGISTRY = { prefix: 'Base', version: '1.22.0' } as const;
export const BASE_PREFIX = 'Base.1.22';

type Severity = 'OK' | 'Warning' | 'Critical';

interface MessageDef {
  readonly message: string;
  readonly args: number;
  readonly severity: Severity;
  readonly resolution: string;
}

const m = (message: string, args: number, severity: Severity, resolution: string): MessageDef => ({
  message,
  args,
  severity,
  resolution,
});

const RESUBMIT = 'resubmit the request if the operation failed.';

export const MESSAGES = {
  Success: m('The request completed successfully.', 0, 'OK', 'None.'),
  Created: m('The resource was created successfully.', 0, 'OK', 'None.'),
  GeneralError: m(
    'A general error has occurred.  See Resolution for information on how to resolve the error, or @Message.ExtendedInfo if Resolution is not provided.',
    0,
    'Critical',
    'None.',
  ),
  NoOperation: m(
    'The request body submitted contain no data to act upon and no changes to the resource took place.',
    0,
    'Warning',
    'Add properties in the JSON object and resubmit the request.',
  ),
  MalformedJSON: m(
    'The request body submitted was malformed JSON and could not be parsed by the receiving service.',
    0,
    'Critical',
    'Ensure that the request body is valid JSON and resubmit the request.',
  ),
  UnrecognizedRequestBody: m(
    'The service detected a malformed request body that it was unable to interpret.',
    0,
    'Warning',
    'Correct the request body and resubmit the request if it failed.',
  ),
  PropertyUnknown: m(
    'The property %1 is not in the list of valid properties for the resource.',
    1,
    'Warning',
    `Remove the unknown property from the request body and ${RESUBMIT}`,
  ),
  PropertyNotWritable: m(
    'The property %1 is a read-only property and cannot be assigned a value.',
    1,
    'Warning',
    `Remove the property from the request body and ${RESUBMIT}`,
  ),
  PropertyMissing: m(
    'The property %1 is a required property and must be included in the request.',
    1,
    'Warning',
    `Ensure that the property is in the request body and has a valid value and ${RESUBMIT}`,
  ),
  PropertyValueTypeError: m(
    "The value '%1' for the property %2 is not a type that the property can accept.",
    2,
    'Warning',
    `Correct the value for the property in the request body and ${RESUBMIT}`,
  ),
  PropertyValueFormatError: m(
    "The value '%1' for the property %2 is not a format that the property can accept.",
    2,
    'Warning',
    `Correct the value for the property in the request body and ${RESUBMIT}`,
  ),
  PropertyValueNotInList: m(
    "The value '%1' for the property %2 is not in the list of acceptable values.",
    2,
    'Warning',
    `Choose a value from the enumeration list that the implementation can support and ${RESUBMIT}`,
  ),
  PropertyValueConflict: m(
    "The property '%1' could not be written because its value would conflict with the value of the '%2' property.",
    2,
    'Warning',
    'None.',
  ),
  ActionNotSupported: m(
    'The action %1 is not supported by the resource.',
    1,
    'Critical',
    'Check the Actions property in the resource for the supported actions.',
  ),
  ActionParameterMissing: m(
    'The action %1 requires the parameter %2 to be present in the request body.',
    2,
    'Critical',
    'Supply the action with the required parameter in the request body when the request is resubmitted.',
  ),
  ActionParameterUnknown: m(
    'The action %1 was submitted with the invalid parameter %2.',
    2,
    'Warning',
    `Correct the invalid action parameter and ${RESUBMIT}`,
  ),
  ActionParameterNotSupported: m(
    'The parameter %1 for the action %2 is not supported on the target resource.',
    2,
    'Warning',
    `Remove the parameter supplied and ${RESUBMIT}`,
  ),
  ActionParameterValueNotInList: m(
    "The value '%1' for the parameter %2 in the action %3 is not in the list of acceptable values.",
    3,
    'Warning',
    `Choose a value from the enumeration list that the implementation can support and ${RESUBMIT}`,
  ),
  ActionParameterValueTypeError: m(
    "The value '%1' for the parameter %2 in the action %3 is not a type that the parameter can accept.",
    3,
    'Warning',
    `Correct the value for the parameter in the request body and ${RESUBMIT}`,
  ),
  ActionParameterValueFormatError: m(
    "The value '%1' for the parameter %2 in the action %3 is not a format that the parameter can accept.",
    3,
    'Warning',
    `Correct the value for the parameter in the request body and ${RESUBMIT}`,
  ),
  ActionParameterValueConflict: m(
    "The parameter '%1' with the requested value of '%2' does not meet the constraints of the implementation.",
    2,
    'Warning',
    'None.',
  ),
  ResourceNotFound: m(
    "The requested resource of type %1 named '%2' was not found.",
    2,
    'Critical',
    'Provide a valid resource identifier and resubmit the request.',
  ),
  ResourceMissingAtURI: m(
    "The resource at the URI '%1' was not found.",
    1,
    'Critical',
    'Place a valid resource at the URI or correct the URI and resubmit the request.',
  ),
  ResourceInUse: m(
    'The change to the requested resource failed because the resource is in use or in transition.',
    0,
    'Warning',
    'Remove the condition and resubmit the request if the operation failed.',
  ),
  OperationNotAllowed: m('The HTTP method is not allowed on this resource.', 0, 'Critical', 'None.'),
  InsufficientPrivilege: m(
    'There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.',
    0,
    'Critical',
    'Either abandon the operation or change the associated access rights and resubmit the request if the operation failed.',
  ),
  NoValidSession: m(
    'There is no valid session established with the implementation.',
    0,
    'Critical',
    'Establish a session before attempting any operations.',
  ),
  PreconditionFailed: m(
    'The ETag supplied did not match the ETag required to change this resource.',
    0,
    'Critical',
    'Try the operation again using the appropriate ETag.',
  ),
  QueryParameterUnsupported: m(
    "Query parameter '%1' is not supported.",
    1,
    'Warning',
    'Correct or remove the query parameter and resubmit the request.',
  ),
  QueryParameterValueTypeError: m(
    "The value '%1' for the query parameter %2 is not a type that the parameter can accept.",
    2,
    'Warning',
    'Correct the value for the query parameter in the request and resubmit the request if the operation failed.',
  ),
  QueryParameterValueFormatError: m(
    "The value '%1' for the parameter %2 is not a format that the parameter can accept.",
    2,
    'Warning',
    'Correct the value for the query parameter in the request and resubmit the request if the operation failed.',
  ),
  HeaderInvalid: m(
    "Header '%1' is invalid.",
    1,
    'Critical',
    'Resubmit the request with a valid request header.',
  ),
  InternalError: m(
    'The request failed due to an internal service error.  The service is still operational.',
    0,
    'Critical',
    'Resubmit the request.  If the problem persists, consider resetting the service.',
  ),
  ServiceTemporarilyUnavailable: m(
    'The service is temporarily unavailable.  Retry in %1 seconds.',
    1,
    'Critical',
    'Wait for the indicated retry duration and retry the operation.',
  ),
  SessionLimitExceeded: m(
    'The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.',
    0,
    'Critical',
    'Reduce the number of other sessions before trying to establish the session or increase the limit of simultaneous sessions, if supported.',
  ),
  ResourceCannotBeDeleted: m(
    'The delete request failed because the resource requested cannot be deleted.',
    0,
    'Critical',
    'Do not attempt to delete a non-deletable resource.',
  ),
  PayloadTooLarge: m(
    'The supplied payload exceeds the maximum size supported by the service.',
    0,
    'Critical',
    'Check that the supplied payload is correct and supported by this service.',
  ),
} as const satisfies Record<string, MessageDef>;

export type MessageId = keyof typeof MESSAGES;

export interface ExtendedInfo {
  '@odata.type': '#Message.v1_3_0.Message';
  MessageId: string;
  Message: string;
  MessageArgs: string[];
  MessageSeverity: Severity;
  Resolution: string;
  RelatedProperties?: string[];
}

/** One `@Message.ExtendedInfo` entry for a Base message, with its arguments filled in. */
export function message(
  id: MessageId,
  args: readonly (string | number)[] = [],
  related?: string[],
): ExtendedInfo {
  const def: MessageDef = MESSAGES[id];
  const strArgs = args.map(String);
  if (strArgs.length !== def.args) throw new Error(`Base message ${id} takes ${def.args} arguments`);
  const text = def.message.replace(/%(\d)/g, (_, n: string) => strArgs[Number(n) - 1] ?? '');
  return {
    '@odata.type': '#Message.v1_3_0.Message',
    MessageId: `${BASE_PREFIX}.${id}`,
    Message: text,
    MessageArgs: strArgs,
    MessageSeverity: def.severity,
    Resolution: def.resolution,
    ...(related ? { RelatedProperties: related } : {}),
  };
}

/** The Redfish error body: the first message is also the top-level `code`/`message`. */
export function errorBody(infos: readonly ExtendedInfo[]): { error: Record<string, unknown> } {
  const first = infos[0] ?? message('GeneralError');
  return {
    error: {
      code: first.MessageId,
      message: first.Message,
      '@Message.ExtendedInfo': infos,
    },
  };
}

/** An error a handler throws to end the request with a status and Base messages. */
export class RedfishError extends Error {
  readonly status: number;
  readonly infos: readonly ExtendedInfo[];
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    infos: ExtendedInfo | readonly ExtendedInfo[],
    headers: Record<string, string> = {},
  ) {
    const list = Array.isArray(infos) ? (infos as ExtendedInfo[]) : [infos as ExtendedInfo];
    super(list[0]?.Message ?? 'error');
    this.status = status;
    this.infos = list;
    this.headers = headers;
  }
}

export const fail = (
  status: number,
  id: MessageId,
  args: readonly (string | number)[] = [],
  related?: string[],
): RedfishError => new RedfishError(status, message(id, args, related));

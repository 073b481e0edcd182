/** metav1.Status bodies, shaped like the real API server's (apimachinery pkg/api/errors). */

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** Status details as Go serialises them: empty strings (the core group, no name) are omitted. */
export function compactDetails(d: StatusDetails): StatusDetails {
  const out: StatusDetails = {};
  if (d.name) out.name = d.name;
  if (d.group) out.group = d.group;
  if (d.kind) out.kind = d.kind;
  if (d.uid) out.uid = d.uid;
  if (d.causes) out.causes = d.causes;
  if (d.retryAfterSeconds !== undefined) out.retryAfterSeconds = d.retryAfterSeconds;
  return out;
}

/** Thrown inside the server; the HTTP layer turns it into a Status response. */
export class ApiError extends Error {
  readonly status: KubeStatus;
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      // a few upstream errors carry no reason at all
      ...(reason ? { reason } : {}),
      ...(details ? { details: compactDetails(details) } : {}),
      code,
    };
  }
  get code(): number {
    return this.status.code;
  }
}

/** `pods` for the core group, `virtualmachines.kubevirt.io` otherwise. */
export function qualifiedResource(group: string, plural: string): string {
  return group ? `${plural}.${group}` : plural;
}

export function notFound(group: string, plural: string, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(group, plural)} "${name}" not found`, {
    name,
    group,
    kind: plural,
  });
}

export function alreadyExists(group: string, plural: string, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(group, plural)} "${name}" already exists`, {
    name,
    group,
    kind: plural,
  });
}

export const OPTIMISTIC_LOCK_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again';

export function conflict(group: string, plural: string, name: string, detail: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(group, plural)} "${name}": ${detail}`,
    { name, group, kind: plural },
  );
}

export interface FieldError {
  type:
    | 'FieldValueInvalid'
    | 'FieldValueRequired'
    | 'FieldValueNotSupported'
    | 'FieldValueForbidden'
    | 'FieldValueTypeInvalid'
    | 'FieldValueDuplicate'
    | 'FieldValueTooLong'
    | 'FieldValueTooMany';
  field: string;
  /** The text after `<field>: `, e.g. `Invalid value: "x": must be ...` or `Required value`. */
  detail: string;
}

/** 422 Invalid: `<Kind>.<group> "<name>" is invalid: <field>: <detail>[, <field>: <detail>]`. */
export function invalid(group: string, kind: string, name: string, errors: FieldError[]): ApiError {
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const list = errors.map((e) => `${e.field}: ${e.detail}`);
  const joined = list.length === 1 ? list[0]! : `[${list.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, {
    name,
    group,
    kind,
    causes: errors.map((e) => ({ reason: e.type, message: e.detail, field: e.field })),
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function methodNotAllowed(
  message = 'the server does not allow this method on the requested resource',
): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message, {});
}

export function unsupportedMediaType(types: readonly string[]): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${types.join(', ')}`,
  );
}

export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ message }],
  });
}

export function forbidden(
  user: string,
  verb: string,
  group: string,
  plural: string,
  namespace: string | undefined,
  name: string | undefined,
): ApiError {
  // the subject names the resource without its subresource: pods "p1" is forbidden ... "pods/log"
  const res = qualifiedResource(group, plural.split('/')[0]!);
  const where = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
  const head = name ? `${res} "${name}" is forbidden` : `${res} is forbidden`;
  const resourceWord = plural.includes('/')
    ? `resource "${plural.split('/')[0]}" in API group "${group}"`
    : `resource "${plural}" in API group "${group}"`;
  const sub = plural.includes('/') ? `/${plural.split('/')[1]}` : '';
  return new ApiError(
    403,
    'Forbidden',
    `${head}: User "${user}" cannot ${verb} ${resourceWord.replace(`"${plural.split('/')[0]}"`, `"${plural.split('/')[0]}${sub}"`)} ${where}`,
    { ...(name ? { name } : {}), group, kind: plural.split('/')[0] },
  );
}

export function successStatus(details: StatusDetails): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: compactDetails(details),
  };
}

export function expired(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

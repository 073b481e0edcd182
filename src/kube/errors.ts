/**
 * The one error of a failed Kubernetes API request, whether the server answered a request with a
 * `Status` body, a watch stream carried an `ERROR` event, or no answer came at all (status 0).
 * The predicates read any error: this class, and the `{code}` of client-node's ApiException and of
 * test doubles.
 */
import type { Status, StatusDetails } from './types.ts';

/** Reasons for statuses whose body carried none (as client-go's NewGenericServerResponse). */
const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export class KubeApiError extends Error {
  /** The HTTP status (for a watch ERROR event, the Status' code); 0 when no answer came. */
  readonly status: number;
  /** The Status' reason (`NotFound`, `Expired`, `AlreadyExists`…), or one derived from the status. */
  readonly reason: string;
  /** The Status' details (name and kind of the object concerned, causes, retryAfterSeconds). */
  readonly details: StatusDetails | undefined;

  constructor(status: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.details = details;
  }

  /** The same as `status` (the name client-node's ApiException uses). */
  get code(): number {
    return this.status;
  }

  /** From a Status object (a response body or a watch ERROR event's object). */
  static fromStatus(status: Status, httpStatus?: number, fallbackMessage?: string): KubeApiError {
    const code = httpStatus ?? (typeof status.code === 'number' ? status.code : 0);
    const message =
      typeof status.message === 'string' && status.message
        ? status.message
        : (fallbackMessage ?? `HTTP ${code}`);
    return new KubeApiError(code, status.reason || REASONS[code] || '', message, status.details);
  }

  /** From a response: its status and body, a `Status` when the server sent one, else any text. */
  static fromResponse(httpStatus: number, body: string, fallbackMessage?: string): KubeApiError {
    let parsed: unknown;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return KubeApiError.fromStatus(parsed as Status, httpStatus, fallbackMessage);
    }
    const text = body.trim().slice(0, 500);
    const fallback = fallbackMessage ?? `HTTP ${httpStatus}`;
    return new KubeApiError(
      httpStatus,
      REASONS[httpStatus] ?? '',
      text ? (fallbackMessage ? `${fallbackMessage}: ${text}` : text) : fallback,
    );
  }

  /** From the object of a watch `ERROR` event (a Status; 410 Expired when the version is gone). */
  static fromWatchEvent(object: unknown): KubeApiError {
    const status = (object && typeof object === 'object' ? object : {}) as Status;
    return KubeApiError.fromStatus(status, undefined, 'watch error event');
  }
}

/**
 * The HTTP status an error carries: a KubeApiError's, or the numeric `status`/`code` of another
 * error object (client-node, test doubles). Undefined for anything else (a Node error's `code` is
 * a string).
 */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.status;
  if (!err || typeof err !== 'object') return undefined;
  const { status, code } = err as { status?: unknown; code?: unknown };
  if (typeof status === 'number') return status;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;
export const isAlreadyExists = (err: unknown): boolean =>
  statusOf(err) === 409 && (err as { reason?: unknown }).reason === 'AlreadyExists';
export const isForbidden = (err: unknown): boolean => statusOf(err) === 403;
export const isInvalid = (err: unknown): boolean => statusOf(err) === 422;
/** 410 Gone / Expired: a resourceVersion or continue token the server no longer has. */
export const isGone = (err: unknown): boolean => statusOf(err) === 410;
export const isExpired = isGone;
export const isTooManyRequests = (err: unknown): boolean => statusOf(err) === 429;
/** No answer at all: the server could not be reached, or the connection dropped first. */
export const isUnreachable = (err: unknown): boolean => err instanceof KubeApiError && err.status === 0;
/**
 * A 404 about the collection rather than an object (no `details.name`): the server does not serve
 * this resource at all (a CRD not installed, CDI absent).
 */
export const isResourceMissing = (err: unknown): boolean =>
  isNotFound(err) && !(err instanceof KubeApiError && err.details?.name);

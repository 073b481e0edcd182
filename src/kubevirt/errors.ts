import { KubeApiError } from '../kube/errors.ts';
import {
  BackendUnavailableError,
  ConflictError,
  InvalidArgumentError,
  InvalidStateError,
  type MachineError,
  NotFoundError,
  NotSupportedError,
} from '../machine/index.ts';

/** The one API error class (src/kube/errors.ts); KubeVirt's own refusals come as Status bodies too. */
export { KubeApiError };

/** Whether the error is a write that lost a race (stale resourceVersion, failed JSON-patch `test`). */
/**
 * KubeVirt's refusal of a start or stop while it has not yet consumed the previous one (virt-api:
 * 500 "unable to complete request: stop/start already underway"). It consumes it within moments.
 */
export function isChangeUnderway(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 500 && /already underway/i.test(err.message);
}

export function isWriteConflict(err: unknown): boolean {
  if (!(err instanceof KubeApiError)) return false;
  // KubeVirt's refusals are 409 Conflict too ("…: VM is not running"): only a stale write counts.
  if (err.status === 409 && /the object has been modified/i.test(err.message)) return true;
  // A failed `test` op: 422 from the API server; KubeVirt's own patches say 409 or 500 with this text.
  return (
    /test operation does not apply|testing value .* failed|test failed/i.test(err.message) &&
    (err.status === 422 || err.status === 409 || err.status === 500)
  );
}

/**
 * Maps a failed API request to the Machine's typed error, keeping the server's message (KubeVirt's
 * own words, such as "VM is not running") so a BMC user sees why.
 *
 * | HTTP status / reason                                   | Machine error       |
 * |--------------------------------------------------------|---------------------|
 * | 404                                                    | NotFound            |
 * | 409 Conflict / AlreadyExists, failed JSON-patch test   | Conflict            |
 * | 409 other (KubeVirt refusing the action in this state) | InvalidState        |
 * | 500 "stop/start already underway"                      | Conflict            |
 * | 400, 422 (validation, admission webhooks)              | InvalidArgument     |
 * | 403 (RBAC denies it)                                   | NotSupported        |
 * | 401, 429, other 5xx, no connection                     | BackendUnavailable  |
 */
export function toMachineError(err: unknown, what: string): MachineError {
  if (!(err instanceof KubeApiError)) {
    const message = err instanceof Error ? err.message : String(err);
    return new BackendUnavailableError(`${what} failed: ${message}`, { cause: err });
  }
  const message = `${what}: ${err.message}`;
  const options = { cause: err };
  if (isWriteConflict(err)) return new ConflictError(message, options);
  switch (err.status) {
    case 404:
      return new NotFoundError(message, options);
    case 409:
      if (err.reason === 'AlreadyExists') return new ConflictError(message, options);
      return new InvalidStateError(message, options);
    case 400:
    case 422:
      return new InvalidArgumentError(message, options);
    case 403:
      return new NotSupportedError(
        `${message} (the agent's service account is not allowed to do this)`,
        options,
      );
    case 500:
      if (isChangeUnderway(err)) return new ConflictError(message, options);
      return new BackendUnavailableError(message, options);
    default:
      return new BackendUnavailableError(message, options);
  }
}

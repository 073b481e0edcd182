/**
 * When the API server says "not now": 429 Too Many Requests (kube-apiserver's max-in-flight and
 * priority-and-fairness limits, which reject a request before processing it) and 503 Service
 * Unavailable with a `Retry-After`. As client-go does, the request is sent again after the
 * server's `Retry-After` (capped here), a bounded number of times; then the error surfaces.
 *
 * Which answers are retried:
 * - 429, for every method (the request was not processed): after `Retry-After`, or the Status'
 *   `details.retryAfterSeconds`, or 1 s;
 * - 503 with a `Retry-After` (header or `details.retryAfterSeconds`), for every method;
 * - another 5xx with a `Retry-After`, for reads (GET, HEAD) only: a write may have been applied.
 */

import { KubeApiError } from './errors.ts';

/** Retries after the first attempt (client-go's default is 10 too). */
export const DEFAULT_MAX_RETRIES = 10;
/** The longest a single `Retry-After` is waited for. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 10_000;

export interface RetryPolicy {
  /** Attempts after the first; 0 disables retrying. */
  maxRetries: number;
  /** Cap on each wait. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: DEFAULT_MAX_RETRIES,
  maxRetryAfterMs: DEFAULT_MAX_RETRY_AFTER_MS,
};

/**
 * A `Retry-After` header (RFC 9110 §10.2.3) in milliseconds from `now`: delay-seconds (`120`) or an
 * HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`; a date in the past is 0). Undefined when absent or
 * unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // an HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime forms, which Date.parse reads too
  if (!/[a-z]/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The server's `Retry-After` carried by a KubeApiError (header or Status details), in ms. */
export function retryAfterMs(err: unknown): number | undefined {
  const secs = err instanceof KubeApiError ? err.details?.retryAfterSeconds : undefined;
  return typeof secs === 'number' && Number.isFinite(secs) && secs >= 0 ? secs * 1000 : undefined;
}

/**
 * How long to wait before attempt `attempt + 1` of `method` that failed with `err`, or undefined
 * when it is not to be retried (not a retryable answer, or `attempt` was the last allowed).
 */
export function retryDelayMs(
  err: unknown,
  method: string,
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): number | undefined {
  if (attempt > policy.maxRetries) return undefined;
  if (!(err instanceof KubeApiError)) return undefined;
  const code = err.status;
  const after = retryAfterMs(err);
  const read = method === 'GET' || method === 'HEAD';
  let wait: number | undefined;
  if (code === 429) wait = after ?? 1000;
  else if (code === 503) wait = after;
  else if (code >= 500 && code < 600) wait = read ? after : undefined;
  if (wait === undefined) return undefined;
  return Math.min(wait, policy.maxRetryAfterMs);
}

/** Resolves after `ms`, or rejects with an AbortError when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => {
      const e = new Error('The operation was aborted');
      e.name = 'AbortError';
      (e as { code?: string }).code = 'ABORT_ERR';
      return e;
    };
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The one list-then-watch loop. It lists a collection (in pages), then watches it from the list's
 * resourceVersion, and keeps watching from the last resourceVersion it saw (events and bookmarks)
 * for as long as it runs, whatever the server does:
 *
 * | how a watch ended                                          | next                     | backoff          |
 * |------------------------------------------------------------|--------------------------|------------------|
 * | the server closed it after events or bookmarks             | watch again at once      | reset            |
 * | the server closed it with nothing delivered                | watch again              | grows            |
 * | silent for longer than `stallTimeoutMs` (the watchdog)     | watch again              | grows            |
 * | 410 Gone/Expired (HTTP, or an ERROR event)                 | relist, then watch       | grows            |
 * | another ERROR event, or an HTTP error answering the watch  | relist, then watch       | grows            |
 * | no answer (connection refused or lost), 429 after retries  | watch again              | grows            |
 * | the list failed                                            | list again               | grows            |
 * | the list found no such resource (404, CRD not installed)   | list again, now and then | at least 6 steps |
 *
 * The backoff is capped exponential with jitter, and only a watch that delivered something resets
 * it, so a server that keeps closing streams, sending ERROR events or answering 410 is asked less
 * and less often instead of in a hot loop (client-node 1.4's informer stops after a non-410 error
 * and relists at once after a 410). Bookmarks are asked for (`allowWatchBookmarks`), so a quiet
 * collection's resourceVersion still moves and a resumed watch rarely meets a 410. Each watch asks
 * the server to end it after a randomised few minutes (`timeoutSeconds`), so watches are renewed
 * at different moments; the watchdog ends a stream that went silent for longer than that (a
 * connection that died without a word).
 *
 * resourceVersions are opaque: they are passed back to the server, never compared.
 */
import { isGone, isResourceMissing, isTooManyRequests, KubeApiError } from './errors.ts';
import type { Query } from './paths.ts';
import type { KubeObject } from './types.ts';

/** What a reflector needs of a client: `KubeClient`'s `listAll` and `stream`. */
export interface ListWatchClient {
  listAll<T>(
    path: string,
    options?: { query?: Query; signal?: AbortSignal },
  ): Promise<{ metadata?: { resourceVersion?: string }; items?: T[] | null }>;
  stream(
    path: string,
    query: Query | undefined,
    onObject: (obj: unknown) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

/** What the reflector tells its store. */
export interface ReflectorHandler<T> {
  /** A list request is about to be sent (its answer will come to `replace`). */
  listing?(): void;
  /** The list's answer: the whole collection as of `resourceVersion`. */
  replace(items: T[], resourceVersion: string): void;
  /** One ADDED, MODIFIED or DELETED event. */
  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: T): void;
  /** A BOOKMARK: the collection is current up to `resourceVersion`, nothing changed. */
  bookmark?(resourceVersion: string): void;
  /** The server does not serve this resource (the list answered 404). */
  missing?(): void;
}

export interface ReflectorOptions {
  /** The collection's path (`paths.ts`), e.g. `/api/v1/namespaces/ns/secrets`. */
  path: string;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** First retry delay after a failure; doubles per consecutive failure (default 200 ms). */
  initialBackoffMs?: number | undefined;
  /** The longest delay (default 30 s). */
  maxBackoffMs?: number | undefined;
  /** Seconds after which the server is asked to end each watch (default 240–360, randomised). */
  watchTimeoutSeconds?: number | undefined;
  /** A watch that delivers nothing (no event, no bookmark) for this long is ended (default: its timeout + 30 s). */
  stallTimeoutMs?: number | undefined;
  logger?: { warn(obj: object, msg: string): void } | undefined;
}

/** How one round (a watch, or a list that failed) ended. */
export type RoundEnd =
  /** the stream ended normally (the server's timeout, a drop, a restart) */
  | 'closed'
  /** the watchdog ended a silent stream */
  | 'stalled'
  /** 410: the resourceVersion is no longer in the server's history */
  | 'expired'
  /** an ERROR event or an HTTP error: the state is to be listed anew */
  | 'failed'
  /** no answer, or 429 after the client's own retries: the resourceVersion is still good */
  | 'unreachable'
  /** the list answered 404: the resource is not served (yet) */
  | 'missing';

export interface Round {
  end: RoundEnd;
  /** Whether the watch delivered any event or bookmark before it ended. */
  delivered: boolean;
}

/** The loop's decision after a round: the new failure count (0 = healthy) and whether to relist. */
export function nextStep(attempt: number, round: Round): { attempt: number; relist: boolean } {
  // a watch that delivered something proves the server and our resourceVersion good: start over
  const base = round.delivered ? 0 : attempt;
  switch (round.end) {
    case 'closed':
      return { attempt: round.delivered ? 0 : base + 1, relist: false };
    case 'stalled':
    case 'unreachable':
      return { attempt: base + 1, relist: false };
    case 'expired':
    case 'failed':
      return { attempt: base + 1, relist: true };
    case 'missing':
      return { attempt: Math.max(base + 1, 6), relist: true };
  }
}

/** The delay before the next round: 0 when healthy, else capped exponential with jitter (50–100 %). */
export function backoffDelay(
  attempt: number,
  initialMs = 200,
  maxMs = 30_000,
  random: () => number = Math.random,
): number {
  if (attempt <= 0) return 0;
  const ms = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ms * (0.5 + random() / 2));
}

/** How a failed list or watch request counts. */
export function classify(err: unknown): RoundEnd {
  if (isGone(err)) return 'expired';
  if (isResourceMissing(err)) return 'missing';
  if (!(err instanceof KubeApiError) || err.status === 0 || isTooManyRequests(err)) return 'unreachable';
  return 'failed';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export interface ReflectorStats {
  lists: number;
  watches: number;
  /** Lists and watches that failed (HTTP errors, ERROR events, no answer, stalls). */
  failures: number;
  /** 410s: the resourceVersion was gone and the collection was listed anew. */
  expired: number;
  /** Streams the watchdog ended. */
  stalls: number;
}

export class Reflector<T extends KubeObject = KubeObject> {
  readonly #client: ListWatchClient;
  readonly #o: ReflectorOptions;
  readonly #handler: ReflectorHandler<T>;
  #stop: AbortController | null = null;
  #loop: Promise<void> | null = null;
  #resourceVersion = '';
  #watching = false;
  #lastError: string | null = null;
  readonly stats: ReflectorStats = { lists: 0, watches: 0, failures: 0, expired: 0, stalls: 0 };

  constructor(client: ListWatchClient, options: ReflectorOptions, handler: ReflectorHandler<T>) {
    this.#client = client;
    this.#o = options;
    this.#handler = handler;
  }

  get path(): string {
    return this.#o.path;
  }

  /** The last resourceVersion seen (list, event or bookmark); '' before the first list. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** True while a watch request is open. */
  get watching(): boolean {
    return this.#watching;
  }

  /** Why the last list or watch failed, until a list succeeds. */
  get lastError(): string | null {
    return this.#lastError;
  }

  get running(): boolean {
    return this.#loop !== null;
  }

  start(): void {
    if (this.#loop) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#loop = this.#run(stop.signal).catch((err) => {
      this.#o.logger?.warn({ path: this.#o.path, err: message(err) }, 'list/watch loop crashed');
    });
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    await this.#loop;
    this.#loop = null;
    this.#stop = null;
  }

  #query(): Query {
    return { labelSelector: this.#o.labelSelector, fieldSelector: this.#o.fieldSelector };
  }

  async #run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    let relist = true;
    while (!signal.aborted) {
      const delay = backoffDelay(attempt, this.#o.initialBackoffMs, this.#o.maxBackoffMs);
      await sleep(delay, signal);
      if (signal.aborted) break;
      if (relist) {
        const listed = await this.#list(signal);
        if (signal.aborted) break;
        if (listed !== null) {
          ({ attempt } = nextStep(attempt, listed));
          this.#report(listed, attempt);
          continue;
        }
        relist = false;
      }
      const round = await this.#watch(signal);
      if (signal.aborted) break;
      ({ attempt, relist } = nextStep(attempt, round));
      this.#report(round, attempt);
    }
  }

  #report(round: Round, attempt: number): void {
    if (round.end === 'expired') this.stats.expired++;
    else if (round.end === 'stalled') this.stats.stalls++;
    if (round.end === 'failed' || round.end === 'unreachable' || round.end === 'stalled') {
      this.stats.failures++;
      this.#o.logger?.warn(
        {
          path: this.#o.path,
          err: this.#lastError,
          attempt,
          retryInMs: backoffDelay(attempt, this.#o.initialBackoffMs, this.#o.maxBackoffMs, () => 1),
        },
        'list/watch failed; retrying',
      );
    }
  }

  /** One list; null when it succeeded, else how it failed. */
  async #list(signal: AbortSignal): Promise<Round | null> {
    this.stats.lists++;
    this.#handler.listing?.();
    let list: Awaited<ReturnType<ListWatchClient['listAll']>>;
    try {
      list = await this.#client.listAll<T>(this.#o.path, { query: this.#query(), signal });
    } catch (err) {
      if (signal.aborted) return { end: 'closed', delivered: false };
      this.#lastError = message(err);
      const end = classify(err);
      if (end === 'missing') this.#handler.missing?.();
      // a 410 on a list (not a continue token, which the pager handles) is a failed list
      return { end: end === 'expired' ? 'failed' : end, delivered: false };
    }
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
    this.#lastError = null;
    this.#handler.replace((list.items ?? []) as T[], this.#resourceVersion);
    return null;
  }

  /** One watch stream, until it ends. */
  async #watch(stop: AbortSignal): Promise<Round> {
    this.stats.watches++;
    const timeoutSeconds = this.#o.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120);
    const stallMs = this.#o.stallTimeoutMs ?? (timeoutSeconds + 30) * 1000;
    const abort = new AbortController();
    const onStop = () => abort.abort();
    stop.addEventListener('abort', onStop);
    let delivered = false;
    let end: RoundEnd | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        end ??= 'stalled';
        this.#lastError = `the watch delivered nothing for ${stallMs} ms`;
        abort.abort();
      }, stallMs);
    };
    const onLine = (line: unknown) => {
      if (end || abort.signal.aborted) return;
      arm();
      const { type, object } = (line ?? {}) as { type?: unknown; object?: KubeObject };
      if (type === 'ERROR') {
        const err = KubeApiError.fromWatchEvent(object);
        end = isGone(err) ? 'expired' : 'failed';
        this.#lastError = err.message;
        abort.abort();
        return;
      }
      const rv = object?.metadata?.resourceVersion;
      if (type === 'BOOKMARK') {
        delivered = true;
        if (typeof rv === 'string' && rv) {
          this.#resourceVersion = rv;
          this.#handler.bookmark?.(rv);
        }
        return;
      }
      if ((type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') || !object) return;
      delivered = true;
      try {
        this.#handler.event(type, object as T);
      } catch (err) {
        this.#o.logger?.warn({ path: this.#o.path, err: message(err) }, 'watch event handler failed');
      }
      if (typeof rv === 'string' && rv) this.#resourceVersion = rv;
    };
    this.#watching = true;
    arm();
    try {
      await this.#client.stream(
        this.#o.path,
        {
          ...this.#query(),
          watch: true,
          resourceVersion: this.#resourceVersion || undefined,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
        onLine,
        abort.signal,
      );
      end ??= 'closed';
    } catch (err) {
      if (!end) {
        end = stop.aborted ? 'closed' : classify(err);
        if (end === 'missing') end = 'failed';
        this.#lastError = message(err);
      }
    } finally {
      clearTimeout(watchdog);
      stop.removeEventListener('abort', onStop);
      this.#watching = false;
    }
    return { end, delivered };
  }
}

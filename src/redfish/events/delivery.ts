import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { bareHost, type DestinationGuard, parseDestination, portOf } from './destination.ts';
import { type EventRecord, renderEvent } from './records.ts';
import type { DeliveryRetryPolicy } from './store.ts';

/**
 * Push delivery: each subscription has its own bounded queue and one worker that POSTs the queued
 * events in order. Nothing here runs on a request path: the bus only appends to queues, so a slow
 * or dead destination delays nothing but its own events.
 *
 * Retry policy (EventDestination `DeliveryRetryPolicy`, EventService `DeliveryRetryAttempts` and
 * `DeliveryRetryIntervalSeconds`): a POST fails on a network error, a timeout or a status outside
 * 2xx; it is retried with backoff (see `retryDelaySeconds`), up to the attempts; then
 * `SuspendRetries` (the default) suspends the subscription (`Status.State` `Disabled`, events keep
 * queueing up to the bound until `ResumeSubscription`), `TerminateAfterRetries` deletes it;
 * `RetryForever` retries at the constant interval and `RetryForeverWithBackoff` with backoff, both
 * without end. A destination that is the service itself, or that the destination policy refuses
 * (`destination.ts`; its name may have been pointed at another address since it was created), is
 * refused at once: suspended without retries.
 */
export interface DeliveryTarget {
  readonly id: string;
  readonly destination: string;
  readonly context: string;
  readonly httpHeaders: Readonly<Record<string, string>>;
  readonly deliveryRetryPolicy: DeliveryRetryPolicy;
  readonly verifyCertificate: boolean;
  readonly state: 'Enabled' | 'Disabled';
}

export interface DeliverySettings {
  readonly attempts: number;
  readonly intervalSeconds: number;
}

export interface DeliveryOptions {
  readonly log: Logger;
  readonly guard: DestinationGuard;
  readonly settings: () => DeliverySettings;
  /** Look up the current subscription (it may have been patched, suspended or deleted). */
  readonly target: (id: string) => DeliveryTarget | undefined;
  /** Delivery kept failing: suspend (`SuspendRetries`, or a refused destination). */
  readonly onSuspend: (id: string, reason: string) => void;
  /** Delivery kept failing under `TerminateAfterRetries`. */
  readonly onTerminate: (id: string, reason: string) => void;
  readonly timeoutMs?: number;
  readonly maxQueue?: number;
  /** Longest wait between attempts under `RetryForeverWithBackoff` (default 600 s). */
  readonly maxBackoffSeconds?: number;
}

export interface DeliveryStats {
  delivered: number;
  failedAttempts: number;
  dropped: number;
  lastError: string | null;
}

interface Queue {
  readonly id: string;
  readonly items: EventRecord[];
  running: boolean;
  closed: boolean;
  wake: (() => void) | null;
  readonly stats: DeliveryStats;
}

const USER_AGENT = 'kubevirtbmc-redfish-events';

/**
 * The wait before retry number `failures` (1 = the first retry) of one event: the interval, then
 * doubling (interval, 2×, 4×…) up to `maxSeconds`; constant for `RetryForever`, whose definition
 * in the schema says so. An interval of 0 means no wait (tests).
 */
export function retryDelaySeconds(
  policy: DeliveryRetryPolicy,
  intervalSeconds: number,
  failures: number,
  maxSeconds: number,
): number {
  if (policy === 'RetryForever') return intervalSeconds;
  return Math.min(
    intervalSeconds * 2 ** Math.min(Math.max(failures - 1, 0), 20),
    Math.max(maxSeconds, intervalSeconds),
  );
}
const MAX_RESPONSE_BYTES = 64 * 1024;

export class Delivery {
  readonly #o: DeliveryOptions;
  readonly #queues = new Map<string, Queue>();
  // Made on first use: most BMCs of an agent serving a thousand never have a subscriber.
  #agents: { http: http.Agent; https: https.Agent; httpsVerifying: https.Agent } | null = null;

  #agent(kind: 'http' | 'https' | 'httpsVerifying'): http.Agent {
    this.#agents ??= {
      http: new http.Agent({ keepAlive: true, maxSockets: 2 }),
      https: new https.Agent({ keepAlive: true, maxSockets: 2 }),
      httpsVerifying: new https.Agent({ keepAlive: true, maxSockets: 2, rejectUnauthorized: true }),
    };
    return this.#agents[kind];
  }

  constructor(options: DeliveryOptions) {
    this.#o = options;
  }

  stats(id: string): DeliveryStats | undefined {
    return this.#queues.get(id)?.stats;
  }

  /** Queues a record for a subscription and starts its worker if idle and enabled. */
  enqueue(id: string, record: EventRecord): void {
    let q = this.#queues.get(id);
    if (!q) {
      q = {
        id,
        items: [],
        running: false,
        closed: false,
        wake: null,
        stats: { delivered: 0, failedAttempts: 0, dropped: 0, lastError: null },
      };
      this.#queues.set(id, q);
    }
    q.items.push(record);
    const max = this.#o.maxQueue ?? 256;
    if (q.items.length > max) {
      // Bounded memory: the oldest undelivered events go first (counted, logged once per burst).
      const dropped = q.items.splice(0, q.items.length - max).length;
      if (q.stats.dropped === 0)
        this.#o.log.warn({ subscription: id }, 'redfish events: queue full, dropping oldest');
      q.stats.dropped += dropped;
    }
    this.kick(id);
  }

  /** Starts the worker (after a resume, or new events). */
  kick(id: string): void {
    const q = this.#queues.get(id);
    if (!q || q.running || q.closed) return;
    if (this.#o.target(id)?.state !== 'Enabled') return;
    q.running = true;
    void this.#run(q).finally(() => {
      q.running = false;
    });
  }

  /** Forgets a subscription (deleted): its worker stops after the attempt in flight. */
  remove(id: string): void {
    const q = this.#queues.get(id);
    if (!q) return;
    q.closed = true;
    q.items.length = 0;
    q.wake?.();
    this.#queues.delete(id);
  }

  close(): void {
    for (const id of [...this.#queues.keys()]) this.remove(id);
    if (this.#agents) for (const a of Object.values(this.#agents)) a.destroy();
    this.#agents = null;
  }

  async #run(q: Queue): Promise<void> {
    while (!q.closed && q.items.length > 0) {
      const record = q.items[0]!;
      let failures = 0;
      for (;;) {
        const sub = this.#o.target(q.id);
        if (!sub || q.closed) return;
        if (sub.state !== 'Enabled') return;
        const result = await this.#post(sub, record);
        if (q.closed) return;
        if (result.ok) {
          if (q.items[0] === record) q.items.shift();
          q.stats.delivered++;
          break;
        }
        failures++;
        q.stats.failedAttempts++;
        q.stats.lastError = result.reason;
        this.#o.log.warn(
          { subscription: q.id, eventId: record.id, attempt: failures, reason: result.reason },
          'redfish events: delivery failed',
        );
        if (result.permanent) {
          this.#o.onSuspend(q.id, result.reason);
          return;
        }
        const { attempts, intervalSeconds } = this.#o.settings();
        const policy = sub.deliveryRetryPolicy;
        if ((policy === 'SuspendRetries' || policy === 'TerminateAfterRetries') && failures > attempts) {
          if (policy === 'TerminateAfterRetries') this.#o.onTerminate(q.id, result.reason);
          else this.#o.onSuspend(q.id, result.reason);
          return;
        }
        const waitS = retryDelaySeconds(policy, intervalSeconds, failures, this.#o.maxBackoffSeconds ?? 600);
        await this.#sleep(q, waitS * 1000);
      }
    }
  }

  #sleep(q: Queue, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        q.wake = null;
        resolve();
      }, ms);
      t.unref();
      q.wake = () => {
        clearTimeout(t);
        q.wake = null;
        resolve();
      };
    });
  }

  async #post(
    sub: DeliveryTarget,
    record: EventRecord,
  ): Promise<{ ok: true } | { ok: false; reason: string; permanent: boolean }> {
    const parsed = parseDestination(sub.destination);
    if (!parsed.ok) return { ok: false, reason: parsed.reason, permanent: true };
    const url = parsed.url;
    // Resolved and judged again now (DNS may have changed since the subscription was created).
    const resolved = await this.#o.guard.check(url);
    if (!resolved.ok)
      return { ok: false, reason: resolved.reason, permanent: resolved.kind !== 'unresolved' };
    const body = Buffer.from(JSON.stringify(renderEvent(record, sub.context)));
    const tls = url.protocol === 'https:';
    const host = bareHost(url.hostname);
    const headers: Record<string, string> = {
      ...sub.httpHeaders,
      Host: url.host,
      'Content-Type': 'application/json',
      'Content-Length': String(body.length),
      'User-Agent': USER_AGENT,
      'OData-Version': '4.0',
    };
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: { ok: true } | { ok: false; reason: string; permanent: boolean }) => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      const options: https.RequestOptions = {
        // Connect to the address that was checked, not to a second lookup of the name.
        host: resolved.address,
        port: portOf(url),
        method: 'POST',
        path: `${url.pathname}${url.search}`,
        headers,
        timeout: this.#o.timeoutMs ?? 10_000,
      };
      if (tls) {
        options.agent = this.#agent(sub.verifyCertificate ? 'httpsVerifying' : 'https');
        options.rejectUnauthorized = sub.verifyCertificate;
        if (isIP(host) === 0) options.servername = host;
      } else {
        options.agent = this.#agent('http');
      }
      const req = (tls ? https : http).request(options, (res) => {
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) res.destroy();
        });
        res.on('error', () => undefined);
        res.on('close', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) done({ ok: true });
          else done({ ok: false, reason: `HTTP ${status}`, permanent: false });
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err: NodeJS.ErrnoException) =>
        done({ ok: false, reason: err.code ?? err.message, permanent: false }),
      );
      req.end(body);
    });
  }
}

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Machine } from '../../machine/index.ts';
import type { SystemEntry } from '../resource.ts';
import type { TaskStore } from '../tasks.ts';
import { Delivery, type DeliveryStats } from './delivery.ts';
import { DestinationGuard, type DestinationPolicyOptions } from './destination.ts';
import { matches } from './filter.ts';
import {
  type EventDraft,
  type EventRecord,
  type MediaMemory,
  recordForTask,
  recordsForMachineEvent,
} from './records.ts';
import {
  MemorySubscriptionStore,
  type StoredSubscription,
  type SubscriptionStore,
  sanitizeStored,
} from './store.ts';

/**
 * The event engine: turns Machine change events (and finished tasks, and test events) into
 * numbered records, keeps the last few in a ring buffer for SSE resume, and fans each record out to
 * the matching subscriptions (push delivery, `delivery.ts`) and open SSE streams (`sse.ts`). It
 * owns the subscription list and persists it through a `SubscriptionStore`.
 */
export interface EventServiceOptions {
  /** Where subscriptions persist (default: in memory, lost on restart). */
  store?: SubscriptionStore;
  /** `DeliveryRetryAttempts` (default 3). */
  deliveryRetryAttempts?: number;
  /** `DeliveryRetryIntervalSeconds` (default 30). */
  deliveryRetryIntervalSeconds?: number;
  /** Per-POST timeout (default 10 s). */
  deliveryTimeoutMs?: number;
  /** SSE comment heartbeat period (default 30 s). */
  sseHeartbeatSeconds?: number;
  /** Records kept for `Last-Event-ID` resume (default 1000). */
  bufferSize?: number;
  /** Push subscriptions at most (default 32); SSE streams at most (default 16). */
  maxSubscriptions?: number;
  maxSseStreams?: number;
  /** Undelivered events kept per subscription (default 256). */
  maxQueuePerSubscription?: number;
  /** `host:port` addresses that reach this service besides its listeners (e.g. its Service). */
  selfEndpoints?: readonly string[];
  /**
   * Which addresses events may be delivered to besides the built-in rules (`allow`, `deny`), and
   * where the Kubernetes API is; see `destination.ts` and docs/security.md. A bad rule throws.
   */
  destinations?: DestinationPolicyOptions;
}

export interface Subscription extends StoredSubscription {
  readonly subscriptionType: 'RedfishEvent' | 'SSE';
}

export interface SseClient {
  readonly subscription: Subscription;
  readonly predicate: (r: EventRecord) => boolean;
  send(record: EventRecord): void;
  close(): void;
}

export interface EngineDeps {
  readonly systems: () => readonly SystemEntry[];
  /**
   * True when `systems()` can never change (one BMC for one machine): the machines are attached
   * once. Otherwise (aggregate mode) the list is looked at again every second.
   */
  readonly fixedSystems?: boolean;
  readonly tasks: TaskStore;
  readonly log: Logger;
}

export class EventEngine {
  readonly guard: DestinationGuard;
  readonly heartbeatMs: number;
  readonly maxSubscriptions: number;
  readonly maxSseStreams: number;
  serviceEnabled = true;
  retryAttempts: number;
  retryIntervalSeconds: number;

  readonly #deps: EngineDeps;
  readonly #store: SubscriptionStore;
  readonly #delivery: Delivery;
  readonly #bufferSize: number;
  readonly #buffer: EventRecord[] = [];
  readonly #subs = new Map<string, Subscription>();
  readonly #sse = new Map<string, SseClient>();
  readonly #attached = new Map<Machine, () => void>();
  readonly #media: MediaMemory = new Map();
  readonly #reportedTasks = new Set<string>();
  #lastSeq = 0;
  #evictedUpTo = 0;
  #saveChain: Promise<void> = Promise.resolve();
  #refreshTimer: NodeJS.Timeout | null = null;
  #loadTimer: NodeJS.Timeout | null = null;
  #taskScan: NodeJS.Immediate | null = null;
  #starting: Promise<void> | null = null;
  #loaded = false;
  #closed = false;

  constructor(options: EventServiceOptions, deps: EngineDeps) {
    this.#deps = deps;
    this.#store = options.store ?? new MemorySubscriptionStore();
    this.retryAttempts = options.deliveryRetryAttempts ?? 3;
    this.retryIntervalSeconds = options.deliveryRetryIntervalSeconds ?? 30;
    this.heartbeatMs = (options.sseHeartbeatSeconds ?? 30) * 1000;
    this.#bufferSize = options.bufferSize ?? 1000;
    this.maxSubscriptions = options.maxSubscriptions ?? 32;
    this.maxSseStreams = options.maxSseStreams ?? 16;
    this.guard = new DestinationGuard(options.destinations);
    for (const e of options.selfEndpoints ?? []) this.guard.addEndpoint(e);
    this.#delivery = new Delivery({
      log: deps.log,
      guard: this.guard,
      settings: () => ({ attempts: this.retryAttempts, intervalSeconds: this.retryIntervalSeconds }),
      target: (id) => this.#subs.get(id),
      onSuspend: (id, reason) => {
        this.#deps.log.warn({ subscription: id, reason }, 'redfish events: subscription suspended');
        void this.setState(id, 'Disabled').catch(() => undefined);
      },
      onTerminate: (id, reason) => {
        this.#deps.log.warn({ subscription: id, reason }, 'redfish events: subscription terminated');
        void this.delete(id).catch(() => undefined);
      },
      ...(options.deliveryTimeoutMs !== undefined ? { timeoutMs: options.deliveryTimeoutMs } : {}),
      maxQueue: options.maxQueuePerSubscription ?? 256,
    });
  }

  /** Loads stored subscriptions and starts listening to the machines (idempotent). */
  start(): Promise<void> {
    this.#starting ??= (async () => {
      this.#refreshMachines();
      if (!this.#deps.fixedSystems) {
        this.#refreshTimer = setInterval(() => this.#refreshMachines(), 1000);
        this.#refreshTimer.unref();
      }
      await this.#load();
    })();
    return this.#starting;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /**
   * Until the stored list has been read, nothing is saved (a save would overwrite subscriptions
   * not loaded yet): a failed load is retried every 5 s and changes answer 503 meanwhile.
   */
  async #load(): Promise<void> {
    if (this.#loaded || this.#closed) return;
    try {
      const loaded = sanitizeStored(await this.#store.load());
      for (const s of loaded) {
        if (!this.#subs.has(s.id)) this.#subs.set(s.id, { ...s, subscriptionType: 'RedfishEvent' });
      }
      this.#loaded = true;
      if (loaded.length > 0)
        this.#deps.log.info({ count: loaded.length }, 'redfish events: subscriptions loaded');
    } catch (err) {
      this.#deps.log.error(
        { err: (err as Error).message },
        'redfish events: could not load subscriptions; retrying',
      );
      if (!this.#loadTimer && !this.#closed) {
        this.#loadTimer = setTimeout(() => {
          this.#loadTimer = null;
          void this.#load();
        }, 5000);
        this.#loadTimer.unref();
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#loadTimer) clearTimeout(this.#loadTimer);
    if (this.#refreshTimer) clearInterval(this.#refreshTimer);
    this.#refreshTimer = null;
    if (this.#taskScan) clearImmediate(this.#taskScan);
    for (const off of this.#attached.values()) off();
    this.#attached.clear();
    for (const c of [...this.#sse.values()]) c.close();
    this.#delivery.close();
    await this.#saveChain.catch(() => undefined);
  }

  // --- records ----------------------------------------------------------------------------------

  /** Numbers a draft, buffers it and hands it to every matching subscriber. */
  publish(draft: EventDraft, timestamp?: string): EventRecord | null {
    if (!this.serviceEnabled) return null;
    // Ids are wall-clock based (ms) and strictly increasing, so they also increase across restarts
    // of the service: a client resuming with an id from before a restart gets everything newer.
    const seq = Math.max(this.#lastSeq + 1, Date.now());
    this.#lastSeq = seq;
    const record: EventRecord = {
      ...draft,
      id: String(seq),
      seq,
      timestamp: timestamp ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    this.#buffer.push(record);
    if (this.#buffer.length > this.#bufferSize) {
      const evicted = this.#buffer.splice(0, this.#buffer.length - this.#bufferSize);
      this.#evictedUpTo = evicted.at(-1)!.seq;
    }
    for (const s of this.#subs.values()) {
      if (s.subscriptionType !== 'RedfishEvent' || !matches(s, record)) continue;
      this.#delivery.enqueue(s.id, record);
    }
    for (const c of this.#sse.values()) {
      if (c.predicate(record)) c.send(record);
    }
    return record;
  }

  /** Buffered records newer than `lastId` (for `Last-Event-ID`), oldest first. */
  /** True when events after `lastId` were already evicted from the buffer (a resume loses some). */
  lostSince(lastId: number): boolean {
    return lastId < this.#evictedUpTo;
  }

  since(lastId: number): EventRecord[] {
    return this.#buffer.filter((r) => r.seq > lastId);
  }

  #refreshMachines(): void {
    let entries: readonly SystemEntry[];
    try {
      entries = this.#deps.systems();
    } catch {
      return;
    }
    const seen = new Set<Machine>();
    for (const entry of entries) {
      seen.add(entry.machine);
      if (this.#attached.has(entry.machine)) continue;
      const uris = { system: `/redfish/v1/Systems/${entry.id}` };
      for (const slot of safe(() => entry.machine.getMediaSlots()) ?? []) {
        this.#media.set(`${uris.system}#${slot.id}`, slot.state);
      }
      const off = entry.machine.on((event) => {
        for (const draft of recordsForMachineEvent(event, uris, this.#media)) this.publish(draft);
        if (event.type === 'media') this.#scheduleTaskScan();
      });
      this.#attached.set(entry.machine, off);
    }
    for (const [machine, off] of this.#attached) {
      if (!seen.has(machine)) {
        off();
        this.#attached.delete(machine);
      }
    }
  }

  /** Task listeners run in the same event drain as ours; look once they all have. */
  #scheduleTaskScan(): void {
    if (this.#taskScan) return;
    this.#taskScan = setImmediate(() => {
      this.#taskScan = null;
      const live = new Set<string>();
      for (const t of this.#deps.tasks.list()) {
        live.add(t.id);
        if (!t.endTime || this.#reportedTasks.has(t.id)) continue;
        this.#reportedTasks.add(t.id);
        if (t.state === 'Completed' || t.state === 'Exception' || t.state === 'Cancelled') {
          this.publish(recordForTask(t.id, t.state, t.status, `/redfish/v1/TaskService/Tasks/${t.id}`));
        }
      }
      for (const id of this.#reportedTasks) if (!live.has(id)) this.#reportedTasks.delete(id);
    });
  }

  // --- subscriptions ----------------------------------------------------------------------------

  list(): Subscription[] {
    return [...this.#subs.values()].sort((a, b) =>
      a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : 1,
    );
  }

  get(id: string): Subscription | undefined {
    return this.#subs.get(id);
  }

  deliveryStats(id: string): DeliveryStats | undefined {
    return this.#delivery.stats(id);
  }

  get pushCount(): number {
    let n = 0;
    for (const s of this.#subs.values()) if (s.subscriptionType === 'RedfishEvent') n++;
    return n;
  }

  get sseCount(): number {
    return this.#sse.size;
  }

  newId(): string {
    let id: string;
    do id = randomBytes(6).toString('hex');
    while (this.#subs.has(id));
    return id;
  }

  /** Adds a push subscription and stores the list; rolls back if storing fails. */
  async create(sub: Subscription): Promise<void> {
    this.#subs.set(sub.id, sub);
    try {
      await this.#persist();
    } catch (err) {
      this.#subs.delete(sub.id);
      throw err;
    }
  }

  async update(id: string, change: Partial<StoredSubscription>): Promise<Subscription | undefined> {
    const before = this.#subs.get(id);
    if (!before) return undefined;
    const after: Subscription = { ...before, ...change };
    this.#subs.set(id, after);
    if (after.subscriptionType === 'RedfishEvent') {
      try {
        await this.#persist();
      } catch (err) {
        if (this.#subs.get(id) === after) this.#subs.set(id, before);
        throw err;
      }
    }
    if (after.state === 'Enabled') this.#delivery.kick(id);
    return after;
  }

  setState(id: string, state: 'Enabled' | 'Disabled'): Promise<Subscription | undefined> {
    return this.update(id, { state });
  }

  async delete(id: string): Promise<boolean> {
    const sub = this.#subs.get(id);
    if (!sub) return false;
    this.#subs.delete(id);
    this.#delivery.remove(id);
    if (sub.subscriptionType === 'SSE') {
      this.#sse.get(id)?.close();
      this.#sse.delete(id);
      return true;
    }
    try {
      await this.#persist();
    } catch (err) {
      this.#subs.set(id, sub);
      throw err;
    }
    return true;
  }

  /** Registers an open SSE stream (and its EventDestination); `close` removes both. */
  addSse(client: SseClient): void {
    this.#subs.set(client.subscription.id, client.subscription);
    this.#sse.set(client.subscription.id, client);
  }

  removeSse(id: string): void {
    this.#sse.delete(id);
    const s = this.#subs.get(id);
    if (s?.subscriptionType === 'SSE') this.#subs.delete(id);
  }

  /** Disabling the service ends every SSE stream (DSP0266); push subscriptions stay, idle. */
  setServiceEnabled(enabled: boolean): void {
    this.serviceEnabled = enabled;
    if (!enabled) for (const c of [...this.#sse.values()]) c.close();
  }

  /** Saves are serialised so the store always ends with the latest list. */
  #persist(): Promise<void> {
    if (!this.#loaded) return Promise.reject(new StoreNotLoadedError());
    const snapshot: StoredSubscription[] = [];
    for (const s of this.#subs.values()) {
      if (s.subscriptionType !== 'RedfishEvent') continue;
      const { subscriptionType: _t, ...stored } = s;
      snapshot.push(stored);
    }
    const run = this.#saveChain.catch(() => undefined).then(() => this.#store.save(snapshot));
    this.#saveChain = run;
    return run.catch((err: unknown) => {
      this.#deps.log.error({ err: (err as Error).message }, 'redfish events: could not store subscriptions');
      throw err;
    });
  }
}

/** The stored subscriptions have not been read yet (the store is unreachable): retry later. */
export class StoreNotLoadedError extends Error {
  constructor() {
    super('the stored subscriptions have not been loaded yet');
  }
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

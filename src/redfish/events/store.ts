import type { SubscriptionFilter } from './filter.ts';

/**
 * Where subscriptions live between restarts of the service. A provisioning tool subscribes once and
 * never again, so the subscriptions (not SSE streams, which belong to a connection) must survive an
 * agent restart. The Redfish service loads them at `listen()` and saves the whole list after every
 * change; an implementation need only store one JSON-able value. `HttpHeaders` values are secrets
 * (often an `Authorization` header): an implementation must never log them.
 */
export interface StoredSubscription extends SubscriptionFilter {
  readonly id: string;
  readonly destination: string;
  readonly context: string;
  readonly protocol: 'Redfish';
  /** Header name → value, sent with every POST; write-only over Redfish. */
  readonly httpHeaders: Readonly<Record<string, string>>;
  readonly deliveryRetryPolicy: DeliveryRetryPolicy;
  readonly verifyCertificate: boolean;
  /** `Disabled` while suspended (delivery kept failing, or `SuspendSubscription`). */
  readonly state: 'Enabled' | 'Disabled';
  /** The user who created it (may PATCH/DELETE it with ConfigureSelf). */
  readonly owner: string;
  readonly created: string;
}

export type DeliveryRetryPolicy =
  | 'TerminateAfterRetries'
  | 'SuspendRetries'
  | 'RetryForever'
  | 'RetryForeverWithBackoff';

export const DELIVERY_RETRY_POLICIES: readonly DeliveryRetryPolicy[] = [
  'TerminateAfterRetries',
  'SuspendRetries',
  'RetryForever',
  'RetryForeverWithBackoff',
];

export interface SubscriptionStore {
  /** Every stored subscription; an empty list when nothing was stored yet. */
  load(): Promise<readonly StoredSubscription[]>;
  /** Replaces the stored list. Rejects when it could not be stored (the change is then undone). */
  save(subscriptions: readonly StoredSubscription[]): Promise<void>;
}

/** The default: kept in this process only (lost on restart). */
export class MemorySubscriptionStore implements SubscriptionStore {
  #data: readonly StoredSubscription[] = [];
  saves = 0;

  async load(): Promise<readonly StoredSubscription[]> {
    return this.#data;
  }

  async save(subscriptions: readonly StoredSubscription[]): Promise<void> {
    this.saves++;
    this.#data = structuredClone(subscriptions) as StoredSubscription[];
  }
}

/** Checks a loaded value (a store's content may be stale or hand-edited); drops what is invalid. */
export function sanitizeStored(value: unknown): StoredSubscription[] {
  if (!Array.isArray(value)) return [];
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  const out: StoredSubscription[] = [];
  for (const v of value) {
    if (!v || typeof v !== 'object') continue;
    const o = v as Record<string, unknown>;
    if (typeof o.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(o.id)) continue;
    if (typeof o.destination !== 'string' || !/^https?:\/\//i.test(o.destination)) continue;
    const headers: Record<string, string> = {};
    if (o.httpHeaders && typeof o.httpHeaders === 'object') {
      for (const [k, x] of Object.entries(o.httpHeaders as Record<string, unknown>)) {
        if (typeof x === 'string') headers[k] = x;
      }
    }
    out.push({
      id: o.id,
      destination: o.destination,
      context: typeof o.context === 'string' ? o.context : '',
      protocol: 'Redfish',
      registryPrefixes: strings(o.registryPrefixes),
      excludeRegistryPrefixes: strings(o.excludeRegistryPrefixes),
      messageIds: strings(o.messageIds),
      excludeMessageIds: strings(o.excludeMessageIds),
      resourceTypes: strings(o.resourceTypes),
      originResources: strings(o.originResources),
      subordinateResources: o.subordinateResources === true,
      eventTypes: strings(o.eventTypes),
      httpHeaders: headers,
      deliveryRetryPolicy: DELIVERY_RETRY_POLICIES.includes(o.deliveryRetryPolicy as DeliveryRetryPolicy)
        ? (o.deliveryRetryPolicy as DeliveryRetryPolicy)
        : 'SuspendRetries',
      verifyCertificate: o.verifyCertificate === true,
      state: o.state === 'Disabled' ? 'Disabled' : 'Enabled',
      owner: typeof o.owner === 'string' ? o.owner : '',
      created: typeof o.created === 'string' ? o.created : new Date(0).toISOString(),
    });
  }
  return out;
}

/**
 * The Redfish event service (EventService, subscriptions, SSE, delivery): what other layers use.
 * The agent passes a `SubscriptionStore` and `EventServiceOptions` to `RedfishServer`; everything
 * else is internal to the Redfish service. Layout: `engine.ts` (records, buffer, fan-out,
 * subscriptions), `records.ts` (Machine events → registry messages, Event payloads), `registry.ts`
 * / `base-messages.ts` (message texts), `filter.ts` (subscription filters, SSE `$filter`),
 * `delivery.ts` (HTTP POST, retries, suspension), `destination.ts` (address normaliser,
 * destination policy, self-delivery guard), `sse.ts` (the stream), `store.ts` (persistence interface).
 */
export {
  DestinationPolicyError,
  type DestinationPolicyOptions,
  policyRules,
} from './destination.ts';
export type { EventServiceOptions } from './engine.ts';
export {
  DELIVERY_RETRY_POLICIES,
  type DeliveryRetryPolicy,
  MemorySubscriptionStore,
  type StoredSubscription,
  type SubscriptionStore,
  sanitizeStored,
} from './store.ts';

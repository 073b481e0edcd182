/**
 * Leader election through a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the
 * Lease is free or its holder has not renewed for `leaseDurationSeconds` (judged by this process's
 * own clock since it last saw the record change), renew every `retryPeriodMs`, and step down when a
 * renewal has not succeeded within `renewDeadlineMs`. Writes carry the resourceVersion read, so two
 * candidates racing for the same Lease get one 200 and one 409.
 */
import type { KubeClient } from '../kube/client.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import { apiPath, KINDS } from '../kube/paths.ts';

export interface LeaderElectorOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

type ResolvedOptions = Required<Omit<LeaderElectorOptions, 'logger'>> & Pick<LeaderElectorOptions, 'logger'>;

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly #o: ResolvedOptions;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  #observed: { record: string; at: number } | null = null;
  #lastRenew = 0;

  constructor(options: LeaderElectorOptions) {
    this.#o = {
      ...options,
      leaseDurationSeconds: options.leaseDurationSeconds ?? 15,
      renewDeadlineMs: options.renewDeadlineMs ?? 10_000,
      retryPeriodMs: options.retryPeriodMs ?? 2_000,
    };
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  get identity(): string {
    return this.#o.identity;
  }

  start(): void {
    this.#stopped = false;
    void this.#tick();
  }

  /** Stops competing; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#leading) {
      this.#setLeading(false);
      try {
        const lease = await this.#get();
        if (lease && lease.spec.holderIdentity === this.#o.identity) {
          lease.spec.holderIdentity = null;
          lease.spec.leaseDurationSeconds = 1;
          lease.spec.renewTime = microTime(new Date());
          await this.#put(lease);
        }
      } catch {
        // best effort
      }
    }
  }

  #path(name?: string): string {
    return apiPath(KINDS.Lease, { namespace: this.#o.namespace, name });
  }

  async #get(): Promise<Lease | null> {
    try {
      return await this.#o.client.request<Lease>('GET', this.#path(this.#o.name));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async #put(lease: Lease): Promise<Lease> {
    return this.#o.client.request<Lease>('PUT', this.#path(this.#o.name), { body: lease });
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#o.logger?.info(
      { identity: this.#o.identity, lease: `${this.#o.namespace}/${this.#o.name}` },
      leading ? 'became leader' : 'stopped leading',
    );
    if (leading) this.#o.onStartedLeading();
    else this.#o.onStoppedLeading();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    let ok = false;
    try {
      ok = await this.#tryAcquireOrRenew();
    } catch (err) {
      this.#o.logger?.warn({ err: String((err as Error).message ?? err) }, 'leader election request failed');
    }
    const now = Date.now();
    if (ok) this.#lastRenew = now;
    if (this.#leading && !ok && now - this.#lastRenew > this.#o.renewDeadlineMs) this.#setLeading(false);
    if (ok) this.#setLeading(true);
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#tick(), this.#o.retryPeriodMs);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const lease = await this.#get();
    if (!lease) {
      try {
        await this.#o.client.request('POST', this.#path(), {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.#o.name, namespace: this.#o.namespace },
            spec: {
              holderIdentity: this.#o.identity,
              leaseDurationSeconds: this.#o.leaseDurationSeconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const holder = lease.spec.holderIdentity ?? '';
    const record = JSON.stringify([holder, lease.spec.renewTime, lease.spec.leaseDurationSeconds]);
    if (!this.#observed || this.#observed.record !== record) this.#observed = { record, at: Date.now() };
    const duration = (lease.spec.leaseDurationSeconds ?? this.#o.leaseDurationSeconds) * 1000;
    if (holder && holder !== this.#o.identity && Date.now() - this.#observed.at < duration) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: this.#o.identity,
        leaseDurationSeconds: this.#o.leaseDurationSeconds,
        renewTime: microTime(now),
      },
    };
    if (holder !== this.#o.identity) {
      next.spec.acquireTime = microTime(now);
      next.spec.leaseTransitions = (lease.spec.leaseTransitions ?? 0) + 1;
    }
    try {
      await this.#put(next);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}

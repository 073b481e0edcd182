/**
 * The agent host: one process serving one or many BMCs. Each BMC is an IPMI server and a Redfish
 * server over one Machine, with its credentials (watched Secret or static), an optional TLS
 * certificate, and an audit trail. `sync()` is level-based: it starts BMCs that are new, restarts
 * those whose definition changed, and stops those that went away, leaving the others untouched.
 */
import http from 'node:http';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import type { KubeClient } from '../kube/client.ts';
import { apiPath, KINDS } from '../kube/paths.ts';
import type { HotplugSupport } from '../kubevirt/hotplug.ts';
import type { MediaSettings } from '../kubevirt/media-storage.ts';
import type { AccountSource } from '../machine/accounts.ts';
import type { Machine } from '../machine/machine.ts';
import { type AuditEntry, auditedMachine, describeAudit } from './audit.ts';
import {
  type CredentialSource,
  SecretCredentials,
  SecretTls,
  SecretWatches,
  StaticCredentials,
} from './credentials.ts';
import { mappedPort } from './ports.ts';

export interface ListeningServer {
  listen(port: number, host?: string): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

/** Constructors of the protocol servers (the IPMI and Redfish modules), injected by the CLI. */
export interface ProtocolServers {
  ipmi?: (o: {
    machine: Machine;
    accounts: AccountSource;
    logger?: Logger;
    clientPort?: number;
    /** Each failed or refused login (counted in `kubevirtbmc_login_failures_total`). */
    onLoginFailure?: (e: { user: string; source: string; reason: string }) => void;
    /** BMC reset (`mc reset cold|warm`): call after the reply is sent; restarts this BMC's service. */
    resetBmc?: () => void;
  }) => ListeningServer;
  redfish?: (o: {
    machine: Machine;
    accounts: AccountSource;
    logger?: Logger;
    tls?: { cert: string; key: string };
    /** Each failed or refused login (counted in `kubevirtbmc_login_failures_total`). */
    onLoginFailure?: (e: { user: string; source: string; reason: string }) => void;
    /** Which BMC this server is for (where its event subscriptions are kept). */
    bmc: Pick<BmcDefinition, 'key' | 'namespace' | 'eventTarget'>;
    /** BMC reset (`Manager.Reset`): call after the reply is sent; restarts this BMC's service. */
    resetBmc?: () => void;
  }) => ListeningServer;
}

/** Where Machines come from (the KubeVirt backend), reference-counted per VM. */
export interface MachineProvider {
  /** `bmc`: which BMC asks (where the provider may keep state for it, e.g. the VM's last MACs). */
  acquire(namespace: string, vm: string, bmc?: BmcRef): Promise<Machine>;
  release(namespace: string, vm: string, bmc?: BmcRef): Promise<void>;
  /** A served BMC's definition changed only in what is applied in place (`hotplug`). */
  update?(namespace: string, vm: string, bmc: BmcRef): void;
}

/** A BMC as the machine provider sees it. */
export type BmcRef = Pick<BmcDefinition, 'key' | 'namespace' | 'eventTarget' | 'media' | 'hotplug'>;

export interface BmcDefinition {
  /** Unique in this agent, e.g. `ns/bmc-name` or `ns/vm` for standalone. */
  readonly key: string;
  readonly namespace: string;
  readonly vm: string;
  /** The object Events go to: the VirtualMachineBMC, or the VM in standalone mode. */
  readonly eventTarget: { apiVersion: string; kind: string; name: string; uid?: string };
  readonly credentials:
    | { kind: 'secret'; name: string }
    | { kind: 'static'; username: string; password: string };
  readonly tls: { kind: 'secret'; name: string } | { kind: 'pem'; cert: string; key: string } | null;
  /** Container ports; 0 disables the protocol. */
  readonly ipmiPort: number;
  /**
   * The UDP port IPMI clients reach this BMC on when a Service or NAT maps it to `ipmiPort`
   * (Serial over LAN tells clients the port, and they insist it is the one they used).
   */
  readonly ipmiClientPort?: number;
  readonly redfishPort: number;
  /** The VirtualMachineBMC's `spec.redfish.virtualMedia` (storage, TLS, import retries). */
  readonly media?: MediaSettings;
  /**
   * Whether KubeVirt hot-plugs images into the running VM, from the BMC's MediaHotplugAvailable
   * condition (undefined: not known). Applied in place when it changes: the BMC is not restarted.
   */
  readonly hotplug?: HotplugSupport;
}

export interface AgentHostOptions {
  client: KubeClient | null;
  servers: ProtocolServers;
  machines: MachineProvider | null;
  address: string;
  logger?: Logger;
  registry?: Registry;
}

interface Running {
  def: BmcDefinition;
  signature: string;
  credentials: CredentialSource;
  tls: SecretTls | null;
  machine: Machine | null;
  ipmi: ListeningServer | null;
  redfish: ListeningServer | null;
  endpoints: { ipmi?: string; redfish?: string };
  problems: string[];
  eventTimes: number[];
  /** Stops following the machine's media slot (the failed-insert Event). */
  offMedia?: () => void;
  /** A BMC reset is under way. */
  resetting?: boolean;
}

/** How long after answering a BMC reset request the service restarts (the reply goes out first). */
const BMC_RESET_DELAY_MS = 100;

/** Within this time the same Event of a BMC is counted on the one recorded (client-go uses 10 min). */
const EVENT_AGGREGATION_MS = 10 * 60_000;
/** How many recorded Events the agent remembers for counting repeats (oldest forgotten first). */
const MAX_RECORDED_EVENTS = 1000;

/** How many BMCs start or stop at once. */
const SYNC_CONCURRENCY = 16;

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first failure after all settled. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== null) throw failure;
}

/** What restarts a BMC when it changes: everything but what is applied in place (`hotplug`). */
function signature(def: BmcDefinition): string {
  const { hotplug: _inPlace, ...rest } = def;
  return JSON.stringify(rest);
}

export class AgentHost {
  readonly registry: Registry;
  readonly #o: AgentHostOptions;
  readonly #log: Logger | undefined;
  /** Events recorded lately, by BMC, type, reason and message: a repeat increments `count`. */
  readonly #recorded = new Map<string, { name: string; count: number; at: number }>();
  readonly #running = new Map<string, Running>();
  /** One watch per Secret, shared by the BMCs that use it. */
  readonly #secrets: SecretWatches | null;
  #server: http.Server | null = null;
  #chain: Promise<void> = Promise.resolve();
  #synced = false;
  #lastDefs: readonly BmcDefinition[] = [];
  #retryTimer: NodeJS.Timeout | null = null;
  #retryDelayMs = 0;
  readonly #m: {
    bmcs: Gauge<string>;
    actions: Counter<'bmc' | 'reason' | 'protocol' | 'result'>;
    credentialChanges: Counter<'bmc'>;
    up: Gauge<'bmc' | 'protocol'>;
  };

  constructor(options: AgentHostOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#secrets = options.client ? new SecretWatches(options.client, options.logger) : null;
    this.registry = options.registry ?? new Registry();
    this.#m = {
      bmcs: new Gauge({
        name: 'kubevirtbmc_agent_bmcs',
        help: 'BMCs served by this agent',
        registers: [this.registry],
        collect: () => this.#m.bmcs.set(this.#running.size),
      }),
      actions: new Counter({
        name: 'kubevirtbmc_agent_actions_total',
        help: 'Write actions (power, boot, media) requested by BMC clients, by result',
        labelNames: ['bmc', 'reason', 'protocol', 'result'],
        registers: [this.registry],
      }),
      credentialChanges: new Counter({
        name: 'kubevirtbmc_agent_credential_changes_total',
        help: 'Credential changes applied without restart',
        labelNames: ['bmc'],
        registers: [this.registry],
      }),
      up: new Gauge({
        name: 'kubevirtbmc_agent_endpoint_up',
        help: '1 when the protocol endpoint of a BMC is listening',
        labelNames: ['bmc', 'protocol'],
        registers: [this.registry],
      }),
    };
  }

  /** BMCs being served, with where each protocol listens and any problem. */
  status(): Array<{ key: string; endpoints: { ipmi?: string; redfish?: string }; problems: string[] }> {
    return [...this.#running.values()].map((r) => ({
      key: r.def.key,
      endpoints: r.endpoints,
      problems: [...r.problems, ...(r.credentials.problem() ? [r.credentials.problem()!] : [])],
    }));
  }

  get ready(): boolean {
    return this.#synced;
  }

  /** Serves exactly `defs`; serialised, so overlapping calls apply in order. */
  sync(defs: readonly BmcDefinition[]): Promise<void> {
    this.#chain = this.#chain
      .then(() => this.#sync(defs))
      .catch((err) => this.#log?.error({ err: String(err) }, 'sync failed'));
    return this.#chain;
  }

  async #sync(defs: readonly BmcDefinition[]): Promise<void> {
    this.#lastDefs = defs;
    const wanted = new Map(defs.map((d) => [d.key, d]));
    const stale = [...this.#running]
      .filter(([key, r]) => {
        const d = wanted.get(key);
        return !d || signature(d) !== r.signature;
      })
      .map(([key]) => key);
    await inParallel(stale, SYNC_CONCURRENCY, (key) => this.#stopOne(key));
    for (const [key, r] of this.#running) {
      const d = wanted.get(key);
      if (!d || JSON.stringify(d.hotplug) === JSON.stringify(r.def.hotplug)) continue;
      r.def = d;
      if (r.machine) this.#o.machines?.update?.(d.namespace, d.vm, d);
    }
    // BMCs are independent: start them a few at a time, so a thousand answer in seconds, not minutes.
    const fresh = defs.filter((d) => !this.#running.has(d.key));
    await inParallel(fresh, SYNC_CONCURRENCY, (d) => this.#startOne(d));
    this.#synced = true;
  }

  async #startOne(def: BmcDefinition): Promise<void> {
    const log = this.#log?.child({ bmc: def.key });
    let credentials: CredentialSource;
    if (def.credentials.kind === 'static') {
      credentials = new StaticCredentials(def.credentials.username, def.credentials.password, {
        ipmi: def.ipmiPort > 0,
      });
    } else {
      if (!this.#secrets) throw new Error('a Secret needs API access');
      credentials = new SecretCredentials(this.#secrets, def.namespace, def.credentials.name, {
        ipmi: def.ipmiPort > 0,
        onError: (err) => log?.error({ err: String(err) }, 'ending the sessions of old credentials failed'),
        onChange: (problem, change) => {
          this.#m.credentialChanges.inc({ bmc: def.key });
          // Sessions opened with the old password (or user name) ended: say so (security.md).
          if (change.sessionsEnded) {
            log?.info({ users: change.revoked }, change.sessionsEnded);
            void this.#event(def, 'Normal', 'SessionsEnded', change.sessionsEnded);
          }
          if (problem && change.usable) {
            // Only IPMI's limits: Redfish serves the account (the message says so).
            log?.warn({ problem }, 'credentials loaded; IPMI refuses them until the Secret is fixed');
            void this.#event(def, 'Warning', 'IPMICredentialsTooLong', problem);
          } else if (problem) {
            log?.warn({ problem }, 'credentials unusable: every login is refused until the Secret is fixed');
            void this.#event(
              def,
              'Warning',
              'CredentialsInvalid',
              `${problem}; every login is refused until it is fixed`,
            );
          } else {
            log?.info('credentials loaded');
            void this.#event(
              def,
              'Normal',
              'CredentialsLoaded',
              'credentials loaded from the Secret and applied',
            );
          }
        },
      });
    }
    const r: Running = {
      def,
      signature: signature(def),
      credentials,
      tls: null,
      machine: null,
      ipmi: null,
      redfish: null,
      endpoints: {},
      problems: [],
      eventTimes: [],
    };
    this.#running.set(def.key, r);
    await credentials.start();
    if (def.tls?.kind === 'secret' && this.#secrets) {
      r.tls = new SecretTls(this.#secrets, def.namespace, def.tls.name, () => void this.#restartRedfish(r));
      await r.tls.start();
    }
    if (!this.#o.machines) {
      r.problems.push('no machine backend in this build: only health and metrics are served');
      log?.warn('no machine backend available; the BMC protocols are not served');
      return;
    }
    try {
      const base = await this.#o.machines.acquire(def.namespace, def.vm, def);
      r.machine = auditedMachine(base, (e) => this.#audit(def, e));
      // An insert that fails after it was accepted (CDI's import) gets its own Warning Event.
      const failed = new Set(
        base
          .getMediaSlots()
          .filter((s) => s.state === 'Failed')
          .map((s) => s.id),
      );
      r.offMedia = base.on((e) => {
        if (e.type !== 'media') return;
        if (e.slot.state !== 'Failed') {
          failed.delete(e.slot.id);
          return;
        }
        if (failed.has(e.slot.id)) return;
        failed.add(e.slot.id);
        const msg = `virtual media ${e.slot.image ?? ''} in ${e.slot.id} failed: ${e.slot.message ?? 'unknown error'}`;
        this.#log?.warn({ bmc: def.key, slot: e.slot.id, image: e.slot.image }, msg);
        void this.#event(def, 'Warning', 'InsertMediaFailed', msg);
      });
      this.#retryDelayMs = 0;
    } catch (err) {
      r.problems.push(`machine backend: ${(err as Error).message}`);
      log?.error({ err: String((err as Error).message) }, 'machine backend failed to start; retrying');
      this.#scheduleRetry(def.key);
      return;
    }
    if (def.ipmiPort > 0) {
      if (this.#o.servers.ipmi) {
        const bound = mappedPort(def.ipmiPort, 'UDP');
        // Under the embedded cluster's port map, clients reach the bound port itself.
        const clientPort = bound === def.ipmiPort ? def.ipmiClientPort : undefined;
        const server = this.#o.servers.ipmi({
          machine: r.machine,
          accounts: credentials.accounts,
          logger: log,
          ...(clientPort ? { clientPort } : {}),
          onLoginFailure: () => this.#countLoginFailure(def.key, 'ipmi'),
          resetBmc: () => this.#resetBmc(r, 'IPMI'),
        });
        try {
          const a = await server.listen(bound, this.#o.address);
          r.ipmi = server;
          r.endpoints.ipmi = `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
          this.#m.up.set({ bmc: def.key, protocol: 'ipmi' }, 1);
          log?.info({ ipmi: r.endpoints.ipmi }, 'IPMI listening');
        } catch (err) {
          r.problems.push(`IPMI: ${(err as Error).message}`);
          log?.error({ err: String((err as Error).message) }, 'IPMI failed to listen');
        }
      } else {
        r.problems.push('IPMI is not available in this build');
      }
    }
    if (def.redfishPort > 0) await this.#startRedfish(r);
    log?.info({ endpoints: r.endpoints, problems: r.problems }, 'serving');
  }

  /**
   * `kubevirtbmc_login_failures_total{bmc,protocol}`: failed or refused logins. Looked up in the
   * registry first, so every protocol shares the one counter whoever registers it.
   */
  #countLoginFailure(bmc: string, protocol: string): void {
    const name = 'kubevirtbmc_login_failures_total';
    try {
      const counter =
        (this.registry.getSingleMetric(name) as Counter<'bmc' | 'protocol'> | undefined) ??
        new Counter({
          name,
          help: 'Failed or refused logins (wrong password, unknown user, refused by a failed-login limit)',
          labelNames: ['bmc', 'protocol'],
          registers: [this.registry],
        });
      counter.inc({ bmc, protocol });
    } catch (err) {
      this.#log?.debug({ err: String(err) }, 'login failure not counted');
    }
  }

  /**
   * BMC reset (IPMI `mc reset cold|warm`, Redfish `Manager.Reset`): this BMC's service restarts as a
   * real BMC's firmware would. Its listeners close (every IPMI session, SOL and Redfish session ends),
   * its credentials are read again from their source, and it listens again on the same ports. The VM
   * is not touched, and the Machine is held throughout, so its backend is not restarted.
   * Runs after a short delay so the reply to the reset request goes out first; resets of a BMC that
   * is already restarting (or was stopped) do nothing more.
   */
  #resetBmc(r: Running, via: string): void {
    if (r.resetting) return;
    r.resetting = true;
    const timer = setTimeout(() => {
      this.#chain = this.#chain
        .then(async () => {
          if (this.#running.get(r.def.key) !== r) return;
          const def = r.def;
          this.#log?.info({ bmc: def.key, via }, 'BMC reset: restarting this BMC (the VM is not touched)');
          // One more hold on the Machine across the restart, so its backend (the VM's watches and
          // what it tracks, e.g. a media import under way) stays as it is.
          const machines = this.#o.machines;
          const held = machines
            ? await machines.acquire(def.namespace, def.vm, def).then(
                () => true,
                () => false,
              )
            : false;
          try {
            await this.#stopOne(def.key);
            await this.#startOne(def);
          } finally {
            if (held) await machines?.release(def.namespace, def.vm).catch(() => {});
          }
          void this.#event(
            r.def,
            'Normal',
            'BMCReset',
            `BMC reset through ${via}: sessions ended, credentials read again`,
          );
        })
        .catch((err) => this.#log?.error({ bmc: r.def.key, err: String(err) }, 'BMC reset failed'));
    }, BMC_RESET_DELAY_MS);
    timer.unref();
  }

  /** A BMC whose backend failed to start is restarted later, with capped exponential backoff. */
  #scheduleRetry(key: string): void {
    if (this.#retryTimer) return;
    this.#retryDelayMs = Math.min(30_000, this.#retryDelayMs ? this.#retryDelayMs * 2 : 1000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#chain = this.#chain
        .then(async () => {
          const r = this.#running.get(key);
          if (r && !r.machine) await this.#stopOne(key);
          await this.#sync(this.#lastDefs);
        })
        .catch(() => {});
    }, this.#retryDelayMs);
    this.#retryTimer.unref();
  }

  #tlsOf(r: Running): { cert: string; key: string } | undefined {
    if (r.def.tls?.kind === 'pem') return { cert: r.def.tls.cert, key: r.def.tls.key };
    return r.tls?.value ?? undefined;
  }

  async #startRedfish(r: Running): Promise<void> {
    const def = r.def;
    const log = this.#log?.child({ bmc: def.key });
    if (!this.#o.servers.redfish || !r.machine) {
      if (!this.#o.servers.redfish) r.problems.push('Redfish is not available in this build');
      return;
    }
    const tls = this.#tlsOf(r);
    if (def.tls && !tls) {
      r.problems.push('Redfish TLS Secret has no usable tls.crt/tls.key: Redfish not served');
      log?.warn('Redfish TLS certificate missing; Redfish not served until the Secret is fixed');
      return;
    }
    const server = this.#o.servers.redfish({
      machine: r.machine,
      accounts: r.credentials.accounts,
      bmc: { key: def.key, namespace: def.namespace, eventTarget: def.eventTarget },
      logger: log,
      ...(tls ? { tls } : {}),
      onLoginFailure: () => this.#countLoginFailure(def.key, 'redfish'),
      resetBmc: () => this.#resetBmc(r, 'Redfish'),
    });
    try {
      const a = await server.listen(mappedPort(def.redfishPort, 'TCP'), this.#o.address);
      r.redfish = server;
      r.endpoints.redfish = `${tls ? 'https' : 'http'}://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
      this.#m.up.set({ bmc: def.key, protocol: 'redfish' }, 1);
      log?.info({ redfish: r.endpoints.redfish }, 'Redfish listening');
    } catch (err) {
      r.problems.push(`Redfish: ${(err as Error).message}`);
      log?.error({ err: String((err as Error).message) }, 'Redfish failed to listen');
    }
  }

  /** A new certificate: serve it (the listener restarts on the same port). */
  async #restartRedfish(r: Running): Promise<void> {
    if (this.#running.get(r.def.key) !== r) return;
    this.#chain = this.#chain.then(async () => {
      if (r.redfish) {
        await r.redfish.close().catch(() => {});
        r.redfish = null;
        delete r.endpoints.redfish;
      }
      r.problems = r.problems.filter((p) => !p.startsWith('Redfish'));
      await this.#startRedfish(r);
      this.#log?.info({ bmc: r.def.key }, 'Redfish certificate changed; reloaded');
    });
    await this.#chain;
  }

  async #stopOne(key: string): Promise<void> {
    const r = this.#running.get(key);
    if (!r) return;
    this.#running.delete(key);
    await Promise.all([r.ipmi?.close(), r.redfish?.close()].map((p) => p?.catch(() => {})));
    await r.credentials.stop().catch(() => {});
    await r.tls?.stop().catch(() => {});
    r.offMedia?.();
    if (r.machine) await this.#o.machines?.release(r.def.namespace, r.def.vm, r.def).catch(() => {});
    this.#m.up.remove({ bmc: key, protocol: 'ipmi' });
    this.#m.up.remove({ bmc: key, protocol: 'redfish' });
    this.#log?.info({ bmc: key }, 'stopped serving');
  }

  #audit(def: BmcDefinition, e: AuditEntry): void {
    const message = describeAudit(e);
    this.#m.actions.inc({
      bmc: def.key,
      reason: e.reason,
      protocol: e.ctx?.protocol ?? 'unknown',
      result: e.ok ? 'success' : 'failure',
    });
    this.#log?.info(
      {
        bmc: def.key,
        reason: e.reason,
        actor: e.ctx?.actor,
        source: e.ctx?.source,
        protocol: e.ctx?.protocol,
        ok: e.ok,
      },
      message,
    );
    void this.#event(def, e.ok ? 'Normal' : 'Warning', e.ok ? e.reason : `${e.reason}Failed`, message);
  }

  /** Posts an Event, at most 30 per BMC per minute (the log keeps everything). */
  async #event(
    def: BmcDefinition,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const client = this.#o.client;
    const r = this.#running.get(def.key);
    if (!client || !r) return;
    const now = Date.now();
    r.eventTimes = r.eventTimes.filter((t) => now - t < 60_000);
    if (r.eventTimes.length >= 30) return;
    r.eventTimes.push(now);
    const ts = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    // The same Event again (e.g. credentials loaded again after a BMC restart) is counted on the
    // one already recorded, as Kubernetes' own event recorders do, not recorded twice.
    const same = `${def.key}\0${def.eventTarget.uid ?? ''}\0${type}\0${reason}\0${message}`;
    const prev = this.#recorded.get(same);
    if (prev && now - prev.at < EVENT_AGGREGATION_MS) {
      try {
        await client.request('PATCH', apiPath(KINDS.Event, { namespace: def.namespace, name: prev.name }), {
          body: { count: prev.count + 1, lastTimestamp: ts },
          contentType: 'application/merge-patch+json',
        });
        prev.count++;
        prev.at = now;
        return;
      } catch {
        // gone (Events expire): record it anew
      }
    }
    try {
      const made = await client.request<{ metadata: { name: string } }>(
        'POST',
        apiPath(KINDS.Event, { namespace: def.namespace }),
        {
          body: {
            apiVersion: 'v1',
            kind: 'Event',
            metadata: { generateName: `${def.eventTarget.name}.`, namespace: def.namespace },
            involvedObject: { ...def.eventTarget, namespace: def.namespace },
            type,
            reason,
            message: message.slice(0, 1024),
            source: { component: 'kubevirtbmc-agent' },
            reportingComponent: 'kubevirtbmc-agent',
            reportingInstance: process.env.POD_NAME ?? 'kubevirtbmc-agent',
            firstTimestamp: ts,
            lastTimestamp: ts,
            count: 1,
          },
        },
      );
      this.#recorded.delete(same);
      this.#recorded.set(same, { name: made.metadata.name, count: 1, at: now });
      if (this.#recorded.size > MAX_RECORDED_EVENTS)
        this.#recorded.delete(this.#recorded.keys().next().value!);
    } catch (err) {
      this.#log?.debug({ err: String((err as Error).message) }, 'could not record an Event');
    }
  }

  /** /healthz (process alive), /readyz (every BMC listening), /metrics (Prometheus), /status (JSON). */
  async listenHealth(port: number): Promise<{ address: string; port: number }> {
    this.#server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url === '/healthz' || url === '/livez') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      } else if (url === '/readyz') {
        const ok = this.#synced;
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : 'starting\n');
      } else if (url === '/metrics') {
        this.registry
          .metrics()
          .then((t) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(t))
          .catch(() => res.writeHead(500).end());
      } else if (url === '/status') {
        res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(`${JSON.stringify(this.status(), null, 2)}\n`);
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(mappedPort(port, 'TCP'), this.#o.address, () => resolve());
    });
    const a = this.#server.address() as { address: string; port: number };
    return { address: a.address, port: a.port };
  }

  async stop(): Promise<void> {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await this.#chain;
    for (const key of [...this.#running.keys()]) await this.#stopOne(key);
    if (this.#server) {
      await new Promise<void>((r) => this.#server!.close(() => r()));
      this.#server.closeAllConnections?.();
    }
  }
}

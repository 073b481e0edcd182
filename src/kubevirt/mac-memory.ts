import type { Logger } from 'pino';
import type { VirtualMachine, VirtualMachineInstance } from './types.ts';

/**
 * The MACs a VM had at its last start, so a stopped VM still reports them.
 *
 * KubeVirt gives an interface whose spec names no `macAddress` a new MAC at every start (the new
 * virt-launcher pod's, or one libvirt generates), and the MAC is only visible in the running VMI's
 * `status.interfaces`: once the VM stops, nothing in the cluster says which MAC it had. The machine
 * therefore remembers what it saw on the running VMI, in memory and in the stores attached to it (the
 * agent keeps one per BMC in the BMC's ConfigMap), so the memory outlives an agent restart. The VM
 * itself is never written for this.
 */
export interface RememberedMacs {
  /** The VM they belong to: a VM deleted and created again under the same name has another uid. */
  readonly vmUid: string;
  /** The VMI (the start) they were seen on. */
  readonly vmiUid: string;
  /** When they were first seen (ISO 8601), to tell the newer of two memories. */
  readonly seenAt: string;
  /** Interface name → MAC, lower-case colon form. */
  readonly macs: Readonly<Record<string, string>>;
}

/** Where remembered MACs survive the process (the agent: the BMC's ConfigMap). */
export interface MacStore {
  /** For logs: what and where (never the data). */
  readonly name: string;
  /** The stored memory; null when none or unreadable. Rejects when the store cannot be read now. */
  load(): Promise<RememberedMacs | null>;
  save(macs: RememberedMacs): Promise<void>;
}

const MAX_INTERFACES = 64;
const MAX_NAME = 253;

/** The MAC in lower-case colon form, or null. */
export function normaliseMac(mac: string | undefined): string | null {
  if (!mac) return null;
  const hex = mac.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length !== 12) return null;
  return hex.match(/../g)!.join(':');
}

/** The MACs a running VMI reports for its interfaces (by name); null when it is not running or reports none. */
export function observedMacs(
  vm: VirtualMachine,
  vmi: VirtualMachineInstance | undefined,
  now: Date = new Date(),
): RememberedMacs | null {
  const vmUid = vm.metadata?.uid;
  const vmiUid = vmi?.metadata?.uid;
  if (!vmUid || !vmiUid || vmi?.status?.phase !== 'Running') return null;
  const macs: Record<string, string> = {};
  for (const s of vmi.status?.interfaces ?? []) {
    const mac = normaliseMac(s.mac);
    if (s.name && mac) macs[s.name] = mac;
  }
  if (Object.keys(macs).length === 0) return null;
  return { vmUid, vmiUid, seenAt: now.toISOString(), macs };
}

/** Same VM, same start, same MACs (the time seen aside). */
export function sameMacs(a: RememberedMacs | null, b: RememberedMacs | null): boolean {
  if (!a || !b) return a === b;
  if (a.vmUid !== b.vmUid || a.vmiUid !== b.vmiUid) return false;
  const ka = Object.keys(a.macs).sort();
  const kb = Object.keys(b.macs).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a.macs[k] === b.macs[k]);
}

/** Stored JSON back into a memory; null when it is not one (a store's data is not trusted). */
export function parseRememberedMacs(text: string | undefined): RememberedMacs | null {
  if (!text) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!raw || typeof raw !== 'object') return null;
  const o = raw as Record<string, unknown>;
  const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME;
  if (!str(o.vmUid) || !str(o.vmiUid) || !str(o.seenAt) || Number.isNaN(Date.parse(o.seenAt as string)))
    return null;
  if (!o.macs || typeof o.macs !== 'object' || Array.isArray(o.macs)) return null;
  const entries = Object.entries(o.macs as Record<string, unknown>);
  if (entries.length === 0 || entries.length > MAX_INTERFACES) return null;
  const macs: Record<string, string> = {};
  for (const [name, value] of entries) {
    const mac = typeof value === 'string' ? normaliseMac(value) : null;
    if (!str(name) || !mac) return null;
    macs[name] = mac;
  }
  return {
    vmUid: o.vmUid as string,
    vmiUid: o.vmiUid as string,
    seenAt: new Date(o.seenAt as string).toISOString(),
    macs,
  };
}

export function serialiseRememberedMacs(m: RememberedMacs): string {
  return JSON.stringify({ format: 1, vmUid: m.vmUid, vmiUid: m.vmiUid, seenAt: m.seenAt, macs: m.macs });
}

interface StoreState {
  loaded: boolean;
  /** What the store holds as far as we know (after a load or a save). */
  stored: RememberedMacs | null;
  busy: boolean;
  failures: number;
  timer: NodeJS.Timeout | null;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

/**
 * One machine's memory of its MACs: fed by every look at the VM and VMI (`observe`), read by the
 * inventory (`current`), mirrored into each attached store. A store is read once when attached (what
 * it holds is adopted when nothing was seen yet in this process), then written whenever the MACs
 * change; a failed read or write is tried again (1 s doubling to 60 s) until it succeeds or the
 * store is detached.
 */
export class MacMemory {
  readonly #logger: Logger | undefined;
  readonly #onAdopt: () => void;
  readonly #stores = new Map<MacStore, StoreState>();
  #current: RememberedMacs | null = null;
  #disposed = false;

  constructor(options: { logger?: Logger; onAdopt: () => void }) {
    this.#logger = options.logger;
    this.#onAdopt = options.onAdopt;
  }

  /** The memory for this VM (null when none, or it was of another VM of the same name). */
  current(vm: VirtualMachine): RememberedMacs | null {
    const c = this.#current;
    return c && c.vmUid === vm.metadata?.uid ? c : null;
  }

  /** Looks at the VM and its VMI: a running VMI's MACs become the memory (and are stored). */
  observe(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): void {
    const seen = observedMacs(vm, vmi);
    if (!seen) return;
    const previous = this.#current;
    if (sameMacs(previous, seen)) return;
    this.#current =
      previous && previous.vmUid === seen.vmUid && previous.vmiUid === seen.vmiUid
        ? { ...seen, seenAt: previous.seenAt }
        : seen;
    for (const store of this.#stores.keys()) this.#sync(store);
  }

  /** Keeps the memory in `store` too (and reads it now). Returns the detach function. */
  attach(store: MacStore): () => void {
    if (this.#disposed || this.#stores.has(store)) return () => this.#detach(store);
    this.#stores.set(store, { loaded: false, stored: null, busy: false, failures: 0, timer: null });
    this.#sync(store);
    return () => this.#detach(store);
  }

  #detach(store: MacStore): void {
    const s = this.#stores.get(store);
    if (!s) return;
    if (s.timer) clearTimeout(s.timer);
    this.#stores.delete(store);
  }

  dispose(): void {
    this.#disposed = true;
    for (const store of [...this.#stores.keys()]) this.#detach(store);
  }

  /** Brings one store up to date: read it once, then write the memory when it differs. */
  #sync(store: MacStore): void {
    const s = this.#stores.get(store);
    if (!s || s.busy || s.timer) return;
    s.busy = true;
    void this.#syncOnce(store, s)
      .then(
        () => {
          if (s.failures > 0)
            this.#logger?.info({ store: store.name }, 'remembered MACs: store reachable again');
          s.failures = 0;
        },
        (err: unknown) => {
          s.failures++;
          const log = { store: store.name, err: err instanceof Error ? err.message : String(err) };
          if (s.failures === 1) this.#logger?.warn(log, 'remembered MACs: store not usable now; retrying');
          else this.#logger?.debug(log, 'remembered MACs: store still not usable');
          const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(s.failures - 1, 10));
          s.timer = setTimeout(() => {
            s.timer = null;
            this.#sync(store);
          }, delay);
          s.timer.unref();
        },
      )
      .finally(() => {
        s.busy = false;
        // the memory changed while the store was busy: once more
        if (this.#stores.get(store) === s && !s.timer && s.loaded && !sameMacs(s.stored, this.#current))
          this.#sync(store);
      });
  }

  async #syncOnce(store: MacStore, s: StoreState): Promise<void> {
    if (!s.loaded) {
      const loaded = await store.load();
      if (this.#stores.get(store) !== s) return;
      s.loaded = true;
      s.stored = loaded;
      const current = this.#current;
      if (loaded && (!current || (current.vmUid === loaded.vmUid && loaded.seenAt > current.seenAt))) {
        if (!sameMacs(current, loaded)) {
          this.#current = loaded;
          this.#onAdopt();
        }
      }
    }
    const current = this.#current;
    if (!current || sameMacs(s.stored, current)) return;
    await store.save(current);
    if (this.#stores.get(store) === s) s.stored = current;
  }
}

import type { Machine } from '../machine/index.ts';
import type { SystemEntry } from './resource.ts';

/**
 * How machines appear in the tree. Single mode is one BMC for one computer, with the ids real
 * servers (and upstream KubeVirtBMC) use: System `1`, Manager `BMC`, Chassis `1`. Aggregate mode
 * serves many machines from one endpoint; each gets the id `<namespace>.<name>` for its System, its
 * Manager and its Chassis (one URI segment: Kubernetes names cannot contain dots in namespaces).
 */
export type RedfishSystems =
  | { kind: 'single'; machine: Machine; resetBmc?: () => void }
  | { kind: 'aggregate'; machines: () => readonly Machine[] };

export class Topology {
  readonly #systems: RedfishSystems;
  readonly #single: SystemEntry | null;

  constructor(systems: RedfishSystems) {
    this.#systems = systems;
    this.#single =
      systems.kind === 'single'
        ? {
            id: '1',
            managerId: 'BMC',
            chassisId: '1',
            machine: systems.machine,
            ...(systems.resetBmc ? { resetBmc: systems.resetBmc } : {}),
          }
        : null;
  }

  get kind(): RedfishSystems['kind'] {
    return this.#systems.kind;
  }

  all(): readonly SystemEntry[] {
    if (this.#single) return [this.#single];
    if (this.#systems.kind !== 'aggregate') return [];
    // Read on every request: the agent may add or remove machines at any time.
    return this.#systems
      .machines()
      .flatMap((machine) => {
        // A machine that cannot say who it is (not synced, deleted) is left out until it can.
        try {
          const { namespace, name } = machine.getIdentity();
          const id = aggregateId(namespace, name);
          return [{ id, managerId: id, chassisId: id, machine }];
        } catch {
          return [];
        }
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  bySystem(id: string): SystemEntry | undefined {
    return this.all().find((s) => s.id === id);
  }

  byManager(id: string): SystemEntry | undefined {
    return this.all().find((s) => s.managerId === id);
  }

  byChassis(id: string): SystemEntry | undefined {
    return this.all().find((s) => s.chassisId === id);
  }
}

export function aggregateId(namespace: string, name: string): string {
  return `${namespace}.${name}`;
}

/** Makes a machine-provided id (NIC or disk name) safe as one URI segment. */
export function safeId(raw: string): string {
  const s = raw.replace(/[^A-Za-z0-9._-]/g, '-');
  return s.length > 0 ? s : '-';
}

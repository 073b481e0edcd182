import { after, before } from 'node:test';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import pino from 'pino';
import { KubeVirtBackend, type KubeVirtBackendOptions } from '../../src/kubevirt/index.ts';
import type { VirtualMachine, VirtualMachineInstance } from '../../src/kubevirt/types.ts';
import type { Machine, PowerState } from '../../src/machine/index.ts';
import { startCluster, type TestCluster } from './cluster.ts';
import { waitFor } from './wait.ts';

/**
 * Helpers for the KubeVirt backend's integration tests: VM manifests, a plain client-node client
 * acting as "the user" (kubectl-like edits made outside the BMC), and backend construction.
 */

export const NAMESPACE = 'default';

export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

export interface VmOptions {
  runStrategy?: 'Always' | 'RerunOnFailure' | 'Manual' | 'Halted' | 'Once';
  running?: boolean;
  cdrom?: boolean;
  /** Extra bootOrder on the root disk. */
  rootBootOrder?: number;
  uefi?: boolean;
  labels?: Record<string, string>;
}

export function vmManifest(name: string, o: VmOptions = {}): VirtualMachine {
  const strategy =
    o.running !== undefined ? { running: o.running } : { runStrategy: o.runStrategy ?? 'Halted' };
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: NAMESPACE, ...(o.labels ? { labels: o.labels } : {}) },
    spec: {
      ...strategy,
      template: {
        metadata: { labels: { 'kubevirt.io/vm': name } },
        spec: {
          domain: {
            cpu: { sockets: 1, cores: 2, threads: 1 },
            memory: { guest: '1Gi' },
            resources: { requests: { memory: '1Gi' } },
            firmware: {
              uuid: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
              serial: `SER-${name}`,
              ...(o.uefi ? { bootloader: { efi: { secureBoot: false } } } : {}),
            },
            devices: {
              disks: [
                {
                  name: 'rootdisk',
                  disk: { bus: 'virtio' },
                  ...(o.rootBootOrder ? { bootOrder: o.rootBootOrder } : {}),
                },
                ...(o.cdrom === false ? [] : [{ name: 'cdrom', cdrom: { bus: 'sata' } }]),
              ],
              interfaces: [{ name: 'default', masquerade: {} }],
            },
          },
          networks: [{ name: 'default', pod: {} }],
          terminationGracePeriodSeconds: 30,
          volumes: [{ name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:latest' } }],
        },
      },
    },
  } as VirtualMachine;
}

/** A client-node client acting as a user editing objects by hand (outside the BMC). */
export class UserClient {
  readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async createVm(vm: VirtualMachine): Promise<VirtualMachine> {
    return this.api.createNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      namespace: NAMESPACE,
      plural: 'virtualmachines',
      body: vm,
    });
  }

  async getVm(name: string): Promise<VirtualMachine> {
    return this.api.getNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      namespace: NAMESPACE,
      plural: 'virtualmachines',
      name,
    });
  }

  async getVmi(name: string): Promise<VirtualMachineInstance | null> {
    try {
      return await this.api.getNamespacedCustomObject({
        group: 'kubevirt.io',
        version: 'v1',
        namespace: NAMESPACE,
        plural: 'virtualmachineinstances',
        name,
      });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return null;
      throw err;
    }
  }

  async listDataVolumes(
    vmName: string,
  ): Promise<{ metadata: { name: string }; status?: { phase?: string } }[]> {
    const list = (await this.api.listNamespacedCustomObject({
      group: 'cdi.kubevirt.io',
      version: 'v1beta1',
      namespace: NAMESPACE,
      plural: 'datavolumes',
      labelSelector: `bmc.kubevirt.io/vm=${vmName}`,
    })) as { items: { metadata: { name: string; deletionTimestamp?: string } }[] };
    return list.items.filter((i) => !i.metadata.deletionTimestamp);
  }

  async mergePatchVm(name: string, patch: object): Promise<VirtualMachine> {
    return this.api.patchNamespacedCustomObject(
      {
        group: 'kubevirt.io',
        version: 'v1',
        namespace: NAMESPACE,
        plural: 'virtualmachines',
        name,
        body: patch,
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async jsonPatchVm(name: string, ops: object[]): Promise<VirtualMachine> {
    return this.api.patchNamespacedCustomObject(
      {
        group: 'kubevirt.io',
        version: 'v1',
        namespace: NAMESPACE,
        plural: 'virtualmachines',
        name,
        body: ops,
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
  }

  async deleteVm(name: string): Promise<void> {
    await this.api.deleteNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      namespace: NAMESPACE,
      plural: 'virtualmachines',
      name,
    });
  }
}

export function quietLogger() {
  return pino({ level: process.env.KUBEVIRT_TEST_LOG ?? 'silent' });
}

export async function startBackend(
  kc: KubeConfig,
  extra: Partial<KubeVirtBackendOptions> = {},
): Promise<KubeVirtBackend> {
  const backend = new KubeVirtBackend({
    kubeConfig: kc,
    namespace: NAMESPACE,
    logger: quietLogger(),
    initialBackoffMs: 50,
    maxBackoffMs: 1000,
    syncTimeoutMs: 10_000,
    ...extra,
  });
  await backend.start();
  return backend;
}

let counter = 0;
/** A fresh VM name per test, so tests sharing a cluster never see each other's objects. */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid % 10000}-${counter}`;
}

/** Waits until a machine's backend has the VM in its cache with this power state (default Off). */
export function cachedIn(m: Machine, state: PowerState = 'Off', what = 'VM cached'): Promise<void> {
  return waitFor(
    () => {
      try {
        return m.getPowerState() === state;
      } catch {
        return false;
      }
    },
    { what },
  ).then(() => undefined);
}

export interface KubeVirtEnv {
  sim: TestCluster;
  kc: KubeConfig;
  /** The user's own client (creates and edits VMs as kubectl would). */
  user: UserClient;
  backend: KubeVirtBackend;
}

/**
 * For a test file: a test cluster (real when built), a user client and a started backend before its tests,
 * stopped after them (the backend last assigned to `env.backend`, then the cluster).
 */
export function kubevirtEnv(timing: 'fast' | 'realistic'): KubeVirtEnv {
  const env = {} as KubeVirtEnv;
  before(async () => {
    env.sim = await startCluster({ timing });
    env.kc = loadKubeConfig(env.sim.kubeconfigPath);
    env.user = new UserClient(env.kc);
    env.backend = await startBackend(env.kc);
  });
  after(async () => {
    await env.backend?.stop();
    await env.sim?.stop();
  });
  return env;
}

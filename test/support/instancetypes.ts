import type { VirtualMachine } from '../../src/kubevirt/types.ts';
import type { KubeHttp } from './kube-http.ts';
import { NAMESPACE } from './kubevirt-fixtures.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

/**
 * KubeVirt instance types and preferences (`instancetype.kubevirt.io/v1beta1`) for tests: the objects
 * and a VM that names them, written the way users write them (the VM's template leaves the
 * firmware, CPUs and memory to them).
 */

export const INSTANCETYPE_API = '/apis/instancetype.kubevirt.io/v1beta1';

/** A UEFI preference as upstream's common preferences write it (EFI with secure boot needs SMM). */
export const UEFI_SECURE_PREFERENCE: Obj = {
  firmware: { preferredEfi: { secureBoot: true } },
  features: { preferredSmm: {} },
  machine: { preferredMachineType: 'pc-q35-rhel9.6.0' },
};

/** A UEFI preference without secure boot, in the older spelling (`preferredUseEfi`). */
export const UEFI_PREFERENCE: Obj = {
  firmware: { preferredUseEfi: true, preferredUseSecureBoot: false },
};

export async function createClusterPreference(http: KubeHttp, name: string, spec: Obj): Promise<Obj> {
  const r = await http.req('POST', `${INSTANCETYPE_API}/virtualmachineclusterpreferences`, {
    apiVersion: 'instancetype.kubevirt.io/v1beta1',
    kind: 'VirtualMachineClusterPreference',
    metadata: { name },
    spec,
  });
  if (r.status !== 200) throw new Error(`creating preference ${name}: ${r.text}`);
  return r.json;
}

export async function createPreference(http: KubeHttp, name: string, spec: Obj): Promise<Obj> {
  const r = await http.req('POST', `${INSTANCETYPE_API}/namespaces/${NAMESPACE}/virtualmachinepreferences`, {
    apiVersion: 'instancetype.kubevirt.io/v1beta1',
    kind: 'VirtualMachinePreference',
    metadata: { name, namespace: NAMESPACE },
    spec,
  });
  if (r.status !== 200) throw new Error(`creating preference ${name}: ${r.text}`);
  return r.json;
}

export async function createClusterInstancetype(
  http: KubeHttp,
  name: string,
  vcpus: number,
  memory: string,
): Promise<Obj> {
  const r = await http.req('POST', `${INSTANCETYPE_API}/virtualmachineclusterinstancetypes`, {
    apiVersion: 'instancetype.kubevirt.io/v1beta1',
    kind: 'VirtualMachineClusterInstancetype',
    metadata: { name },
    spec: { cpu: { guest: vcpus }, memory: { guest: memory } },
  });
  if (r.status !== 200) throw new Error(`creating instance type ${name}: ${r.text}`);
  return r.json;
}

export interface TypedVmOptions {
  runStrategy?: 'Always' | 'Halted' | 'Manual';
  /** `{name, kind?}`; kind empty = the cluster-wide preference. */
  preference?: { name: string; kind?: string };
  instancetype?: { name: string; kind?: string };
}

/** A VM whose template sets no firmware, CPU or memory: its instance type and preference do. */
export function typedVmManifest(name: string, o: TypedVmOptions): VirtualMachine {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      runStrategy: o.runStrategy ?? 'Halted',
      ...(o.instancetype ? { instancetype: o.instancetype } : {}),
      ...(o.preference ? { preference: o.preference } : {}),
      template: {
        metadata: { labels: { 'kubevirt.io/vm': name } },
        spec: {
          domain: {
            ...(o.instancetype ? {} : { resources: { requests: { memory: '1Gi' } } }),
            devices: {
              disks: [
                { name: 'rootdisk', disk: { bus: 'virtio' }, bootOrder: 1 },
                { name: 'cdrom', cdrom: { bus: 'sata' } },
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
  } as unknown as VirtualMachine;
}

/**
 * The demo's sample VMs: three run strategies, one with an empty CD-ROM tray for virtual media,
 * each with a Secret (user admin, a random password made for this run) and a VirtualMachineBMC.
 */
import { randomInt } from 'node:crypto';
import type { Manifest } from './kustomize.ts';

export const DEMO_NAMESPACE = 'default';

export interface SampleVm {
  name: string;
  runStrategy: 'Always' | 'RerunOnFailure' | 'Halted';
  cdrom: boolean;
  note: string;
}

export const SAMPLE_VMS: readonly SampleVm[] = [
  {
    name: 'web',
    runStrategy: 'Always',
    cdrom: false,
    note: 'running; power off and it is started again by KubeVirt unless the BMC asked',
  },
  {
    name: 'worker',
    runStrategy: 'RerunOnFailure',
    cdrom: false,
    note: 'running; restarted only after a failure',
  },
  {
    name: 'installer',
    runStrategy: 'Halted',
    cdrom: true,
    note: 'off, with an empty CD-ROM: try virtual media',
  },
];

export interface Credentials {
  username: string;
  password: string;
}

// No characters a shell or a URL would treat specially, none that look alike (0/O, 1/l/I).
const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

export function randomPassword(length = 12): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export function bmcName(vm: string): string {
  return `${vm}-bmc`;
}

export function secretName(vm: string): string {
  return `${vm}-bmc-auth`;
}

export function sampleManifests(vm: SampleVm, creds: Credentials, ns = DEMO_NAMESPACE): Manifest[] {
  const disks: unknown[] = [{ name: 'rootdisk', bootOrder: 1, disk: { bus: 'virtio' } }];
  if (vm.cdrom) disks.push({ name: 'cdrom', cdrom: { bus: 'sata', readonly: true } });
  return [
    {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name: vm.name, namespace: ns, labels: { 'app.kubernetes.io/part-of': 'kubevirtbmc-demo' } },
      spec: {
        runStrategy: vm.runStrategy,
        template: {
          metadata: { labels: { 'kubevirt.io/vm': vm.name } },
          spec: {
            domain: {
              cpu: { cores: 1 },
              memory: { guest: '1Gi' },
              devices: { disks, interfaces: [{ name: 'default', masquerade: {} }] },
            },
            networks: [{ name: 'default', pod: {} }],
            volumes: [{ name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName(vm.name), namespace: ns },
      type: 'Opaque',
      data: {
        username: Buffer.from(creds.username).toString('base64'),
        password: Buffer.from(creds.password).toString('base64'),
      },
    },
    {
      apiVersion: 'bmc.kubevirt.io/v1beta1',
      kind: 'VirtualMachineBMC',
      metadata: { name: bmcName(vm.name), namespace: ns },
      spec: { virtualMachineRef: { name: vm.name }, authSecretRef: { name: secretName(vm.name) } },
    },
  ];
}

// MAC addresses of the fake KubeVirt, as upstream assigns them (see its README, "MAC addresses"):
// an interface whose spec names no `macAddress` gets a new one at every start of the VM (each start
// is a new VMI, a new virt-launcher pod), kept across a reset of the same VMI; a `macAddress` in
// the spec is what the VMI reports, at every start; a malformed one is refused by the VM webhook.
// Runs on the real control plane when built (the embedded cluster otherwise): the same controllers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KubeClient } from '../../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../../src/kube/config.ts';
import { KubeApiError } from '../../../../src/kube/errors.ts';
import { startCluster, type TestCluster } from '../../../../test/support/cluster.ts';
import { waitFor } from '../../../../test/support/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

const NS = 'default';
const VMS = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachines`;
const VMIS = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances`;
const SUB = `/apis/subresources.kubevirt.io/v1/namespaces/${NS}`;
const WAIT = { timeoutMs: 30_000, intervalMs: 50 };

function vm(name: string, interfaces: Obj[], networks: Obj[]): Obj {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: NS },
    spec: {
      runStrategy: 'Halted',
      template: {
        spec: {
          domain: {
            devices: { disks: [{ name: 'rootdisk', disk: { bus: 'virtio' } }], interfaces },
            resources: { requests: { memory: '512Mi' } },
          },
          networks,
          volumes: [{ name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } }],
        },
      },
    },
  };
}

describe('fake KubeVirt: MAC addresses', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let client: KubeClient;

  before(async () => {
    cluster = await startCluster({ timing: 'fast' });
    client = new KubeClient(KubeConfigAccess.load(cluster.kubeconfigPath), 'macs-test');
  });
  after(async () => {
    await cluster?.stop();
  });

  /** Starts the VM and returns its running VMI (a new one: not `previousUid`). */
  async function start(name: string, previousUid?: string): Promise<Obj> {
    await client.request('PUT', `${SUB}/virtualmachines/${name}/start`, { body: {} });
    return running(name, previousUid);
  }

  function running(name: string, previousUid?: string): Promise<Obj> {
    return waitFor(
      async () => {
        const vmi = await client.request<Obj>('GET', `${VMIS}/${name}`).catch(() => null);
        return vmi?.status?.phase === 'Running' && vmi.metadata.uid !== previousUid ? vmi : null;
      },
      { ...WAIT, what: `a running VMI ${name}` },
    );
  }

  async function stop(name: string): Promise<void> {
    await client.request('PUT', `${SUB}/virtualmachines/${name}/stop`, { body: {} });
    await waitFor(async () => (await client.request('GET', `${VMIS}/${name}`).catch(() => null)) === null, {
      ...WAIT,
      what: `VMI ${name} gone`,
    });
  }

  const macs = (vmi: Obj): Record<string, string> =>
    Object.fromEntries((vmi.status.interfaces as Obj[]).map((i) => [i.name, i.mac]));

  const transcript = (name: string) => cluster.consoleTranscript(NS, name);

  test('no macAddress: a new locally administered MAC at each start, kept by a reset; a spec MAC is kept', async () => {
    const name = 'macs-masq';
    await client.request('POST', VMS, {
      body: vm(
        name,
        [
          { name: 'default', masquerade: {}, bootOrder: 1 },
          { name: 'fixed', bridge: {}, macAddress: '02-AB-CD-00-11-22' },
        ],
        [
          { name: 'default', pod: {} },
          { name: 'fixed', multus: { networkName: 'pxe-net' } },
        ],
      ),
    });
    const first = await start(name);
    const m1 = macs(first);
    assert.match(m1.default!, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'lower-case colon form');
    const b0 = Number.parseInt(m1.default!.slice(0, 2), 16);
    assert.equal(b0 & 0x01, 0, 'unicast');
    assert.equal(b0 & 0x02, 0x02, 'locally administered');
    // The spec's MAC, in the form libvirt reports it.
    assert.equal(m1.fixed, '02:ab:cd:00:11:22');
    // The guest PXE-boots with the MAC the VMI reports.
    await waitFor(() => transcript(name).includes(`PXE: DHCP on ${m1.default}`), {
      ...WAIT,
      what: 'the PXE line with the reported MAC',
    });

    // A reset keeps the VMI, its virt-launcher pod and so its MACs.
    await client.request('PUT', `${SUB}/virtualmachineinstances/${name}/reset`, { body: {} });
    const afterReset = await client.request<Obj>('GET', `${VMIS}/${name}`);
    assert.equal(afterReset.metadata.uid, first.metadata.uid);
    assert.deepEqual(macs(afterReset), m1);

    // Stop and start: a new VMI, a new MAC where the spec sets none; the spec's MAC again.
    await stop(name);
    const second = await start(name, first.metadata.uid);
    const m2 = macs(second);
    assert.notEqual(m2.default, m1.default, 'a new MAC at the new start');
    assert.equal(m2.fixed, '02:ab:cd:00:11:22');
    await waitFor(() => transcript(name).includes(`PXE: DHCP on ${m2.default}`), {
      ...WAIT,
      what: 'the PXE line with the new MAC',
    });
  });

  test('passt binding (no tap device, libvirt picks the MAC): 52:54:00 and three new bytes at each start', async () => {
    const name = 'macs-passt';
    await client.request('POST', VMS, {
      body: vm(name, [{ name: 'default', passtBinding: {} }], [{ name: 'default', pod: {} }]),
    });
    const first = await start(name);
    const m1 = macs(first).default!;
    assert.match(m1, /^52:54:00(:[0-9a-f]{2}){3}$/);
    await stop(name);
    const m2 = macs(await start(name, first.metadata.uid)).default!;
    assert.match(m2, /^52:54:00(:[0-9a-f]{2}){3}$/);
    assert.notEqual(m2, m1);
  });

  test('a malformed or too long macAddress is refused by the VM webhook, with the interface named', async () => {
    for (const [mac, why] of [
      ['zz:00:00:00:00:01', 'malformed MAC address (zz:00:00:00:00:01)'],
      ['02:00:00:00:00:00:00:01', 'too long MAC address (02:00:00:00:00:00:00:01)'],
    ] as const) {
      const err = await client
        .request('POST', VMS, {
          body: vm(
            `macs-bad-${mac.length}`,
            [{ name: 'default', masquerade: {}, macAddress: mac }],
            [{ name: 'default', pod: {} }],
          ),
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.ok(err instanceof KubeApiError, `${mac} was accepted`);
      assert.equal(err.status, 422);
      assert.match(
        err.message,
        new RegExp(
          `interface spec\\.template\\.spec\\.domain\\.devices\\.interfaces\\[0\\]\\.name has ${why.replace(/[()]/g, '\\$&')}\\.`,
        ),
      );
    }
  });
});

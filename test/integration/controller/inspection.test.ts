/**
 * Ironic's Redfish inspection of the demo's VMs, end to end: the demo's manifests on the control
 * plane, their VirtualMachineBMCs served by agent pods, and python3-sushy (Ironic's Redfish library)
 * making the reads Ironic's `redfish` inspect interface makes, with its arithmetic. Each VM,
 * running and stopped, gives cpus, cpu_arch, memory_mb, local_gb (its containerDisk root disk: the
 * 10 GiB default, or the VM's `bmc.kubevirt.io/disk-size` annotation) and one port per NIC MAC.
 * The old agent reported the containerDisk drive `Absent` with no `CapacityBytes`, and Ironic's
 * local_gb arithmetic crashed on it (`'>=' not supported between 'NoneType' and 'int'`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BmcController } from '../../../src/controller/controller.ts';
import { bmcName, SAMPLE_VMS, sampleManifests } from '../../../src/demo/samples.ts';
import { missingClients } from '../../support/clients.ts';
import { pythonLines } from '../../support/redfish-clients.ts';
import { waitFor } from '../../support/wait.ts';
import { curl, missingTools, run, TestCluster } from './helpers.ts';

const skip = missingClients('kubectl', 'sushy') || missingTools('curl');
const SUSHY = fileURLToPath(new URL('./sushy_inspect.py', import.meta.url));
const NS = 'default';
const USER = 'admin';
const PASSWORD = 'inspect-pw-1';
const WAIT = { timeoutMs: 90_000, intervalMs: 250 };

// biome-ignore lint/suspicious/noExplicitAny: Redfish and Kubernetes JSON
type Json = any;

describe('Ironic Redfish inspection of the demo VMs (python3-sushy)', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;
  let controller: BmcController;

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement: 'per-vm',
      agent: { image: 'ghcr.io/kubevirtbmc-project/kubevirtbmc:test' },
      metricsPort: 0,
      metricsHost: '127.0.0.1',
    });
    await controller.start();
    const items = SAMPLE_VMS.flatMap((vm) => sampleManifests(vm, { username: USER, password: PASSWORD }, NS));
    // The `worker` VM says how big its containerDisk is.
    const worker = items.find(
      (m: Json) => m.kind === 'VirtualMachine' && m.metadata.name === 'worker',
    ) as Json;
    worker.metadata.annotations = { 'bmc.kubevirt.io/disk-size': '40Gi' };
    await c.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    for (const vm of SAMPLE_VMS)
      await c.kubectlOk(
        ['wait', '--for=condition=Ready', `vmbmc/${bmcName(vm.name)}`, '--timeout=120s'],
        undefined,
        130_000,
      );
  });
  after(async () => {
    await controller?.stop();
    await c?.stop();
  });

  const redfish = async (vm: string): Promise<string> =>
    (await c.getJson(['vmbmc', bmcName(vm)])).status.endpoints.redfish;

  async function inspect(vm: string): Promise<Json> {
    return (await pythonLines(SUSHY, [await redfish(vm), USER, PASSWORD]))[0];
  }

  async function reset(vm: string, type: string): Promise<void> {
    const r = await run('curl', [
      '-sS',
      '-u',
      `${USER}:${PASSWORD}`,
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify({ ResetType: type }),
      '-w',
      '\n%{http_code}',
      '--max-time',
      '10',
      `${await redfish(vm)}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset`,
    ]);
    assert.match(
      r.stdout.trim().split('\n').at(-1) ?? '',
      /^20[04]$/,
      `Reset ${type}: ${r.stdout}${r.stderr}`,
    );
  }

  async function power(vm: string): Promise<string> {
    const r = await curl(`${await redfish(vm)}/redfish/v1/Systems/1`, USER, PASSWORD);
    const lines = r.stdout.trim().split('\n');
    return lines.at(-1) === '200' ? JSON.parse(lines.slice(0, -1).join('\n')).PowerState : '';
  }

  const runningMac = (vm: string): Promise<string> =>
    waitFor(
      async () => {
        const vmi = await c.tryGet(['vmi', vm]);
        return vmi?.status?.phase === 'Running'
          ? ((vmi.status.interfaces?.[0]?.mac as string) ?? null)
          : null;
      },
      { ...WAIT, what: `${vm}: a running VMI with a MAC` },
    );

  const expected = (localGb: string) => ({
    cpus: 1,
    cpu_arch: 'x86_64',
    memory_mb: '1024',
    local_gb: localGb,
  });

  test('running VMs: cpus, memory, local_gb from the containerDisk size, one port per MAC', async () => {
    for (const [vm, localGb] of [
      ['web', '9'],
      ['worker', '39'],
    ] as const) {
      const mac = await runningMac(vm);
      const seen = await waitFor(
        async () => {
          const s = await inspect(vm);
          return s.power === 'On' && s.ports.length > 0 ? s : null;
        },
        { ...WAIT, what: `${vm}: On with its MAC` },
      );
      assert.deepEqual(seen.properties, expected(localGb), vm);
      assert.deepEqual(seen.ports, [mac], vm);
      assert.deepEqual(seen.drive_states, ['Enabled'], `${vm}: the root disk is there`);
      assert.equal(seen.drive_sizes.length, 1);
      assert.deepEqual(seen.simple_storage_sizes, seen.drive_sizes);
    }
  });

  test('stopped VMs: the same properties; ports from the MAC of the last start', async () => {
    // Never started: everything but the MAC, which nobody knows yet.
    const fresh = await inspect('installer');
    assert.equal(fresh.power, 'Off');
    assert.deepEqual(fresh.properties, expected('9'));
    assert.deepEqual(fresh.drive_states, ['Enabled']);
    assert.deepEqual(fresh.ports, []);

    await reset('installer', 'On');
    const mac = await runningMac('installer');
    await reset('installer', 'ForceOff');
    await waitFor(async () => (await c.tryGet(['vmi', 'installer'])) === null, { ...WAIT, what: 'VMI gone' });
    await waitFor(async () => (await power('installer')) === 'Off', { ...WAIT, what: 'PowerState Off' });
    const off = await inspect('installer');
    assert.equal(off.power, 'Off');
    assert.deepEqual(off.properties, expected('9'));
    assert.deepEqual(off.drive_states, ['Enabled']);
    assert.deepEqual(off.ports, [mac], 'one port, the MAC of the last start');
  });
});

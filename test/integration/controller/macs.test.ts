/**
 * End to end, as Ironic sees it: a VirtualMachineBMC served by its agent pod; the VM, whose spec
 * sets no MAC, is started and stopped over Redfish with curl; while it is off, curl and python3-sushy
 * (Ironic's Redfish library) still read the MAC it had at its last start, also after the agent pod
 * was deleted and its Deployment made a new one. The next start has another MAC (KubeVirt assigns
 * one per start), which the BMC then reports.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BmcController } from '../../../src/controller/controller.ts';
import { missingClients } from '../../support/clients.ts';
import { pythonLines } from '../../support/redfish-clients.ts';
import { waitFor } from '../../support/wait.ts';
import { bmcYaml, curl, missingTools, run, secretYaml, TestCluster, vmYaml } from './helpers.ts';

const skip = missingClients('kubectl', 'sushy') || missingTools('curl');
const SUSHY = fileURLToPath(new URL('./sushy_nics.py', import.meta.url));
const NS = 'default';
const VM = 'vm-macs';
const BMC = 'bmc-macs';
const USER = 'admin';
const PASSWORD = 'macs-pw-1';
const WAIT = { timeoutMs: 60_000, intervalMs: 250 };

// biome-ignore lint/suspicious/noExplicitAny: Redfish JSON
type Json = any;

describe('MACs of a stopped VM over Redfish (curl, sushy), across an agent restart', {
  skip,
  timeout: 600_000,
}, () => {
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
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [vmYaml(NS, VM), secretYaml(NS, 'macs-auth', USER, PASSWORD), bmcYaml(NS, BMC, VM, 'macs-auth')].join(
        '---\n',
      ),
    );
    await c.kubectlOk(
      ['wait', '--for=condition=Ready', `vmbmc/${BMC}`, '--timeout=120s'],
      undefined,
      130_000,
    );
  });
  after(async () => {
    await controller?.stop();
    await c?.stop();
  });

  const redfish = async (): Promise<string> => (await c.getJson(['vmbmc', BMC])).status.endpoints.redfish;

  async function get(path: string): Promise<Json> {
    const r = await curl(`${await redfish()}${path}`, USER, PASSWORD);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.at(-1), '200', `${path}: ${r.stderr}${r.stdout}`);
    return JSON.parse(lines.slice(0, -1).join('\n'));
  }

  const nic = () => get('/redfish/v1/Systems/1/EthernetInterfaces/default');

  async function reset(type: string): Promise<void> {
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
      `${await redfish()}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset`,
    ]);
    assert.match(
      r.stdout.trim().split('\n').at(-1) ?? '',
      /^20[04]$/,
      `Reset ${type}: ${r.stdout}${r.stderr}`,
    );
  }

  async function runningMac(notUid?: string): Promise<{ uid: string; mac: string }> {
    return waitFor(
      async () => {
        const vmi = await c.tryGet(['vmi', VM]);
        const mac = vmi?.status?.phase === 'Running' ? vmi.status.interfaces?.[0]?.mac : undefined;
        return mac && vmi.metadata.uid !== notUid
          ? { uid: vmi.metadata.uid as string, mac: mac as string }
          : null;
      },
      { ...WAIT, what: 'a running VMI with a MAC' },
    );
  }

  async function powerOff(): Promise<void> {
    await reset('ForceOff');
    await waitFor(async () => (await c.tryGet(['vmi', VM])) === null, { ...WAIT, what: 'the VMI gone' });
    await waitFor(async () => (await get('/redfish/v1/Systems/1')).PowerState === 'Off', {
      ...WAIT,
      what: 'PowerState Off',
    });
  }

  const sushy = async () => (await pythonLines(SUSHY, [await redfish(), USER, PASSWORD]))[0]!;

  test('off: the MAC of the last start, Enabled, for curl and sushy, before and after the agent pod restarts', async () => {
    // Never started: no MAC is known, and the NIC says so.
    const fresh = await nic();
    assert.equal(fresh.MACAddress, undefined);
    assert.equal(fresh.Status.State, 'Disabled');

    await reset('On');
    const first = await runningMac();
    await waitFor(async () => (await nic()).MACAddress === first.mac, { ...WAIT, what: 'the running MAC' });

    await powerOff();
    const off = await nic();
    assert.equal(off.MACAddress, first.mac, 'the MAC of the last start while off');
    assert.equal(off.Status.State, 'Enabled');
    assert.equal(off.LinkStatus, 'LinkDown');
    assert.equal(off.PermanentMACAddress, undefined, 'KubeVirt may assign another at the next start');
    const seen = await sushy();
    assert.equal(seen.power, 'Off');
    assert.deepEqual(seen.summary, { [first.mac]: 'Enabled' }, 'what Ironic inspection keeps');

    // The agent pod goes away; its Deployment makes a new one, which still knows the MAC.
    const pods = async () =>
      (await c.getJson(['pods', '-l', `bmc.kubevirt.io/bmc=${BMC},app.kubernetes.io/component=agent`]))
        .items as {
        metadata: { name: string; deletionTimestamp?: string };
        status?: { phase?: string; conditions?: { type: string; status: string }[] };
      }[];
    const old = (await pods()).map((p) => p.metadata.name);
    assert.equal(old.length, 1);
    await c.kubectlOk(['delete', 'pod', old[0]!, '--wait=true', '--timeout=60s'], undefined, 70_000);
    await waitFor(
      async () =>
        (await pods()).some(
          (p) =>
            !old.includes(p.metadata.name) &&
            !p.metadata.deletionTimestamp &&
            p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
        ),
      { ...WAIT, what: 'a new agent pod, ready' },
    );
    const again = await waitFor(
      async () => {
        const n = await nic().catch(() => null);
        return n?.MACAddress ? n : null;
      },
      { ...WAIT, what: 'the new agent serving the NIC' },
    );
    assert.equal(again.MACAddress, first.mac, 'the MAC survived the agent restart');
    assert.equal(again.Status.State, 'Enabled');
    assert.deepEqual((await sushy()).summary, { [first.mac]: 'Enabled' });

    // The next start: KubeVirt assigns another MAC; the BMC reports it, and keeps it once off.
    await reset('On');
    const second = await runningMac(first.uid);
    assert.notEqual(second.mac, first.mac);
    await waitFor(async () => (await nic()).MACAddress === second.mac, { ...WAIT, what: 'the new MAC' });
    await powerOff();
    assert.equal((await nic()).MACAddress, second.mac);
    assert.deepEqual((await sushy()).summary, { [second.mac]: 'Enabled' });

    // Nothing was written into the user's VM for this.
    const vm = await c.getJson(['vm', VM]);
    assert.equal(vm.spec.template.spec.domain.devices.interfaces[0].macAddress, undefined);
    assert.equal(
      Object.keys(vm.metadata.annotations ?? {}).some((k) => k.includes('mac')),
      false,
    );
  });
});

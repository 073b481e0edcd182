/**
 * OpenStack Ironic itself (Debian 12's ironic-api and ironic-conductor 21.4, standalone) inspects
 * the demo's VMs through their Redfish BMCs, as an operator would: enroll the node with the
 * `redfish` driver, `manage`, `inspect`, then read the node and its ports. What Ironic records must
 * match the VM: `cpus`, `cpu_arch`, `memory_mb` and `local_gb` from its spec, one port per NIC with
 * the MAC the VMI has (or had at its last start), and the node back in `manageable` with no
 * `last_error`. A running VM and a stopped one (before and after a first start) are inspected.
 * Ironic, the demo and the requests all run in one loopback-only network namespace
 * (test/support/ironic.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Row } from '../../e2e/helpers.ts';
import { IronicStack, missingIronic } from '../../support/ironic.ts';

const skip = missingIronic();

/** A size `kubectl annotate` gives the running VM's containerDisk (the product's documented knob). */
const WEB_DISK = '40Gi';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes and Ironic JSON
type Json = any;

function gib(q: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  assert.ok(m, `unexpected quantity ${q}`);
  return Number(m[1]) / (m[2] === 'Mi' ? 1024 : 1);
}

/**
 * What Ironic should record for a VM, worked out from the VM (and its running VMI): vCPUs are
 * sockets × cores × threads; memory is `memory.guest`; `local_gb` is the root disk's size in GiB
 * minus 1 (Ironic's rule), the size being the VMI's volume status, else the VM's
 * `bmc.kubevirt.io/disk-size` annotation, else 10 GiB (docs/kubevirt.md "Disk sizes").
 */
function expectedProperties(vm: Json, vmi: Json | null) {
  const domain = vm.spec.template.spec.domain;
  const cpu = domain.cpu ?? {};
  const sized = vmi?.status?.volumeStatus?.find((v: Json) => v.name === 'rootdisk' && v.size > 0);
  const annotated = vm.metadata.annotations?.['bmc.kubevirt.io/disk-size'];
  const diskGiB = sized ? sized.size / 2 ** 30 : annotated ? gib(annotated) : 10;
  const arch = vm.spec.template.spec.architecture;
  return {
    cpus: (cpu.sockets ?? 1) * (cpu.cores ?? 1) * (cpu.threads ?? 1),
    cpu_arch: !arch || arch === 'amd64' ? 'x86_64' : arch,
    memory_mb: String(gib(domain.memory.guest) * 1024),
    local_gb: String(Math.floor(diskGiB - 1)),
  };
}

describe('OpenStack Ironic 21.4 inspects the demo VMs over Redfish', { skip, timeout: 480_000 }, () => {
  const stack = new IronicStack();
  const row = (vm: string): Row => {
    const r = stack.rows.find((x) => x.vm === vm);
    assert.ok(r, `the demo printed no row for ${vm}`);
    return r;
  };

  async function node(name: string): Promise<Json> {
    const r = await stack.api('GET', `/v1/nodes/${name}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  }

  /** Polls the node every second (at most `timeoutMs`) until `done` holds, and returns it. */
  async function waitNode(name: string, what: string, done: (n: Json) => boolean, timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = await node(name);
      if (done(n)) return n;
      if (Date.now() > deadline)
        assert.fail(
          `${name}: not ${what} in ${timeoutMs / 1000} s: provision_state ${n.provision_state}, power_state ${n.power_state}, last_error ${n.last_error}\n${stack.diagnostics()}`,
        );
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** `baremetal node create --driver redfish …` then `baremetal node manage`. */
  async function enroll(name: string) {
    const r = row(name);
    const created = await stack.api('POST', '/v1/nodes', {
      name,
      driver: 'redfish',
      inspect_interface: 'redfish',
      driver_info: {
        redfish_address: r.redfish,
        redfish_system_id: '/redfish/v1/Systems/1',
        redfish_username: r.username,
        redfish_password: r.password,
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const manage = await stack.api('PUT', `/v1/nodes/${name}/states/provision`, { target: 'manage' });
    assert.equal(manage.status, 202, JSON.stringify(manage.body));
    const n = await waitNode(
      name,
      'manageable',
      (n) => n.target_provision_state === null && n.provision_state !== 'verifying',
    );
    assert.equal(n.provision_state, 'manageable', `manage failed: ${n.last_error}`);
  }

  /** `baremetal node inspect`, waited for; returns the node afterwards. */
  async function inspect(name: string): Promise<Json> {
    const previous = (await node(name)).inspection_finished_at;
    const r = await stack.api('PUT', `/v1/nodes/${name}/states/provision`, { target: 'inspect' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return waitNode(
      name,
      'inspected',
      (n) =>
        n.provision_state === 'inspect failed' ||
        (n.provision_state === 'manageable' &&
          n.target_provision_state === null &&
          !!n.inspection_finished_at &&
          n.inspection_finished_at !== previous),
    );
  }

  /** `baremetal node power on|off`, waited for. */
  async function power(name: string, target: 'power on' | 'power off') {
    const r = await stack.api('PUT', `/v1/nodes/${name}/states/power`, { target });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const n = await waitNode(name, target, (n) => n.target_power_state === null && n.power_state === target);
    assert.equal(n.last_error, null);
  }

  async function portMacs(name: string): Promise<string[]> {
    const r = await stack.api('GET', `/v1/ports?node=${name}&fields=address`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const macs = r.body.ports.map((p: { address: string }) => p.address).sort();
    console.error(`# ${name}: ports ${macs.join(', ') || '(none)'}`);
    return macs;
  }

  /** The MAC of each of the VMI's interfaces, once the VMI reports one for every NIC of the VM. */
  async function vmiMacs(vm: Json, timeoutMs = 60_000): Promise<string[]> {
    const names: string[] = vm.spec.template.spec.domain.devices.interfaces.map((i: Json) => i.name);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const vmi = await stack.kubectl('get', 'vmi', vm.metadata.name).catch(() => null);
      const macs = names.map(
        (n) =>
          vmi?.status?.interfaces?.find((i: Json) => i.name === n)?.mac?.toLowerCase() as string | undefined,
      );
      if (vmi?.status?.phase === 'Running' && macs.every(Boolean)) return (macs as string[]).sort();
      if (Date.now() > deadline) assert.fail(`VMI ${vm.metadata.name} reports no MAC for every NIC`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  function assertInspected(n: Json, expected: ReturnType<typeof expectedProperties>) {
    const p = n.properties;
    console.error(
      `# ${n.name}: ${n.provision_state}, last_error ${n.last_error}, cpus ${p.cpus} cpu_arch ${p.cpu_arch} memory_mb ${p.memory_mb} local_gb ${p.local_gb}`,
    );
    assert.equal(n.provision_state, 'manageable', `inspection failed: ${n.last_error}`);
    assert.equal(n.last_error, null);
    assert.deepEqual(
      { cpus: p.cpus, cpu_arch: p.cpu_arch, memory_mb: p.memory_mb, local_gb: p.local_gb },
      expected,
    );
  }

  before(
    async () => {
      try {
        await stack.start();
        // The operator sizes web's containerDisk (which has no size KubeVirt reports) with the
        // annotation, and waits until the BMC shows it before inspecting.
        const a = await stack.kubectlRaw('annotate', 'vm', 'web', `bmc.kubevirt.io/disk-size=${WEB_DISK}`);
        assert.equal(a.code, 0, a.stderr);
        const web = row('web');
        const want = gib(WEB_DISK) * 2 ** 30;
        const deadline = Date.now() + 60_000;
        for (;;) {
          const r = await stack.run([
            'curl',
            '-sS',
            '--max-time',
            '10',
            '-u',
            `${web.username}:${web.password}`,
            `${web.redfish}/redfish/v1/Systems/1/SimpleStorage/1`,
          ]);
          const devices = r.code === 0 ? (JSON.parse(r.stdout).Devices ?? []) : [];
          if (devices.some((d: Json) => d.CapacityBytes === want)) break;
          if (Date.now() > deadline)
            assert.fail(`web's BMC never showed its disk as ${WEB_DISK}: ${r.stdout}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      } catch (err) {
        await stack.stop();
        throw err;
      }
    },
    { timeout: 400_000 },
  );

  after(() => stack.stop());

  test('a running VM: cpus, memory_mb, local_gb, cpu_arch as its spec says, one port per NIC with the VMI’s MAC', async () => {
    const vm = await stack.kubectl('get', 'vm', 'web');
    const vmi = await stack.kubectl('get', 'vmi', 'web');
    assert.equal(vmi.status.phase, 'Running');
    const macs = await vmiMacs(vm);
    await enroll('web');
    const n = await inspect('web');
    assertInspected(n, expectedProperties(vm, vmi));
    assert.equal(n.properties.local_gb, String(gib(WEB_DISK) - 1), 'local_gb follows the annotation');
    assert.deepEqual(await portMacs('web'), macs);
    assert.equal(n.power_state, 'power on', 'inspection leaves a running VM running');
  });

  test('a stopped VM: the same properties; a port once it has run, with the MAC of its last start', async () => {
    const vm = await stack.kubectl('get', 'vm', 'installer');
    assert.equal(vm.status.printableStatus, 'Stopped');
    await enroll('installer');

    // Never started, no macAddress in its spec: KubeVirt has given it no MAC yet, so no port.
    let n = await inspect('installer');
    assertInspected(n, expectedProperties(vm, null));
    assert.deepEqual(await portMacs('installer'), []);
    assert.equal(n.power_state, 'power off');

    // Started and stopped again through Ironic: inspection records the MAC that start had.
    await power('installer', 'power on');
    const macs = await vmiMacs(vm);
    await power('installer', 'power off');
    const deadline = Date.now() + 60_000;
    while ((await stack.kubectlRaw('get', 'vmi', 'installer')).code === 0) {
      if (Date.now() > deadline) assert.fail('the VMI of installer is still there after power off');
      await new Promise((r) => setTimeout(r, 500));
    }
    n = await inspect('installer');
    assertInspected(n, expectedProperties(await stack.kubectl('get', 'vm', 'installer'), null));
    assert.deepEqual(await portMacs('installer'), macs);
    assert.equal(n.power_state, 'power off', 'inspection leaves a stopped VM stopped');
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import type { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import type { VirtualMachine } from '../../../src/kubevirt/types.ts';
import type { Machine } from '../../../src/machine/index.ts';
import { RedfishServer } from '../../../src/redfish/server.ts';
import { missingClients } from '../../support/clients.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { createClusterPreference, typedVmManifest, UEFI_PREFERENCE } from '../../support/instancetypes.ts';
import { ADMIN } from '../../support/ipmi-bmc.ts';
import { run } from '../../support/ipmi-run.ts';
import { KubeHttp } from '../../support/kube-http.ts';
import {
  loadKubeConfig,
  NAMESPACE,
  startBackend,
  UserClient,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { pythonLines } from '../../support/redfish-clients.ts';
import { waitFor } from '../../support/wait.ts';

// A VM whose installed OS boots with UEFI, managed by the clients that send a boot mode with every
// boot-device change: `ipmitool chassis bootdev pxe` (no `efiboot`: Legacy), python3-sushy (as
// Ironic), and bmclib's Redfish request (Rufio's default `efiBoot: false`: Legacy), each followed by
// a reset. A one-time override's mode is for that boot only: the guest PXE-boots in BIOS mode once,
// then the VM's own UEFI firmware, exactly as the user wrote it, boots the disk again. The whole path
// runs: client → our IPMI/Redfish server → the KubeVirt machine → the API server → the fake KubeVirt.

const skip = missingClients('ipmitool', 'sushy');
const SUSHY = fileURLToPath(new URL('../redfish/sushy_ironic.py', import.meta.url));
const WAIT = { timeoutMs: 20_000, intervalMs: 50 };

interface Bmc {
  name: string;
  original: VirtualMachine;
  machine: Machine;
  ipmiPort: number;
  redfishUrl: string;
}

describe('a one-time boot mode is for that boot only', { skip }, () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  let user: UserClient;
  const backends: KubeVirtBackend[] = [];
  const servers: Array<{ close(): Promise<void> }> = [];

  before(async () => {
    cluster = await startCluster({ timing: 'fast' });
    kc = loadKubeConfig(cluster.kubeconfigPath);
    user = new UserClient(kc);
  });
  after(async () => {
    for (const s of servers) await s.close();
    for (const b of backends) await b.stop();
    await cluster?.stop();
  });

  /** The guest's serial output since its latest power-on or reset. */
  function latestBoot(name: string): string {
    const t = cluster.consoleTranscript(NAMESPACE, name);
    const starts = [...t.matchAll(/(UEFI firmware \(OVMF|SeaBIOS \(simulated\))/g)];
    return starts.length ? t.slice(starts.at(-1)!.index) : '';
  }

  const booted = (name: string, firmware: 'UEFI' | 'BIOS', device: RegExp, what: string) =>
    waitFor(
      () => {
        const b = latestBoot(name);
        return /login: $/.test(b) && b.includes(`Firmware mode: ${firmware}`) && device.test(b);
      },
      { ...WAIT, what },
    );

  /** A running VM installed for UEFI (its own EFI settings), with an IPMI and a Redfish BMC. */
  async function uefiBmc(manifest?: VirtualMachine): Promise<Bmc> {
    const name = manifest?.metadata?.name ?? uniqueName('uefi-os');
    const vm = manifest ?? vmManifest(name, { runStrategy: 'Always', uefi: true, rootBootOrder: 1 });
    const fw = vm.spec?.template?.spec?.domain?.firmware;
    if (!manifest && fw) fw.bootloader = { efi: { secureBoot: false, persistent: true } };
    const original = await user.createVm(vm);
    const backend = await startBackend(kc, { vmName: name });
    backends.push(backend);
    const machine = backend.machine(name);
    const ipmi = new IpmiServer({
      machine,
      accounts: () => [ADMIN],
      loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000 },
    });
    servers.push(ipmi);
    const ipmiPort = (await ipmi.listen(0)).port;
    const redfish = new RedfishServer({ systems: { kind: 'single', machine }, accounts: () => [ADMIN] });
    servers.push(redfish);
    const { port } = await redfish.listen(0, '127.0.0.1');
    await booted(name, 'UEFI', /Booting from disk 'rootdisk'/, 'the first boot: UEFI from the disk');
    return { name, original, machine, ipmiPort, redfishUrl: `http://127.0.0.1:${port}` };
  }

  /** After the one-time boot: no override, UEFI reported, the VM's template exactly as the user wrote it. */
  async function backToOwnFirmware(b: Bmc): Promise<void> {
    await waitFor(
      async () => {
        const vm = await user.getVm(b.name);
        return (
          JSON.stringify(vm.spec?.template) === JSON.stringify(b.original.spec?.template) &&
          !vm.metadata?.annotations?.['bmc.kubevirt.io/boot-override']
        );
      },
      { ...WAIT, what: "the VM's own firmware and boot order back, untouched" },
    );
    assert.deepEqual(b.machine.getBootOverride(), { target: 'None', persistence: 'Disabled', mode: 'UEFI' });
  }

  const ipmitool = async (b: Bmc, ...args: string[]) => {
    const r = await run('ipmitool', [
      '-I',
      'lanplus',
      '-H',
      '127.0.0.1',
      '-p',
      String(b.ipmiPort),
      '-U',
      ADMIN.username,
      '-P',
      ADMIN.password,
      '-R',
      '2',
      '-N',
      '1',
      ...args,
    ]);
    assert.equal(r.code, 0, `ipmitool ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  test('ipmitool chassis bootdev pxe (no efiboot), power reset', async () => {
    const b = await uefiBmc();
    assert.match(await ipmitool(b, 'chassis', 'bootparam', 'get', '5'), /BIOS EFI boot/);
    assert.equal(await ipmitool(b, 'chassis', 'bootdev', 'pxe'), 'Set Boot Device to pxe\n');
    const flags = await ipmitool(b, 'chassis', 'bootparam', 'get', '5');
    assert.match(flags, /Options apply to only next boot/);
    assert.match(flags, /BIOS PC Compatible \(legacy\) boot/);
    assert.match(flags, /Force PXE/);
    await ipmitool(b, 'power', 'reset');
    await booted(b.name, 'BIOS', /Booting from network \(PXE\)/, 'the one PXE boot, in BIOS mode');
    await backToOwnFirmware(b);
    const after = await ipmitool(b, 'chassis', 'bootparam', 'get', '5');
    assert.match(after, /BIOS EFI boot/);
    assert.match(after, /No override/);
    await ipmitool(b, 'power', 'reset');
    await booted(b.name, 'UEFI', /Booting from disk 'rootdisk'/, 'the installed OS again, in UEFI');
  });

  test('python3-sushy: Pxe, Once, Legacy, then ForceRestart', async () => {
    const b = await uefiBmc();
    const sushy = (ops: object[]) =>
      pythonLines(SUSHY, [b.redfishUrl, ADMIN.username, ADMIN.password, 'session', JSON.stringify(ops)]);
    const [set] = await sushy([{ op: 'boot', target: 'Pxe', enabled: 'Once', mode: 'Legacy' }]);
    assert.deepEqual(set!.boot, { target: 'Pxe', enabled: 'Once', mode: 'Legacy' });
    await sushy([{ op: 'power', value: 'ForceRestart' }]);
    await booted(b.name, 'BIOS', /Booting from network \(PXE\)/, 'the one PXE boot, in BIOS mode');
    await backToOwnFirmware(b);
    const [d] = await sushy([{ op: 'discover' }]);
    assert.deepEqual(d!.boot, { target: 'None', enabled: 'Disabled', mode: 'UEFI' });
    await sushy([{ op: 'power', value: 'ForceRestart' }]);
    await booted(b.name, 'UEFI', /Booting from disk 'rootdisk'/, 'the installed OS again, in UEFI');
  });

  test("bmclib's request (Rufio's default efiBoot: false) with curl, then its reset (PowerCycle)", async () => {
    const b = await uefiBmc();
    const system = `${b.redfishUrl}/redfish/v1/Systems/1`;
    const curl = async (...args: string[]) => {
      const { stdout } = await promisify(execFile)(
        'curl',
        ['-sS', '-u', `${ADMIN.username}:${ADMIN.password}`, '-w', '\n%{http_code}', ...args],
        { timeout: 20_000 },
      );
      const i = stdout.lastIndexOf('\n');
      return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
    };
    const got = await curl('-D', '-', system);
    const etag = /^etag: *(.+?)\r?$/im.exec(got.body)?.[1];
    const current = JSON.parse(got.body.slice(got.body.indexOf('\r\n\r\n') + 4));
    // bmclib (internal/redfishwrapper/boot_device.go SystemBootDeviceSet) copies the Boot object it
    // read, sets target, Once and Legacy, and gofish PATCHes it whole, with an empty HttpBootUri.
    const boot = {
      ...current.Boot,
      BootSourceOverrideTarget: 'Pxe',
      BootSourceOverrideEnabled: 'Once',
      BootSourceOverrideMode: 'Legacy',
      HttpBootUri: '',
    };
    const patched = await curl(
      '-X',
      'PATCH',
      '-H',
      'Content-Type: application/json',
      ...(etag ? ['-H', `If-Match: ${etag}`] : []),
      '--data',
      JSON.stringify({ Boot: boot }),
      system,
    );
    assert.ok(patched.status === 200 || patched.status === 204, patched.body);
    const reset = await curl(
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '--data',
      '{"ResetType":"PowerCycle"}',
      `${system}/Actions/ComputerSystem.Reset`,
    );
    assert.ok(reset.status === 200 || reset.status === 204, reset.body);
    await booted(b.name, 'BIOS', /Booting from network \(PXE\)/, 'the one PXE boot, in BIOS mode');
    await backToOwnFirmware(b);
    const read = JSON.parse((await curl(system)).body);
    assert.equal(read.Boot.BootSourceOverrideMode, 'UEFI');
    assert.equal(read.Boot.BootSourceOverrideEnabled, 'Disabled');
    await curl(
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '--data',
      '{"ResetType":"PowerCycle"}',
      `${system}/Actions/ComputerSystem.Reset`,
    );
    await booted(b.name, 'UEFI', /Booting from disk 'rootdisk'/, 'the installed OS again, in UEFI');
  });

  test("secure boot on: bmclib's Legacy request is refused (409), its retry without a mode boots PXE in UEFI", async () => {
    const name = uniqueName('secure-os');
    const vm = vmManifest(name, { runStrategy: 'Always', uefi: true, rootBootOrder: 1 });
    const domain = vm.spec!.template!.spec!.domain!;
    domain.firmware!.bootloader = { efi: { secureBoot: true } };
    domain.features = { smm: { enabled: true } };
    const b = await uefiBmc(vm);
    const system = `${b.redfishUrl}/redfish/v1/Systems/1`;
    const auth = {
      Authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`,
    };
    const patch = (boot: object) =>
      fetch(system, {
        method: 'PATCH',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ Boot: boot }),
      });
    const first = await patch({
      BootSourceOverrideTarget: 'Pxe',
      BootSourceOverrideEnabled: 'Once',
      BootSourceOverrideMode: 'Legacy',
      HttpBootUri: '',
    });
    assert.equal(first.status, 409, await first.text());
    assert.deepEqual((await user.getVm(name)).spec?.template, b.original.spec?.template, 'nothing written');
    // bmclib's second try: only target and persistence
    const retry = await patch({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' });
    assert.equal(retry.status, 200, await retry.text());
    assert.equal(await ipmitool(b, 'power', 'reset'), 'Chassis Power Control: Reset\n');
    await booted(b.name, 'UEFI', /Booting from network \(PXE\)/, 'PXE in UEFI, secure boot kept');
    assert.match(latestBoot(b.name), /Secure Boot enabled/);
    await backToOwnFirmware(b);
  });

  test('a VM made UEFI by its preference: Redfish and IPMI report UEFI; a Legacy boot-once leaves the preference in charge', async () => {
    const http = new KubeHttp(cluster.kubeconfigPath);
    let b: Bmc;
    try {
      const pref = await createClusterPreference(http, uniqueName('uefi'), UEFI_PREFERENCE);
      const name = uniqueName('pref-os');
      b = await uefiBmc(
        typedVmManifest(name, { runStrategy: 'Always', preference: { name: pref.metadata.name } }),
      );
    } finally {
      http.close();
    }
    assert.match(await ipmitool(b, 'chassis', 'bootparam', 'get', '5'), /BIOS EFI boot/);
    const rf = await fetch(`${b.redfishUrl}/redfish/v1/Systems/1`, {
      headers: {
        Authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`,
      },
    });
    assert.equal(
      ((await rf.json()) as { Boot: { BootSourceOverrideMode: string } }).Boot.BootSourceOverrideMode,
      'UEFI',
    );
    assert.equal(await ipmitool(b, 'chassis', 'bootdev', 'pxe'), 'Set Boot Device to pxe\n');
    await ipmitool(b, 'power', 'reset');
    await booted(b.name, 'BIOS', /Booting from network \(PXE\)/, 'the one PXE boot, in BIOS mode');
    await backToOwnFirmware(b);
    const vm = await user.getVm(b.name);
    assert.equal(
      vm.spec?.template?.spec?.domain?.firmware,
      undefined,
      'no firmware of ours left in the template',
    );
    await ipmitool(b, 'power', 'reset');
    await booted(b.name, 'UEFI', /Booting from disk 'rootdisk'/, "the preference's UEFI again");
  });
});

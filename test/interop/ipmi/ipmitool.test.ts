import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { ADMIN, startTestBmc, type TestBmc } from '../../support/ipmi-bmc.ts';
import { ipmitool, type RunResult } from '../../support/ipmi-run.ts';
import { waitFor } from '../../support/wait.ts';

const UUID = '5d0e3d6a-3f1c-4b3e-9a52-0c4f7f8e2a11';

const MODES: Array<{ name: string; iface: string[] }> = [
  { name: 'lanplus (default suite negotiation)', iface: ['-I', 'lanplus'] },
  { name: 'lanplus -C 3', iface: ['-I', 'lanplus', '-C', '3'] },
  { name: 'lanplus -C 17', iface: ['-I', 'lanplus', '-C', '17'] },
  { name: 'lan (IPMI 1.5, MD5)', iface: ['-I', 'lan'] },
];

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what} exit code; stderr: ${r.stderr}`);
  return r.stdout;
}

/** Success with nothing on stderr: bmclib reads stdout+stderr together and matches prefixes. */
function clean(r: RunResult, what: string): string {
  const out = ok(r, what);
  assert.equal(r.stderr, '', `${what} printed warnings`);
  return out;
}

for (const mode of MODES) {
  describe(`ipmitool ${mode.name}`, { skip: missingClients('ipmitool') }, () => {
    let bmc: TestBmc;
    const tool = (...args: string[]) => ipmitool(bmc.port, mode.iface, ADMIN, args);
    before(async () => {
      bmc = await startTestBmc();
    });
    after(async () => {
      await bmc.stop();
    });

    test('power status / on / off / cycle / reset / soft change the machine', async () => {
      const m = bmc.machine;
      assert.equal(clean(await tool('power', 'status'), 'status'), 'Chassis Power is off\n');
      assert.equal(clean(await tool('power', 'on'), 'on'), 'Chassis Power Control: Up/On\n');
      await waitFor(() => m.getPowerState() === 'On', { what: 'power on' });
      assert.equal(clean(await tool('power', 'status'), 'status'), 'Chassis Power is on\n');
      assert.equal(clean(await tool('power', 'off'), 'off'), 'Chassis Power Control: Down/Off\n');
      await waitFor(() => m.getPowerState() === 'Off', { what: 'power off' });
      // Power cycle from Off works (the machine powers on), as on physical BMCs.
      assert.equal(clean(await tool('power', 'cycle'), 'cycle'), 'Chassis Power Control: Cycle\n');
      await waitFor(() => m.getPowerState() === 'On', { what: 'cycle' });
      const bootsBefore = m.bootLog.length;
      assert.equal(clean(await tool('power', 'reset'), 'reset'), 'Chassis Power Control: Reset\n');
      await waitFor(() => m.bootLog.length > bootsBefore && m.getPowerState() === 'On', { what: 'reset' });
      assert.equal(clean(await tool('power', 'cycle'), 'cycle'), 'Chassis Power Control: Cycle\n');
      assert.equal(clean(await tool('power', 'soft'), 'soft'), 'Chassis Power Control: Soft\n');
      await waitFor(() => m.getPowerState() === 'Off', { what: 'soft off' });
      assert.deepEqual(
        m.actionLog.map((a) => a.action),
        ['On', 'ForceOff', 'PowerCycle', 'ForceRestart', 'PowerCycle', 'GracefulShutdown'],
      );
      assert.equal(m.actionLog[0]!.context?.actor, 'admin');
      assert.equal(m.actionLog[0]!.context?.protocol, 'ipmi');
    });

    test('chassis status reports power truthfully, no overload', async () => {
      const out = clean(await tool('chassis', 'status'), 'chassis status');
      assert.match(out, /^System Power\s+: off$/m);
      assert.match(out, /^Power Overload\s+: false$/m);
      assert.match(out, /^Main Power Fault\s+: false$/m);
      await bmc.machine.power('On');
      await waitFor(() => bmc.machine.getPowerState() === 'On');
      assert.match(clean(await tool('chassis', 'status'), 'chassis status'), /^System Power\s+: on$/m);
    });

    test('chassis bootdev pxe|disk|cdrom|bios, with and without options=efiboot,persistent', async () => {
      const m = bmc.machine;
      const cases: Array<[string[], string, object]> = [
        [['pxe'], 'pxe', { target: 'Pxe', persistence: 'Once', mode: 'Legacy' }],
        [
          ['disk', 'options=efiboot,persistent'],
          'disk',
          { target: 'Hdd', persistence: 'Continuous', mode: 'UEFI' },
        ],
        [['cdrom'], 'cdrom', { target: 'Cd', persistence: 'Once', mode: 'Legacy' }],
        [
          ['bios', 'options=efiboot,persistent'],
          'bios',
          { target: 'BiosSetup', persistence: 'Continuous', mode: 'UEFI' },
        ],
        [['cdrom', 'options=efiboot'], 'cdrom', { target: 'Cd', persistence: 'Once', mode: 'UEFI' }],
        [['pxe', 'options=persistent'], 'pxe', { target: 'Pxe', persistence: 'Continuous', mode: 'Legacy' }],
        [['disk'], 'disk', { target: 'Hdd', persistence: 'Once', mode: 'Legacy' }],
      ];
      for (const [args, dev, expected] of cases) {
        assert.equal(
          clean(await tool('chassis', 'bootdev', ...args), `bootdev ${args}`),
          `Set Boot Device to ${dev}\n`,
        );
        assert.deepEqual(m.getBootOverride(), expected, `bootdev ${args.join(' ')}`);
      }
    });

    test('chassis bootparam get 5 reads the machine, including a change made outside IPMI', async () => {
      await bmc.machine.setBootOverride({ target: 'Pxe', persistence: 'Continuous', mode: 'UEFI' });
      let out = clean(await tool('chassis', 'bootparam', 'get', '5'), 'bootparam');
      assert.match(out, /Boot parameter 5 is valid\/unlocked/);
      assert.match(out, /Boot parameter data: e004000000/);
      assert.match(out, /Options apply to all future boots/);
      assert.match(out, /BIOS EFI boot/);
      assert.match(out, /Boot Device Selector : Force PXE/);
      await bmc.machine.setBootOverride({ target: 'Cd', persistence: 'Once', mode: 'Legacy' });
      out = clean(await tool('chassis', 'bootparam', 'get', '5'), 'bootparam');
      assert.match(out, /Boot parameter data: 8014000000/);
      assert.match(out, /Options apply to only next boot/);
      assert.match(out, /Boot Device Selector : Force Boot from CD\/DVD/);
    });

    test('mc info, mc guid, raw 0x06 0x01', async () => {
      const info = clean(await tool('mc', 'info'), 'mc info');
      assert.match(info, /^IPMI Version\s+: 2\.0$/m);
      assert.match(info, /^Firmware Revision\s+: 1\.00$/m);
      assert.match(info, /^\s+Chassis Device$/m);
      assert.match(info, /^Manufacturer Name\s+: Cloud Native Computing Foundation$/m);
      assert.match(info, /^Provides Device SDRs\s+: no$/m); // the sensors are in the SDR repository
      const guid = clean(await tool('mc', 'guid'), 'mc guid');
      assert.match(guid, new RegExp(`^System GUID\\s+: ${UUID}$`, 'm'));
      assert.doesNotMatch(guid, /WARNING/);
      assert.equal(
        clean(await tool('raw', '0x06', '0x01'), 'raw'),
        ' 20 01 01 00 02 8f 53 e1 00 56 4b 00 00 00 00\n', // no IPMB event receiver/generator; no device SDRs; manufacturer 57683
      );
      const bad = await tool('raw', '0x06', '0x99');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /rsp=0xc1\): Invalid command/);
    });

    test('lan print 1 lists every parameter', async () => {
      const out = clean(await tool('lan', 'print', '1'), 'lan print');
      assert.match(out, /^Auth Type Support\s+: MD5 $/m);
      assert.match(out, /^IP Address\s+: 127\.0\.0\.1$/m);
      assert.match(out, /^RMCP\+ Cipher Suites\s+: 1,2,3,15,16,17$/m);
      assert.match(out, /^Bad Password Threshold\s+: /m);
    });

    test('channel getciphers ipmi lists suites 1, 2, 3, 15, 16, 17', async () => {
      const out = clean(await tool('channel', 'getciphers', 'ipmi'), 'getciphers');
      assert.ok(out.startsWith('ID   IANA'), out);
      assert.match(out, /^3\s+N\/A\s+hmac_sha1\s+hmac_sha1_96\s+aes_cbc_128/m);
      assert.match(out, /^17\s+N\/A\s+hmac_sha256\s+sha256_128\s+aes_cbc_128/m);
      assert.doesNotMatch(out, /^0\s/m);
      assert.equal(out.trim().split('\n').length, 7);
    });

    test('user list shows the accounts and their privilege limits', async () => {
      const out = clean(await tool('user', 'list'), 'user list');
      assert.match(out, /^2\s+admin\s+.*ADMINISTRATOR$/m);
      assert.match(out, /^3\s+oper\s+.*OPERATOR$/m);
      assert.match(out, /^4\s+viewer\s+.*USER$/m);
    });

    test('sdr list, sensor list, sel list, fru print', async () => {
      // One sensor, the ACPI power state (info-commands.test.ts follows it through power changes).
      assert.match(clean(await tool('sdr', 'list'), 'sdr list'), /^ACPI Power State \| 0x(01|20) +\| ok\n$/);
      assert.match(
        clean(await tool('sensor', 'list'), 'sensor list'),
        /^ACPI Power State +\| 0x(1|20) +\| discrete /,
      );
      const sel = await tool('sel', 'list');
      assert.equal(sel.code, 0);
      assert.match(sel.stdout + sel.stderr, /SEL has no entries/);
      const fru = clean(await tool('fru', 'print'), 'fru print');
      assert.match(fru, /^FRU Device Description : Builtin FRU Device \(ID 0\)$/m);
      assert.match(fru, /^ Product Manufacturer\s+: KubeVirt$/m);
      assert.match(fru, /^ Product Name\s+: VirtualMachine$/m);
      assert.match(fru, new RegExp(`^ Product Serial\\s+: ${UUID}$`, 'm'));
    });
  });
}

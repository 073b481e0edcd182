/**
 * Requests a real BMC accepts whatever hardware is fitted answer at once with success (ipmitool exit
 * code 0), and change nothing on the machine the user did not ask for. Ironic retries every failed
 * ipmitool call for 60 s (`[ipmi]use_ipmitool_retries = false`, its default), so an error here would
 * cost a minute per call: `chassis bootdev cdrom` on a VM without a CD-ROM, `chassis bootdev bios`
 * on a machine that cannot boot into firmware setup, and `chassis power diag` (NMI) on a machine
 * that cannot take one all answered 0xCC before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { ADMIN, startTestBmc, type TestBmc } from '../../support/ipmi-bmc.ts';
import { ipmitool, type RunResult } from '../../support/ipmi-run.ts';
import { waitFor } from '../../support/wait.ts';

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit code ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stderr, '', `${what} printed warnings`);
  return r.stdout;
}

describe('ipmitool: no CD-ROM, no firmware setup, no NMI', { skip: missingClients('ipmitool') }, () => {
  let bmc: TestBmc;
  const tool = (...args: string[]) => ipmitool(bmc.port, ['-I', 'lanplus'], ADMIN, args);
  const bootParam = async () => ok(await tool('chassis', 'bootparam', 'get', '5'), 'bootparam get 5');

  before(async () => {
    bmc = await startTestBmc({ machine: { bootTargets: ['None', 'Pxe', 'Hdd'], supportsNmi: false } });
  });
  after(async () => {
    await bmc.stop();
  });

  test('bootdev cdrom: exit 0, the flags read back, the machine unchanged', async () => {
    const before = bmc.machine.getBootOverride();
    assert.equal(before.persistence, 'Disabled');
    assert.equal(
      ok(await tool('chassis', 'bootdev', 'cdrom'), 'bootdev cdrom'),
      'Set Boot Device to cdrom\n',
    );
    assert.deepEqual(bmc.machine.getBootOverride(), before);
    assert.deepEqual(bmc.machine.actionLog, []);
    const out = await bootParam();
    assert.match(out, /Boot Flag Valid/);
    assert.match(out, /Force Boot from CD\/DVD/);
  });

  test('bootdev bios: exit 0, reads back as BIOS setup, the machine unchanged', async () => {
    const before = bmc.machine.getBootOverride();
    assert.equal(ok(await tool('chassis', 'bootdev', 'bios'), 'bootdev bios'), 'Set Boot Device to bios\n');
    assert.deepEqual(bmc.machine.getBootOverride(), before);
    assert.match(await bootParam(), /Force Boot into BIOS Setup/);
  });

  test('a device the machine has replaces the held flags', async () => {
    ok(await tool('chassis', 'bootdev', 'pxe'), 'bootdev pxe');
    assert.equal(bmc.machine.getBootOverride().target, 'Pxe');
    assert.match(await bootParam(), /Force PXE/);
  });

  test('an override set on the machine since (e.g. through Redfish) replaces held flags', async () => {
    ok(await tool('chassis', 'bootdev', 'bios'), 'bootdev bios');
    await bmc.machine.setBootOverride({ target: 'Hdd', persistence: 'Once' });
    const out = await bootParam();
    assert.match(out, /Force Boot from default Hard-Drive/);
    assert.doesNotMatch(out, /BIOS Setup/);
    await bmc.machine.setBootOverride({ target: 'None' });
  });

  test('cdrom after a persistent pxe override: the old override no longer applies', async () => {
    ok(await tool('chassis', 'bootdev', 'pxe', 'options=persistent'), 'bootdev pxe persistent');
    assert.equal(bmc.machine.getBootOverride().persistence, 'Continuous');
    ok(await tool('chassis', 'bootdev', 'cdrom'), 'bootdev cdrom');
    // As on a real server: the flags now say CD/DVD, the firmware finds none and uses its boot order.
    assert.equal(bmc.machine.getBootOverride().persistence, 'Disabled');
    assert.match(await bootParam(), /Force Boot from CD\/DVD/);
  });

  test('the next start through IPMI uses up next-boot-only flags', async () => {
    ok(await tool('chassis', 'bootdev', 'cdrom'), 'bootdev cdrom');
    ok(await tool('chassis', 'power', 'on'), 'power on');
    await waitFor(() => bmc.machine.getPowerState() === 'On', { what: 'power on' });
    assert.doesNotMatch(await bootParam(), /CD\/DVD/);
  });

  test('power diag: exit 0, no NMI, no power change', async () => {
    const state = bmc.machine.getPowerState();
    const actions = bmc.machine.actionLog.length;
    assert.equal(ok(await tool('chassis', 'power', 'diag'), 'power diag'), 'Chassis Power Control: Diag\n');
    assert.equal(bmc.machine.getPowerState(), state);
    assert.equal(bmc.machine.actionLog.length, actions);
  });
});

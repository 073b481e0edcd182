import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { ADMIN, READONLY, startTestBmc, type TestBmc } from '../../support/ipmi-bmc.ts';
import { type RunResult, run } from '../../support/ipmi-run.ts';
import { waitFor } from '../../support/wait.ts';

const UUID = '5d0e3d6a-3f1c-4b3e-9a52-0c4f7f8e2a11';

function auth(bmc: TestBmc, driver: string): string[] {
  return [
    '-D',
    driver,
    '-h',
    bmc.hostPort,
    '-u',
    ADMIN.username,
    '-p',
    ADMIN.password,
    '--session-timeout=5000',
    '--retransmission-timeout=500',
  ];
}

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

for (const driver of ['LAN', 'LAN_2_0']) {
  describe(`FreeIPMI -D ${driver}`, {
    skip: missingClients('ipmipower', 'ipmi-chassis', 'ipmi-chassis-config', 'bmc-info'),
  }, () => {
    let bmc: TestBmc;
    before(async () => {
      bmc = await startTestBmc();
    });
    after(async () => {
      await bmc.stop();
    });

    test('ipmipower --stat/--on/--off/--cycle/--reset', async () => {
      const m = bmc.machine;
      const power = (op: string) => run('ipmipower', [...auth(bmc, driver), op]);
      assert.equal(ok(await power('--stat'), 'stat'), '127.0.0.1: off\n');
      assert.equal(ok(await power('--on'), 'on'), '127.0.0.1: ok\n');
      await waitFor(() => m.getPowerState() === 'On');
      assert.equal(ok(await power('--stat'), 'stat'), '127.0.0.1: on\n');
      assert.equal(ok(await power('--off'), 'off'), '127.0.0.1: ok\n');
      await waitFor(() => m.getPowerState() === 'Off');
      assert.equal(ok(await power('--stat'), 'stat'), '127.0.0.1: off\n');
      assert.equal(ok(await power('--cycle'), 'cycle'), '127.0.0.1: ok\n');
      await waitFor(() => m.getPowerState() === 'On');
      const boots = m.bootLog.length;
      assert.equal(ok(await power('--reset'), 'reset'), '127.0.0.1: ok\n');
      await waitFor(() => m.bootLog.length > boots);
      assert.deepEqual(
        m.actionLog.map((a) => a.action),
        ['On', 'ForceOff', 'PowerCycle', 'ForceRestart'],
      );
    });

    test('ipmipower with a wrong password fails and changes nothing', async () => {
      const before = bmc.machine.actionLog.length;
      const args = auth(bmc, driver).map((a) => (a === ADMIN.password ? 'wrong-password' : a));
      const r = await run('ipmipower', [...args, '--on']);
      assert.match(r.stdout + r.stderr, /password invalid|password verification timeout/);
      assert.equal(bmc.machine.actionLog.length, before);
    });

    test('ipmipower with a USER-level account: a clear privilege error, no change', async () => {
      const before = bmc.machine.actionLog.length;
      const args = auth(bmc, driver).map((a) =>
        a === ADMIN.username ? READONLY.username : a === ADMIN.password ? READONLY.password : a,
      );
      const r = await run('ipmipower', [...args, '--on']);
      assert.equal(r.stdout, '127.0.0.1: privilege level cannot be obtained for this user\n');
      assert.equal(bmc.machine.actionLog.length, before);
      // at USER level it may read the power state
      assert.match(
        ok(await run('ipmipower', [...args, '--privilege-level=USER', '--stat']), 'stat'),
        /^127\.0\.0\.1: (on|off)$/m,
      );
    });

    test('ipmi-chassis --get-chassis-status and --get-boot-flags', async () => {
      await bmc.machine.setBootOverride({ target: 'Pxe', persistence: 'Continuous', mode: 'UEFI' });
      const status = ok(await run('ipmi-chassis', [...auth(bmc, driver), '--get-chassis-status']), 'status');
      assert.match(status, /^System Power\s+: on$/m);
      assert.match(status, /^Power overload\s+: false$/m);
      const flags = ok(await run('ipmi-chassis', [...auth(bmc, driver), '--get-boot-flags']), 'boot flags');
      assert.match(flags, /^Boot device selector\s+: Force PXE$/m);
      assert.match(flags, /^BIOS boot type\s+: Extensible firmware Interface boot$/m);
    });

    test('ipmi-chassis-config sets the boot device', async () => {
      const base = auth(bmc, driver);
      ok(
        await run('ipmi-chassis-config', [
          ...base,
          '--commit',
          '--key-pair=Chassis_Boot_Flags:Boot_Device=CD-DVD',
          '--key-pair=Chassis_Boot_Flags:Boot_Flags_Persistent=Yes',
          '--key-pair=Chassis_Boot_Flags:BIOS_Boot_Type=EFI',
        ]),
        'commit',
      );
      assert.deepEqual(bmc.machine.getBootOverride(), {
        target: 'Cd',
        persistence: 'Continuous',
        mode: 'UEFI',
      });
      ok(
        await run('ipmi-chassis-config', [
          ...base,
          '--commit',
          '--key-pair=Chassis_Boot_Flags:Boot_Device=HARD-DRIVE',
        ]),
        'commit',
      );
      assert.equal(bmc.machine.getBootOverride().target, 'Hdd');
      const checkout = ok(
        await run('ipmi-chassis-config', [...base, '--checkout', '--section=Chassis_Boot_Flags']),
        'checkout',
      );
      assert.match(checkout, /^\s+Boot_Device\s+HARD-DRIVE$/m);
    });

    test('bmc-info', async () => {
      const out = ok(await run('bmc-info', auth(bmc, driver)), 'bmc-info');
      assert.match(out, /^IPMI Version\s+: 2\.0$/m);
      assert.match(out, /^Firmware Revision\s+: 1\.00$/m);
      assert.match(out, new RegExp(`^System GUID : ${UUID}$`, 'm'));
      assert.match(out, /^Channel Number\s+: 1\nMedium Type\s+: 802\.3 LAN$/m);
    });
  });
}

// The information commands a user runs against a BMC (issue 22, point 2), driven by the real
// clients: `ipmitool channel info`, `session info`, `sdr list`/`elist`/`sensor list`, `mc info`,
// `lan print` (bad password threshold), and FreeIPMI's ipmi-sensors, bmc-info and ipmi-config.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { ADMIN, READONLY, startTestBmc, type TestBmc } from '../../support/ipmi-bmc.ts';
import { ipmitool, type RunResult, run } from '../../support/ipmi-run.ts';
import { waitFor } from '../../support/wait.ts';

const MODES: Array<{ name: string; iface: string[]; sessionType: string }> = [
  { name: 'lanplus -C 17', iface: ['-I', 'lanplus', '-C', '17'], sessionType: 'IPMIv2/RMCP+' },
  { name: 'lanplus -C 3', iface: ['-I', 'lanplus', '-C', '3'], sessionType: 'IPMIv2/RMCP+' },
  { name: 'lan (IPMI 1.5)', iface: ['-I', 'lan'], sessionType: 'IPMIv1.5' },
];

/** Exit 0 and nothing on stderr (bmclib reads both streams). */
function clean(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what} exit code; stdout: ${r.stdout} stderr: ${r.stderr}`);
  assert.equal(r.stderr, '', `${what} printed warnings`);
  return r.stdout;
}

/** The BMC with the default failed-login policy (the test helper raises it otherwise). */
function startBmc(): Promise<TestBmc> {
  return startTestBmc({ server: { loginLimits: {} } });
}

for (const mode of MODES) {
  describe(`ipmitool ${mode.name}: information commands`, { skip: missingClients('ipmitool') }, () => {
    let bmc: TestBmc;
    const tool = (...args: string[]) => ipmitool(bmc.port, mode.iface, ADMIN, args);
    before(async () => {
      bmc = await startBmc();
    });
    after(async () => {
      await bmc.stop();
    });

    test('channel info: LAN channel 1, 802.3, IPMB-1.0, multi-session, this session counted, access settings', async () => {
      const out = clean(await tool('channel', 'info'), 'channel info');
      assert.match(out, /^Channel 0x1 info:$/m);
      assert.match(out, /^ {2}Channel Medium Type {3}: 802\.3 LAN$/m);
      assert.match(out, /^ {2}Channel Protocol Type : IPMB-1\.0$/m);
      assert.match(out, /^ {2}Session Support {7}: multi-session$/m);
      assert.match(out, /^ {2}Active Session Count {2}: 1$/m);
      for (const block of ['Volatile\\(active\\) Settings', 'Non-Volatile Settings']) {
        assert.match(
          out,
          new RegExp(
            `${block}\\n {4}Alerting {12}: disabled\\n {4}Per-message Auth {4}: enabled\\n` +
              ` {4}User Level Auth {5}: enabled\\n {4}Access Mode {9}: always available`,
          ),
        );
      }
    });

    test('session info active / all: the caller own session, privilege, channel, console address and port', async () => {
      const active = clean(await tool('session', 'info', 'active'), 'session info active');
      assert.match(active, /^session handle {16}: [1-9]\d*$/m);
      assert.match(active, /^slot count {20}: 16$/m);
      assert.match(active, /^active sessions {15}: 1$/m);
      assert.match(active, /^user id {23}: 2$/m); // admin: user 1 is the null user
      assert.match(active, /^privilege level {15}: ADMINISTRATOR$/m);
      assert.match(active, new RegExp(`^session type {18}: ${mode.sessionType.replace('+', '\\+')}$`, 'm'));
      assert.match(active, /^channel number {16}: 0x01$/m);
      assert.match(active, /^console ip {20}: 127\.0\.0\.1$/m);
      const port = Number(/^console port {18}: (\d+)$/m.exec(active)?.[1]);
      assert.ok(port > 0 && port !== bmc.port, `console port ${port}: ipmitool's own, not the BMC's`);
      // `all` walks every slot: one full entry (this session), 15 empty ones.
      const all = clean(await tool('session', 'info', 'all'), 'session info all');
      assert.equal(all.match(/^privilege level/gm)?.length, 1);
      assert.equal(all.match(/^session handle {16}: 0$/gm)?.length, 15);
      // A USER-level login sees its own privilege.
      const viewer = await ipmitool(bmc.port, [...mode.iface, '-L', 'USER'], READONLY, [
        'session',
        'info',
        'active',
      ]);
      assert.match(clean(viewer, 'viewer session info'), /^privilege level {15}: USER$/m);
      assert.match(viewer.stdout, /^user id {23}: 4$/m);
    });

    test('sdr list / elist / sensor list show the ACPI power state sensor following the VM', async () => {
      const m = bmc.machine;
      assert.equal(m.getPowerState(), 'Off');
      assert.equal(
        clean(await tool('sdr', 'list'), 'sdr list'),
        'ACPI Power State | 0x20              | ok\n',
      );
      assert.match(
        clean(await tool('sdr', 'elist'), 'sdr elist'),
        /^ACPI Power State \| 01h \| ok {2}\| {2}7\.1 \| S5\/G2: soft-off$/m,
      );
      assert.match(
        clean(await tool('sensor', 'list'), 'sensor list'),
        /^ACPI Power State +\| 0x20 +\| discrete/m,
      );
      assert.equal(clean(await tool('power', 'on'), 'power on'), 'Chassis Power Control: Up/On\n');
      await waitFor(() => m.getPowerState() === 'On', { what: 'power on' });
      assert.equal(
        clean(await tool('sdr', 'list'), 'sdr list'),
        'ACPI Power State | 0x01              | ok\n',
      );
      assert.match(clean(await tool('sdr', 'elist'), 'sdr elist'), /\| S0\/G0: working$/m);
      await m.power('ForceOff');
      await waitFor(() => m.getPowerState() === 'Off', { what: 'power off' });
      assert.match(clean(await tool('sdr', 'elist'), 'sdr elist'), /\| S5\/G2: soft-off$/m);
    });

    test('mc info names the manufacturer (IANA 57683)', async () => {
      const out = clean(await tool('mc', 'info'), 'mc info');
      assert.match(out, /^Manufacturer ID {11}: 57683$/m);
      assert.match(out, /^Manufacturer Name {9}: Cloud Native Computing Foundation$/m);
      assert.match(out, /^Product ID {16}: 19286 \(0x4b56\)$/m);
      // what it lists is what it answers: no IPMB event receiver or generator
      const support = /^Additional Device Support :\n((?: {4}.*\n)+)/m.exec(out)?.[1];
      assert.deepEqual(support?.trim().split(/\n\s*/), [
        'Sensor Device',
        'SDR Repository Device',
        'SEL Device',
        'FRU Inventory Device',
        'Chassis Device',
      ]);
    });

    test('lan print: the bad password threshold the failed-login policy enforces per user name', async () => {
      const out = clean(await tool('lan', 'print', '1'), 'lan print');
      assert.match(out, /^Bad Password Threshold {2}: 10$/m);
      assert.match(out, /^Invalid password disable: no$/m);
      assert.match(out, /^Attempt Count Reset Int\.: 10$/m);
      assert.match(out, /^User Lockout Interval {3}: 10$/m);
    });
  });
}

describe('ipmitool: a second console session shows in channel info and session info all', {
  skip: missingClients('ipmitool'),
}, () => {
  let bmc: TestBmc;
  before(async () => {
    bmc = await startBmc();
  });
  after(async () => {
    await bmc.stop();
  });

  test('a USER session held open by `ipmitool shell` is counted and described', async () => {
    // ipmitool shell keeps its session while its stdin stays open.
    const shell = spawn(
      'ipmitool',
      [
        '-I',
        'lan',
        '-L',
        'USER',
        '-H',
        '127.0.0.1',
        '-p',
        String(bmc.port),
        '-U',
        READONLY.username,
        '-P',
        READONLY.password,
        'shell',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let shellOut = '';
    shell.stdout.on('data', (d: Buffer) => {
      shellOut += d.toString();
    });
    try {
      shell.stdin.write('chassis power status\n');
      await waitFor(() => shellOut.includes('Chassis Power is off'), {
        what: 'the shell logged in',
        timeoutMs: 15_000,
      });
      const tool = (...args: string[]) => ipmitool(bmc.port, ['-I', 'lanplus', '-C', '17'], ADMIN, args);
      assert.match(
        clean(await tool('channel', 'info'), 'channel info'),
        /^ {2}Active Session Count {2}: 2$/m,
      );
      const all = clean(await tool('session', 'info', 'all'), 'session info all');
      const entries = all.split('\n\n').filter((e) => e.includes('privilege level'));
      assert.equal(entries.length, 2, all);
      const viewer = entries.find((e) => /^user id {23}: 4$/m.test(e));
      assert.ok(viewer, all);
      assert.match(viewer, /^privilege level {15}: USER$/m);
      assert.match(viewer, /^session type {18}: IPMIv1\.5$/m);
      assert.match(viewer, /^active sessions {15}: 2$/m);
    } finally {
      shell.stdin.end('exit\n');
      shell.kill();
    }
  });
});

for (const driver of ['LAN_2_0', 'LAN']) {
  // ipmi-sensors and ipmi-config come in the same Debian package (freeipmi-tools) as bmc-info.
  describe(`FreeIPMI -D ${driver}: information commands`, { skip: missingClients('bmc-info') }, () => {
    let bmc: TestBmc;
    let cacheDir: string;
    const auth = () => [
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
    before(async () => {
      bmc = await startBmc();
      cacheDir = await mkdtemp(join(tmpdir(), 'kvbmc-sdr-'));
    });
    after(async () => {
      await bmc.stop();
      await rm(cacheDir, { recursive: true, force: true });
    });

    test('ipmi-sensors shows the ACPI power state sensor, following the VM', async () => {
      const sensors = () =>
        run('ipmi-sensors', [...auth(), `--sdr-cache-directory=${cacheDir}`, '--quiet-cache']);
      const line = /^2 +\| ACPI Power State \| System ACPI Power State \| N\/A +\| N\/A +\| '(S\d\/G\d)'$/m;
      const off = await sensors();
      assert.equal(off.code, 0, off.stderr);
      assert.equal(line.exec(off.stdout)?.[1], 'S5/G2', off.stdout);
      await bmc.machine.power('On');
      await waitFor(() => bmc.machine.getPowerState() === 'On');
      const on = await sensors();
      assert.equal(line.exec(on.stdout)?.[1], 'S0/G0', on.stdout);
    });

    test('bmc-info: manufacturer ID and channel info', async () => {
      const info = await run('bmc-info', auth());
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stdout, /^Manufacturer ID {7}: 57683$/m);
      const ch = await run('bmc-info', [...auth(), '--get-channel-info']);
      assert.equal(ch.code, 0, ch.stderr);
      assert.match(
        ch.stdout,
        /^Channel Number {7}: 1\nMedium Type {10}: 802\.3 LAN\nProtocol Type {8}: IPMB-1\.0\nActive Session Count : 1\nSession Support {6}: multi-session$/m,
      );
    });

    test('ipmi-config reads channel access and the bad password threshold', async () => {
      const channel = await run('ipmi-config', [...auth(), '--checkout', '--section=Lan_Channel']);
      assert.equal(channel.code, 0, channel.stderr);
      for (const kind of ['Volatile', 'Non_Volatile']) {
        assert.match(channel.stdout, new RegExp(`^\\s+${kind}_Access_Mode\\s+Always_Available$`, 'm'));
        assert.match(channel.stdout, new RegExp(`^\\s+${kind}_Enable_User_Level_Auth\\s+Yes$`, 'm'));
        assert.match(channel.stdout, new RegExp(`^\\s+${kind}_Enable_Per_Message_Auth\\s+Yes$`, 'm'));
        assert.match(channel.stdout, new RegExp(`^\\s+${kind}_Enable_Pef_Alerting\\s+No$`, 'm'));
        assert.match(
          channel.stdout,
          new RegExp(`^\\s+${kind}_Channel_Privilege_Limit\\s+Administrator$`, 'm'),
        );
      }
      const security = await run('ipmi-config', [
        ...auth(),
        '--checkout',
        '--section=Lan_Conf_User_Security',
      ]);
      assert.equal(security.code, 0, security.stderr);
      assert.match(security.stdout, /^\s+Bad_Password_Threshold\s+10$/m);
      assert.match(security.stdout, /^\s+Attempt_Count_Reset_Interval\s+1$/m);
      assert.match(security.stdout, /^\s+User_Lockout_Interval\s+1$/m);
      assert.match(security.stdout, /^\s+Enable_Event_Message_When_User_Disabled\s+No$/m);
    });
  });
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checksum } from '../../../src/ipmi/codec/checksum.ts';
import { decodeRequest, encodeRequest } from '../../../src/ipmi/codec/message.ts';
import { BmcState } from '../../../src/ipmi/commands/bmc-state.ts';
import { dispatch } from '../../../src/ipmi/commands/dispatch.ts';
import type { CommandContext, CommandResult } from '../../../src/ipmi/commands/types.ts';
import type { SessionCommon } from '../../../src/ipmi/session/session.ts';
import { BackendUnavailableError } from '../../../src/machine/index.ts';
import { resolveLoginLimits } from '../../../src/machine/login-limits.ts';
import { ADMIN, OPERATOR, READONLY } from '../../support/ipmi-bmc.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { waitFor } from '../../support/wait.ts';

function setup(privilege = 4, machineOptions: ConstructorParameters<typeof MemoryMachine>[0] = {}) {
  const machine = new MemoryMachine({
    timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0 },
    ...machineOptions,
  });
  const session: SessionCommon = {
    id: 0x1234,
    username: 'admin',
    source: { address: '127.0.0.1', port: 1 },
    maxPrivilege: 4,
    privilege,
    lastActivity: 0,
    closeListeners: [],
  };
  const closed: number[] = [];
  const ctx: CommandContext = {
    machine,
    bmc: new BmcState(),
    session,
    accounts: () => [ADMIN, OPERATOR, READONLY],
    allowAuthTypeNone: false,
    action: { actor: 'admin', source: '127.0.0.1:1', protocol: 'ipmi' },
    rmcpPlus: true,
    closeSession: (id) => {
      closed.push(id);
      return true;
    },
    activeSessions: () => 1,
    sessions: () => [
      { handle: 1, session, rmcpPlus: true },
      {
        handle: 3,
        session: {
          ...session,
          id: 0x09090909,
          username: 'viewer',
          privilege: 2,
          source: { address: '::ffff:10.1.2.3', port: 0x1f90 },
        },
        rmcpPlus: false,
      },
    ],
    sessionSlots: 16,
    loginLimits: resolveLoginLimits(),
    hasPayload: () => false,
    port: () => 623,
    hasSession: (id) => id === 0x1234 || id === 0x09090909,
  };
  const run = async (netFn: number, cmd: number, data: number[] = [], c: CommandContext = ctx) => {
    const req = decodeRequest(encodeRequest({ netFn, cmd, rqSeq: 1, data: Buffer.from(data) }))!;
    const r: CommandResult = await dispatch(req, c);
    return { cc: r.cc, data: [...(r.data ?? [])], after: r.after };
  };
  return { machine, ctx, session, run, closed };
}

test('unknown commands and every netFn 0x2C probe answer exactly 0xC1, even without privilege', async () => {
  const { run, ctx } = setup();
  assert.equal((await run(0x06, 0x99)).cc, 0xc1);
  assert.equal((await run(0x30, 0x01)).cc, 0xc1);
  assert.equal((await run(0x2c, 0x3e, [0x00, 0x02])).cc, 0xc1);
  assert.equal((await run(0x2c, 0x00, [0x00])).cc, 0xc1);
  assert.equal((await run(0x2c, 0x00, [0x03], { ...ctx, session: null })).cc, 0xc1);
  assert.equal((await run(0x07, 0x01)).cc, 0xc1); // a response netFn as request
});

test('exact response lengths the clients check', async () => {
  const { run } = setup();
  const lengths: Array<[number, number, number[], number]> = [
    [0x06, 0x01, [], 15], // Get Device ID
    [0x06, 0x08, [], 16], // Get Device GUID
    [0x06, 0x37, [], 16], // Get System GUID
    [0x06, 0x38, [0x8e, 0x04], 8], // Get Channel Auth Caps
    [0x06, 0x42, [0x01], 9], // Get Channel Info
    [0x06, 0x41, [0x0e, 0x80], 2], // Get Channel Access (volatile)
    [0x06, 0x41, [0x0e, 0x40], 2], // Get Channel Access (non-volatile)
    [0x06, 0x3d, [0x00], 18], // Get Session Info: own session, LAN fields included
    [0x04, 0x2d, [0x01], 4], // Get Sensor Reading
    [0x06, 0x44, [0x0e, 0x02], 4], // Get User Access
    [0x06, 0x46, [0x02], 16], // Get User Name
    [0x06, 0x4e, [0x0e], 8], // Get Channel Payload Support
    [0x06, 0x04, [], 2], // Self test
    [0x06, 0x07, [], 2], // Get ACPI Power State
    [0x00, 0x01, [], 4], // Chassis status
    [0x0a, 0x20, [], 14], // SDR repository info
    [0x0a, 0x40, [], 14], // SEL info
    [0x0a, 0x48, [], 4], // SEL time
  ];
  for (const [netFn, cmd, data, len] of lengths) {
    const r = await run(netFn, cmd, data);
    assert.equal(r.cc, 0, `${netFn}/${cmd} cc`);
    assert.equal(r.data.length, len, `${netFn}/${cmd} length`);
  }
});

test('Get Channel Auth Caps advertises IPMI 2.0 in both places pyghmi and ipmitool check, MD5 and password only', async () => {
  const { run } = setup();
  assert.deepEqual((await run(0x06, 0x38, [0x8e, 0x04])).data, [1, 0x84, 0x04, 0x03, 0, 0, 0, 0]);
  assert.deepEqual((await run(0x06, 0x38, [0x0e, 0x04])).data, [1, 0x04, 0x04, 0x03, 0, 0, 0, 0]);
  assert.equal((await run(0x06, 0x38, [0x05, 0x04])).cc, 0xcc); // no channel 5
  assert.equal((await run(0x06, 0x38, [0x0e])).cc, 0xc7);
});

test('privileges: a USER session reads power state but cannot change it, nor read boot options', async () => {
  const { run, machine } = setup(2);
  assert.equal((await run(0x00, 0x01)).cc, 0);
  assert.equal((await run(0x00, 0x02, [0x01])).cc, 0xd4);
  assert.equal(machine.getPowerState(), 'Off');
  assert.equal((await run(0x00, 0x09, [0x05, 0, 0])).cc, 0xd4);
  assert.equal((await run(0x0c, 0x02, [0x01, 0x03, 0, 0])).cc, 0xd4);
});

test('Set Session Privilege Level: up to the negotiated maximum, 0x81 beyond it, 0 reports', async () => {
  const { run, session } = setup(2);
  session.maxPrivilege = 3;
  assert.deepEqual(await run(0x06, 0x3b, [0x00]).then((r) => r.data), [2]);
  assert.deepEqual(await run(0x06, 0x3b, [0x03]).then((r) => r.data), [3]);
  assert.equal(session.privilege, 3);
  assert.equal((await run(0x06, 0x3b, [0x04])).cc, 0x81);
  assert.equal(session.privilege, 3);
});

test('Chassis Control maps to the Machine: up, down, cycle (also from Off), reset, soft; NMI on a machine without one is accepted and does nothing', async () => {
  const { run, machine } = setup();
  assert.equal((await run(0x00, 0x02, [0x02])).cc, 0); // cycle from Off: powers on, as the Machine contract says
  await waitFor(() => machine.getPowerState() === 'On');
  assert.deepEqual((await run(0x00, 0x01)).data.slice(0, 2), [0x61, 0x10]); // on, policy unknown, on via IPMI
  assert.equal((await run(0x00, 0x02, [0x00])).cc, 0);
  await waitFor(() => machine.getPowerState() === 'Off');
  assert.equal((await run(0x00, 0x02, [0x03])).cc, 0xd5); // hard reset while off: not in present state
  assert.equal((await run(0x00, 0x02, [0x01])).cc, 0);
  await waitFor(() => machine.getPowerState() === 'On');
  assert.equal((await run(0x00, 0x02, [0x03])).cc, 0);
  assert.equal((await run(0x00, 0x02, [0x04])).cc, 0); // no NMI here: answered as a real BMC would, nothing done
  assert.equal((await run(0x00, 0x02, [0x05])).cc, 0);
  await waitFor(() => machine.getPowerState() === 'Off');
  assert.equal((await run(0x00, 0x02, [0x06])).cc, 0xcc);
  assert.equal((await run(0x00, 0x02, [])).cc, 0xc7);
  assert.deepEqual(
    machine.actionLog.map((a) => a.action),
    ['PowerCycle', 'ForceOff', 'On', 'ForceRestart', 'GracefulShutdown'],
  );
  assert.equal(machine.actionLog[0]!.context?.actor, 'admin');
});

test('NMI is delivered when the machine supports it', async () => {
  const { run, machine } = setup(4, { supportsNmi: true, power: 'On' });
  assert.equal((await run(0x00, 0x02, [0x04])).cc, 0);
  assert.equal(machine.nmiCount, 1);
});

test('boot options: ipmitool sequence sets the Machine override; Get reads the Machine back', async () => {
  const { run, machine } = setup();
  assert.equal((await run(0x00, 0x08, [0x00, 0x01])).cc, 0);
  assert.equal((await run(0x00, 0x08, [0x04, 0x01, 0x01])).cc, 0);
  assert.equal((await run(0x00, 0x08, [0x05, 0xe0, 0x04, 0, 0, 0])).cc, 0);
  assert.equal((await run(0x00, 0x08, [0x00, 0x02])).cc, 0);
  assert.equal((await run(0x00, 0x08, [0x00, 0x00])).cc, 0);
  assert.deepEqual(machine.getBootOverride(), { target: 'Pxe', persistence: 'Continuous', mode: 'UEFI' });
  assert.deepEqual((await run(0x00, 0x09, [0x05, 0, 0])).data, [0x01, 0x05, 0xe0, 0x04, 0, 0, 0]);
  // next boot only, legacy, CD
  await run(0x00, 0x08, [0x05, 0x80, 0x14, 0, 0, 0]);
  assert.deepEqual(machine.getBootOverride(), { target: 'Cd', persistence: 'Once', mode: 'Legacy' });
  // a change made elsewhere (Redfish) shows through IPMI
  await machine.setBootOverride({ target: 'BiosSetup', persistence: 'Continuous', mode: 'UEFI' });
  assert.deepEqual((await run(0x00, 0x09, [0x05, 0, 0])).data, [0x01, 0x05, 0xe0, 0x18, 0, 0, 0]);
  await machine.setBootOverride({ target: 'None' });
  assert.deepEqual((await run(0x00, 0x09, [0x05, 0, 0])).data, [0x01, 0x05, 0x20, 0x00, 0, 0, 0]);
  // bad input: unknown device (floppy), wrong length, unsupported parameter — and no change
  await machine.setBootOverride({ target: 'Hdd', persistence: 'Once' });
  const before = machine.getBootOverride();
  assert.equal((await run(0x00, 0x08, [0x05, 0x80, 0x3c, 0, 0, 0])).cc, 0xcc);
  assert.equal((await run(0x00, 0x08, [0x05, 0x80, 0x04])).cc, 0xc7);
  assert.equal((await run(0x00, 0x08, [0x07, 0x00])).cc, 0x80);
  assert.equal((await run(0x00, 0x09, [0x07, 0, 0])).cc, 0x80);
  assert.deepEqual(machine.getBootOverride(), before);
  // clearing the valid bit removes the override
  await run(0x00, 0x08, [0x05, 0x00, 0x00, 0, 0, 0]);
  assert.equal(machine.getBootOverride().persistence, 'Disabled');
  assert.deepEqual((await run(0x00, 0x09, [0x00, 0, 0])).data, [0x01, 0x00, 0x00]);
  assert.deepEqual((await run(0x00, 0x09, [0x04, 0, 0])).data, [0x01, 0x04, 0x00, 0x01]);
});

test('boot flags: a next-boot-only boot type is for that boot; `bootdev none` leaves the firmware mode', async () => {
  const { run, machine } = setup(4, { bootMode: 'UEFI' });
  // `ipmitool chassis bootdev pxe`: valid, next boot only, legacy — the machine stays UEFI
  assert.equal((await run(0x00, 0x08, [0x05, 0x80, 0x04, 0, 0, 0])).cc, 0);
  assert.deepEqual(machine.getBootOverride(), { target: 'Pxe', persistence: 'Once', mode: 'Legacy' });
  // `ipmitool chassis bootdev none`: valid, no device, legacy bit — clears the override, keeps UEFI
  assert.equal((await run(0x00, 0x08, [0x05, 0x80, 0x00, 0, 0, 0])).cc, 0);
  assert.deepEqual(machine.getBootOverride(), { target: 'None', persistence: 'Disabled', mode: 'UEFI' });
  // `bootdev none options=persistent`: a boot type for all future boots is the machine's mode
  assert.equal((await run(0x00, 0x08, [0x05, 0xc0, 0x00, 0, 0, 0])).cc, 0);
  assert.deepEqual(machine.getBootOverride(), { target: 'None', persistence: 'Disabled', mode: 'Legacy' });
});

test('a boot target the machine lacks is accepted as a real BMC would, the machine unchanged', async () => {
  const { run, machine } = setup(4, { hasCdrom: false });
  assert.equal((await run(0x00, 0x08, [0x05, 0x80, 0x14, 0, 0, 0])).cc, 0);
  assert.equal(machine.getBootOverride().persistence, 'Disabled');
  // Read back as set (valid, CD/DVD), as Ironic's get_boot_device expects.
  assert.deepEqual((await run(0x00, 0x09, [0x05, 0, 0])).data, [0x01, 0x05, 0x80, 0x14, 0, 0, 0]);
  // An unknown device code is still refused.
  assert.equal((await run(0x00, 0x08, [0x05, 0x80, 0x3c, 0, 0, 0])).cc, 0xcc);
});

test('SDR repository holds an MC locator and the ACPI power state sensor; SEL is empty; FRU has a valid header and product area', async () => {
  const { run } = setup();
  const info = (await run(0x0a, 0x20)).data;
  assert.deepEqual(info.slice(0, 3), [0x51, 2, 0]);
  assert.ok(Buffer.from(info).readUInt32LE(5) > 0, 'most recent addition: FreeIPMI caches by it');
  const resv = (await run(0x0a, 0x22)).data;
  const head = await run(0x0a, 0x23, [...resv, 0, 0, 0, 5]);
  assert.deepEqual(head.data, [0x02, 0x00, 0x01, 0x00, 0x51, 0x12, 14]); // next: record 2
  const body = await run(0x0a, 0x23, [...resv, 1, 0, 5, 14]);
  assert.equal(Buffer.from(body.data.slice(2 + 11)).toString(), 'BMC');
  // Record 2, read as ipmitool does: header, then the body in pieces.
  const sensorHead = await run(0x0a, 0x23, [...resv, 2, 0, 0, 5]);
  assert.deepEqual(sensorHead.data, [0xff, 0xff, 0x02, 0x00, 0x51, 0x02, 43]);
  const part1 = await run(0x0a, 0x23, [...resv, 2, 0, 5, 32]);
  const part2 = await run(0x0a, 0x23, [...resv, 2, 0, 37, 32]);
  const sensorBody = [...part1.data.slice(2), ...part2.data.slice(2)];
  assert.equal(sensorBody.length, 43);
  assert.deepEqual(sensorBody.slice(0, 9), [0x20, 0x00, 0x01, 0x07, 0x01, 0x41, 0x43, 0x22, 0x6f]);
  assert.equal(Buffer.from(sensorBody.slice(27)).toString(), 'ACPI Power State');
  // 0xFFFF = the last record; whole-record reads.
  assert.deepEqual(
    (await run(0x0a, 0x23, [0, 0, 0xff, 0xff, 0, 0xff])).data.slice(0, 4),
    [0xff, 0xff, 0x02, 0x00],
  );
  assert.equal((await run(0x0a, 0x23, [0, 0, 1, 0, 5, 4])).cc, 0xc5); // stale reservation
  assert.equal((await run(0x0a, 0x23, [...resv, 3, 0, 0, 0xff])).cc, 0xcb);
  assert.equal((await run(0x0a, 0x23, [...resv, 2, 0, 49, 1])).cc, 0xc9); // offset past the record
  assert.equal((await run(0x0a, 0x23, [...resv, 2, 0, 0, 33])).cc, 0xca); // more than 32 bytes
  assert.equal((await run(0x0a, 0x23, [...resv, 2, 0, 0])).cc, 0xc7);
  assert.equal((await run(0x0a, 0x43, [0, 0, 0, 0, 0, 0xff])).cc, 0xcb);
  const fruInfo = await run(0x0a, 0x10, [0]);
  const size = fruInfo.data[0]! | (fruInfo.data[1]! << 8);
  const fru: number[] = [];
  while (fru.length < size) {
    const r = await run(0x0a, 0x11, [0, fru.length & 0xff, fru.length >> 8, Math.min(16, size - fru.length)]);
    assert.equal(r.cc, 0);
    fru.push(...r.data.slice(1));
  }
  assert.equal(fru[0], 1);
  assert.equal(checksum(Uint8Array.from(fru), 0, 7), fru[7]);
  const text = Buffer.from(fru).toString('latin1');
  assert.match(text, /KubeVirt/);
  assert.match(text, /5d0e3d6a-3f1c-4b3e-9a52-0c4f7f8e2a11/);
  assert.equal((await run(0x0a, 0x11, [0, 0xff, 0xff, 4])).cc, 0xc9);
  assert.equal((await run(0x0a, 0x10, [1])).cc, 0xcb);
});

test('LAN configuration: every parameter ipmitool lan print reads is answered with cc 0', async () => {
  const { run } = setup();
  for (const p of [0, 1, 2, 4, 3, 6, 5, 16, 7, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 26]) {
    const r = await run(0x0c, 0x02, [0x01, p, 0, 0]);
    assert.equal(r.cc, 0, `parameter ${p}`);
    assert.equal(r.data[0], 0x11);
  }
  assert.deepEqual((await run(0x0c, 0x02, [0x01, 23, 0, 0])).data, [0x11, 0, 1, 2, 3, 15, 16, 17]);
  assert.equal((await run(0x0c, 0x02, [0x01, 0x99, 0, 0])).cc, 0x80);
});

test('user list data: user 1 is the null user, accounts follow with their privilege limits', async () => {
  const { run } = setup();
  assert.deepEqual((await run(0x06, 0x44, [0x0e, 1])).data, [4, 0x43, 1, 0x0f]);
  assert.deepEqual((await run(0x06, 0x44, [0x0e, 2])).data, [4, 0x43, 1, 0x14]);
  assert.deepEqual((await run(0x06, 0x44, [0x0e, 3])).data, [4, 0x43, 1, 0x13]);
  assert.deepEqual((await run(0x06, 0x44, [0x0e, 4])).data, [4, 0x43, 1, 0x12]);
  assert.equal((await run(0x06, 0x44, [0x0e, 5])).cc, 0xcc);
  assert.equal(
    Buffer.from((await run(0x06, 0x46, [3])).data)
      .toString()
      .replace(/\0+$/, ''),
    'oper',
  );
});

test('Close Session closes only after the reply; another session needs ADMIN', async () => {
  const { run, closed, session } = setup(2);
  const r = await run(0x06, 0x3c, [0x34, 0x12, 0, 0]);
  assert.equal(r.cc, 0);
  assert.deepEqual(closed, []);
  r.after?.();
  assert.deepEqual(closed, [0x1234]);
  assert.equal((await run(0x06, 0x3c, [9, 9, 9, 9])).cc, 0xd4);
  session.privilege = 4;
  assert.equal((await run(0x06, 0x3c, [9, 9, 9, 9])).cc, 0);
  assert.equal((await run(0x06, 0x3c, [8, 8, 8, 8])).cc, 0x87);
});

test('backend errors map to completion codes, and reads that throw never escape', async () => {
  const { run, ctx } = setup();
  const broken = {
    ...ctx,
    machine: new Proxy(ctx.machine, {
      get(target, prop) {
        if (prop === 'getPowerState' || prop === 'getBootOverride') {
          return () => {
            throw new BackendUnavailableError('the API server is down');
          };
        }
        return Reflect.get(target, prop, target);
      },
    }),
  } as CommandContext;
  assert.equal((await run(0x00, 0x01, [], broken)).cc, 0xc0);
  assert.equal((await run(0x00, 0x09, [5, 0, 0], broken)).cc, 0xc0);
});

test('Cold/Warm Reset: ADMIN only, cc 0, the reset runs only after the reply; 0xC1 without a host', async () => {
  const { run, ctx } = setup(4);
  assert.equal((await run(0x06, 0x02)).cc, 0xc1); // a bare server: no one to restart it
  let resets = 0;
  const withReset: CommandContext = { ...ctx, resetBmc: () => void resets++ };
  for (const cmd of [0x02, 0x03]) {
    const r = await run(0x06, cmd, [], withReset);
    assert.equal(r.cc, 0);
    assert.equal(resets, cmd - 0x02, 'not before the reply');
    r.after?.();
    assert.equal(resets, cmd - 0x01);
  }
  assert.equal((await run(0x06, 0x02, [0x01], withReset)).cc, 0xc7);
  const operator = setup(3);
  assert.equal(
    (await operator.run(0x06, 0x02, [], { ...operator.ctx, resetBmc: () => void resets++ })).cc,
    0xd4,
  );
  assert.equal(resets, 2);
});

test('Get Sensor Reading: the ACPI power state sensor follows the machine (S5/G2 off, S0/G0 on); bad requests get their codes', async () => {
  const { run, machine } = setup(2); // USER may read sensors
  assert.deepEqual((await run(0x04, 0x2d, [0x01])).data, [0x20, 0x40, 0x20, 0x80]); // offset 5: S5/G2 soft-off
  await machine.power('On');
  await waitFor(() => machine.getPowerState() === 'On');
  assert.deepEqual((await run(0x04, 0x2d, [0x01])).data, [0x01, 0x40, 0x01, 0x80]); // offset 0: S0/G0 working
  // Agrees with Get ACPI Power State.
  assert.deepEqual((await run(0x06, 0x07)).data, [0x00, 0x00]);
  assert.equal((await run(0x04, 0x2d, [0x02])).cc, 0xcb); // no such sensor
  assert.equal((await run(0x04, 0x2d, [])).cc, 0xc7);
  assert.equal((await run(0x04, 0x2d, [0x01, 0x00])).cc, 0xc7);
});

test('Get Session Info: own session, Nth session, by handle, by ID, with the console address and port', async () => {
  const { run } = setup(2);
  // Own session: handle 1, 16 slots, 2 active, user 2 (admin), privilege USER (current), RMCP+ on channel 1, 127.0.0.1, MAC unknown, port 1.
  const own = [1, 16, 2, 2, 2, 0x11, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0];
  assert.deepEqual((await run(0x06, 0x3d, [0x00])).data, own);
  assert.deepEqual((await run(0x06, 0x3d, [0x01])).data, own);
  // Second active session: handle 3, user 4 (viewer), USER, IPMI 1.5, IPv4-mapped address, port 8080.
  const other = [3, 16, 2, 4, 2, 0x01, 10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0x90, 0x1f];
  assert.deepEqual((await run(0x06, 0x3d, [0x02])).data, other);
  assert.deepEqual((await run(0x06, 0x3d, [0xfe, 3])).data, other);
  assert.deepEqual((await run(0x06, 0x3d, [0xff, 9, 9, 9, 9])).data, other);
  // An index without an active session: the first three bytes only (ipmitool `session info all`).
  assert.deepEqual((await run(0x06, 0x3d, [0x03])).data, [0, 16, 2]);
  assert.deepEqual((await run(0x06, 0x3d, [16])).data, [0, 16, 2]);
  assert.equal((await run(0x06, 0x3d, [17])).cc, 0xcc); // beyond the slot count
  assert.equal((await run(0x06, 0x3d, [0xfe, 2])).cc, 0xcb); // no session with that handle
  assert.equal((await run(0x06, 0x3d, [0xff, 1, 2, 3, 4])).cc, 0xcb);
  assert.equal((await run(0x06, 0x3d, [0xfe, 0])).cc, 0xcc);
  assert.equal((await run(0x06, 0x3d, [0xff, 0, 0, 0, 0])).cc, 0xcc);
  for (const bad of [[], [0x00, 0x00], [0xfe], [0xfe, 1, 1], [0xff, 1, 2, 3], [0xff, 1, 2, 3, 4, 5]])
    assert.equal((await run(0x06, 0x3d, bad)).cc, 0xc7, `data ${bad}`);
});

test('Close Session by session handle (ID 0): the handle Get Session Info reports', async () => {
  const { run, closed } = setup(4);
  const r = await run(0x06, 0x3c, [0, 0, 0, 0, 3]);
  assert.equal(r.cc, 0);
  r.after?.();
  assert.deepEqual(closed, [0x09090909]);
  assert.equal((await run(0x06, 0x3c, [0, 0, 0, 0, 2])).cc, 0x88); // no such handle
  assert.equal((await run(0x06, 0x3c, [0, 0, 0, 0])).cc, 0x88); // no handle given
});

test('Get Channel Access: LAN channel always available, per-message and user-level auth on, no alerting, ADMIN limit', async () => {
  const { run } = setup(2);
  for (const which of [0x80, 0x40]) {
    assert.deepEqual((await run(0x06, 0x41, [0x0e, which])).data, [0x22, 0x04]);
    assert.deepEqual((await run(0x06, 0x41, [0x01, which])).data, [0x22, 0x04]);
  }
  assert.equal((await run(0x06, 0x41, [0x0e, 0x00])).cc, 0xcc); // settings selector 00b
  assert.equal((await run(0x06, 0x41, [0x0e, 0xc0])).cc, 0xcc); // settings selector 11b
  assert.equal((await run(0x06, 0x41, [0x05, 0x80])).cc, 0xcc); // no channel 5
  assert.equal((await run(0x06, 0x41, [0x0e])).cc, 0xc7);
  assert.equal((await run(0x06, 0x41, [0x0e, 0x80, 0x00])).cc, 0xc7);
});

test('Get Device ID names a manufacturer from the IANA list (57683) and product "KV"', async () => {
  const { run } = setup(2);
  const d = (await run(0x06, 0x01)).data;
  assert.equal(d[6]! | (d[7]! << 8) | (d[8]! << 16), 57683);
  assert.deepEqual(d.slice(6, 11), [0x53, 0xe1, 0x00, 0x56, 0x4b]);
  assert.equal(d[1]! & 0x80, 0, 'no device SDRs: Get Device SDR (0x04/0x21) is not implemented');
  assert.equal(d[5], 0x8f, 'chassis, FRU, SEL, SDR repository, sensor; no IPMB event receiver/generator');
  assert.equal((await run(0x04, 0x00, [0x20, 0x00])).cc, 0xc1, 'no Set Event Receiver');
  assert.equal((await run(0x04, 0x21, [0, 0, 0, 0, 0, 0xff])).cc, 0xc1);
});

test('LAN parameter 26 reports the per-user-name failed-login budget', async () => {
  const { run, ctx } = setup();
  // Defaults: 10 failures, then one more every 6 s → threshold 10, both intervals 1 (10 s units, rounded up).
  assert.deepEqual((await run(0x0c, 0x02, [0x01, 26, 0, 0])).data, [0x11, 0x00, 10, 1, 0, 1, 0]);
  const custom = { ...ctx, loginLimits: resolveLoginLimits({ accountBurst: 5, accountRefillMs: 60_000 }) };
  assert.deepEqual((await run(0x0c, 0x02, [0x01, 26, 0, 0], custom)).data, [0x11, 0x00, 5, 6, 0, 6, 0]);
  const off = { ...ctx, loginLimits: resolveLoginLimits({ accountBurst: 0 }) };
  assert.deepEqual((await run(0x0c, 0x02, [0x01, 26, 0, 0], off)).data, [0x11, 0, 0, 0, 0, 0, 0]);
});

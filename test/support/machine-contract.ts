import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isMachineError, type Machine, type MachineEvent, type PowerState } from '../../src/machine/index.ts';
import { waitFor } from './wait.ts';

/**
 * The behaviour every Machine implementation promises (see src/machine/machine.ts), as tests.
 * Each backend runs it with a factory that yields a fresh machine, powered off, with a CD-ROM slot
 * `Cd` and the boot targets Pxe, Hdd and Cd. `settleMs` bounds how long a transition may take.
 */
export interface ContractSubject {
  machine: Machine;
  dispose(): Promise<void> | void;
  /**
   * Everything the machine's serial port printed, where the console stream cannot show it: a
   * KubeVirt console replays nothing and attaches only once the VMI runs, so a boot is in the serial
   * log (the `guest-console-log` container; the fake's `consoleTranscript`). Default: the stream.
   */
  bootLog?: () => string;
}

export function describeMachineContract(
  name: string,
  create: () => Promise<ContractSubject>,
  { settleMs = 5000 }: { settleMs?: number } = {},
): void {
  describe(`Machine contract: ${name}`, () => {
    let subject: ContractSubject;
    let m: Machine;
    const events: MachineEvent[] = [];

    before(async () => {
      subject = await create();
      m = subject.machine;
      m.on((e) => events.push(e));
    });
    after(async () => {
      await subject.dispose();
    });

    const settle = (state: PowerState) =>
      waitFor(() => m.getPowerState() === state, { timeoutMs: settleMs, what: `power state ${state}` });

    test('identity is complete', () => {
      const id = m.getIdentity();
      assert.match(id.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.ok(id.name.length > 0);
      assert.equal(id.id, `${id.namespace}/${id.name}`);
      assert.ok(id.serial.length > 0);
    });

    test('power on passes through PoweringOn and reaches On, with events in order', async () => {
      assert.equal(m.getPowerState(), 'Off');
      events.length = 0;
      await m.power('On');
      await settle('On');
      const states = events.filter((e) => e.type === 'power').map((e) => e.state);
      assert.deepEqual(states.slice(-2), ['PoweringOn', 'On']);
      assert.ok(events.some((e) => e.type === 'powerAction' && e.action === 'On'));
    });

    test('On is idempotent when already on', async () => {
      await m.power('On');
      assert.equal(m.getPowerState(), 'On');
    });

    test('pause and resume', async () => {
      await m.power('Pause');
      await settle('Paused');
      await m.power('Pause'); // idempotent
      await m.power('Resume');
      await settle('On');
    });

    test('force off reaches Off and is idempotent', async () => {
      await m.power('ForceOff');
      await settle('Off');
      await m.power('ForceOff');
      assert.equal(m.getPowerState(), 'Off');
    });

    test('actions that need a running machine are refused with InvalidState when off', async () => {
      for (const action of ['GracefulRestart', 'ForceRestart', 'Pause'] as const) {
        await assert.rejects(
          m.power(action),
          (err) => isMachineError(err) && err.code === 'InvalidState',
          action,
        );
      }
      assert.equal(m.getPowerState(), 'Off');
    });

    test('an unsupported action is NotSupported, never silently accepted', async () => {
      if (m.getSupportedPowerActions().includes('Nmi')) return;
      await assert.rejects(m.power('Nmi'), (err) => isMachineError(err) && err.code === 'NotSupported');
    });

    test('power cycle from Off turns the machine on', async () => {
      await m.power('PowerCycle');
      await settle('On');
    });

    test('graceful shutdown reaches Off', async () => {
      await m.power('GracefulShutdown');
      await settle('Off');
    });

    test('boot override: set, normalised, read back', async () => {
      const mode = m.getBootOverride().mode;
      const set = await m.setBootOverride({ target: 'Pxe' });
      assert.deepEqual(set, { target: 'Pxe', persistence: 'Once', mode });
      assert.deepEqual(m.getBootOverride(), set);
      const cont = await m.setBootOverride({ target: 'Hdd', persistence: 'Continuous' });
      assert.deepEqual(cont, { target: 'Hdd', persistence: 'Continuous', mode });
      const off = await m.setBootOverride({ target: 'None' });
      assert.deepEqual(off, { target: 'None', persistence: 'Disabled', mode });
    });

    test('boot mode changes are read back at once', async () => {
      await m.setBootOverride({ mode: 'Legacy' });
      assert.equal(m.getBootOverride().mode, 'Legacy');
      await m.setBootOverride({ mode: 'UEFI' });
      assert.equal(m.getBootOverride().mode, 'UEFI');
    });

    test('an unsupported boot target is refused and changes nothing', async () => {
      const before = m.getBootOverride();
      if (m.getBootCapabilities().targets.includes('UefiHttp')) return;
      await assert.rejects(
        m.setBootOverride({ target: 'UefiHttp' }),
        (err) => isMachineError(err) && err.code === 'NotSupported',
      );
      assert.deepEqual(m.getBootOverride(), before);
    });

    test('boot-once reverts after one start; continuous stays', async () => {
      await m.setBootOverride({ target: 'Hdd', persistence: 'Continuous' });
      await m.setBootOverride({ target: 'Pxe', persistence: 'Once' });
      await m.power('On');
      await settle('On');
      await waitFor(() => m.getBootOverride().persistence !== 'Once', {
        timeoutMs: settleMs,
        what: 'boot-once consumed',
      });
      assert.deepEqual(
        { target: m.getBootOverride().target, persistence: m.getBootOverride().persistence },
        { target: 'Hdd', persistence: 'Continuous' },
      );
      await m.setBootOverride({ target: 'None' });
      await m.power('ForceOff');
      await settle('Off');
    });

    test('virtual media: insert shows progress, reaches Inserted, eject empties', async () => {
      const slots = m.getMediaSlots();
      assert.equal(slots.length, 1);
      assert.equal(slots[0]!.id, 'Cd');
      const accepted = await m.insertMedia('Cd', { image: 'http://user:secret@images.example/alpine.iso' });
      assert.ok(accepted.state === 'Inserting' || accepted.state === 'Inserted');
      assert.ok(!String(accepted.image).includes('secret'), 'credentials never shown');
      const done = await waitFor(() => m.getMediaSlots()[0]!.state === 'Inserted' && m.getMediaSlots()[0], {
        timeoutMs: settleMs,
        what: 'media inserted',
      });
      assert.equal(done.imageName, 'alpine.iso');
      assert.equal(done.transferProtocol, 'HTTP');
      // Same image again: a no-op. Another image: replaces.
      await m.insertMedia('Cd', { image: 'http://images.example/alpine.iso' });
      await m.insertMedia('Cd', { image: 'https://images.example/other.iso' });
      await waitFor(
        () => m.getMediaSlots()[0]!.imageName === 'other.iso' && m.getMediaSlots()[0]!.state === 'Inserted',
        {
          timeoutMs: settleMs,
          what: 're-insert',
        },
      );
      const ejected = await m.ejectMedia('Cd');
      await waitFor(() => m.getMediaSlots()[0]!.state === 'Empty', { timeoutMs: settleMs, what: 'eject' });
      assert.ok(ejected.state === 'Empty' || ejected.state === 'Ejecting');
      await m.ejectMedia('Cd'); // idempotent
    });

    test('virtual media: bad URLs and unknown slots are InvalidArgument', async () => {
      for (const image of ['ftp://x/y.iso', 'not a url', 'file:///etc/passwd', '']) {
        await assert.rejects(
          m.insertMedia('Cd', { image }),
          (err) => isMachineError(err) && err.code === 'InvalidArgument',
          image,
        );
      }
      await assert.rejects(
        m.insertMedia('Floppy9', { image: 'http://x/y.iso' }),
        (err) => isMachineError(err) && err.code === 'InvalidArgument',
      );
      assert.equal(m.getMediaSlots()[0]!.state, 'Empty');
    });

    test('virtual media: an unreachable image ends in Failed with a message', async () => {
      await m.insertMedia('Cd', { image: 'http://invalid/missing.iso' });
      const failed = await waitFor(() => m.getMediaSlots()[0]!.state === 'Failed' && m.getMediaSlots()[0], {
        timeoutMs: settleMs,
        what: 'media failed',
      });
      assert.ok(failed.message && failed.message.length > 0);
      await m.ejectMedia('Cd');
      await waitFor(() => m.getMediaSlots()[0]!.state === 'Empty', {
        timeoutMs: settleMs,
        what: 'eject after failure',
      });
    });

    test('inventory is plausible', () => {
      const inv = m.getInventory();
      assert.ok(inv.processors.sockets * inv.processors.coresPerSocket * inv.processors.threadsPerCore >= 1);
      assert.ok(inv.memoryBytes > 0);
      for (const nic of inv.nics) if (nic.mac) assert.match(nic.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.ok(inv.disks.length >= 1);
    });

    test('the console shows the boot device and echoes input, and survives a reboot', async () => {
      const console = await m.openConsole();
      let text = '';
      const states: boolean[] = [];
      console.on((e) => {
        if (e.type === 'data') text += new TextDecoder().decode(e.data);
        if (e.type === 'state') states.push(e.attached);
      });
      const log = () => subject.bootLog?.() ?? text;
      await m.setBootOverride({ target: 'Pxe', persistence: 'Once' });
      await m.power('On');
      await waitFor(() => /login: $/.test(log()), { timeoutMs: settleMs, what: 'login prompt' });
      assert.match(log(), /PXE|network/i);
      await waitFor(() => console.attached, { timeoutMs: settleMs, what: 'console attached' });
      console.write(new TextEncoder().encode('root\r'));
      await waitFor(() => text.includes('root'), { timeoutMs: settleMs, what: 'echo' });
      const before = log();
      text = '';
      // what was printed since the restart (a new VMI starts a new log)
      const since = () => (log().startsWith(before) ? log().slice(before.length) : log());
      await m.power('ForceRestart');
      await waitFor(() => /login: $/.test(since()), {
        timeoutMs: settleMs,
        what: 'login prompt after reboot',
      });
      assert.match(since(), /Hard Disk|disk/i, 'the boot-once PXE override was consumed by the first start');
      await console.close();
      await m.power('ForceOff');
      await settle('Off');
    });
  });
}

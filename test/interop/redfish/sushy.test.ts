import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { missingClients } from '../../support/clients.ts';
import { type PyLine, pythonLines } from '../../support/redfish-clients.ts';
import { ADMIN, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * python3-sushy (Debian's, the library under Ironic's redfish drivers) doing what Ironic does:
 * discover the one system, read power, every reset, boot device with and without mode and
 * persistence, boot mode, secure boot, virtual media through the Manager and through the System,
 * with Basic auth and with a session.
 */
const skip = missingClients('sushy');
const SCRIPT = fileURLToPath(new URL('./sushy_ironic.py', import.meta.url));

type Line = PyLine;

function sushy(fx: RedfishFixture, auth: 'basic' | 'session', ops: object[]): Promise<Line[]> {
  return pythonLines(SCRIPT, [fx.url, ADMIN.username, ADMIN.password, auth, JSON.stringify(ops)]);
}

async function sessionCount(fx: RedfishFixture): Promise<number> {
  return (await fx.request('GET', '/redfish/v1/SessionService/Sessions')).json['Members@odata.count'];
}

for (const auth of ['basic', 'session'] as const) {
  describe(`sushy with ${auth} auth`, { skip }, () => {
    let fx: RedfishFixture;
    before(async () => {
      fx = await startRedfish({ machine: { supportsNmi: true } });
    });
    after(async () => fx?.close());

    test('discovers the one system and reads what Ironic inspection reads', async () => {
      const [d] = await sushy(fx, auth, [{ op: 'discover' }]);
      const m = fx.machine;
      assert.equal(d!.vendor, 'KubeVirt');
      assert.equal(d!.system_id, '1');
      assert.equal(d!.power, 'Off');
      assert.deepEqual(d!.resets, [
        'ForceOff',
        'ForceRestart',
        'GracefulRestart',
        'GracefulShutdown',
        'Nmi',
        'On',
        'Pause',
        'PowerCycle',
        'Resume',
      ]);
      assert.deepEqual(d!.boot_sources, [...m.getBootCapabilities().targets].sort());
      assert.deepEqual(d!.managers, ['BMC']);
      assert.deepEqual(d!.chassis, ['1']);
      assert.deepEqual(d!.macs, ['52:54:00:12:34:56']);
      assert.equal(d!.memory_gib, 2);
      assert.equal(d!.cpu_threads, 2);
      assert.equal(d!.cpu_arch, 'x86');
      assert.deepEqual(d!.simple_storage_bytes, [10 * 1024 ** 3]);
      assert.deepEqual(d!.drives, ['rootdisk'], 'CD-ROMs are virtual media, not drives');
      assert.equal(d!.uuid_system, m.getIdentity().uuid);
      assert.equal(d!.serial, m.getIdentity().serial);
      assert.equal(d!.boot.mode, 'UEFI');
      if (auth === 'session') {
        // sushy logged in with a session and deleted it when it finished.
        await waitFor(async () => (await sessionCount(fx)) === 0, { what: 'sushy to log out' });
      }
    });

    test('every reset Ironic sends works and shows in the power state', async () => {
      const m = fx.machine;
      await sushy(fx, auth, [{ op: 'power', value: 'On' }]);
      await waitFor(() => m.getPowerState() === 'On', { what: 'On' });
      // Hard reboot as Ironic does it: ForceOff, wait, On.
      await sushy(fx, auth, [{ op: 'power', value: 'ForceOff' }]);
      await waitFor(() => m.getPowerState() === 'Off', { what: 'ForceOff' });
      const [r] = await sushy(fx, auth, [{ op: 'read_power' }]);
      assert.equal(r!.power, 'Off');
      await sushy(fx, auth, [{ op: 'power', value: 'On' }]);
      await waitFor(() => m.getPowerState() === 'On', { what: 'On again' });
      const boots = m.bootLog.length;
      for (const value of ['GracefulRestart', 'ForceRestart', 'PowerCycle']) {
        const before = m.bootLog.length;
        await sushy(fx, auth, [{ op: 'power', value }]);
        await waitFor(() => m.bootLog.length > before && m.getPowerState() === 'On', { what: value });
      }
      assert.equal(m.bootLog.length, boots + 3);
      await sushy(fx, auth, [{ op: 'power', value: 'Nmi' }]);
      assert.equal(m.nmiCount, 1);
      await sushy(fx, auth, [{ op: 'power', value: 'Pause' }]);
      assert.equal(m.getPowerState(), 'Paused');
      const [p] = await sushy(fx, auth, [{ op: 'read_power' }]);
      assert.equal(p!.power, 'On', 'a paused VM reads as On for Ironic');
      await sushy(fx, auth, [{ op: 'power', value: 'Resume' }]);
      assert.equal(m.getPowerState(), 'On');
      await sushy(fx, auth, [{ op: 'power', value: 'GracefulShutdown' }]);
      await waitFor(() => m.getPowerState() === 'Off', { what: 'GracefulShutdown' });
      assert.deepEqual(
        m.actionLog.map((a) => a.context?.actor),
        m.actionLog.map(() => 'admin'),
      );
    });

    test('boot device with and without persistence and mode; Once reverts after one boot', async () => {
      const m = fx.machine;
      const [a] = await sushy(fx, auth, [{ op: 'boot', target: 'Pxe' }]);
      assert.deepEqual(a!.boot, { target: 'Pxe', enabled: 'Once', mode: 'UEFI' });
      assert.deepEqual(m.getBootOverride(), { target: 'Pxe', persistence: 'Once', mode: 'UEFI' });
      const [b] = await sushy(fx, auth, [{ op: 'boot', target: 'Hdd', enabled: 'Continuous' }]);
      assert.deepEqual(b!.boot, { target: 'Hdd', enabled: 'Continuous', mode: 'UEFI' });
      // Ironic sends Enabled only when it changes: a target alone keeps Continuous.
      const [c] = await sushy(fx, auth, [{ op: 'boot', target: 'Cd' }]);
      assert.deepEqual(c!.boot, { target: 'Cd', enabled: 'Continuous', mode: 'UEFI' });
      // Boot mode alone, read back at once (Ironic would reboot and wait otherwise).
      const [d] = await sushy(fx, auth, [{ op: 'boot', mode: 'Legacy' }]);
      assert.equal(d!.boot.mode, 'Legacy');
      assert.equal(m.getBootOverride().mode, 'Legacy');
      const [e] = await sushy(fx, auth, [{ op: 'boot', target: 'Pxe', enabled: 'Once', mode: 'UEFI' }]);
      assert.deepEqual(e!.boot, { target: 'Pxe', enabled: 'Once', mode: 'UEFI' });
      // The next start boots from Pxe in UEFI, then the override reverts to the Continuous Cd, with
      // its Legacy: a Once's mode is for that boot only.
      await sushy(fx, auth, [{ op: 'power', value: 'On' }]);
      await waitFor(() => m.getPowerState() === 'On');
      assert.deepEqual(m.bootLog.at(-1), { target: 'Pxe', mode: 'UEFI', image: null });
      const [f] = await sushy(fx, auth, [{ op: 'discover' }]);
      assert.deepEqual(f!.boot, { target: 'Cd', enabled: 'Continuous', mode: 'Legacy' });
      await sushy(fx, auth, [{ op: 'power', value: 'ForceOff' }]);
      await waitFor(() => m.getPowerState() === 'Off');
      await sushy(fx, auth, [{ op: 'boot', target: 'None' }]);
      assert.equal(m.getBootOverride().persistence, 'Disabled');
      assert.equal(m.getBootOverride().mode, 'Legacy');
      // with the override Disabled, a mode alone is the machine's from then on (Ironic's set_boot_mode)
      const [g] = await sushy(fx, auth, [{ op: 'boot', mode: 'UEFI' }]);
      assert.deepEqual(g!.boot, { target: 'None', enabled: 'Disabled', mode: 'UEFI' });
    });

    test('secure boot toggles through SecureBootEnable', async () => {
      const m = fx.machine;
      const [on] = await sushy(fx, auth, [{ op: 'secure_boot', value: true }]);
      assert.equal(on!.enabled, true);
      assert.equal(m.getSecureBoot().enabled, true);
      const [off] = await sushy(fx, auth, [{ op: 'secure_boot', value: false }]);
      assert.equal(off!.enabled, false);
      assert.equal(m.getSecureBoot().enabled, false);
    });

    for (const via of ['manager', 'system'] as const) {
      test(`virtual media insert and eject through the ${via}, without side effects`, async () => {
        const m = fx.machine;
        const boot = m.getBootOverride();
        const power = m.getPowerState();
        const image = `http://images.example/${via}-${auth}.iso`;
        const [ins] = await sushy(fx, auth, [{ op: 'insert', image, via }]);
        const path =
          via === 'manager'
            ? '/redfish/v1/Managers/BMC/VirtualMedia/Cd'
            : '/redfish/v1/Systems/1/VirtualMedia/Cd';
        assert.deepEqual(ins!.done, [{ path, inserted: true, image }]);
        await waitFor(() => m.getMediaSlots()[0]?.state === 'Inserted', { what: 'image inserted' });
        assert.equal(m.getMediaSlots()[0]?.image, image);
        assert.deepEqual(m.getBootOverride(), boot, 'inserting does not touch the boot override');
        assert.equal(m.getPowerState(), power, 'inserting does not power the machine');
        const [ej] = await sushy(fx, auth, [{ op: 'eject', via }]);
        assert.deepEqual(ej!.done, [{ path, inserted: false, image: null }]);
        assert.equal(m.getMediaSlots()[0]?.state, 'Empty');
      });
    }
  });
}

describe('sushy session expiry', { skip }, () => {
  test('an expired session is a 401 and sushy logs in again by itself (Ironic caches clients for hours)', async () => {
    const lines: string[] = [];
    const { default: pino } = await import('pino');
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const fx = await startRedfish({ server: { sessionTimeoutSeconds: 1, logger } });
    try {
      const out = await sushy(fx, 'session', [
        { op: 'read_power' },
        { op: 'sleep', seconds: 2.5 },
        { op: 'power', value: 'On' },
        { op: 'read_power' },
      ]);
      assert.equal(out.at(-1)!.power, 'On');
      assert.equal(fx.machine.getPowerState(), 'On');
      const logins = lines.filter((l) =>
        l.includes('"path":"/redfish/v1/SessionService/Sessions","status":201'),
      );
      assert.equal(logins.length, 2, 'one login, then one more after the expiry');
    } finally {
      await fx.close();
    }
  });
});

describe('sushy against an aggregate service', { skip }, () => {
  let fx: RedfishFixture;
  before(async () => {
    fx = await startRedfish({
      aggregate: [{ identity: { namespace: 'ns', name: 'a' } }, { identity: { namespace: 'ns', name: 'b' } }],
    });
  });
  after(async () => fx?.close());

  test('with the system id in the address (as Metal3 passes it) sushy drives that one VM only', async () => {
    const [d] = await sushy(fx, 'session', [
      { op: 'discover', system: '/redfish/v1/Systems/ns.b' },
      { op: 'power', value: 'On', system: '/redfish/v1/Systems/ns.b' },
    ]);
    assert.equal(d!.system_id, 'ns.b');
    assert.deepEqual(d!.managers, ['ns.b']);
    await waitFor(() => fx.machines[1]!.getPowerState() === 'On');
    assert.equal(fx.machines[0]!.getPowerState(), 'Off');
  });
});

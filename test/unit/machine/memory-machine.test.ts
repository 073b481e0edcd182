import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeMachineContract } from '../../support/machine-contract.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { waitFor } from '../../support/wait.ts';

describeMachineContract('MemoryMachine', async () => {
  const machine = new MemoryMachine();
  return { machine, dispose: () => machine.dispose() };
});

describeMachineContract('MemoryMachine with instant transitions', async () => {
  const machine = new MemoryMachine({
    timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 0 },
  });
  return { machine, dispose: () => machine.dispose() };
});

test('MemoryMachine without a CD-ROM reports NotSupported naming what to add', async () => {
  const m = new MemoryMachine({ hasCdrom: false });
  assert.deepEqual(m.getMediaSlots(), []);
  await assert.rejects(m.insertMedia('Cd', { image: 'http://h/a.iso' }), /add a cdrom disk/);
  assert.ok(!m.getBootCapabilities().targets.includes('Cd'));
  m.dispose();
});

test('MemoryMachine: a guest that ignores ACPI stays on after a graceful shutdown', async () => {
  const m = new MemoryMachine({ power: 'On', guestIgnoresAcpi: true });
  await m.power('GracefulShutdown');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(m.getPowerState(), 'On');
  await m.power('ForceOff');
  await waitFor(() => m.getPowerState() === 'Off');
  m.dispose();
});

test('MemoryMachine: NMI where supported reaches the guest', async () => {
  const m = new MemoryMachine({ power: 'On', supportsNmi: true });
  await m.power('Nmi');
  assert.equal(m.nmiCount, 1);
  m.dispose();
});

test('MemoryMachine: the boot log records what each start booted from, with the CD image', async () => {
  const m = new MemoryMachine({ timings: { powerOnMs: 0, mediaInsertMs: 0 } });
  await m.insertMedia('Cd', { image: 'https://images.example/install.iso' });
  await m.setBootOverride({ target: 'Cd', persistence: 'Once', mode: 'Legacy' });
  await m.power('On');
  await m.power('ForceRestart');
  assert.deepEqual(m.bootLog, [
    { target: 'Cd', mode: 'Legacy', image: 'https://images.example/install.iso' },
    // the boot-once's Legacy was for that boot only: the machine's own UEFI comes back
    { target: 'Hdd', mode: 'UEFI', image: null },
  ]);
  m.dispose();
});

test('MemoryMachine: secure boot needs UEFI and blocks a switch to Legacy', async () => {
  const m = new MemoryMachine();
  await m.setSecureBoot(true);
  assert.deepEqual(m.getSecureBoot(), { supported: true, enabled: true });
  await assert.rejects(m.setBootOverride({ mode: 'Legacy' }), /disable it/);
  assert.equal(m.getBootOverride().mode, 'UEFI');
  await m.setSecureBoot(false);
  await m.setBootOverride({ mode: 'Legacy' });
  await assert.rejects(m.setSecureBoot(true), /UEFI/);
  m.dispose();
});

test('MemoryMachine: audit context is recorded with each action', async () => {
  const m = new MemoryMachine({ timings: { powerOnMs: 0 } });
  await m.power('On', { actor: 'admin', source: '127.0.0.1:5000', protocol: 'ipmi' });
  assert.deepEqual(m.actionLog, [
    { action: 'On', context: { actor: 'admin', source: '127.0.0.1:5000', protocol: 'ipmi' } },
  ]);
  m.dispose();
});

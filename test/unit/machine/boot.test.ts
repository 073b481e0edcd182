import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyBootRequest, type BootOverride, resolveBootRequest } from '../../../src/machine/index.ts';

const disabled: BootOverride = { target: 'None', persistence: 'Disabled', mode: 'UEFI' };
const pxeOnce: BootOverride = { target: 'Pxe', persistence: 'Once', mode: 'UEFI' };

test('a target set while disabled becomes Once', () => {
  assert.deepEqual(applyBootRequest(disabled, { target: 'Pxe' }), pxeOnce);
});

test('target None disables, whatever persistence was asked', () => {
  assert.deepEqual(applyBootRequest(pxeOnce, { target: 'None', persistence: 'Continuous' }), disabled);
});

test('persistence Disabled alone clears the target', () => {
  assert.deepEqual(applyBootRequest(pxeOnce, { persistence: 'Disabled' }), disabled);
});

test('a real target with explicit Disabled means no override', () => {
  assert.deepEqual(applyBootRequest(disabled, { target: 'Cd', persistence: 'Disabled' }), disabled);
});

test('persistence alone keeps the target; mode alone keeps the rest', () => {
  assert.deepEqual(applyBootRequest(pxeOnce, { persistence: 'Continuous' }), {
    ...pxeOnce,
    persistence: 'Continuous',
  });
  assert.deepEqual(applyBootRequest(pxeOnce, { mode: 'Legacy' }), { ...pxeOnce, mode: 'Legacy' });
});

test('Continuous without a target stays disabled', () => {
  assert.deepEqual(applyBootRequest(disabled, { persistence: 'Continuous' }), disabled);
});

describe('the boot mode that comes with a boot request (resolveBootRequest)', () => {
  const uefiDisabled: BootOverride = { target: 'None', persistence: 'Disabled', mode: 'UEFI' };

  test('a Once override’s mode is for that boot only: the firmware stays', () => {
    // bmclib's default (efiBoot false), `ipmitool chassis bootdev pxe`: Once + Legacy
    const r = resolveBootRequest(uefiDisabled, 'UEFI', {
      target: 'Pxe',
      persistence: 'Once',
      mode: 'Legacy',
    });
    assert.deepEqual(r, { next: { target: 'Pxe', persistence: 'Once', mode: 'Legacy' }, firmware: 'UEFI' });
  });

  test('a Once without a mode boots in the machine’s own mode', () => {
    const r = resolveBootRequest(uefiDisabled, 'UEFI', { target: 'Cd' });
    assert.deepEqual(r, { next: { target: 'Cd', persistence: 'Once', mode: 'UEFI' }, firmware: 'UEFI' });
  });

  test('a Continuous override’s mode becomes the machine’s', () => {
    const r = resolveBootRequest(uefiDisabled, 'UEFI', {
      target: 'Hdd',
      persistence: 'Continuous',
      mode: 'Legacy',
    });
    assert.equal(r.firmware, 'Legacy');
    // …and so does a pending Once turned Continuous
    const once = { target: 'Pxe', persistence: 'Once', mode: 'Legacy' } as const;
    assert.equal(resolveBootRequest(once, 'UEFI', { persistence: 'Continuous' }).firmware, 'Legacy');
  });

  test('with the override Disabled, a different mode is a firmware change (Ironic’s set_boot_mode)', () => {
    assert.deepEqual(resolveBootRequest(uefiDisabled, 'UEFI', { mode: 'Legacy' }), {
      next: { target: 'None', persistence: 'Disabled', mode: 'Legacy' },
      firmware: 'Legacy',
    });
  });

  test('clearing a pending Once brings the machine’s own mode back, even when the client echoes the Once’s', () => {
    const once = { target: 'Pxe', persistence: 'Once', mode: 'Legacy' } as const;
    for (const request of [
      { persistence: 'Disabled' as const },
      { target: 'None' as const },
      { persistence: 'Disabled' as const, mode: 'Legacy' as const },
    ]) {
      assert.deepEqual(resolveBootRequest(once, 'UEFI', request), { next: uefiDisabled, firmware: 'UEFI' });
    }
    // a mode that differs from the one reported is asked for: it becomes the machine's
    assert.equal(
      resolveBootRequest(once, 'Legacy', { persistence: 'Disabled', mode: 'UEFI' }).firmware,
      'UEFI',
    );
  });

  test('a mode-only request during a pending Once changes that boot only', () => {
    const once = { target: 'Pxe', persistence: 'Once', mode: 'UEFI' } as const;
    assert.deepEqual(resolveBootRequest(once, 'UEFI', { mode: 'Legacy' }), {
      next: { ...once, mode: 'Legacy' },
      firmware: 'UEFI',
    });
  });
});

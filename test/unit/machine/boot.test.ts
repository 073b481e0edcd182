import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyBootRequest, type BootOverride } from '../../../src/machine/index.ts';

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

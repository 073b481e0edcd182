import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateAccount } from '../../../src/machine/index.ts';

test('valid accounts pass; limits and bad values are explained', () => {
  assert.equal(validateAccount({ username: 'admin', password: 'password' }), null);
  assert.equal(validateAccount({ username: 'a'.repeat(16), password: 'p'.repeat(20) }), null);
  assert.match(validateAccount({ username: 'a'.repeat(17), password: 'p' })!, /17 bytes.*at most 16/);
  assert.match(validateAccount({ username: 'admin', password: 'p'.repeat(21) })!, /21 bytes.*at most 20/);
  assert.match(validateAccount({ username: '', password: 'p' })!, /username is missing/);
  assert.match(validateAccount({ username: 'admin' })!, /password is missing/);
  assert.match(validateAccount({ username: 'ad min', password: 'p' })!, /printable ASCII/);
});

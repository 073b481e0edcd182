import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  BASE_PREFIX,
  BASE_REGISTRY,
  errorBody,
  MESSAGES,
  type MessageId,
  message,
} from '../../../src/redfish/messages.ts';
import { BASE_REGISTRY_FILE } from '../../support/redfish-schemas.ts';

test('every message we use exists in the Base 1.22.0 registry with the same text, arity and severity', () => {
  const registry = JSON.parse(readFileSync(BASE_REGISTRY_FILE, 'utf8'));
  assert.equal(registry.Id, `${BASE_REGISTRY.prefix}.${BASE_REGISTRY.version}`);
  assert.equal(BASE_PREFIX, 'Base.1.22');
  for (const [id, def] of Object.entries(MESSAGES)) {
    const entry = registry.Messages[id];
    assert.ok(entry, `${id} is not in the registry`);
    assert.equal(def.message, entry.Message, id);
    assert.equal(def.args, entry.NumberOfArgs, id);
    assert.equal(def.severity, entry.MessageSeverity, id);
    assert.equal(def.resolution, entry.Resolution, id);
  }
});

test('message() fills arguments in order and refuses a wrong argument count', () => {
  const m = message(
    'PropertyValueNotInList',
    ['Floppy', 'BootSourceOverrideTarget'],
    ['#/Boot/BootSourceOverrideTarget'],
  );
  assert.equal(m.MessageId, 'Base.1.22.PropertyValueNotInList');
  assert.equal(
    m.Message,
    "The value 'Floppy' for the property BootSourceOverrideTarget is not in the list of acceptable values.",
  );
  assert.deepEqual(m.MessageArgs, ['Floppy', 'BootSourceOverrideTarget']);
  assert.deepEqual(m.RelatedProperties, ['#/Boot/BootSourceOverrideTarget']);
  assert.throws(() => message('PropertyUnknown' as MessageId, []), /takes 1 arguments/);
});

test('errorBody puts the first message in code/message and all in @Message.ExtendedInfo', () => {
  const body = errorBody([message('PropertyUnknown', ['A']), message('PropertyNotWritable', ['B'])]);
  assert.equal(body.error.code, 'Base.1.22.PropertyUnknown');
  assert.equal(body.error.message, 'The property A is not in the list of valid properties for the resource.');
  assert.equal((body.error['@Message.ExtendedInfo'] as unknown[]).length, 2);
});

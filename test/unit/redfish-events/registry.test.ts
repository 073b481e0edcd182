import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EVENT_BASE_MESSAGES } from '../../../src/redfish/events/base-messages.ts';
import { REGISTRIES } from '../../../src/redfish/events/registry.ts';
import { BASE_REGISTRY_FILE, registryFile } from '../../support/redfish-schemas.ts';

/** The event messages are the published registries' own (texts, severities, argument counts). */
interface RegistryMessage {
  Message: string;
  NumberOfArgs: number;
  MessageSeverity: string;
  Resolution: string;
}

function load(file: string): { RegistryVersion: string; Messages: Record<string, RegistryMessage> } {
  return JSON.parse(readFileSync(file, 'utf8'));
}

for (const [prefix, reg] of Object.entries(REGISTRIES)) {
  const file = registryFile(prefix, reg.version);
  test(`${prefix} ${reg.version} messages match the registry file`, () => {
    const published = load(file);
    assert.equal(published.RegistryVersion, reg.version);
    for (const [key, def] of Object.entries(reg.messages)) {
      const p = published.Messages[key];
      assert.ok(p, `${prefix}.${key} exists`);
      assert.equal(def.message, p.Message, key);
      assert.equal(def.args, p.NumberOfArgs, key);
      assert.equal(def.severity, p.MessageSeverity, key);
      assert.equal(def.resolution, p.Resolution, key);
    }
  });
}

test('Base messages of the event service match Base 1.22.0', () => {
  const published = load(BASE_REGISTRY_FILE);
  for (const [key, def] of Object.entries(EVENT_BASE_MESSAGES)) {
    const p = published.Messages[key]!;
    assert.equal(def.message, p.Message, key);
    assert.equal(def.args, p.NumberOfArgs, key);
    assert.equal(def.severity, p.MessageSeverity, key);
    assert.equal(def.resolution, p.Resolution, key);
  }
});

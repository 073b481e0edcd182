import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FilterSyntaxError, matches, NO_FILTER, parseSseFilter } from '../../../src/redfish/events/filter.ts';
import type { EventRecord } from '../../../src/redfish/events/records.ts';
import { eventMessage } from '../../../src/redfish/events/registry.ts';

const SYS = '/redfish/v1/Systems/1';
const rec = (over: Partial<EventRecord> = {}): EventRecord => ({
  id: '1',
  seq: 1,
  timestamp: '2026-01-01T00:00:00Z',
  eventType: 'StatusChange',
  msg: eventMessage('ResourceEvent', 'ResourcePoweredOn', [SYS]),
  origin: SYS,
  resourceType: 'ComputerSystem',
  ...over,
});
const media = rec({
  msg: eventMessage('ResourceEvent', 'ResourceStateChanged', [`${SYS}/VirtualMedia/Cd`, 'Inserted']),
  origin: `${SYS}/VirtualMedia/Cd`,
  resourceType: 'VirtualMedia',
});
const task = rec({
  eventType: 'Other',
  msg: eventMessage('TaskEvent', 'TaskCompletedOK', ['3']),
  origin: '/redfish/v1/TaskService/Tasks/3',
  resourceType: 'Task',
});

test('subscription filters: prefixes or message ids, resource types, origins with subordinates, excludes, event types', () => {
  assert.ok(matches(NO_FILTER, rec()));
  assert.ok(matches({ ...NO_FILTER, registryPrefixes: ['TaskEvent'] }, task));
  assert.ok(!matches({ ...NO_FILTER, registryPrefixes: ['TaskEvent'] }, rec()));
  // RegistryPrefixes and MessageIds are alternatives; message ids match with or without versions.
  const either = {
    ...NO_FILTER,
    registryPrefixes: ['TaskEvent'],
    messageIds: ['ResourceEvent.ResourcePoweredOn'],
  };
  assert.ok(matches(either, rec()) && matches(either, task) && !matches(either, media));
  assert.ok(matches({ ...NO_FILTER, messageIds: ['ResourceEvent.1.0.ResourcePoweredOn'] }, rec()));
  assert.ok(!matches({ ...NO_FILTER, resourceTypes: ['VirtualMedia'] }, rec()));
  assert.ok(matches({ ...NO_FILTER, resourceTypes: ['VirtualMedia'] }, media));
  assert.ok(!matches({ ...NO_FILTER, originResources: [SYS] }, media), 'not subordinate by default');
  assert.ok(matches({ ...NO_FILTER, originResources: [SYS], subordinateResources: true }, media));
  assert.ok(!matches({ ...NO_FILTER, originResources: [SYS], subordinateResources: true }, task));
  assert.ok(
    !matches(
      { ...NO_FILTER, originResources: ['/redfish/v1/Systems/10'], subordinateResources: true },
      rec(),
    ),
  );
  assert.ok(!matches({ ...NO_FILTER, excludeRegistryPrefixes: ['TaskEvent'] }, task));
  assert.ok(!matches({ ...NO_FILTER, excludeMessageIds: ['ResourceEvent.ResourcePoweredOn'] }, rec()));
  assert.ok(!matches({ ...NO_FILTER, eventTypes: ['Alert'] }, rec()));
  assert.ok(matches({ ...NO_FILTER, eventTypes: ['Alert', 'StatusChange'] }, rec()));
});

test('SSE $filter: eq/ne, quoted and bare values, and/or precedence, not, parentheses', () => {
  const f = (s: string) => parseSseFilter(s);
  assert.ok(f("RegistryPrefix eq 'TaskEvent'")(task));
  assert.ok(!f("RegistryPrefix eq 'TaskEvent'")(rec()));
  assert.ok(f('RegistryPrefix ne TaskEvent')(rec()));
  assert.ok(f('EventFormatType eq Event')(rec()));
  assert.ok(!f('EventFormatType eq MetricReport')(rec()));
  assert.ok(f('MessageId eq ResourceEvent.ResourcePoweredOn')(rec()));
  // and binds tighter than or: (Task) or (ComputerSystem and TaskEvent) → only the task.
  const g = f('ResourceType eq Task or ResourceType eq ComputerSystem and RegistryPrefix eq TaskEvent');
  assert.ok(g(task) && !g(rec()));
  const h = f('(ResourceType eq Task or ResourceType eq ComputerSystem) and RegistryPrefix eq ResourceEvent');
  assert.ok(h(rec()) && !h(task));
  assert.ok(f('not (ResourceType eq Task)')(rec()));
  assert.ok(!f(`OriginResource eq '${SYS}'`)(media));
  assert.ok(f(`OriginResource eq '${SYS}' and SubordinateResources eq true`)(media));
  assert.ok(f("OriginResource eq 'it''s'")(rec({ origin: "it's" })), 'doubled quote escapes a quote');
});

test('SSE $filter: unsupported properties, operators and bad syntax are errors', () => {
  for (const bad of [
    'Severity eq OK',
    'EventType eq Alert',
    'MessageId gt 3',
    '(RegistryPrefix eq TaskEvent',
    'RegistryPrefix eq',
    "RegistryPrefix eq 'open",
    'RegistryPrefix eq TaskEvent extra',
    'SubordinateResources eq maybe',
    '',
    `${'('.repeat(40)}RegistryPrefix eq A${')'.repeat(40)}`,
  ]) {
    assert.throws(() => parseSseFilter(bad), FilterSyntaxError, bad);
  }
});

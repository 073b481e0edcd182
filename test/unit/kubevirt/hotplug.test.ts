// What the controller reports about KubeVirt's hot-plug from the KubeVirt CR (src/kubevirt/hotplug.ts),
// and what the agent makes of it: gate precedence, version defaults, and the unknown cases.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hotplugCondition, hotplugFromConditions, type KubeVirtCr } from '../../../src/kubevirt/hotplug.ts';

const kv = (
  version: string | undefined,
  dev: Record<string, unknown> = {},
  extra: Partial<KubeVirtCr['metadata']> = {},
): KubeVirtCr => ({
  metadata: { name: 'kubevirt', namespace: 'kubevirt', creationTimestamp: '2026-01-01T00:00:00Z', ...extra },
  spec: { configuration: { developerConfiguration: dev } },
  ...(version ? { status: { observedKubeVirtVersion: version } } : {}),
});

test('KubeVirt v1.9 with no gate named: declarative hot-plug is on (Beta)', () => {
  const [status, reason, message] = hotplugCondition([kv('v1.9.0')]);
  assert.equal(status, 'True');
  assert.equal(reason, 'DeclarativeHotplugVolumes');
  assert.match(message, /^KubeVirt v1\.9\.0 \(KubeVirt CR kubevirt\/kubevirt\) hot-plugs volumes/);
});

test('KubeVirt v1.8 with no gate named: DeclarativeHotplugVolumes is off (Alpha); naming it turns it on', () => {
  const [status, reason, message] = hotplugCondition([kv('v1.8.2')]);
  assert.equal(status, 'False');
  assert.equal(reason, 'DeclarativeHotplugVolumesDisabled');
  assert.match(
    message,
    /add DeclarativeHotplugVolumes to spec\.configuration\.developerConfiguration\.featureGates/,
  );
  assert.equal(hotplugCondition([kv('v1.8.2', { featureGates: ['DeclarativeHotplugVolumes'] })])[0], 'True');
});

test('featureGates wins over disabledFeatureGates, which wins over the default', () => {
  assert.equal(
    hotplugCondition([kv('v1.9.0', { disabledFeatureGates: ['DeclarativeHotplugVolumes'] })])[0],
    'False',
  );
  assert.equal(
    hotplugCondition([
      kv('v1.9.0', {
        featureGates: ['DeclarativeHotplugVolumes'],
        disabledFeatureGates: ['DeclarativeHotplugVolumes'],
      }),
    ])[0],
    'True',
  );
});

test('the legacy HotplugVolumes gate on turns declarative hot-plug off', () => {
  const [status, reason, message] = hotplugCondition([kv('v1.9.0', { featureGates: ['HotplugVolumes'] })]);
  assert.equal(status, 'False');
  assert.equal(reason, 'HotplugVolumesEnabled');
  assert.match(message, /takes effect only at its next start; remove HotplugVolumes/);
});

test('unknown: the CR unreadable, no CR, or no version and no gate named', () => {
  assert.deepEqual(hotplugCondition(null).slice(0, 2), ['Unknown', 'KubeVirtConfigUnknown']);
  assert.deepEqual(hotplugCondition([]).slice(0, 2), ['Unknown', 'KubeVirtNotFound']);
  assert.deepEqual(hotplugCondition([kv(undefined)]).slice(0, 2), ['Unknown', 'KubeVirtVersionUnknown']);
  // named explicitly, the version does not matter
  assert.equal(hotplugCondition([kv(undefined, { featureGates: ['DeclarativeHotplugVolumes'] })])[0], 'True');
});

test('the oldest KubeVirt CR not being deleted is the one in effect', () => {
  const old = kv(
    'v1.8.0',
    {},
    { name: 'old', creationTimestamp: '2025-01-01T00:00:00Z', deletionTimestamp: '2026-02-01T00:00:00Z' },
  );
  const current = kv('v1.9.0', {}, { name: 'current' });
  assert.equal(hotplugCondition([old, current])[0], 'True');
});

test('the agent reads the condition: True, the two False reasons, and nothing else', () => {
  const cond = (status: string, reason: string) => [
    { type: 'MediaHotplugAvailable', status, reason, message: 'm' },
  ];
  assert.deepEqual(hotplugFromConditions(cond('True', 'DeclarativeHotplugVolumes')), {
    state: 'available',
    message: 'm',
  });
  assert.deepEqual(hotplugFromConditions(cond('False', 'DeclarativeHotplugVolumesDisabled')), {
    state: 'gate-off',
    message: 'm',
  });
  assert.deepEqual(hotplugFromConditions(cond('False', 'HotplugVolumesEnabled')), {
    state: 'legacy-on',
    message: 'm',
  });
  assert.equal(hotplugFromConditions(cond('Unknown', 'KubeVirtConfigUnknown')), undefined);
  assert.equal(hotplugFromConditions([{ type: 'Ready', status: 'True' }]), undefined);
  assert.equal(hotplugFromConditions(undefined), undefined);
});

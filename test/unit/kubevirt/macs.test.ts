import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inventoryOf } from '../../../src/kubevirt/inventory.ts';
import {
  MacMemory,
  type MacStore,
  observedMacs,
  parseRememberedMacs,
  type RememberedMacs,
  serialiseRememberedMacs,
} from '../../../src/kubevirt/mac-memory.ts';
import type { VirtualMachine, VirtualMachineInstance } from '../../../src/kubevirt/types.ts';
import { waitFor } from '../../support/wait.ts';

const VM_UID = '11111111-2222-4333-8444-555555555555';

function vm(interfaces: { name: string; macAddress?: string }[] = [{ name: 'default' }]): VirtualMachine {
  return {
    metadata: { name: 'vm1', namespace: 'ns', uid: VM_UID },
    spec: { template: { spec: { domain: { devices: { interfaces } } } } },
  } as VirtualMachine;
}

function vmi(uid: string, macs: Record<string, string>, phase = 'Running'): VirtualMachineInstance {
  return {
    metadata: { name: 'vm1', namespace: 'ns', uid },
    status: { phase, interfaces: Object.entries(macs).map(([name, mac]) => ({ name, mac })) },
  } as VirtualMachineInstance;
}

const remembered = (vmiUid: string, macs: Record<string, string>, vmUid = VM_UID): RememberedMacs => ({
  vmUid,
  vmiUid,
  seenAt: '2026-01-01T00:00:00.000Z',
  macs,
});

/** A store in memory; `fail` makes every call reject (an API server that is down). */
class FakeStore implements MacStore {
  readonly name = 'fake store';
  value: RememberedMacs | null = null;
  saves = 0;
  fail = false;
  async load() {
    if (this.fail) throw new Error('unreachable');
    return this.value;
  }
  async save(m: RememberedMacs) {
    if (this.fail) throw new Error('unreachable');
    this.saves++;
    this.value = m;
  }
}

describe('NIC MACs in the inventory', () => {
  test('running: the VMI reports the MAC assigned at this start', () => {
    const nic = inventoryOf(vm(), vmi('a', { default: '0A:58:0A:F4:00:05' }), new Map()).nics[0]!;
    assert.equal(nic.mac, '0a:58:0a:f4:00:05');
    assert.equal(nic.macSource, 'running');
    assert.equal(nic.linkUp, true);
  });

  test('off: the MAC of the last start, marked as such; unknown without a memory', () => {
    const off = inventoryOf(vm(), undefined, new Map(), remembered('a', { default: '0a:58:0a:f4:00:05' }));
    assert.equal(off.nics[0]?.mac, '0a:58:0a:f4:00:05');
    assert.equal(off.nics[0]?.macSource, 'last-start');
    assert.equal(off.nics[0]?.linkUp, false);
    const unknown = inventoryOf(vm(), undefined, new Map()).nics[0]!;
    assert.equal(unknown.mac, null);
    assert.equal(unknown.macSource, undefined);
  });

  test('a macAddress in the spec wins while off (KubeVirt uses it at the next start)', () => {
    const nic = inventoryOf(
      vm([{ name: 'default', macAddress: '02-AB-CD-00-11-22' }]),
      undefined,
      new Map(),
      remembered('a', { default: '0a:58:0a:f4:00:05' }),
    ).nics[0]!;
    assert.equal(nic.mac, '02:ab:cd:00:11:22');
    assert.equal(nic.macSource, 'configured');
  });

  test('a memory of another VM of the same name is not used', () => {
    const nic = inventoryOf(
      vm(),
      undefined,
      new Map(),
      remembered('a', { default: '0a:58:0a:f4:00:05' }, 'another-uid'),
    ).nics[0]!;
    assert.equal(nic.mac, null);
  });

  test('while a new VMI starts, the old start is still "last start"; a memory of the running VMI fills a gap', () => {
    const starting = inventoryOf(
      vm(),
      { metadata: { uid: 'b' }, status: { phase: 'Scheduling' } } as VirtualMachineInstance,
      new Map(),
      remembered('a', { default: '0a:58:0a:f4:00:05' }),
    ).nics[0]!;
    assert.equal(starting.macSource, 'last-start');
    // Running VMI "b" without a MAC in its status: a memory of "a" is not its MAC.
    const other = inventoryOf(
      vm(),
      vmi('b', {}),
      new Map(),
      remembered('a', { default: '0a:58:0a:f4:00:05' }),
    ).nics[0]!;
    assert.equal(other.mac, null);
  });
});

describe('remembered MACs', () => {
  test('observed only on a running VMI, normalised', () => {
    assert.equal(observedMacs(vm(), undefined), null);
    assert.equal(observedMacs(vm(), vmi('a', { default: '0a:58:00:00:00:01' }, 'Scheduled')), null);
    const seen = observedMacs(vm(), vmi('a', { default: '0A-58-00-00-00-01' }), new Date(0));
    assert.deepEqual(seen, {
      vmUid: VM_UID,
      vmiUid: 'a',
      seenAt: '1970-01-01T00:00:00.000Z',
      macs: { default: '0a:58:00:00:00:01' },
    });
  });

  test('stored form round-trips; anything else is refused', () => {
    const m = remembered('a', { default: '0a:58:00:00:00:01' });
    assert.deepEqual(parseRememberedMacs(serialiseRememberedMacs(m)), m);
    for (const bad of [
      '',
      'not json',
      '[]',
      '{"vmUid":"x","vmiUid":"y","seenAt":"2026-01-01T00:00:00Z","macs":{}}',
      '{"vmUid":"x","vmiUid":"y","seenAt":"2026-01-01T00:00:00Z","macs":{"a":"zz"}}',
      '{"vmUid":"x","vmiUid":"y","seenAt":"yesterday","macs":{"a":"0a:58:00:00:00:01"}}',
      '{"vmiUid":"y","seenAt":"2026-01-01T00:00:00Z","macs":{"a":"0a:58:00:00:00:01"}}',
    ])
      assert.equal(parseRememberedMacs(bad), null, bad);
  });

  test('a new start is stored; a store read at attach is adopted while nothing was seen', async () => {
    let adopted = 0;
    const memory = new MacMemory({ onAdopt: () => adopted++ });
    const store = new FakeStore();
    store.value = remembered('a', { default: '0a:58:00:00:00:01' });
    memory.attach(store);
    await waitFor(() => memory.current(vm()) !== null, { what: 'adopted' });
    assert.equal(adopted, 1);
    assert.deepEqual(memory.current(vm())?.macs, { default: '0a:58:00:00:00:01' });
    assert.equal(store.saves, 0, 'nothing new to write');

    memory.observe(vm(), vmi('b', { default: '0a:58:00:00:00:02' }));
    assert.deepEqual(memory.current(vm())?.macs, { default: '0a:58:00:00:00:02' });
    await waitFor(() => store.value?.vmiUid === 'b', { what: 'stored' });
    // Seeing the same VMI again writes nothing.
    memory.observe(vm(), vmi('b', { default: '0a:58:00:00:00:02' }));
    memory.observe(vm(), undefined);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(store.saves, 1);
    memory.dispose();
  });

  test('what this process saw wins over an older store, and is written to it', async () => {
    const memory = new MacMemory({ onAdopt: () => {} });
    memory.observe(vm(), vmi('c', { default: '0a:58:00:00:00:03' }));
    const store = new FakeStore();
    store.value = remembered('a', { default: '0a:58:00:00:00:01' });
    memory.attach(store);
    await waitFor(() => store.value?.vmiUid === 'c', { what: 'the newer memory stored' });
    assert.equal(memory.current(vm())?.vmiUid, 'c');
    memory.dispose();
  });

  test('an unusable store is tried again until it works; a detached one is left alone', async () => {
    const memory = new MacMemory({ onAdopt: () => {} });
    const store = new FakeStore();
    store.fail = true;
    const detach = memory.attach(store);
    memory.observe(vm(), vmi('d', { default: '0a:58:00:00:00:04' }));
    await new Promise((r) => setTimeout(r, 50));
    const stored = () => store.value;
    assert.equal(stored(), null, 'nothing stored while the store fails');
    store.fail = false;
    // the first retry comes after 1 s
    await waitFor(() => stored()?.vmiUid === 'd', {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'stored on retry',
    });
    detach();
    memory.observe(vm(), vmi('e', { default: '0a:58:00:00:00:05' }));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(stored()?.vmiUid, 'd', 'a detached store is not written');
    memory.dispose();
  });
});

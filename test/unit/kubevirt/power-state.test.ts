import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { powerStateOf, runStrategyOf } from '../../../src/kubevirt/power-state.ts';
import type {
  RunStrategy,
  VirtualMachine,
  VirtualMachineInstance,
  VmiPhase,
} from '../../../src/kubevirt/types.ts';

function vm(
  strategy: RunStrategy | { running: boolean } | undefined,
  extra: Partial<VirtualMachine> = {},
): VirtualMachine {
  const spec =
    typeof strategy === 'object' ? { running: strategy.running } : strategy ? { runStrategy: strategy } : {};
  return { metadata: { name: 'vm1', uid: 'vm-uid' }, spec, ...extra };
}

function vmi(
  phase: VmiPhase,
  extra: { paused?: boolean; deleting?: boolean; uid?: string } = {},
): VirtualMachineInstance {
  return {
    metadata: {
      name: 'vm1',
      uid: extra.uid ?? 'vmi-1',
      ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    status: {
      phase,
      conditions: extra.paused ? [{ type: 'Paused', status: 'True' }] : [],
    },
  };
}

describe('run strategy', () => {
  test('running: true is Always, running: false and nothing are Halted', () => {
    assert.equal(runStrategyOf(vm({ running: true })), 'Always');
    assert.equal(runStrategyOf(vm({ running: false })), 'Halted');
    assert.equal(runStrategyOf(vm(undefined)), 'Halted');
    assert.equal(runStrategyOf(vm('Manual')), 'Manual');
  });
});

describe('power state from VM and VMI', () => {
  test('VMI phases map as KubeVirt’s printableStatus does', () => {
    assert.equal(powerStateOf(vm('Always'), vmi('Running')), 'On');
    assert.equal(powerStateOf(vm('Always'), vmi('Running', { paused: true })), 'Paused');
    for (const phase of ['', 'Pending', 'Scheduling', 'Scheduled'] as const) {
      assert.equal(powerStateOf(vm('Always'), vmi(phase)), 'PoweringOn', phase);
    }
  });

  test('a VMI being deleted, or a stop expected, is PoweringOff (Stopping)', () => {
    assert.equal(powerStateOf(vm('Always'), vmi('Running', { deleting: true })), 'PoweringOff');
    // Always → Halted by a stop: KubeVirt is about to delete the VMI.
    assert.equal(powerStateOf(vm('Halted'), vmi('Running')), 'PoweringOff');
    const manualStop = vm('Manual', { status: { stateChangeRequests: [{ action: 'Stop', uid: 'vmi-1' }] } });
    assert.equal(powerStateOf(manualStop, vmi('Running')), 'PoweringOff');
  });

  test('a Stop request aimed at an older VMI does not stop the current one', () => {
    const old = vm('Manual', { status: { stateChangeRequests: [{ action: 'Stop', uid: 'other' }] } });
    assert.equal(powerStateOf(old, vmi('Running')), 'On');
  });

  test('no VMI: Off when no start is expected (Stopped/Halted)', () => {
    assert.equal(powerStateOf(vm('Halted'), undefined), 'Off');
    assert.equal(powerStateOf(vm('Manual'), undefined), 'Off');
    assert.equal(powerStateOf(vm({ running: false }), undefined), 'Off');
    assert.equal(
      powerStateOf(vm('RerunOnFailure', { status: { runStrategy: 'RerunOnFailure' } }), undefined),
      'Off',
    );
  });

  test('no VMI, but the Stop request that removed it not consumed yet: PoweringOff (a start would be refused)', () => {
    const stopping = vm('Manual', { status: { stateChangeRequests: [{ action: 'Stop', uid: 'vmi-1' }] } });
    assert.equal(powerStateOf(stopping, undefined), 'PoweringOff');
    assert.equal(powerStateOf(stopping, vmi('Succeeded')), 'PoweringOff');
    assert.equal(powerStateOf(vm('Manual'), undefined), 'Off');
  });

  test('no VMI but a start expected (Starting): PoweringOn', () => {
    assert.equal(powerStateOf(vm('Always'), undefined), 'PoweringOn');
    assert.equal(powerStateOf(vm('Once'), undefined), 'PoweringOn');
    const manualStart = vm('Manual', { status: { stateChangeRequests: [{ action: 'Start' }] } });
    assert.equal(powerStateOf(manualStart, undefined), 'PoweringOn');
    // A restart: Stop of the old VMI then Start; once the old VMI is gone, it is starting.
    const restart = vm('Manual', {
      status: { stateChangeRequests: [{ action: 'Stop', uid: 'x' }, { action: 'Start' }] },
    });
    assert.equal(powerStateOf(restart, undefined), 'PoweringOn');
    // RerunOnFailure starts by itself on first creation.
    assert.equal(powerStateOf(vm('RerunOnFailure'), undefined), 'PoweringOn');
  });

  test('final VMIs: Off, unless the strategy reruns it', () => {
    assert.equal(powerStateOf(vm('Once'), vmi('Succeeded')), 'Off');
    assert.equal(powerStateOf(vm('Manual'), vmi('Failed')), 'Off');
    assert.equal(powerStateOf(vm('Always'), vmi('Succeeded')), 'PoweringOn');
    assert.equal(
      powerStateOf(vm('RerunOnFailure', { status: { runStrategy: 'RerunOnFailure' } }), vmi('Failed')),
      'PoweringOn',
    );
    assert.equal(
      powerStateOf(vm('RerunOnFailure', { status: { runStrategy: 'RerunOnFailure' } }), vmi('Succeeded')),
      'Off',
    );
  });

  test('a VM being deleted (Terminating) is PoweringOff while its VMI lives, then Off', () => {
    const deleting = vm('Always', { metadata: { name: 'vm1', deletionTimestamp: '2026-01-01T00:00:00Z' } });
    assert.equal(powerStateOf(deleting, vmi('Running')), 'PoweringOff');
    assert.equal(powerStateOf(deleting, undefined), 'Off');
  });
});

describe('while the VMI watch lags behind the VM', () => {
  test('a VM that says its VMI exists is starting, never Off, until the VMI arrives', () => {
    const started = vm('Manual', {
      status: { created: true, printableStatus: 'Starting', stateChangeRequests: [] },
    });
    assert.equal(powerStateOf(started, undefined, { vmiCacheCurrent: false }), 'PoweringOn');
    const running = vm('Manual', { status: { created: true, printableStatus: 'Running' } });
    assert.equal(
      powerStateOf(running, undefined, { vmiCacheCurrent: false }),
      'PoweringOn',
      'never On from the VM alone',
    );
    const stopping = vm('Manual', { status: { created: true, printableStatus: 'Stopping' } });
    assert.equal(powerStateOf(stopping, undefined, { vmiCacheCurrent: false }), 'PoweringOff');
    // With a current VMI cache, its absence is the truth.
    assert.equal(powerStateOf(started, undefined, { vmiCacheCurrent: true }), 'Off');
    // A VM without a VMI by its own account is unaffected.
    assert.equal(
      powerStateOf(vm('Manual', { status: { created: false, printableStatus: 'Stopped' } }), undefined, {
        vmiCacheCurrent: false,
      }),
      'Off',
    );
  });
});

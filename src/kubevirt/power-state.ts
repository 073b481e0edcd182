import type { PowerState } from '../machine/index.ts';
import type { RunStrategy, VirtualMachine, VirtualMachineInstance } from './types.ts';

/** The effective run strategy, as KubeVirt computes it: `running: true` → Always, unset → Halted. */
export function runStrategyOf(vm: VirtualMachine): RunStrategy {
  const spec = vm.spec ?? {};
  if (spec.runStrategy) return spec.runStrategy;
  if (spec.running === true) return 'Always';
  return 'Halted';
}

export function isFinal(vmi: VirtualMachineInstance): boolean {
  const phase = vmi.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export function isPausedVmi(vmi: VirtualMachineInstance): boolean {
  return (vmi.status?.conditions ?? []).some((c) => c.type === 'Paused' && c.status === 'True');
}

/** A VMI that is not final and not being deleted: the machine holds (or is getting) power. */
export function isLiveVmi(vmi: VirtualMachineInstance | undefined): vmi is VirtualMachineInstance {
  return !!vmi && !isFinal(vmi) && !vmi.metadata?.deletionTimestamp;
}

/**
 * Whether KubeVirt will start a VMI for this VM without a further request (KubeVirt's own "a start
 * is expected", which makes `printableStatus` say Starting).
 */
export function startExpected(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): boolean {
  const requests = vm.status?.stateChangeRequests ?? [];
  if (requests.some((r) => r.action === 'Start')) return true;
  if (requests.some((r) => r.action === 'Stop')) return false;
  const strategy = runStrategyOf(vm);
  if (!vmi) {
    if (strategy === 'Always' || strategy === 'Once') return true;
    // RerunOnFailure starts once by itself when first created (status.runStrategy not set yet).
    if (strategy === 'RerunOnFailure') return vm.status?.runStrategy !== 'RerunOnFailure';
    return false;
  }
  if (isFinal(vmi)) {
    if (strategy === 'Always') return true;
    if (strategy === 'RerunOnFailure') return vmi.status?.phase === 'Failed';
  }
  return false;
}

/** Whether KubeVirt is about to stop the current VMI (its own "a stop is expected"). */
export function stopExpected(vm: VirtualMachine, vmi: VirtualMachineInstance): boolean {
  if (vmi.metadata?.deletionTimestamp) return true;
  const strategy = runStrategyOf(vm);
  if (strategy === 'Halted') return true;
  return (vm.status?.stateChangeRequests ?? []).some(
    (r) => r.action === 'Stop' && (!r.uid || r.uid === vmi.metadata?.uid),
  );
}

/**
 * The power state of a VM, from the VM and its VMI as cached. The precedence follows KubeVirt's own
 * `printableStatus` (Terminating, Stopping, Paused, Running, Starting, Stopped), but is computed from
 * the VMI directly so it does not lag behind the VM controller's status update:
 *
 * | KubeVirt                                                    | PowerState  |
 * |-------------------------------------------------------------|-------------|
 * | VM being deleted (Terminating)                              | PoweringOff |
 * | VMI live but being deleted or a stop expected (Stopping)    | PoweringOff |
 * | VMI Running with condition Paused=True (Paused)             | Paused      |
 * | VMI Running or Unknown (Running, Migrating)                 | On          |
 * | VMI ""/Pending/Scheduling/Scheduled (Starting)              | PoweringOn  |
 * | no VMI or a final one, a start expected (Starting, CrashLoopBackOff, Provisioning…) | PoweringOn |
 * | no VMI or a final one, no start expected (Stopped, Halted)  | Off         |
 */
export function powerStateOf(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): PowerState {
  if (vm.metadata?.deletionTimestamp) return vmi && !isFinal(vmi) ? 'PoweringOff' : 'Off';
  if (vmi && !isFinal(vmi)) {
    if (stopExpected(vm, vmi)) return 'PoweringOff';
    const phase = vmi.status?.phase ?? '';
    if (phase === 'Running') return isPausedVmi(vmi) ? 'Paused' : 'On';
    if (phase === 'Unknown') return 'On';
    return 'PoweringOn';
  }
  return startExpected(vm, vmi) ? 'PoweringOn' : 'Off';
}

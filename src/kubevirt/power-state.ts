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

/** KubeVirt's `printableStatus` values, as power states (consulted only while the VMI cache lags). */
export const PRINTABLE_STATUS: Readonly<Record<string, PowerState>> = {
  Running: 'On',
  Migrating: 'On',
  Paused: 'Paused',
  Starting: 'PoweringOn',
  Provisioning: 'PoweringOn',
  WaitingForVolumeBinding: 'PoweringOn',
  ErrorUnschedulable: 'PoweringOn',
  ErrImagePull: 'PoweringOn',
  ImagePullBackOff: 'PoweringOn',
  ErrorPvcNotFound: 'PoweringOn',
  DataVolumeError: 'PoweringOn',
  CrashLoopBackOff: 'PoweringOn',
  Stopping: 'PoweringOff',
  Terminating: 'PoweringOff',
  Stopped: 'Off',
};

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
 * | no VMI or a final one, a Stop request not yet consumed       | PoweringOff |
 * | no VMI or a final one, no start expected (Stopped, Halted)  | Off         |
 *
 * When the VM arrived after everything the VMI cache has heard (`vmiCacheCurrent` false, told by
 * event order) and says a VMI exists that the cache does not have yet, the VM's `printableStatus` decides, so a
 * start never flickers to Off between KubeVirt consuming the start request and the VMI arriving.
 */
export function powerStateOf(
  vm: VirtualMachine,
  vmi: VirtualMachineInstance | undefined,
  { vmiCacheCurrent = true }: { vmiCacheCurrent?: boolean } = {},
): PowerState {
  if (!vmi && !vmiCacheCurrent && vm.status?.created) {
    // The VM's status was written after the last VMI event we have: KubeVirt already created a VMI
    // our VMI watch has not delivered yet. Until it arrives, say at most that it is starting (never
    // On from the VM alone: the status may also be one step behind a VMI that just went away).
    const byStatus = PRINTABLE_STATUS[vm.status.printableStatus ?? ''];
    if (byStatus === 'PoweringOff') return 'PoweringOff';
    if (byStatus && byStatus !== 'Off') return 'PoweringOn';
  }
  if (vm.metadata?.deletionTimestamp) return vmi && !isFinal(vmi) ? 'PoweringOff' : 'Off';
  if (vmi && !isFinal(vmi)) {
    if (stopExpected(vm, vmi)) return 'PoweringOff';
    const phase = vmi.status?.phase ?? '';
    if (phase === 'Running') return isPausedVmi(vmi) ? 'Paused' : 'On';
    if (phase === 'Unknown') return 'On';
    return 'PoweringOn';
  }
  if (startExpected(vm, vmi)) return 'PoweringOn';
  // The VMI is gone but KubeVirt has not yet consumed the Stop request that removed it: it refuses
  // a start until it has ("stop/start already underway"), so the machine is not Off yet.
  if ((vm.status?.stateChangeRequests ?? []).some((r) => r.action === 'Stop')) return 'PoweringOff';
  return 'Off';
}

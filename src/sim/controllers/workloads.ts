/** Placeholder workload controllers (deployments, services) until the full version lands. */
import type { Registry } from '../registry.ts';
import type { Delays, Scheduler } from '../timing.ts';
import type { KubeletSim } from './kubelet.ts';

export class WorkloadControllers {
  constructor(
    readonly reg: Registry,
    readonly sched: Scheduler,
    readonly delays: Delays,
    readonly kubelet: KubeletSim,
  ) {}
  start(): void {}
  stop(): void {}
  serviceEndpoints(_ns: string, _name: string): Record<string, string> {
    return {};
  }
}

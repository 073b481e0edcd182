/** Placeholder kubelet (replaced by the real one below in a later commit). */
import type { Registry } from '../registry.ts';
import type { Delays, Scheduler } from '../timing.ts';

export interface KubeletOptions {
  agentCommand: string[];
  kubeconfigFor: (namespace: string, serviceAccount: string) => string;
  delays: Delays;
}

export class KubeletSim {
  constructor(
    readonly reg: Registry,
    readonly sched: Scheduler,
    readonly o: KubeletOptions,
  ) {}
  logs(_ns: string, _name: string, _q: URLSearchParams): string | undefined {
    return undefined;
  }
  hostPort(_ns: string, _pod: string, _key: string): number | undefined {
    return undefined;
  }
  async stop(): Promise<void> {}
}

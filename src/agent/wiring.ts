/**
 * The parts of the agent that come from other modules: the IPMI and Redfish servers and the
 * KubeVirt machine backend. Kept in one file so the rest of the agent is testable with doubles.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { MachineProvider, ProtocolServers } from './host.ts';

export interface Wiring {
  servers: ProtocolServers;
  machines: MachineProvider | null;
  /** What this build cannot serve yet, for logs and --help. */
  missing: string[];
}

export function defaultWiring(_kc: KubeConfig | null, _logger?: Logger): Wiring {
  return {
    servers: {},
    machines: null,
    missing: ['IPMI server (src/ipmi)', 'Redfish server (src/redfish)', 'KubeVirt machine (src/kubevirt)'],
  };
}

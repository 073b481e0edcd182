import { IpmiServer, type IpmiServerOptions } from '../../src/ipmi/server.ts';
import type { BmcAccount } from '../../src/machine/index.ts';
import { MemoryMachine, type MemoryMachineOptions } from './memory-machine.ts';

export const ADMIN: BmcAccount = { username: 'admin', password: 'password', role: 'Administrator' };
export const OPERATOR: BmcAccount = { username: 'oper', password: 'oper-pass-1', role: 'Operator' };
export const READONLY: BmcAccount = { username: 'viewer', password: 'viewer-pass', role: 'ReadOnly' };

export interface TestBmc {
  readonly machine: MemoryMachine;
  readonly server: IpmiServer;
  readonly port: number;
  /** `127.0.0.1:<port>` (FreeIPMI host syntax). */
  readonly hostPort: string;
  stop(): Promise<void>;
}

/** An IPMI server on 127.0.0.1 (ephemeral port) backed by a MemoryMachine. */
export async function startTestBmc(
  options: {
    machine?: MemoryMachineOptions;
    accounts?: BmcAccount[];
    server?: Partial<Omit<IpmiServerOptions, 'machine' | 'accounts'>>;
  } = {},
): Promise<TestBmc> {
  const machine = new MemoryMachine({
    timings: { powerOnMs: 1, forceOffMs: 1, gracefulOffMs: 1 },
    ...options.machine,
  });
  const accounts = options.accounts ?? [ADMIN, OPERATOR, READONLY];
  const server = new IpmiServer({
    machine,
    accounts: () => accounts,
    loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000, accountBurst: 1000, accountRefillMs: 1000 },
    ...options.server,
  });
  const { port } = await server.listen(0);
  return {
    machine,
    server,
    port,
    hostPort: `127.0.0.1:${port}`,
    async stop() {
      await server.close();
      machine.dispose();
    },
  };
}

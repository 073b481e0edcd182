import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerController(program: Command): void {
  program
    .command('controller')
    .description('Reconcile VirtualMachineBMC resources into running, least-privileged BMC agents.')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: in-cluster config, then $KUBECONFIG)')
    .option('--placement <mode>', 'agent placement: shared (one agent per namespace) or per-vm', 'shared')
    .option('--agent-image <image>', 'container image of the agent')
    .option('--auto-create-label <label>', 'create a VirtualMachineBMC for every VM carrying this label')
    .option('--leader-elect', 'use a Lease so only one replica is active')
    .option('--metrics-port <port>', 'port for /metrics, /healthz and /readyz', '8080')
    .action(() => notBuilt('controller', 'issue #7'));
}

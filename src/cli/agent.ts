import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Serve IPMI and Redfish BMCs for one VM or for every VirtualMachineBMC of a namespace.')
    .option('--vm <namespace/name>', 'serve this one VM (standalone BMC)')
    .option('--namespace <ns>', 'serve every VirtualMachineBMC of this namespace')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: in-cluster config, then $KUBECONFIG)')
    .option('--username <name>', 'BMC user name (standalone mode)')
    .option('--password-file <path>', 'file holding the BMC password (standalone mode)')
    .option('--address <ip>', 'address to bind', '127.0.0.1')
    .option('--ipmi-port <port>', 'UDP port for IPMI (0 disables IPMI)', '623')
    .option('--redfish-port <port>', 'TCP port for Redfish (0 disables Redfish)', '443')
    .option('--tls-cert <path>', 'certificate for Redfish HTTPS')
    .option('--tls-key <path>', 'private key for Redfish HTTPS')
    .option('--metrics-port <port>', 'port for /metrics, /healthz and /readyz', '8081')
    .action(() => notBuilt('agent', 'issues #4, #5, #6'));
}

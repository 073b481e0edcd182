import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Start the embedded cluster with sample VMs and their BMCs, and print how to reach them.')
    .option('--ipmi-base-port <port>', "first UDP port for the BMCs' IPMI endpoints", '16230')
    .option('--redfish-base-port <port>', "first TCP port for the BMCs' Redfish endpoints", '18080')
    .option('--api-port <port>', 'TCP port of the embedded Kubernetes API server', '16443')
    .option('--vms <count>', 'how many sample VMs to create', '3')
    .action(() => notBuilt('demo', 'issue #8'));
}

import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description(
      'Run the embedded Kubernetes-API-compatible cluster (with simulated KubeVirt and CDI) on 127.0.0.1.',
    )
    .option('--port <port>', 'TCP port of the API server (0 picks a free one)', '16443')
    .option('--kubeconfig <path>', 'where to write the kubeconfig for kubectl')
    .action(() => notBuilt('sim', 'issue #3'));
}

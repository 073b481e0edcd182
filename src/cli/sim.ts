import type { Command } from 'commander';
import type { startSimCluster } from '../sim/index.ts';

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description(
      'Run the embedded Kubernetes-API-compatible cluster (with simulated KubeVirt and CDI) on 127.0.0.1.',
    )
    .option('--port <port>', 'TCP port of the API server (0 picks a free one)', '16443')
    .option('--kubeconfig <path>', 'where to write the kubeconfig for kubectl')
    .option('--timing <timing>', 'fast (near-zero delays) or realistic (human-visible phases)', 'realistic')
    .action(async (opts: { port: string; kubeconfig?: string; timing: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        process.stderr.write(`kubevirtbmc sim: --port must be 0..65535, got ${JSON.stringify(opts.port)}\n`);
        process.exitCode = 2;
        return;
      }
      if (opts.timing !== 'fast' && opts.timing !== 'realistic') {
        process.stderr.write(
          `kubevirtbmc sim: --timing must be fast or realistic, got ${JSON.stringify(opts.timing)}\n`,
        );
        process.exitCode = 2;
        return;
      }
      let cluster: Awaited<ReturnType<typeof startSimCluster>>;
      try {
        // Loaded here, not at the top: the agent and controller never pay for the embedded cluster.
        const { startSimCluster } = await import('../sim/index.ts');
        cluster = await startSimCluster({
          port,
          timing: opts.timing,
          ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}),
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        process.stderr.write(
          `kubevirtbmc sim: cannot start: ${e.code === 'EADDRINUSE' ? `port ${port} on 127.0.0.1 is in use (try --port 0)` : e.message}\n`,
        );
        process.exitCode = 1;
        return;
      }
      process.stdout.write(
        `${cluster.kubeconfigPath}\n` +
          `# embedded cluster listening on ${cluster.url} (Kubernetes v1.32 API, KubeVirt v1, CDI v1beta1)\n` +
          `# try: export KUBECONFIG=${cluster.kubeconfigPath}; kubectl get vm -A\n` +
          `# fault control: POST ${cluster.url}/sim/faults (see docs/sim.md); Ctrl-C stops\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void cluster.stop().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}

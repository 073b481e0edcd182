import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadKubeSim } from '../demo/kube-sim.ts';

function port(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number, 0..65535 (0 picks a free one)');
  return n;
}

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description(
      'Run the embedded Kubernetes-API-compatible cluster (with simulated KubeVirt and CDI) on 127.0.0.1.',
    )
    .option('--port <port>', 'TCP port of the API server (0 picks a free one)', port, 16443)
    .option('--kubeconfig <path>', 'where to write the kubeconfig for kubectl')
    .addOption(
      new Option('--timing <timing>', 'realistic (human-visible phases) or fast (near-zero delays)')
        .choices(['realistic', 'fast'])
        .default('realistic'),
    )
    .addOption(
      new Option(
        '--control-plane <kind>',
        'embedded (needs only Node) or real (kube-apiserver, etcd, controller-manager and scheduler built by `npm run control-plane`, with the fake node and KubeVirt)',
      )
        .choices(['embedded', 'real'])
        .default('embedded'),
    )
    .action(
      async (opts: {
        port: number;
        kubeconfig?: string;
        timing: 'fast' | 'realistic';
        controlPlane: 'embedded' | 'real';
      }) => {
        // commander has checked both: --port by port() above, --timing against its choices.
        const port = opts.port;
        let cluster: { url: string; kubeconfigPath: string; stop(): Promise<void> };
        let banner: string;
        const common = {
          port,
          timing: opts.timing,
          ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}),
        } as const;
        try {
          // Loaded here, not at the top: the agent and controller never pay for either cluster.
          const { startRealCluster, startSimCluster, controlPlaneBinaries, BUILD_HINT } = await loadKubeSim();
          if (opts.controlPlane === 'real') {
            if (!controlPlaneBinaries()) {
              process.stderr.write(`kubevirtbmc sim --control-plane real: ${BUILD_HINT}\n`);
              process.exitCode = 1;
              return;
            }
            const real = await startRealCluster(common);
            cluster = real;
            banner =
              `# real control plane (kube-apiserver ${real.controlPlane.version}, etcd, controller-manager, scheduler) started in ` +
              `${(real.controlPlane.startupMs / 1000).toFixed(1)} s, with the fake node, KubeVirt and CDI\n` +
              `# listening on ${real.url} (the fault proxy in front of kube-apiserver ${real.controlPlane.url})\n`;
          } else {
            const sim = await startSimCluster(common);
            cluster = sim;
            banner =
              `# embedded cluster listening on ${sim.url} (Kubernetes v1.32 API, KubeVirt v1, CDI v1beta1)\n` +
              `# fault control: POST ${sim.url}/sim/faults (see docs/sim.md)\n`;
          }
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          process.stderr.write(
            `kubevirtbmc sim: cannot start: ${e.code === 'EADDRINUSE' ? `port ${port} on 127.0.0.1 is in use (try --port 0)` : e.message}\n`,
          );
          process.exitCode = 1;
          return;
        }
        process.stdout.write(
          `${cluster.kubeconfigPath}\n${banner}` +
            `# try: export KUBECONFIG=${cluster.kubeconfigPath}; kubectl get vm -A\n# Ctrl-C stops\n`,
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
      },
    );
}

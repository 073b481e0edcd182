import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_API_PORT } from '../demo/defaults.ts';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/** A second SIGINT or SIGTERM within this long of the first is the same stop request. */
const REPEAT_WINDOW_MS = 1000;

/**
 * How the user started the demo, as the command to type again with other flags: `npm start --`
 * when npm runs this package's start script, else `kubevirtbmc demo`.
 */
export function launchCommand(env: NodeJS.ProcessEnv): string {
  return env.npm_lifecycle_event === 'start' && env.npm_package_name === 'kubevirtbmc'
    ? 'npm start --'
    : 'kubevirtbmc demo';
}

interface DemoFlags {
  apiPort: number;
  kubeconfig?: string;
  timing: 'fast' | 'realistic';
  readyTimeout: number;
  controlPlane: 'embedded' | 'real';
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Start the embedded cluster with sample VMs and their BMCs, and print how to reach them.')
    .option(
      '--api-port <port>',
      'TCP port of the embedded Kubernetes API server on 127.0.0.1 (0 picks a free one)',
      port,
      DEFAULT_API_PORT,
    )
    .option('--kubeconfig <path>', 'where to write the admin kubeconfig (default: a file in a new temp dir)')
    .addOption(
      new Option('--timing <timing>', 'realistic (VMs take seconds to start, as on a cluster) or fast')
        .choices(['realistic', 'fast'])
        .default('realistic'),
    )
    .option('--ready-timeout <seconds>', 'give up when the BMCs are not all Ready by then', seconds, 180)
    .addOption(
      new Option(
        '--control-plane <kind>',
        'embedded (needs only Node) or real (kube-apiserver, etcd, controller-manager and scheduler built by `npm run control-plane`)',
      )
        .choices(['embedded', 'real'])
        .default('embedded'),
    )
    .addHelpText(
      'after',
      `
Runs, in this process: the embedded Kubernetes-API-compatible cluster (simulated KubeVirt and CDI),
the project's deploy/ (the CRD, RBAC and the controller Deployment, whose pods run as child
processes), three sample VMs (run strategies Always, RerunOnFailure and Halted; the Halted one has
an empty CD-ROM for virtual media), a Secret and a VirtualMachineBMC for each. When every BMC is
Ready it prints each BMC's IPMI and Redfish endpoint on 127.0.0.1 with its username and password.
All ports are above 1024; the BMC ports are picked free each run. Ctrl-C stops everything and
exits with status 0 once the BMCs are Ready (130 when pressed while it is still starting).
See docs/getting-started.md.`,
    )
    .action(async (flags: DemoFlags) => {
      const ac = new AbortController();
      let firstSignalAt = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        if (ac.signal.aborted) {
          // Under `npm start` one Ctrl-C arrives twice: from the terminal, and forwarded by npm
          // a moment later. Only a press well after the first is the user's second Ctrl-C.
          if (Date.now() - firstSignalAt > REPEAT_WINDOW_MS)
            process.stderr.write(`kubevirtbmc demo: ${sig} again; still stopping, please wait\n`);
          return;
        }
        firstSignalAt = Date.now();
        ac.abort(sig);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const out = (l: string) => process.stdout.write(`${l}\n`);
      const err = (l: string) => process.stderr.write(`${l}\n`);
      out(
        `kubevirtbmc demo: ${flags.controlPlane === 'real' ? 'the real control plane' : 'an embedded cluster'} with sample KubeVirt VMs, each with an IPMI and a Redfish BMC`,
      );
      const { Demo, DemoStartError } = await import('../demo/run.ts');
      const demo = new Demo({
        apiPort: flags.apiPort,
        command: launchCommand(process.env),
        ...(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {}),
        timing: flags.timing,
        controlPlane: flags.controlPlane,
        readyTimeoutMs: flags.readyTimeout * 1000,
        signal: ac.signal,
        out,
        err,
      });
      let code = 0;
      try {
        await demo.start();
        if (!ac.signal.aborted) {
          demo.printReady();
          await new Promise<void>((resolve) => {
            if (ac.signal.aborted) resolve();
            else ac.signal.addEventListener('abort', () => resolve(), { once: true });
          });
        } else code = 130;
      } catch (e) {
        err(`kubevirtbmc demo: ${e instanceof DemoStartError ? e.message : String((e as Error).stack ?? e)}`);
        code = 1;
      }
      out(`kubevirtbmc demo: stopping (${ac.signal.reason ?? 'error'}): BMC agents, controller, cluster`);
      await demo.stop();
      out('kubevirtbmc demo: stopped; every process ended and every port is free');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.exitCode = code;
    });
}

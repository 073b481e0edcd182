import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { PLACEMENTS, type Placement } from '../controller/types.ts';
import { KubeConfigAccess } from '../kube/config.ts';
import { makeLogger, untilSignal } from './logger.ts';

function version(): string {
  return (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function mapped(p: number): number {
  try {
    const m = JSON.parse(process.env.KUBEVIRTBMC_SIM_PORT_MAP ?? '{}') as Record<string, number>;
    return m[`${p}/TCP`] ?? p;
  } catch {
    return p;
  }
}

interface ControllerFlags {
  kubeconfig?: string;
  placement: Placement;
  agentImage?: string;
  agentImagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  autoCreateLabel?: string;
  leaderElect?: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId: string;
  metricsPort: number;
  metricsAddress?: string;
  logLevel: string;
}

export function registerController(program: Command): void {
  program
    .command('controller')
    .description('Reconcile VirtualMachineBMC resources into running, least-privileged BMC agents.')
    .option(
      '--kubeconfig <path>',
      'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, then in-cluster)',
    )
    .addOption(
      new Option(
        '--placement <mode>',
        'agent placement: shared (one agent per namespace) or per-vm (one agent per BMC)',
      )
        .choices(PLACEMENTS as string[])
        .default('shared'),
    )
    .option(
      '--agent-image <image>',
      "container image of the agent (default: $KUBEVIRTBMC_AGENT_IMAGE or this version's image)",
    )
    .addOption(
      new Option('--agent-image-pull-policy <policy>', 'imagePullPolicy of agent containers')
        .choices(['Always', 'IfNotPresent', 'Never'])
        .default('IfNotPresent'),
    )
    .option(
      '--auto-create-label <label>',
      'create a VirtualMachineBMC (and a Secret) for every VM with this label (key or key=value); off by default',
    )
    .option('--leader-elect', 'use a Lease so only one replica is active (for more than one replica)')
    .option(
      '--leader-election-namespace <ns>',
      'namespace of the Lease (default: $POD_NAMESPACE or kubevirtbmc-system)',
    )
    .option('--leader-election-id <name>', 'name of the Lease', 'kubevirtbmc-controller')
    .option(
      '--metrics-port <port>',
      'port for /metrics, /healthz and /readyz (0 picks a free one)',
      port,
      8080,
    )
    .option('--metrics-address <ip>', 'address for the metrics server (default: $POD_IP, else 127.0.0.1)')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .addHelpText(
      'after',
      `
Reads VirtualMachineBMCs (bmc.kubevirt.io/v1beta1) in every namespace and, for each, keeps an agent
Deployment, a Service, a ServiceAccount and a Role naming only its VM and Secret. Status conditions:
Ready, VirtualMachineAvailable, SecretAvailable, AgentAvailable. See docs/controller.md.

Examples:
  kubevirtbmc controller --kubeconfig ~/.kube/config --placement per-vm
  kubevirtbmc controller --leader-elect --auto-create-label bmc.kubevirt.io/enabled=true`,
    )
    .action(async (flags: ControllerFlags) => {
      const log = makeLogger('kubevirtbmc-controller', flags.logLevel);
      let kc: KubeConfigAccess;
      try {
        kc = KubeConfigAccess.load(flags.kubeconfig);
      } catch (err) {
        process.stderr.write(
          `kubevirtbmc controller: cannot load the kubeconfig: ${(err as Error).message}\n`,
        );
        process.exitCode = 2;
        return;
      }
      const image =
        flags.agentImage ??
        process.env.KUBEVIRTBMC_AGENT_IMAGE ??
        `ghcr.io/kubevirtbmc/kubevirtbmc:${version()}`;
      const { BmcController } = await import('../controller/controller.ts');
      const controller = new BmcController({
        kubeConfig: kc,
        placement: flags.placement,
        agent: {
          image,
          imagePullPolicy: flags.agentImagePullPolicy,
          extraArgs: flags.logLevel !== 'info' ? [`--log-level=${flags.logLevel}`] : [],
        },
        autoCreateLabel: flags.autoCreateLabel ?? null,
        leaderElection: flags.leaderElect
          ? {
              namespace: flags.leaderElectionNamespace ?? process.env.POD_NAMESPACE ?? 'kubevirtbmc-system',
              name: flags.leaderElectionId,
              identity: process.env.POD_NAME,
            }
          : null,
        metricsPort: mapped(flags.metricsPort),
        metricsHost: flags.metricsAddress ?? (process.env.POD_IP || '127.0.0.1'),
        logger: log,
      });
      try {
        await controller.start();
      } catch (err) {
        log.error({ err: String((err as Error).message ?? err) }, 'controller failed to start');
        process.exitCode = 1;
        await controller.stop().catch(() => {});
        return;
      }
      log.info(
        { placement: flags.placement, agentImage: image, metrics: controller.metricsAddress },
        'controller running',
      );
      const sig = await untilSignal();
      log.info({ signal: sig }, 'shutting down');
      await controller.stop();
    });
}

import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_AGENT_RESOURCES } from '../controller/builders.ts';
import { parseWatchNamespaces } from '../controller/namespaces.ts';
import { PLACEMENTS, type Placement, type ServiceType } from '../controller/types.ts';
import { KubeConfigAccess } from '../kube/config.ts';
import { parseQuantity } from '../kube/quantity.ts';
import { chooseAgentImage, readOwnPod } from './agent-image.ts';
import { makeLogger, untilSignal } from './logger.ts';

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

// Label keys and values (Kubernetes' syntax): `[prefix/]name`, name 1-63 characters.
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `key=value`, collected from a repeated flag into a map; a key given twice is an error. */
function keyValue(what: string, checkValue: boolean) {
  return (v: string, prev: Record<string, string> | undefined): Record<string, string> => {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`must be key=value, got "${v}"`);
    const key = v.slice(0, eq);
    const value = v.slice(eq + 1);
    if (key.length > 316 || !LABEL_KEY.test(key))
      throw new InvalidArgumentError(`"${key}" is not a valid ${what} key`);
    if (checkValue && !LABEL_VALUE.test(value))
      throw new InvalidArgumentError(
        `"${value}" is not a valid ${what} value (at most 63 characters, alphanumeric, - _ .)`,
      );
    const out = { ...prev };
    if (key in out) throw new InvalidArgumentError(`${what} key "${key}" given twice`);
    out[key] = value;
    return out;
  };
}

/** `cpu=10m,memory=64Mi`: requests or limits of agent containers. */
function quantities(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === '' || v === 'none') return out;
  for (const part of v.split(',')) {
    const [k, q, ...rest] = part.split('=');
    const n = parseQuantity(q);
    if (rest.length > 0 || (k !== 'cpu' && k !== 'memory') || !q || n === null || n < 0)
      throw new InvalidArgumentError(
        `must be cpu=<quantity>,memory=<quantity> (either or both, e.g. cpu=10m,memory=64Mi), or none; got "${part}"`,
      );
    if (k in out) throw new InvalidArgumentError(`"${k}" given twice`);
    out[k] = q;
  }
  return out;
}

function dnsSubdomain(v: string): string {
  if (v.length > 253 || !DNS_SUBDOMAIN.test(v))
    throw new InvalidArgumentError('must be a DNS-1123 subdomain (lower case, digits, - and .)');
  return v;
}

/** `a,b`: the namespaces to watch; '' → null (every namespace). */
function watchNamespaces(v: string): string[] | null {
  try {
    return parseWatchNamespaces(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function formatQuantities(q: Record<string, string>): string {
  return Object.entries(q)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Why requests and limits cannot go together (a request above its limit), or null. */
export function resourcesProblem(
  requests: Record<string, string>,
  limits: Record<string, string>,
): string | null {
  for (const [k, limit] of Object.entries(limits)) {
    const request = requests[k];
    if (request !== undefined && (parseQuantity(request) ?? 0) > (parseQuantity(limit) ?? 0))
      return `--agent-requests ${k}=${request} is above --agent-limits ${k}=${limit}`;
  }
  return null;
}

interface ControllerFlags {
  kubeconfig?: string;
  placement: Placement;
  agentImage?: string;
  agentImagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  agentRequests: Record<string, string>;
  agentLimits: Record<string, string>;
  agentPriorityClass?: string;
  agentNodeSelector?: Record<string, string>;
  serviceType: ServiceType;
  serviceAnnotation?: Record<string, string>;
  autoCreateLabel?: string;
  watchNamespaces?: string[] | null;
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
      "container image of the agent (default: $KUBEVIRTBMC_AGENT_IMAGE, else the controller Pod's own image, else this version's published image)",
    )
    .addOption(
      new Option('--agent-image-pull-policy <policy>', 'imagePullPolicy of agent containers')
        .choices(['Always', 'IfNotPresent', 'Never'])
        .default('IfNotPresent'),
    )
    .addOption(
      new Option('--agent-requests <cpu=q,memory=q>', 'resource requests of agent containers, or none')
        .argParser(quantities)
        .default(DEFAULT_AGENT_RESOURCES.requests, formatQuantities(DEFAULT_AGENT_RESOURCES.requests)),
    )
    .addOption(
      new Option('--agent-limits <cpu=q,memory=q>', 'resource limits of agent containers, or none')
        .argParser(quantities)
        .default(DEFAULT_AGENT_RESOURCES.limits, formatQuantities(DEFAULT_AGENT_RESOURCES.limits)),
    )
    .option('--agent-priority-class <name>', 'priorityClassName of agent pods (default: none)', dnsSubdomain)
    .option(
      '--agent-node-selector <key=value>',
      'nodeSelector entry of agent pods; repeat for more (default: none)',
      keyValue('node selector', true),
    )
    .addOption(
      new Option(
        '--service-type <type>',
        'type of BMC Services whose VirtualMachineBMC does not set spec.service.type',
      )
        .choices(['ClusterIP', 'NodePort', 'LoadBalancer'])
        .default('ClusterIP'),
    )
    .option(
      '--service-annotation <key=value>',
      "annotation of every BMC Service (e.g. for MetalLB); repeat for more; a BMC's own spec.service.annotations win",
      keyValue('annotation', false),
    )
    .option(
      '--auto-create-label <label>',
      'create a VirtualMachineBMC (and a Secret) for every VM with this label (key or key=value); off by default',
    )
    .addOption(
      new Option(
        '--watch-namespaces <a,b>',
        'reconcile VirtualMachineBMCs only in these namespaces, comma-separated (default: every namespace)',
      )
        .env('KUBEVIRTBMC_WATCH_NAMESPACES')
        .argParser(watchNamespaces),
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
Reads VirtualMachineBMCs (bmc.kubevirt.io/v1beta1) in every namespace, or only in those of
--watch-namespaces, and, for each, keeps an agent Deployment, a Service, a ServiceAccount and a
Role naming only its VM and Secret. Status conditions: Ready, VirtualMachineAvailable,
SecretAvailable, AgentAvailable. See docs/controller.md.

Examples:
  kubevirtbmc controller --kubeconfig ~/.kube/config --placement per-vm
  kubevirtbmc controller --leader-elect --auto-create-label bmc.kubevirt.io/enabled=true`,
    )
    .action(async (flags: ControllerFlags) => {
      const resources = resourcesProblem(flags.agentRequests, flags.agentLimits);
      if (resources) {
        process.stderr.write(`kubevirtbmc controller: ${resources}\n`);
        process.exitCode = 2;
        return;
      }
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
      const choice = await chooseAgentImage({
        flag: flags.agentImage,
        env: process.env,
        readPod: () => readOwnPod(kc, process.env),
      });
      if (choice.podError)
        log.warn(
          { pod: `${process.env.POD_NAMESPACE}/${process.env.POD_NAME}`, err: choice.podError },
          'cannot read the controller Pod for its image (RBAC: get pods in its namespace); agents get the published image',
        );
      const image = choice.image;
      const { BmcController } = await import('../controller/controller.ts');
      const controller = new BmcController({
        kubeConfig: kc,
        placement: flags.placement,
        agent: {
          image,
          imagePullPolicy: flags.agentImagePullPolicy,
          extraArgs: flags.logLevel !== 'info' ? [`--log-level=${flags.logLevel}`] : [],
          resources: { requests: flags.agentRequests, limits: flags.agentLimits },
          ...(flags.agentPriorityClass ? { priorityClassName: flags.agentPriorityClass } : {}),
          ...(flags.agentNodeSelector ? { nodeSelector: flags.agentNodeSelector } : {}),
          service: { type: flags.serviceType, annotations: flags.serviceAnnotation ?? {} },
        },
        autoCreateLabel: flags.autoCreateLabel ?? null,
        watchNamespaces: flags.watchNamespaces ?? null,
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
        {
          placement: flags.placement,
          namespaces: flags.watchNamespaces ?? 'all',
          agentImage: image,
          agentImageFrom: choice.source,
          metrics: controller.metricsAddress,
        },
        'controller running',
      );
      const sig = await untilSignal();
      log.info({ signal: sig }, 'shutting down');
      await controller.stop();
    });
}

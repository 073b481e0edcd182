import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { boundHeapGrowth } from '../agent/heap.ts';
import { AgentHost, type BmcDefinition } from '../agent/host.ts';
import { defaultAddress } from '../agent/ports.ts';
import { mediaOf, NamespaceSource } from '../agent/sources.ts';
import { BMC_RESOURCE } from '../agent/subscription-store.ts';
import { defaultWiring, REDFISH_LOGIN_DEFAULTS } from '../agent/wiring.ts';
import { KubeClient } from '../kube/client.ts';
import { KubeConfigAccess } from '../kube/config.ts';
import { apiPath } from '../kube/paths.ts';
import { accountProblem, validateAccount } from '../machine/accounts.ts';
import { DestinationPolicyError, policyRules } from '../redfish/events/index.ts';
import { resolveTls, TlsConfigError, type TlsSettings } from '../redfish/tls.ts';
import { makeLogger, untilSignal } from './logger.ts';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function count(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number');
  return n;
}

/** Seconds, fractions allowed (milliseconds are kept); `zero` allows 0. */
function seconds(zero: boolean): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || n > 365 * 86_400 || (zero ? n < 0 : n < 0.001))
      throw new InvalidArgumentError(`must be a number of seconds (${zero ? '0' : '0.001'} to 31536000)`);
    return n;
  };
}

/** Repeatable, comma-separated address rules; checked as a whole in the action. */
function rules(v: string, previous: string[]): string[] {
  const more = v.split(',').map((r) => r.trim());
  return [...previous, ...more.filter((r) => r !== '')];
}

/** TLS and event-destination flags checked before anything starts; the message says what to change. */
function redfishPolicyProblem(flags: AgentFlags, warn: (m: string) => void): string | null {
  try {
    const tls = resolveTls(tlsSettingsOf(flags), {
      profile: '--tls-profile',
      minVersion: '--tls-min-version',
      maxVersion: 'the maximum version',
      ciphers: '--tls-ciphers',
    });
    for (const w of tls.warnings) warn(`--tls-ciphers: ${w}`);
  } catch (err) {
    if (err instanceof TlsConfigError) return err.message;
    throw err;
  }
  for (const [flag, list] of [
    ['--event-destination-allow', { allow: flags.eventDestinationAllow }],
    ['--event-destination-deny', { deny: flags.eventDestinationDeny }],
  ] as const) {
    try {
      policyRules({ ...list, kubernetesApi: [] });
    } catch (err) {
      if (err instanceof DestinationPolicyError) return `${flag}: ${err.message}`;
      throw err;
    }
  }
  return null;
}

function tlsSettingsOf(flags: AgentFlags): TlsSettings {
  return {
    profile: flags.tlsProfile as TlsSettings['profile'],
    ...(flags.tlsMinVersion ? { minVersion: flags.tlsMinVersion as TlsSettings['minVersion'] } : {}),
    ...(flags.tlsCiphers !== undefined ? { ciphers: flags.tlsCiphers } : {}),
  };
}

function nsName(v: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(v);
  if (!m) throw new InvalidArgumentError('must be NAMESPACE/NAME, e.g. default/vm1');
  return { namespace: m[1]!, name: m[3]! };
}

interface AgentFlags {
  vm?: { namespace: string; name: string };
  namespace?: string;
  bmc?: string;
  authSecret?: string;
  kubeconfig?: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  address?: string;
  ipmiPort: number;
  ipmiClientPort?: number;
  redfishPort: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsSecret?: string;
  tlsProfile: string;
  tlsMinVersion?: string;
  tlsCiphers?: string;
  eventDestinationAllow: string[];
  eventDestinationDeny: string[];
  metricsPort: number;
  logLevel: string;
  redfishSourceFailures: number;
  redfishSourceRefill: number;
  redfishAccountFailures: number;
  redfishAccountRefill: number;
  redfishTrustedSource: number;
}

const RF = REDFISH_LOGIN_DEFAULTS;

/**
 * Credentials given on the command line that a protocol could never accept: refused at start
 * rather than served and refused at every login. IPMI carries at most 16 bytes of user name and 20
 * of password; with IPMI off (--ipmi-port 0) Redfish takes longer ones.
 */
function staticCredentialsProblem(username: string, password: string, ipmi: boolean): string | null {
  const problem = ipmi ? validateAccount({ username, password }) : accountProblem({ username, password });
  if (!problem) return null;
  const named = problem.startsWith('username') ? `--username: ${problem}` : problem;
  const limit = /IPMI allows/.test(problem);
  return limit ? `${named}; shorten it, or give --ipmi-port 0 to serve Redfish only` : named;
}

function passwordFlag(flags: AgentFlags): string {
  return flags.passwordFile ? '--password-file' : '--password';
}

function fail(message: string): void {
  process.stderr.write(`kubevirtbmc agent: ${message}\n`);
  process.exitCode = 2;
}

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Serve IPMI and Redfish BMCs for one VM or for every VirtualMachineBMC of a namespace.')
    .option(
      '--vm <namespace/name>',
      'serve this one VM (standalone BMC, or a per-vm agent started by the controller)',
      nsName,
    )
    .option(
      '--namespace <ns>',
      'serve every VirtualMachineBMC of this namespace placed on the shared agent (ports from their status)',
    )
    .option('--bmc <name>', 'with --vm: the VirtualMachineBMC this agent serves (Events are recorded on it)')
    .option(
      '--auth-secret <name>',
      'with --vm: Secret (same namespace) with keys username and password; watched, changes apply without restart',
    )
    .option(
      '--kubeconfig <path>',
      'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, then in-cluster)',
    )
    .option('--username <name>', 'standalone: BMC user name (1-16 printable ASCII bytes)')
    .option(
      '--password <password>',
      'standalone: BMC password (1-20 bytes); visible in the process list, prefer --password-file',
    )
    .option('--password-file <path>', 'standalone: file holding the BMC password (trailing newline ignored)')
    .option('--address <ip>', 'address to bind (default: $POD_IP, else 127.0.0.1)')
    .option('--ipmi-port <port>', 'UDP port for IPMI (0 disables IPMI; 623 needs privileges)', port, 6230)
    .option(
      '--ipmi-client-port <port>',
      'UDP port clients reach IPMI on when a Service or NAT maps it (named to Serial over LAN clients; default: the bound port)',
      port,
    )
    .option('--redfish-port <port>', 'TCP port for Redfish (0 disables Redfish)', port, 8000)
    .option('--tls-cert <path>', 'PEM certificate: serve Redfish over HTTPS (with --tls-key)')
    .option('--tls-key <path>', 'PEM private key for --tls-cert')
    .option(
      '--tls-secret <name>',
      'with --vm: kubernetes.io/tls Secret for Redfish HTTPS; watched, a new certificate is served without restart',
    )
    .option(
      '--tls-profile <name>',
      'Redfish HTTPS: intermediate (TLS 1.2 with ECDHE and AES-GCM/ChaCha20, and TLS 1.3) or modern (TLS 1.3 only)',
      'intermediate',
    )
    .option('--tls-min-version <version>', "lowest TLS version, TLSv1.2 or TLSv1.3 (default: the profile's)")
    .option(
      '--tls-ciphers <list>',
      "colon-separated OpenSSL cipher names for TLS 1.2 (TLS_* names replace the TLS 1.3 suites); default: the profile's",
    )
    .option(
      '--event-destination-allow <rule>',
      'deliver Redfish events to ADDRESS[/PREFIX][:PORT] although the defaults refuse it (e.g. 127.0.0.1:9000); repeatable or comma-separated',
      rules,
      [],
    )
    .option(
      '--event-destination-deny <rule>',
      'never deliver Redfish events to ADDRESS[/PREFIX][:PORT] (e.g. 10.96.0.0/12); repeatable or comma-separated',
      rules,
      [],
    )
    .option(
      '--metrics-port <port>',
      'TCP port for /healthz, /readyz, /metrics and /status (0 disables)',
      port,
      8081,
    )
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .option(
      '--redfish-source-failures <n>',
      'failed Redfish logins a client address may make before it is slowed down (0: no per-address budget)',
      count,
      RF.sourceBurst,
    )
    .option(
      '--redfish-source-refill <seconds>',
      'then one more failed login per address every this many seconds',
      seconds(false),
      RF.sourceRefillMs / 1000,
    )
    .option(
      '--redfish-account-failures <n>',
      'failed Redfish logins per user name, all addresses together, before it is slowed down (0: no per-name budget)',
      count,
      RF.accountBurst,
    )
    .option(
      '--redfish-account-refill <seconds>',
      'then one more failed login per user name every this many seconds',
      seconds(false),
      RF.accountRefillMs / 1000,
    )
    .option(
      '--redfish-trusted-source <seconds>',
      "an address that logged in to an account is exempt from that name's budget for this long (0: never)",
      seconds(true),
      RF.trustedSourceMs / 1000,
    )
    .addHelpText(
      'after',
      `
Modes:
  standalone   kubevirtbmc agent --vm default/vm1 --kubeconfig ~/.kube/config \\
                 --username admin --password-file ./bmc-password --ipmi-port 6230 --redfish-port 8000
               A BMC for a VM of any cluster, no controller or CRD needed.
  per-vm       kubevirtbmc agent --vm NS/VM --bmc BMC --auth-secret SECRET   (what the controller runs)
  shared       kubevirtbmc agent --namespace NS   (what the controller runs: every VirtualMachineBMC of NS
               placed on the shared agent, each on the ports recorded in its status)
  namespace    kubevirtbmc agent --namespace NS --kubeconfig ~/.kube/config --ipmi-port 6230 --redfish-port 8000
               every VirtualMachineBMC of NS without a controller: the i-th (by name) on 6230+i and
               8000+i, credentials from each one's Secret; GET /status lists who is where

Ports below 1024 need privileges; in a pod the controller uses 10623/UDP, 10080/TCP (10443 with TLS)
and 8081/TCP. Audit: every power, boot and media action is logged and recorded as a Kubernetes Event
(who, from where, over which protocol). See docs/agent.md.`,
    )
    .action(async (flags: AgentFlags, cmd: Command) => {
      const log = makeLogger('kubevirtbmc-agent', flags.logLevel);
      // Keep the heap near its live size: about a third less resident memory at 1,000 BMCs.
      boundHeapGrowth();
      if (!flags.vm && !flags.namespace) return fail('give --vm NAMESPACE/NAME or --namespace NAMESPACE');
      if (flags.vm && flags.namespace) return fail('--vm and --namespace are exclusive');
      if (flags.namespace && (flags.username || flags.passwordFile || flags.password || flags.authSecret))
        return fail(
          '--namespace takes credentials from each VirtualMachineBMC; drop --username/--password/--auth-secret',
        );
      if (!!flags.tlsCert !== !!flags.tlsKey) return fail('--tls-cert and --tls-key go together');
      const policyProblem = redfishPolicyProblem(flags, (m) => log.warn(m));
      if (policyProblem) return fail(policyProblem);
      let password = flags.password;
      if (flags.passwordFile) {
        try {
          password = readFileSync(flags.passwordFile, 'utf8').replace(/\r?\n$/, '');
        } catch (err) {
          return fail(`cannot read --password-file: ${(err as Error).message}`);
        }
      }
      if (flags.vm && !flags.authSecret && (flags.username === undefined || password === undefined))
        return fail('give --username with --password-file (or --password), or --auth-secret');
      if (flags.vm && !flags.authSecret) {
        const problem = staticCredentialsProblem(flags.username!, password!, flags.ipmiPort > 0);
        if (problem) return fail(problem.replace(/^password/, `${passwordFlag(flags)}: password`));
      }

      let kc: KubeConfigAccess;
      try {
        kc = KubeConfigAccess.load(flags.kubeconfig);
      } catch (err) {
        return fail(`cannot load the kubeconfig: ${(err as Error).message}`);
      }
      // Every watch and request of the agent goes through this one client (one connection to the
      // API server over HTTP/2). A namespace's BMCs share one watch per KubeVirt kind.
      // A BMC command waits on its API calls while the user's client waits on it (ipmitool gives
      // up after a few seconds), so an API server that keeps answering 429 is retried twice,
      // not ten times: the command then fails with "node busy" and the client can try again.
      const client = new KubeClient(kc, 'kubevirtbmc-agent', { maxRetries: 2, maxRetryAfterMs: 2000 });
      const wiring = defaultWiring(kc, {
        client,
        logger: log,
        scope: flags.vm ? 'vm' : 'namespace',
        tlsSettings: tlsSettingsOf(flags),
        eventDestinations: { allow: flags.eventDestinationAllow, deny: flags.eventDestinationDeny },
        redfishLoginLimits: {
          sourceBurst: flags.redfishSourceFailures,
          sourceRefillMs: Math.round(flags.redfishSourceRefill * 1000),
          accountBurst: flags.redfishAccountFailures,
          accountRefillMs: Math.round(flags.redfishAccountRefill * 1000),
          trustedSourceMs: Math.round(flags.redfishTrustedSource * 1000),
        },
      });
      const host = new AgentHost({
        client,
        servers: wiring.servers,
        machines: wiring.machines,
        address: flags.address ?? defaultAddress(),
        logger: log,
      });
      let source: NamespaceSource | null = null;
      try {
        if (flags.metricsPort > 0) {
          const a = await host.listenHealth(flags.metricsPort);
          log.info({ health: `${a.address}:${a.port}` }, 'health and metrics listening');
        }
        if (flags.vm) {
          const { namespace, name } = flags.vm;
          let target: BmcDefinition['eventTarget'] = {
            apiVersion: 'kubevirt.io/v1',
            kind: 'VirtualMachine',
            name,
          };
          let media: ReturnType<typeof mediaOf> = {};
          if (flags.bmc) {
            target = { apiVersion: 'bmc.kubevirt.io/v1beta1', kind: 'VirtualMachineBMC', name: flags.bmc };
            try {
              const b = await client.request<{
                metadata: { uid?: string };
                spec?: { redfish?: { virtualMedia?: unknown } };
                status?: {
                  conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
                };
              }>('GET', apiPath(BMC_RESOURCE, { namespace, name: flags.bmc }));
              target = { ...target, uid: b.metadata.uid };
              media = mediaOf(b);
            } catch (err) {
              log.warn(
                { err: String((err as Error).message) },
                'cannot read the VirtualMachineBMC; Events will lack its uid',
              );
            }
          } else {
            try {
              const v = await client.request<{ metadata: { uid?: string } }>(
                'GET',
                apiPath(
                  { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' },
                  { namespace, name },
                ),
              );
              target = { ...target, uid: v.metadata.uid };
            } catch {
              // the VM may appear later; Events then carry no uid
            }
          }
          const tls: BmcDefinition['tls'] = flags.tlsSecret
            ? { kind: 'secret', name: flags.tlsSecret }
            : flags.tlsCert && flags.tlsKey
              ? {
                  kind: 'pem',
                  cert: readFileSync(flags.tlsCert, 'utf8'),
                  key: readFileSync(flags.tlsKey, 'utf8'),
                }
              : null;
          await host.sync([
            {
              key: `${namespace}/${flags.bmc ?? name}`,
              namespace,
              vm: name,
              eventTarget: target,
              credentials: flags.authSecret
                ? { kind: 'secret', name: flags.authSecret }
                : { kind: 'static', username: flags.username!, password: password! },
              tls,
              ipmiPort: flags.ipmiPort,
              ...(flags.ipmiClientPort ? { ipmiClientPort: flags.ipmiClientPort } : {}),
              redfishPort: flags.redfishPort,
              ...media,
            },
          ]);
        } else {
          // Ports given on the command line: standalone, every BMC of the namespace on base+i.
          // Otherwise: the shared agent of a controller, ports from each BMC's status.
          const explicit =
            cmd.getOptionValueSource('ipmiPort') === 'cli' ||
            cmd.getOptionValueSource('redfishPort') === 'cli';
          source = new NamespaceSource(client, flags.namespace!, (defs) => void host.sync(defs), {
            logger: log,
            ...(explicit ? { basePorts: { ipmi: flags.ipmiPort, redfish: flags.redfishPort } } : {}),
          });
          await source.start();
        }
      } catch (err) {
        log.error({ err: String((err as Error).message ?? err) }, 'agent failed to start');
        process.exitCode = 1;
        await source?.stop().catch(() => {});
        await host.stop().catch(() => {});
        client.close();
        return;
      }
      // Each BMC logs `serving` with its endpoints as it starts (src/agent/host.ts).
      const sig = await untilSignal();
      log.info({ signal: sig }, 'shutting down');
      await source?.stop().catch(() => {});
      await host.stop();
      client.close();
    });
}

import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { boundHeapGrowth } from '../agent/heap.ts';
import { AgentHost, type BmcDefinition } from '../agent/host.ts';
import { defaultAddress } from '../agent/ports.ts';
import { NamespaceSource } from '../agent/sources.ts';
import { BMC_RESOURCE } from '../agent/subscription-store.ts';
import { defaultWiring } from '../agent/wiring.ts';
import { KubeClient } from '../kube/client.ts';
import { KubeConfigAccess } from '../kube/config.ts';
import { apiPath } from '../kube/paths.ts';
import { makeLogger, untilSignal } from './logger.ts';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
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
  metricsPort: number;
  logLevel: string;
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
      '--metrics-port <port>',
      'TCP port for /healthz, /readyz, /metrics and /status (0 disables)',
      port,
      8081,
    )
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
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
      const wiring = defaultWiring(kc, { client, logger: log, scope: flags.vm ? 'vm' : 'namespace' });
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
          if (flags.bmc) {
            target = { apiVersion: 'bmc.kubevirt.io/v1beta1', kind: 'VirtualMachineBMC', name: flags.bmc };
            try {
              const b = await client.request<{ metadata: { uid?: string } }>(
                'GET',
                apiPath(BMC_RESOURCE, { namespace, name: flags.bmc }),
              );
              target = { ...target, uid: b.metadata.uid };
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

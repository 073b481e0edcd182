/**
 * `kubevirtbmc demo`: the embedded cluster, the project's own deploy/ (so the controller runs as
 * its Deployment, exactly as after `kubectl apply -k deploy/`), three sample VMs with their BMCs;
 * progress while they come up, then a table of where each BMC listens and how to log in.
 */
import { fileURLToPath } from 'node:url';
import { KubeClient } from '../kube/client.ts';
import { KubeConfigAccess } from '../kube/config.ts';
import { apiPath, KINDS } from '../kube/paths.ts';
import { type LoadedCluster, loadKubeSim } from './kube-sim.ts';

/** What the demo needs of a cluster, embedded or real. */
type DemoCluster = LoadedCluster;

import { applyAll, displayName } from './apply.ts';
import { DEFAULT_API_PORT } from './defaults.ts';
import { kustomize, type Manifest } from './kustomize.ts';
import {
  bmcName,
  type Credentials,
  DEMO_NAMESPACE,
  randomPassword,
  SAMPLE_VMS,
  sampleManifests,
} from './samples.ts';
import { type BmcRow, renderCommands, renderTable } from './table.ts';

export { DEFAULT_API_PORT };
export const DEPLOY_DIR = fileURLToPath(new URL('../../deploy/', import.meta.url));

export interface DemoOptions {
  apiPort: number;
  /** The command that started the demo, for messages that suggest other flags (default `kubevirtbmc demo`). */
  command?: string;
  kubeconfigPath?: string;
  timing: 'fast' | 'realistic';
  /** The embedded cluster (default) or the real control plane with the fake node and KubeVirt. */
  controlPlane?: 'embedded' | 'real';
  /** How long to wait for every BMC to become Ready. */
  readyTimeoutMs: number;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  out: (line: string) => void;
  err: (line: string) => void;
}

export class DemoStartError extends Error {}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface BmcObj {
  metadata: { name: string };
  spec: { virtualMachineRef: { name: string } };
  status?: { service?: string; endpoints?: { ipmi?: string; redfish?: string }; conditions?: Condition[] };
}
interface VmObj {
  metadata: { name: string };
  spec: { runStrategy?: string };
  status?: { printableStatus?: string };
}

interface Snapshot {
  line: string;
  ready: boolean;
  bmcs: BmcObj[];
  vms: VmObj[];
  detail: string;
}

const SETTLED = new Set(['Running', 'Stopped', 'Paused']);

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function powerOf(printableStatus: string | undefined): string {
  if (printableStatus === 'Running') return 'On';
  if (printableStatus === 'Stopped' || printableStatus === undefined) return 'Off';
  return printableStatus;
}

function isLoopback(endpoint: string | undefined): boolean {
  return !!endpoint && /^(http:\/\/)?127\.0\.0\.1:\d+$/.test(endpoint);
}

async function redfishAnswers(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/redfish/v1/`, { signal: AbortSignal.timeout(3000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

export class Demo {
  readonly #o: DemoOptions;
  readonly #started = Date.now();
  #cluster: DemoCluster | null = null;
  #client: KubeClient | null = null;
  readonly credentials = new Map<string, Credentials>();
  rows: BmcRow[] = [];

  constructor(options: DemoOptions) {
    this.#o = options;
  }

  get cluster(): DemoCluster | null {
    return this.#cluster;
  }

  #say(text: string): void {
    const t = ((Date.now() - this.#started) / 1000).toFixed(1).padStart(5);
    this.#o.out(`[${t}s] ${text}`);
  }

  /** Starts everything and resolves once every BMC is Ready (or throws DemoStartError). */
  async start(): Promise<void> {
    const o = this.#o;
    const real = o.controlPlane === 'real';
    this.#say(
      real
        ? `starting the real Kubernetes control plane (kube-apiserver, etcd, controller-manager, scheduler) with the fake node and KubeVirt, API on 127.0.0.1:${o.apiPort} (${o.timing} timing)`
        : `starting the embedded Kubernetes cluster on 127.0.0.1:${o.apiPort} (${o.timing} timing)`,
    );
    try {
      const common = {
        port: o.apiPort,
        timing: o.timing,
        ...(o.kubeconfigPath ? { kubeconfigPath: o.kubeconfigPath } : {}),
      };
      // Loaded here, not at the top: the package is absent from the image, and only the demo needs it.
      const { startRealCluster, startSimCluster, controlPlaneBinaries, BUILD_HINT } = await loadKubeSim();
      if (real) {
        if (!controlPlaneBinaries()) throw new DemoStartError(`--control-plane real: ${BUILD_HINT}`);
        const started = Date.now();
        this.#cluster = await startRealCluster(common);
        this.#say(`control plane up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } else {
        this.#cluster = await startSimCluster(common);
      }
    } catch (err) {
      if (err instanceof DemoStartError) throw err;
      const e = err as NodeJS.ErrnoException;
      const command = o.command ?? 'kubevirtbmc demo';
      if (e.code === 'EADDRINUSE')
        throw new DemoStartError(
          `port ${o.apiPort} on 127.0.0.1 is already in use (another demo or \`kubevirtbmc sim\`?). ` +
            `Stop it, or pick another port: ${command} --api-port <port> (0 picks a free one).`,
        );
      if (e.code === 'EACCES')
        throw new DemoStartError(
          `not allowed to listen on port ${o.apiPort} (ports below 1024 need root): ` +
            `pick a port of 1024 or more: ${command} --api-port <port> (0 picks a free one).`,
        );
      throw new DemoStartError(`cannot start the embedded cluster: ${e.message}`);
    }
    const cluster = this.#cluster;
    this.#client = new KubeClient(KubeConfigAccess.fromFiles([cluster.kubeconfigPath]), 'kubevirtbmc-demo');
    const port = new URL(cluster.url).port;
    this.#say(`cluster up: https://127.0.0.1:${port} (kubeconfig ${cluster.kubeconfigPath})`);

    if (o.signal.aborted) return;
    let install: Manifest[];
    try {
      install = kustomize(DEPLOY_DIR);
    } catch (err) {
      throw new DemoStartError(`cannot read deploy/: ${(err as Error).message}`);
    }
    this.#say(`installing deploy/ as \`kubectl apply -k deploy/\` would (${install.length} objects):`);
    await applyAll(this.#client, install);
    for (const m of install) o.out(`          ${displayName(m)} applied`);

    const samples: Manifest[] = [];
    for (const vm of SAMPLE_VMS) {
      const creds = { username: 'admin', password: randomPassword() };
      this.credentials.set(vm.name, creds);
      samples.push(...sampleManifests(vm, creds));
    }
    await applyAll(this.#client, samples);
    this.#say(
      `created sample VMs ${SAMPLE_VMS.map((v) => `${v.name} (${v.runStrategy}${v.cdrom ? ', empty CD-ROM' : ''})`).join(', ')}, ` +
        `their Secrets and VirtualMachineBMCs in namespace ${DEMO_NAMESPACE}`,
    );
    this.#say('waiting for the controller to start the BMC agents (progress below)');
    await this.#waitReady();
  }

  async #snapshot(): Promise<Snapshot> {
    const c = this.#client!;
    const dep = await c
      .request<{ spec?: { replicas?: number }; status?: { availableReplicas?: number } }>(
        'GET',
        apiPath(KINDS.Deployment, { namespace: 'kubevirtbmc-system', name: 'kubevirtbmc-controller' }),
      )
      .catch(() => null);
    const bmcs = (
      await c.request<{ items: BmcObj[] }>(
        'GET',
        apiPath(
          { group: 'bmc.kubevirt.io', version: 'v1beta1', plural: 'virtualmachinebmcs' },
          { namespace: DEMO_NAMESPACE },
        ),
      )
    ).items;
    const vms = (
      await c.request<{ items: VmObj[] }>(
        'GET',
        apiPath(
          { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' },
          { namespace: DEMO_NAMESPACE },
        ),
      )
    ).items;
    const avail = dep?.status?.availableReplicas ?? 0;
    const want = dep?.spec?.replicas ?? 0;
    const readyOf = (b: BmcObj) => b.status?.conditions?.find((x) => x.type === 'Ready');
    const bmcReady = (b: BmcObj) =>
      readyOf(b)?.status === 'True' &&
      isLoopback(b.status?.endpoints?.ipmi) &&
      isLoopback(b.status?.endpoints?.redfish);
    const nReady = bmcs.filter(bmcReady).length;
    const waiting = bmcs
      .filter((b) => !bmcReady(b))
      .map((b) => `${b.metadata.name} ${readyOf(b)?.reason ?? 'Pending'}`);
    const vmStates = vms.map((v) => `${v.metadata.name} ${v.status?.printableStatus ?? 'Pending'}`);
    const line =
      `controller ${avail}/${want} available; BMCs Ready ${nReady}/${bmcs.length}` +
      (waiting.length ? ` (${waiting.join(', ')})` : '') +
      `; VMs: ${vmStates.join(', ')}`;
    const ready =
      avail > 0 &&
      bmcs.length === SAMPLE_VMS.length &&
      nReady === bmcs.length &&
      vms.every((v) => SETTLED.has(v.status?.printableStatus ?? ''));
    const detail = bmcs
      .flatMap((b) =>
        (b.status?.conditions ?? [])
          .filter((x) => x.status !== 'True')
          .map((x) => `  ${b.metadata.name}: ${x.type}=${x.status} ${x.reason ?? ''}: ${x.message ?? ''}`),
      )
      .join('\n');
    return { line, ready, bmcs, vms, detail };
  }

  async #waitReady(): Promise<void> {
    const o = this.#o;
    const deadline = Date.now() + o.readyTimeoutMs;
    let last = '';
    let lastPrinted = 0;
    for (;;) {
      if (o.signal.aborted) return;
      let snap: Snapshot | null = null;
      try {
        snap = await this.#snapshot();
      } catch (err) {
        if (o.signal.aborted) return;
        this.#say(`waiting: the API answered ${(err as Error).message}`);
      }
      if (snap) {
        if (snap.line !== last || Date.now() - lastPrinted > 5000) {
          this.#say(snap.line);
          last = snap.line;
          lastPrinted = Date.now();
        }
        if (snap.ready) {
          const rows = await this.#rows(snap.bmcs, snap.vms);
          if (rows) {
            this.rows = rows;
            return;
          }
        }
        if (Date.now() > deadline)
          throw new DemoStartError(
            `the BMCs did not all become Ready within ${Math.round(o.readyTimeoutMs / 1000)} s:\n${snap.detail || `  ${snap.line}`}\n` +
              `Look at: kubectl --kubeconfig ${this.#cluster!.kubeconfigPath} describe vmbmc; ... logs -n ${DEMO_NAMESPACE} deploy/kubevirtbmc-agent`,
          );
      }
      await sleep(500, o.signal);
    }
  }

  /** The rows of the table, from the endpoints the cluster publishes; null until each Redfish answers. */
  async #rows(bmcs: BmcObj[], vms: VmObj[]): Promise<BmcRow[] | null> {
    const rows: BmcRow[] = [];
    for (const vm of SAMPLE_VMS) {
      const b = bmcs.find((x) => x.metadata.name === bmcName(vm.name));
      const v = vms.find((x) => x.metadata.name === vm.name);
      if (!b?.status?.service || !v) return null;
      // The Service's host-reachable ports as the embedded cluster publishes them (and as the
      // controller copied them into the status).
      const eps = this.#cluster!.serviceEndpoints(DEMO_NAMESPACE, b.status.service);
      const ipmi = eps['623/UDP'];
      const rf = eps['80/TCP'];
      if (!ipmi || !rf) return null;
      const redfish = `http://${rf}`;
      if (b.status.endpoints?.ipmi !== ipmi || b.status.endpoints?.redfish !== redfish) return null;
      if (!(await redfishAnswers(redfish))) return null;
      const creds = this.credentials.get(vm.name)!;
      rows.push({
        vm: vm.name,
        bmc: b.metadata.name,
        runStrategy: v.spec.runStrategy ?? vm.runStrategy,
        power: powerOf(v.status?.printableStatus),
        ipmi,
        redfish,
        username: creds.username,
        password: creds.password,
        note: vm.note,
      });
    }
    return rows;
  }

  printReady(): void {
    const o = this.#o;
    this.#say('every BMC is Ready');
    o.out('');
    for (const l of renderTable(this.rows)) o.out(l);
    o.out('');
    const target = this.rows.find((r) => r.vm === 'installer') ?? this.rows[0]!;
    for (const l of renderCommands(target, this.#cluster!.kubeconfigPath)) o.out(l);
    o.out('');
    o.out('Each BMC serves Redfish System "1" for its VM; docs/getting-started.md shows what else to try.');
    o.out('Press Ctrl-C to stop the demo (it stops the cluster, the controller and every BMC).');
  }

  /** Stops the controller and agent processes, the cluster, and frees every port. Idempotent. */
  async stop(): Promise<void> {
    this.#client?.close();
    this.#client = null;
    const c = this.#cluster;
    this.#cluster = null;
    if (c) await c.stop();
  }
}

/**
 * The reconcile logic, level-based: given what the cluster holds now (read from caches), compute
 * every object one namespace's BMCs need, write only what differs, delete what is no longer
 * wanted, and write each BMC's status when it changed. Running it twice in a row writes nothing.
 *
 * The unit of work is a namespace, because shared placement couples its BMCs (one agent, one
 * Role naming every VM and Secret, distinct ports).
 */
import { isNotFound } from '../kube/errors.ts';
import { hotplugCondition, type KubeVirtCr } from '../kubevirt/hotplug.ts';
import type { VirtualMachine } from '../kubevirt/types.ts';
import {
  type AgentSettings,
  agentRules,
  bmcPorts,
  bmcService,
  ownerRef,
  perVmDeployment,
  perVmLabels,
  role,
  roleBinding,
  serviceAccount,
  sharedDeployment,
  sharedLabels,
  sharedOwners,
  slotOfPorts,
  subscriptionConfigMap,
  upstreamAliasService,
} from './builders.ts';
import { authSecretProblem, tlsSecretProblem } from './credentials.ts';
import { driftOf, mergeForUpdate, needsRecreate } from './drift.ts';
import { bmcObjectName, SHARED_AGENT_NAME } from './names.ts';
import {
  agentCondition,
  buildStatus,
  type ConditionValue,
  conditions,
  type Dependencies,
  readyCondition,
  statusEvents,
  statusPatch,
} from './status.ts';
import {
  type BmcStatus,
  effectiveSpec,
  type KObject,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  type Placement,
  SHARED_MAX_SLOTS,
  type VirtualMachineBMC,
} from './types.ts';
import { takeOverBootOverride } from './upstream.ts';

/** Read access to the cluster (informer caches in production, maps in unit tests). */
export interface ClusterState {
  bmcs(namespace: string): readonly VirtualMachineBMC[];
  vm(namespace: string, name: string): KObject | undefined;
  secret(namespace: string, name: string): KObject | undefined;
  /**
   * Objects in `namespace` carrying the managed-by label: Deployments, Services, ServiceAccounts,
   * Roles, RoleBindings, ConfigMaps (these also with the label older agents put on the ConfigMaps
   * they created, so the controller adopts them: `OWNED_CONFIGMAP_SELECTOR`).
   */
  owned(namespace: string): readonly KObject[];
  /** The cluster's KubeVirt CRs; null when they cannot be read (absent from unit tests: not reported). */
  kubevirts?(): readonly KubeVirtCr[] | null;
}

/** Writes. Each call is one API request. */
export interface ClusterWriter {
  create(obj: KObject): Promise<KObject>;
  replace(obj: KObject): Promise<KObject>;
  delete(obj: KObject): Promise<void>;
  /** Merge-patches `.status` of a VirtualMachineBMC (null members delete). */
  patchStatus(bmc: VirtualMachineBMC, status: Record<string, unknown>): Promise<void>;
  event(bmc: VirtualMachineBMC, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface ReconcilerOptions {
  placement: Placement;
  agent: AgentSettings;
  now?: () => Date;
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface ReconcileResult {
  created: number;
  updated: number;
  deleted: number;
  statusWrites: number;
  errors: Error[];
}

interface BmcPlan extends Dependencies {
  bmc: VirtualMachineBMC;
  /** The VM, when it exists. */
  vm?: KObject;
  slot: number | null;
}

// The subscriptions ConfigMap before the Deployment: the agent may update it but not create it.
const ORDER = ['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service'];

function objKey(o: KObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

function byAge(a: VirtualMachineBMC, b: VirtualMachineBMC): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : a.metadata.name.localeCompare(b.metadata.name);
}

export class Reconciler {
  readonly #opts: ReconcilerOptions;
  /** Names found taken by objects not ours, already reported (one Warning each). */
  readonly #warnedTaken = new Set<string>();

  constructor(options: ReconcilerOptions) {
    this.#opts = options;
  }

  get placement(): Placement {
    return this.#opts.placement;
  }

  async reconcileNamespace(
    namespace: string,
    state: ClusterState,
    writer: ClusterWriter,
  ): Promise<ReconcileResult> {
    const result: ReconcileResult = { created: 0, updated: 0, deleted: 0, statusWrites: 0, errors: [] };
    const placement = this.#opts.placement;
    const bmcs = state
      .bmcs(namespace)
      .filter((b) => !b.metadata.deletionTimestamp)
      .slice()
      .sort(byAge);
    const plans = bmcs.map((bmc) => this.#plan(namespace, bmc, state));
    if (placement === 'shared') assignSlots(plans);

    const desired = this.#desired(namespace, plans, bmcs);
    // New and corrected objects first, then removals, so a placement migration never leaves a BMC
    // unserved.
    const live = new Map(state.owned(namespace).map((o) => [objKey(o), o]));
    const current = await this.#apply(namespace, desired, live, bmcs, writer, result);
    await this.#prune(namespace, desired, live, writer, result);
    const hotplug = state.kubevirts ? hotplugCondition(state.kubevirts()) : undefined;
    for (const p of plans) {
      try {
        await this.#writeStatus(p, placement, current, writer, result, hotplug);
      } catch (err) {
        result.errors.push(err as Error);
      }
    }
    return result;
  }

  /** Every object the namespace's BMCs need, in creation order. */
  #desired(namespace: string, plans: readonly BmcPlan[], bmcs: readonly VirtualMachineBMC[]): KObject[] {
    const placement = this.#opts.placement;
    const desired: KObject[] = [];
    for (const p of plans) {
      if (placement === 'per-vm') desired.push(...this.#perVmAgent(namespace, p));
      desired.push(
        subscriptionConfigMap(p.bmc),
        bmcService(p.bmc, placement, p.slot, this.#opts.agent.service),
      );
    }
    // Upstream KubeVirtBMC's `<vm>-virtbmc` names: the oldest BMC of a VM gets it, and never a name
    // one of our own objects already has.
    const taken = new Set(desired.map((o) => o.metadata.name));
    for (const p of plans) {
      const alias = upstreamAliasService(p.bmc, placement, p.slot, this.#opts.agent.service);
      if (!effectiveSpec(p.bmc.spec).vm || taken.has(alias.metadata.name)) continue;
      taken.add(alias.metadata.name);
      desired.push(alias);
    }
    if (placement === 'shared' && plans.length > 0)
      desired.push(...this.#sharedAgent(namespace, plans, bmcs));
    return desired.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  }

  /** A per-vm agent: its ServiceAccount, Role (its VM and Secrets only), RoleBinding and Deployment. */
  #perVmAgent(namespace: string, p: BmcPlan): KObject[] {
    const name = bmcObjectName(p.bmc.metadata.name);
    const spec = effectiveSpec(p.bmc.spec);
    const labels = perVmLabels(p.bmc.metadata.name);
    const owners = [ownerRef(p.bmc, true)];
    const secrets = [spec.secret, ...(spec.tlsSecret ? [spec.tlsSecret] : [])];
    const rules = agentRules({
      vms: [spec.vm],
      secrets,
      bmcs: [p.bmc.metadata.name],
      bmc: p.bmc.metadata.name,
    });
    return [
      serviceAccount(namespace, name, labels, owners),
      role(namespace, name, labels, owners, rules),
      roleBinding(namespace, name, labels, owners),
      perVmDeployment(p.bmc, p.active ? 1 : 0, this.#opts.agent),
    ];
  }

  /** The namespace's shared agent, owned by all its BMCs, with a Role naming all their VMs and Secrets. */
  #sharedAgent(namespace: string, plans: readonly BmcPlan[], bmcs: readonly VirtualMachineBMC[]): KObject[] {
    const labels = sharedLabels();
    const owners = sharedOwners(bmcs);
    const vms = plans.map((p) => effectiveSpec(p.bmc.spec).vm);
    const secrets = plans.flatMap((p) => {
      const s = effectiveSpec(p.bmc.spec);
      return [s.secret, ...(s.tlsSecret ? [s.tlsSecret] : [])];
    });
    const maxSlot = Math.max(0, ...plans.map((p) => p.slot ?? 0));
    const rules = agentRules({ vms, secrets, bmcs: plans.map((p) => p.bmc.metadata.name), bmc: null });
    return [
      serviceAccount(namespace, SHARED_AGENT_NAME, labels, owners),
      role(namespace, SHARED_AGENT_NAME, labels, owners, rules),
      roleBinding(namespace, SHARED_AGENT_NAME, labels, owners),
      sharedDeployment(namespace, bmcs, maxSlot, plans.some((p) => p.active) ? 1 : 0, this.#opts.agent),
    ];
  }

  /** Creates what is missing and corrects drift; returns the objects as they now are. */
  async #apply(
    namespace: string,
    desired: readonly KObject[],
    live: ReadonlyMap<string, KObject>,
    bmcs: readonly VirtualMachineBMC[],
    writer: ClusterWriter,
    result: ReconcileResult,
  ): Promise<Map<string, KObject>> {
    const current = new Map<string, KObject>();
    for (const want of desired) {
      const key = objKey(want);
      const have = live.get(key);
      try {
        if (!have) {
          const made = await writer.create(want);
          if (want.kind === 'Service' && made.metadata.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY) {
            // The name was taken by a Service that is not ours (create found it there).
            current.set(key, await this.#foreign(want, made, bmcs, writer));
            continue;
          }
          current.set(key, made);
          result.created++;
          this.#log('info', { namespace, object: key }, 'created');
          continue;
        }
        const drift = driftOf(want, have);
        if (drift === null) {
          current.set(key, have);
          continue;
        }
        this.#log('info', { namespace, object: key, drift }, 'correcting drift');
        if (needsRecreate(want, have)) {
          await writer.delete(have);
          current.set(key, await writer.create(want));
        } else {
          current.set(key, await writer.replace(mergeForUpdate(want, have)));
        }
        result.updated++;
        const owner = bmcOf(want, bmcs);
        const message = `${want.kind} ${want.metadata.name}: ${drift}; restored`;
        if (owner) await writer.event(owner, 'Normal', 'DriftCorrected', message).catch(() => {});
      } catch (err) {
        result.errors.push(err as Error);
        if (have) current.set(key, have);
      }
    }
    return current;
  }

  /**
   * An object we wanted to create already exists without our label. Upstream KubeVirtBMC's own
   * `<vm>-virtbmc` Service, owned by the same VirtualMachineBMC, is adopted (replaced by ours); anything
   * else is left alone and the BMC gets a Warning Event saying which name is taken.
   */
  async #foreign(
    want: KObject,
    found: KObject,
    bmcs: readonly VirtualMachineBMC[],
    writer: ClusterWriter,
  ): Promise<KObject> {
    const owner = bmcOf(want, bmcs);
    const sameOwner =
      owner !== undefined &&
      (found.metadata.ownerReferences ?? []).some((o) => o.controller && o.uid === owner.metadata.uid);
    if (sameOwner) {
      const adopted = await writer.replace(mergeForUpdate(want, found));
      if (owner)
        await writer
          .event(
            owner,
            'Normal',
            'ServiceAdopted',
            `${want.kind} ${want.metadata.name} taken over from upstream KubeVirtBMC`,
          )
          .catch(() => {});
      return adopted;
    }
    const key = `${want.metadata.namespace}/${want.kind}/${want.metadata.name}/${found.metadata.uid}`;
    if (owner && !this.#warnedTaken.has(key)) {
      this.#warnedTaken.add(key);
      await writer
        .event(
          owner,
          'Warning',
          'NameTaken',
          `${want.kind} ${want.metadata.name} exists and is not managed by kubevirtbmc; left alone (delete it to have kubevirtbmc serve that name)`,
        )
        .catch(() => {});
    }
    return found;
  }

  /**
   * An upstream KubeVirtBMC `status.bootOverride` becomes the VM's kubevirtbmc boot override; returns
   * what status.bootOverride should now be (undefined: removed). Kept while the VM is missing.
   */
  async #takeOverBootOverride(
    p: BmcPlan,
    writer: ClusterWriter,
  ): Promise<BmcStatus['bootOverride'] | undefined> {
    const o = p.bmc.status?.bootOverride;
    if (!o) return undefined;
    if (!p.vm || p.vm.metadata.deletionTimestamp) return o;
    const t = takeOverBootOverride(p.vm as VirtualMachine, o);
    if (Object.keys(t.annotations).length) {
      const vm = p.vm;
      await writer.replace({
        ...vm,
        metadata: { ...vm.metadata, annotations: { ...vm.metadata.annotations, ...t.annotations } },
      });
    }
    this.#log('info', { bmc: `${p.bmc.metadata.namespace}/${p.bmc.metadata.name}` }, t.message);
    await writer.event(p.bmc, 'Normal', 'BootOverrideTakenOver', t.message).catch(() => {});
    return undefined;
  }

  /** Deletes the owned objects no BMC wants any more. */
  async #prune(
    namespace: string,
    desired: readonly KObject[],
    live: ReadonlyMap<string, KObject>,
    writer: ClusterWriter,
    result: ReconcileResult,
  ): Promise<void> {
    const wanted = new Set(desired.map(objKey));
    for (const [key, have] of live) {
      if (wanted.has(key) || have.metadata.deletionTimestamp) continue;
      try {
        await writer.delete(have);
        result.deleted++;
        this.#log('info', { namespace, object: key }, 'deleted unwanted object');
      } catch (err) {
        if (!isNotFound(err)) result.errors.push(err as Error);
      }
    }
  }

  #log(level: 'info' | 'warn', obj: object, msg: string): void {
    this.#opts.logger?.[level](obj, msg);
  }

  #plan(namespace: string, bmc: VirtualMachineBMC, state: ClusterState): BmcPlan {
    const spec = effectiveSpec(bmc.spec);
    const vm = spec.vm ? state.vm(namespace, spec.vm) : undefined;
    const vmOk = vm !== undefined && !vm.metadata.deletionTimestamp;
    const vmMessage = vmOk
      ? `VirtualMachine ${namespace}/${spec.vm} exists`
      : `VirtualMachine ${namespace}/${spec.vm} not found: create it or correct spec.virtualMachineRef.name; ${this.#opts.placement === 'shared' ? 'the BMC is not served' : 'the agent stays scaled down'} until it exists`;
    let secretOk = false;
    let secretReason = 'SecretValid';
    let secretMessage = '';
    // Credentials IPMI cannot carry but Redfish can: the agent runs, Redfish serves them, IPMI
    // refuses them, and SecretAvailable/Ready say so (docs/controller.md).
    let redfishOnly = false;
    const secret = spec.secret ? state.secret(namespace, spec.secret) : undefined;
    if (!secret) {
      secretReason = 'SecretNotFound';
      secretMessage = `Secret ${namespace}/${spec.secret} not found: create it with keys "username" and "password"`;
    } else {
      // With Redfish off, IPMI's limits make the Secret unusable outright.
      const problem = authSecretProblem(secret, spec.ipmi && !spec.redfish);
      if (problem) {
        secretReason = 'SecretInvalid';
        secretMessage = `Secret ${namespace}/${spec.secret} ${problem.startsWith('has ') ? problem : `is not usable: ${problem}`}`;
      } else if (spec.tlsSecret && spec.redfish) {
        const tls = state.secret(namespace, spec.tlsSecret);
        const tlsProblem = tls ? tlsSecretProblem(tls) : 'not found';
        if (tlsProblem) {
          secretReason = tls ? 'TLSSecretInvalid' : 'TLSSecretNotFound';
          secretMessage = `TLS Secret ${namespace}/${spec.tlsSecret} ${tlsProblem === 'not found' ? 'not found: create a kubernetes.io/tls Secret or remove spec.redfish.tlsSecretRef' : tlsProblem}`;
        } else {
          secretOk = true;
        }
      } else {
        secretOk = true;
      }
      const ipmiProblem = secretOk && spec.ipmi ? authSecretProblem(secret, true) : null;
      if (ipmiProblem) {
        secretOk = false;
        redfishOnly = true;
        secretReason = 'IPMICredentialsTooLong';
        secretMessage = `Secret ${namespace}/${spec.secret}: ${ipmiProblem}: IPMI refuses every login to this BMC, Redfish serves the account; shorten it, or set spec.ipmi.enabled: false`;
      }
      if (secretOk) {
        secretMessage = `Secret ${namespace}/${spec.secret} holds a valid username and password${spec.tlsSecret && spec.redfish ? ` and TLS Secret ${spec.tlsSecret} a certificate` : ''}`;
      }
    }
    const current = bmc.status?.placement === 'shared' ? slotOfPorts(bmc.status?.ports) : null;
    return {
      bmc,
      ...(vmOk ? { vm } : {}),
      vmOk,
      vmMessage,
      secretOk,
      secretReason,
      secretMessage,
      active: vmOk && (secretOk || redfishOnly),
      slot: current,
    };
  }

  async #writeStatus(
    p: BmcPlan,
    placement: Placement,
    current: Map<string, KObject>,
    writer: ClusterWriter,
    result: ReconcileResult,
    hotplug: ConditionValue | undefined,
  ): Promise<void> {
    const bmc = p.bmc;
    const generation = bmc.metadata.generation ?? 1;
    const serviceName = bmcObjectName(bmc.metadata.name);
    const agentName = placement === 'per-vm' ? serviceName : SHARED_AGENT_NAME;
    const service = current.get(`Service/${serviceName}`);
    const endpoints = serviceEndpoints(service, effectiveSpec(bmc.spec).tlsSecret !== null);
    const agent = agentCondition(
      p,
      current.get(`Deployment/${agentName}`),
      agentName,
      bmc.metadata.namespace ?? '',
      placement,
    );
    const ready = readyCondition(p, agent, endpoints, serviceName);
    const old = bmc.status ?? {};
    const bootOverride = await this.#takeOverBootOverride(p, writer);
    const now = (this.#opts.now ?? (() => new Date()))()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z');
    const next = buildStatus({
      generation,
      placement,
      agentName,
      serviceName,
      service,
      ports: bmcPorts(bmc, placement, p.slot),
      endpoints,
      conditions: conditions(p, agent, ready, old.conditions, generation, now, hotplug),
      bootOverride,
    });
    const patch = statusPatch(old as BmcStatus, next);
    if (!patch) return;
    await writer.patchStatus(bmc, patch);
    result.statusWrites++;
    for (const e of statusEvents(old.conditions, next.conditions ?? [])) {
      await writer.event(bmc, e.type, e.reason, e.message).catch(() => {});
    }
  }
}

function bmcOf(obj: KObject, bmcs: readonly VirtualMachineBMC[]): VirtualMachineBMC | undefined {
  const ref = obj.metadata.ownerReferences?.find((o) => o.controller);
  return ref ? bmcs.find((b) => b.metadata.uid === ref.uid) : undefined;
}

/** Where a BMC is reached, and what kind of address that is (for the Ready message). */
export interface ServiceEndpoints {
  ipmi?: string;
  redfish?: string;
  loadBalancerIP?: string;
  /** Host addresses the environment published (the embedded cluster's `sim.kubevirtbmc.io/endpoints`). */
  published?: boolean;
}

/** Annotation an environment may set on a Service with host-reachable addresses per port ("623/UDP"). */
export const ENDPOINTS_ANNOTATION = 'sim.kubevirtbmc.io/endpoints';

export function serviceEndpoints(svc: KObject | undefined, tls: boolean): ServiceEndpoints {
  if (!svc) return {};
  const ports: Array<{ name?: string; port: number; protocol?: string }> = svc.spec?.ports ?? [];
  const ipmiPort = ports.find((p) => p.name === 'ipmi');
  const rfPort = ports.find((p) => p.name === 'redfish' || p.name === 'redfish-tls');
  const scheme = tls ? 'https' : 'http';
  const published = svc.metadata.annotations?.[ENDPOINTS_ANNOTATION];
  if (published) {
    try {
      const map = JSON.parse(published) as Record<string, string>;
      const out: { ipmi?: string; redfish?: string } = {};
      if (ipmiPort && map[`${ipmiPort.port}/UDP`]) out.ipmi = map[`${ipmiPort.port}/UDP`];
      if (rfPort && map[`${rfPort.port}/TCP`]) out.redfish = `${scheme}://${map[`${rfPort.port}/TCP`]}`;
      // The environment publishes this Service's addresses: until it has, there is none to report
      // (the ClusterIP cannot be reached from where its users are).
      return { ...out, ...(out.ipmi || out.redfish ? { published: true } : {}) };
    } catch {
      // not ours to read: fall through to the cluster address
    }
  }
  const ingress = svc.status?.loadBalancer?.ingress?.[0] as { ip?: string; hostname?: string } | undefined;
  const lb = ingress?.ip ?? ingress?.hostname;
  const host =
    lb ?? (svc.spec?.clusterIP && svc.spec.clusterIP !== 'None' ? (svc.spec.clusterIP as string) : undefined);
  if (!host) return {};
  const h = host.includes(':') ? `[${host}]` : host;
  return {
    ...(ipmiPort ? { ipmi: `${h}:${ipmiPort.port}` } : {}),
    ...(rfPort ? { redfish: `${scheme}://${h}:${rfPort.port}` } : {}),
    ...(lb ? { loadBalancerIP: lb } : {}),
  };
}

/** Shared placement: keep each BMC's recorded slot when it is free, give the others the lowest free ones. */
export function assignSlots(plans: Array<{ slot: number | null }>): void {
  const used = new Set<number>();
  for (const p of plans) {
    if (p.slot !== null && p.slot < SHARED_MAX_SLOTS && !used.has(p.slot)) used.add(p.slot);
    else p.slot = null;
  }
  let next = 0;
  for (const p of plans) {
    if (p.slot !== null) continue;
    while (used.has(next)) next++;
    p.slot = next;
    used.add(next);
  }
}

/**
 * KubeVirt's instance types and preferences (`instancetype.kubevirt.io/v1beta1`), as pure functions
 * for the fake virt-controller and virt-api, following kubevirt/kubevirt v1.9.0:
 *
 * - The VM names them in `spec.instancetype` / `spec.preference` (`{name, kind?}`; an empty kind means
 *   the cluster-wide `VirtualMachineClusterInstancetype` / `VirtualMachineClusterPreference`:
 *   pkg/instancetype/find/spec.go `Find`, pkg/instancetype/preference/find/spec.go `FindPreference`).
 * - virt-controller stores a copy of each in a ControllerRevision owned by the VM, named
 *   `<vm>-<object>-<version>-<uid>-<generation>`, and records it in `status.instancetypeRef` /
 *   `status.preferenceRef` (`{name, kind?, controllerRevisionRef: {name}}`): pkg/instancetype/revision
 *   (store.go `Store`, `CreateControllerRevision`, `GenerateName`; patch.go `GeneratePatch`).
 * - They are applied when the VMI is created (pkg/virt-controller/watch/vm/vm.go `startVMI` calls
 *   `ApplyToVMI` of pkg/instancetype/controller/vm/controller.go): the VM's template is never
 *   expanded, so a template without `firmware.bootloader` runs with the preference's firmware.
 * - `GET …/virtualmachines/<vm>/expand-spec` answers the VM with both applied to its template
 *   (pkg/virt-api/rest/expand.go `ExpandSpecVMRequestHandler`, pkg/instancetype/expand/expand.go).
 *
 * What is applied here (the parts a BMC reads): from an instance type `cpu.guest` (topology by the
 * preference's `preferredCPUTopology`, default sockets), `cpu.model`, `memory.guest` (apply/cpu.go,
 * apply/memory.go, with their conflicts: a template that sets them too is refused); from a
 * preference `firmware` (preferredUseBios, preferredUseBiosSerial, preferredEfi, and the deprecated
 * preferredUseEfi / preferredUseSecureBoot: preference/apply/firmware.go), `machine.preferredMachineType`
 * (machine.go), `features.preferredSmm` and the other feature states (features.go),
 * `preferredTerminationGracePeriodSeconds` (termination.go), `cpu.preferredCPUFeatures` (cpu.go). A
 * preference only fills what the template leaves unset.
 */
import { openCrd } from '../../embedded/kubevirt/crds.ts';
import { clone, type Obj } from './logic.ts';

export const INSTANCETYPE_GROUP = 'instancetype.kubevirt.io';
export const INSTANCETYPE_VERSION = 'v1beta1';

/** The VMI annotations naming what was applied (kubevirt.io/api core/v1 types.go). */
export const ANNOTATIONS = {
  instancetype: 'kubevirt.io/instancetype-name',
  clusterInstancetype: 'kubevirt.io/cluster-instancetype-name',
  preference: 'kubevirt.io/preference-name',
  clusterPreference: 'kubevirt.io/cluster-preference-name',
} as const;

/** ControllerRevision labels (kubevirt.io/api instancetype register.go). */
export const REVISION_LABELS = {
  generation: 'instancetype.kubevirt.io/object-generation',
  kind: 'instancetype.kubevirt.io/object-kind',
  name: 'instancetype.kubevirt.io/object-name',
  uid: 'instancetype.kubevirt.io/object-uid',
  version: 'instancetype.kubevirt.io/object-version',
} as const;

function crd(kind: string, plural: string, scope: 'Namespaced' | 'Cluster', shortNames: string[]): Obj {
  return openCrd({
    group: INSTANCETYPE_GROUP,
    version: INSTANCETYPE_VERSION,
    kind,
    plural,
    shortNames,
    scope,
    categories: scope === 'Namespaced' ? ['all'] : [],
    status: false,
  });
}

/** The four CRDs (names, scopes and short names as pkg/virt-operator/resource/generate/components/crds.go). */
export const INSTANCETYPE_CRDS: Obj[] = [
  crd('VirtualMachineInstancetype', 'virtualmachineinstancetypes', 'Namespaced', [
    'vminstancetype',
    'vminstancetypes',
    'vmf',
    'vmfs',
  ]),
  crd('VirtualMachineClusterInstancetype', 'virtualmachineclusterinstancetypes', 'Cluster', [
    'vmclusterinstancetype',
    'vmclusterinstancetypes',
    'vmcf',
    'vmcfs',
  ]),
  crd('VirtualMachinePreference', 'virtualmachinepreferences', 'Namespaced', [
    'vmpref',
    'vmprefs',
    'vmp',
    'vmps',
  ]),
  crd('VirtualMachineClusterPreference', 'virtualmachineclusterpreferences', 'Cluster', ['vmcp', 'vmcps']),
];

export type Which = 'instancetype' | 'preference';

/** The object a VM's matcher names. */
export interface Target {
  which: Which;
  kind: string;
  plural: string;
  namespaced: boolean;
  name: string;
  /** The VM's namespace (the object's when namespaced). */
  namespace: string;
}

const KINDS: Record<Which, { ns: [string, string]; cluster: [string, string] }> = {
  instancetype: {
    ns: ['VirtualMachineInstancetype', 'virtualmachineinstancetypes'],
    cluster: ['VirtualMachineClusterInstancetype', 'virtualmachineclusterinstancetypes'],
  },
  preference: {
    ns: ['VirtualMachinePreference', 'virtualmachinepreferences'],
    cluster: ['VirtualMachineClusterPreference', 'virtualmachineclusterpreferences'],
  },
};

/** What `spec.<which>` names; undefined when unset; an Error for a kind KubeVirt does not know. */
export function targetOf(vm: Obj, which: Which): Target | Error | undefined {
  const matcher = vm.spec?.[which];
  if (!matcher?.name) return undefined;
  const kind = String(matcher.kind ?? '').toLowerCase();
  const k = KINDS[which];
  const namespacedNames = [k.ns[1], k.ns[1].replace(/s$/, '')];
  const clusterNames = ['', k.cluster[1], k.cluster[1].replace(/s$/, '')];
  let namespaced: boolean;
  if (namespacedNames.includes(kind)) namespaced = true;
  else if (clusterNames.includes(kind)) namespaced = false;
  else
    return new Error(
      `got unexpected kind in ${which === 'instancetype' ? 'Instancetype' : 'Preference'}Matcher: ${matcher.kind}`,
    );
  const [kindName, plural] = namespaced ? k.ns : k.cluster;
  return { which, kind: kindName, plural, namespaced, name: matcher.name, namespace: vm.metadata.namespace };
}

export function objectPath(t: Target): string {
  const ns = t.namespaced ? `/namespaces/${encodeURIComponent(t.namespace)}` : '';
  return `/apis/${INSTANCETYPE_GROUP}/${INSTANCETYPE_VERSION}${ns}/${t.plural}/${encodeURIComponent(t.name)}`;
}

/** KubeVirt's "not found" text for a missing instance type or preference (the API server's 404 message). */
export function notFoundMessage(t: Target): string {
  return `${t.plural}.${INSTANCETYPE_GROUP} "${t.name}" not found`;
}

/** `GenerateName` of pkg/instancetype/revision/store.go. */
export function revisionName(vmName: string, obj: Obj): string {
  const version = String(obj.apiVersion ?? `${INSTANCETYPE_GROUP}/${INSTANCETYPE_VERSION}`)
    .split('/')
    .pop();
  return `${vmName}-${obj.metadata.name}-${version}-${obj.metadata.uid}-${obj.metadata.generation ?? 1}`;
}

/** The ControllerRevision virt-controller stores for `obj` (owned by the VM, metadata trimmed). */
export function controllerRevisionFor(vm: Obj, obj: Obj): Obj {
  const data = clone(obj);
  data.apiVersion ??= `${INSTANCETYPE_GROUP}/${INSTANCETYPE_VERSION}`;
  for (const k of ['labels', 'annotations', 'finalizers', 'ownerReferences', 'managedFields'])
    delete data.metadata[k];
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: revisionName(vm.metadata.name, obj),
      namespace: vm.metadata.namespace,
      ownerReferences: [
        {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachine',
          name: vm.metadata.name,
          uid: vm.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      labels: {
        [REVISION_LABELS.generation]: String(obj.metadata.generation ?? 1),
        [REVISION_LABELS.kind]: data.kind,
        [REVISION_LABELS.name]: obj.metadata.name,
        [REVISION_LABELS.uid]: obj.metadata.uid,
        [REVISION_LABELS.version]: String(data.apiVersion).split('/').pop(),
      },
    },
    data,
    revision: 0,
  };
}

/**
 * The status ref for `t` (syncStatusWithMatcher): the matcher's name, its kind only when given, and
 * the revision; a `revisionName` in the matcher pins that revision instead.
 */
export function statusRefFor(vm: Obj, which: Which, revision: string): Obj {
  const m = vm.spec[which];
  return {
    name: m.name,
    ...(m.kind ? { kind: m.kind } : {}),
    controllerRevisionRef: { name: m.revisionName || revision },
  };
}

/** Whether the recorded ref still matches the matcher (name and kind); else a new revision is needed. */
export function refCurrent(vm: Obj, which: Which): boolean {
  const m = vm.spec?.[which];
  const ref = vm.status?.[`${which}Ref`];
  if (!m) return !ref;
  if (!ref?.controllerRevisionRef?.name) return false;
  if (m.revisionName && ref.controllerRevisionRef.name !== m.revisionName) return false;
  return ref.name === m.name && (ref.kind ?? '') === (m.kind ?? '');
}

// ---------------------------------------------------------------- applying

const has = (o: Obj | undefined, k: string) => o !== undefined && o !== null && o[k] !== undefined;

/** apply/cpu.go and apply/memory.go: the fields the template must leave to the instance type. */
function instancetypeConflicts(spec: Obj, it: Obj, base: string): string[] {
  const d = spec.domain ?? {};
  const out: string[] = [];
  const cpu = d.cpu ?? {};
  if (has(d.resources?.requests, 'cpu')) out.push(`${base}.domain.resources.requests.cpu`);
  if (has(d.resources?.limits, 'cpu')) out.push(`${base}.domain.resources.limits.cpu`);
  for (const f of ['sockets', 'cores', 'threads']) if (cpu[f]) out.push(`${base}.domain.cpu.${f}`);
  if (cpu.model && it.cpu?.model !== undefined) out.push(`${base}.domain.cpu.model`);
  if (d.memory?.guest !== undefined) out.push(`${base}.domain.memory.guest`);
  else if (has(d.resources?.requests, 'memory')) out.push(`${base}.domain.resources.requests.memory`);
  else if (has(d.resources?.limits, 'memory')) out.push(`${base}.domain.resources.limits.memory`);
  return out;
}

function topology(vcpus: number, pref: Obj | undefined): { sockets: number; cores: number; threads: number } {
  const t = { sockets: 1, cores: 1, threads: 1 };
  if (vcpus <= 1) return t;
  const preferred = String(pref?.cpu?.preferredCPUTopology ?? 'sockets').toLowerCase();
  if (preferred.endsWith('cores')) t.cores = vcpus;
  else if (preferred.endsWith('threads')) t.threads = vcpus;
  else if (preferred.endsWith('spread')) {
    const ratio = pref?.cpu?.spreadOptions?.ratio ?? pref?.preferSpreadSocketToCoreRatio ?? 2;
    t.cores = ratio;
    t.sockets = Math.max(1, Math.floor(vcpus / ratio));
  } else t.sockets = vcpus;
  return t;
}

function applyInstancetype(spec: Obj, it: Obj, pref: Obj | undefined): void {
  spec.domain ??= {};
  const d = spec.domain;
  d.cpu ??= {};
  if (it.cpu?.model !== undefined) d.cpu.model = it.cpu.model;
  if (it.cpu?.dedicatedCPUPlacement !== undefined) d.cpu.dedicatedCPUPlacement = it.cpu.dedicatedCPUPlacement;
  if (it.cpu?.maxSockets !== undefined) d.cpu.maxSockets = it.cpu.maxSockets;
  Object.assign(d.cpu, topology(Number(it.cpu?.guest ?? 1), pref));
  d.memory ??= {};
  if (it.memory?.guest !== undefined) d.memory.guest = it.memory.guest;
  if (it.memory?.hugepages !== undefined) d.memory.hugepages = clone(it.memory.hugepages);
  if (it.memory?.maxGuest !== undefined) d.memory.maxGuest = it.memory.maxGuest;
  if (it.nodeSelector && !spec.nodeSelector) spec.nodeSelector = clone(it.nodeSelector);
}

/** preference/apply/firmware.go `applyFirmwarePreferences`. */
function applyFirmware(d: Obj, fw: Obj): void {
  d.firmware ??= {};
  d.firmware.bootloader ??= {};
  const bl = d.firmware.bootloader;
  if (fw.preferredUseBios === true && !bl.bios && !bl.efi) bl.bios = {};
  if (fw.preferredUseBiosSerial !== undefined && bl.bios && bl.bios.useSerial === undefined)
    bl.bios.useSerial = fw.preferredUseBiosSerial;
  if (!bl.efi && !bl.bios && fw.preferredEfi) {
    bl.efi = clone(fw.preferredEfi);
    return;
  }
  if (fw.preferredUseEfi === true && !bl.efi && !bl.bios) bl.efi = {};
  if (fw.preferredUseSecureBoot !== undefined && bl.efi && bl.efi.secureBoot === undefined)
    bl.efi.secureBoot = fw.preferredUseSecureBoot;
}

/** preference/apply/features.go `applyFeaturePreferences` (ACPI is overwritten, the rest only filled). */
function applyFeatures(d: Obj, f: Obj): void {
  d.features ??= {};
  if (f.preferredAcpi !== undefined) d.features.acpi = clone(f.preferredAcpi);
  const fill: Array<[string, string]> = [
    ['preferredApic', 'apic'],
    ['preferredKvm', 'kvm'],
    ['preferredPvspinlock', 'pvspinlock'],
    ['preferredSmm', 'smm'],
  ];
  for (const [from, to] of fill)
    if (f[from] !== undefined && d.features[to] === undefined) d.features[to] = clone(f[from]);
}

function applyPreference(spec: Obj, pref: Obj, meta: Obj): void {
  spec.domain ??= {};
  const d = spec.domain;
  const features: Obj[] = pref.cpu?.preferredCPUFeatures ?? [];
  if (features.length) {
    d.cpu ??= {};
    const names = new Set((d.cpu.features ?? []).map((f: Obj) => f.name));
    d.cpu.features = [...(d.cpu.features ?? []), ...features.filter((f) => !names.has(f.name)).map(clone)];
  }
  if (pref.features) applyFeatures(d, pref.features);
  if (pref.firmware) applyFirmware(d, pref.firmware);
  if (pref.machine?.preferredMachineType) {
    d.machine ??= {};
    if (!d.machine.type) d.machine.type = pref.machine.preferredMachineType;
  }
  if (
    pref.preferredTerminationGracePeriodSeconds !== undefined &&
    spec.terminationGracePeriodSeconds === undefined
  )
    spec.terminationGracePeriodSeconds = pref.preferredTerminationGracePeriodSeconds;
  if (pref.annotations) {
    meta.annotations ??= {};
    for (const [k, v] of Object.entries(pref.annotations)) meta.annotations[k] ??= v;
  }
}

export interface Specs {
  /** The instance type's spec (from its ControllerRevision), or undefined. */
  instancetype?: Obj;
  preference?: Obj;
}

/**
 * `spec` (a VMI spec, or a VM template spec) with the instance type and preference applied, in
 * place, with `meta` getting their annotations; returns the conflicting fields (nothing applied then).
 */
export function applySpecs(spec: Obj, meta: Obj, specs: Specs, base = 'spec'): string[] {
  if (specs.instancetype) {
    const conflicts = instancetypeConflicts(spec, specs.instancetype, base);
    if (conflicts.length) return conflicts;
    applyInstancetype(spec, specs.instancetype, specs.preference);
    if (specs.instancetype.annotations) {
      meta.annotations ??= {};
      for (const [k, v] of Object.entries(specs.instancetype.annotations as Record<string, string>))
        meta.annotations[k] ??= v;
    }
  }
  if (specs.preference) applyPreference(spec, specs.preference, meta);
  return [];
}

/** The annotations the VMI gets naming what was applied (annotations.Set of both packages). */
export function vmiAnnotations(vm: Obj): Record<string, string> {
  const out: Record<string, string> = {};
  for (const which of ['instancetype', 'preference'] as const) {
    const t = targetOf(vm, which);
    if (!t || t instanceof Error) continue;
    const key =
      which === 'instancetype'
        ? t.namespaced
          ? ANNOTATIONS.instancetype
          : ANNOTATIONS.clusterInstancetype
        : t.namespaced
          ? ANNOTATIONS.preference
          : ANNOTATIONS.clusterPreference;
    out[key] = t.name;
  }
  return out;
}

/** The VM's template with both applied (what `expand-spec` answers), or the conflicts. */
export function expandVm(vm: Obj, specs: Specs): { vm: Obj } | { conflicts: string[] } {
  const out = clone(vm);
  out.spec.template ??= {};
  out.spec.template.spec ??= {};
  out.spec.template.metadata ??= {};
  const conflicts = applySpecs(
    out.spec.template.spec,
    out.spec.template.metadata,
    specs,
    'spec.template.spec',
  );
  if (conflicts.length) return { conflicts };
  delete out.spec.instancetype;
  delete out.spec.preference;
  if (out.status) {
    delete out.status.instancetypeRef;
    delete out.status.preferenceRef;
  }
  return { vm: out };
}

/**
 * The checks KubeVirt's and CDI's validating webhooks make on VirtualMachines, VMIs and
 * DataVolumes (the ones clients hit), as pure functions, and the AdmissionReview v1 answer the
 * fake virt-api gives the real API server. The embedded cluster (packages/kube-sim/src/embedded/kubevirt/admission.ts)
 * runs the same checks in-process.
 */
import { DECLARATIVE_HOTPLUG_VOLUMES, DEFAULT_GATES, type FeatureGates } from './feature-gates.ts';
import type { Obj } from './logic.ts';
import { macCauses } from './mac.ts';

export interface Cause {
  field: string;
  message: string;
}

export const VM_WEBHOOK = 'virtualmachine-validator.kubevirt.io';
export const VMI_CREATE_WEBHOOK = 'virtualmachineinstances-create-validator.kubevirt.io';
export const DV_WEBHOOK = 'datavolume-validate.cdi.kubevirt.io';

const STRATEGIES = ['Always', 'RerunOnFailure', 'Manual', 'Halted', 'Once', 'WaitAsReceiver'];

export function checkVmiSpec(
  spec: Obj | undefined,
  base: string,
  gates: FeatureGates = DEFAULT_GATES,
): Cause[] {
  const causes: Cause[] = [];
  if (!spec?.domain) {
    causes.push({ field: `${base}.domain`, message: 'domain is required' });
    return causes;
  }
  const seen = new Map<number, string>();
  const check = (list: Obj[] | undefined, kind: string) => {
    (list ?? []).forEach((d, i) => {
      if (d.bootOrder === undefined) return;
      const path = `${base}.domain.devices.${kind}[${i}]`;
      if (typeof d.bootOrder !== 'number' || d.bootOrder < 1) {
        causes.push({
          field: `${path}.bootOrder`,
          message: `${path} must have a boot order > 0, if supplied`,
        });
        return;
      }
      if (seen.has(d.bootOrder)) {
        causes.push({
          field: `${path}.bootOrder`,
          message: `Boot order for ${path}.bootOrder already set for a different device.`,
        });
      }
      seen.set(d.bootOrder, path);
    });
  };
  check(spec.domain.devices?.disks, 'disks');
  check(spec.domain.devices?.interfaces, 'interfaces');
  causes.push(...macCauses(spec.domain.devices?.interfaces, base));
  const disks: Obj[] = spec.domain.devices?.disks ?? [];
  const names = new Set<string>();
  disks.forEach((d, i) => {
    if (names.has(d.name))
      causes.push({
        field: `${base}.domain.devices.disks[${i}].name`,
        message: `${base}.domain.devices.disks[${i}].name '${d.name}' must be unique.`,
      });
    names.add(d.name);
  });
  // KubeVirt v1.9.0 vmi-create-admitter.go `validateBootOrder`: a CD-ROM with no volume is an
  // empty drive, allowed only with DeclarativeHotplugVolumes
  const volumes: Obj[] = spec.volumes ?? [];
  disks.forEach((d, i) => {
    if (d.cdrom === undefined || gates.declarativeHotplugVolumes) return;
    if (volumes.some((v) => v.name === d.name)) return;
    causes.push({
      field: `${base}.domain.devices.disks[${i}].name`,
      message: `${DECLARATIVE_HOTPLUG_VOLUMES} feature gate not enabled, cannot define an empty CD-ROM disk`,
    });
  });
  // `validateVolumes`: volume names are unique
  const firstVolume = new Map<string, number>();
  volumes.forEach((v, i) => {
    const other = firstVolume.get(v.name);
    if (other === undefined) {
      firstVolume.set(v.name, i);
      return;
    }
    causes.push({
      field: `${base}.volumes[${i}].name`,
      message: `${base}.volumes[${i}] and ${base}.volumes[${other}] must not have the same Name.`,
    });
  });
  const efi = spec.domain.firmware?.bootloader?.efi;
  if (efi && efi.secureBoot !== false && spec.domain.features?.smm?.enabled === false) {
    causes.push({
      field: `${base}.domain.firmware.bootloader.efi.secureBoot`,
      message: `${base}.domain.firmware.bootloader.efi.secureBoot has EFI SecureBoot enabled. SecureBoot requires SMM, which is currently disabled.`,
    });
  }
  return causes;
}

/** virtualmachine-validator (CREATE and UPDATE of the main resource). */
export function vmCauses(vm: Obj, gates: FeatureGates = DEFAULT_GATES): Cause[] {
  const spec = vm.spec ?? {};
  const causes: Cause[] = [];
  if (spec.running !== undefined && spec.runStrategy !== undefined) {
    causes.push({ field: 'spec.running', message: 'running and runstrategy are mutually exclusive' });
  }
  if (spec.runStrategy !== undefined && !STRATEGIES.includes(spec.runStrategy)) {
    causes.push({ field: 'spec.runStrategy', message: `Invalid RunStrategy (${spec.runStrategy})` });
  }
  if (!spec.template) causes.push({ field: 'spec.template', message: 'missing virtual machine template.' });
  else causes.push(...checkVmiSpec(spec.template.spec, 'spec.template.spec', gates));
  return causes;
}

/** virtualmachineinstances-create-validator (CREATE only). */
export function vmiCreateCauses(vmi: Obj, gates: FeatureGates = DEFAULT_GATES): Cause[] {
  return checkVmiSpec(vmi.spec, 'spec', gates);
}

/** datavolume-validate (CREATE and UPDATE). */
export function dataVolumeCauses(dv: Obj, old: Obj | undefined): Cause[] {
  const src = dv.spec?.source;
  if (!old && !src && !dv.spec?.sourceRef)
    return [{ field: 'spec', message: 'Data volume should have either Source or SourceRef' }];
  if (!old && src?.http && typeof src.http.url !== 'string')
    return [{ field: 'spec.source.http.url', message: 'source http url is required' }];
  if (old && JSON.stringify(old.spec) !== JSON.stringify(dv.spec))
    return [{ field: 'spec', message: 'Cannot update spec for DataVolume' }];
  return [];
}

/** The webhook's message (the API server prefixes `admission webhook "<name>" denied the request: `). */
export function causesMessage(causes: Cause[]): string {
  return causes.map((c) => `${c.field}: ${c.message}`).join(', ');
}

export function statusCauses(causes: Cause[]): Obj[] {
  return causes.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.field }));
}

/** Which webhook a path of the fake virt-api serves. */
export const WEBHOOK_PATHS: Record<
  string,
  { name: string; check: (obj: Obj, old: Obj | undefined, op: string, gates: FeatureGates) => Cause[] }
> = {
  '/virtualmachines-validate': {
    name: VM_WEBHOOK,
    check: (obj, _old, _op, gates) => vmCauses(obj, gates),
  },
  '/virtualmachineinstances-validate-create': {
    name: VMI_CREATE_WEBHOOK,
    check: (obj, _old, op, gates) => (op === 'CREATE' ? vmiCreateCauses(obj, gates) : []),
  },
  '/datavolume-validate': {
    name: DV_WEBHOOK,
    check: (obj, old) => dataVolumeCauses(obj, old),
  },
};

/**
 * Answers an AdmissionReview (admission.k8s.io/v1) for `path` under the cluster's feature `gates`
 * (the KubeVirt CR's, `feature-gates.ts`): allowed, or denied with a 422
 * Invalid Status whose message and causes the API server passes on to the client.
 */
export function reviewAdmission(path: string, review: Obj, gates: FeatureGates = DEFAULT_GATES): Obj {
  const req = review?.request ?? {};
  const hook = WEBHOOK_PATHS[path];
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' };
  if (!hook) {
    return {
      ...base,
      response: {
        uid: req.uid ?? '',
        allowed: false,
        status: { code: 404, message: `no webhook at ${path}` },
      },
    };
  }
  if (req.operation === 'DELETE' || req.subResource)
    return { ...base, response: { uid: req.uid, allowed: true } };
  const causes = hook.check(req.object ?? {}, req.oldObject ?? undefined, req.operation ?? 'CREATE', gates);
  if (!causes.length) return { ...base, response: { uid: req.uid, allowed: true } };
  return {
    ...base,
    response: {
      uid: req.uid,
      allowed: false,
      status: {
        status: 'Failure',
        message: causesMessage(causes),
        reason: 'Invalid',
        code: 422,
        details: { causes: statusCauses(causes) },
      },
    },
  };
}

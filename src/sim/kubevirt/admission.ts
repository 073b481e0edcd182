/** The checks KubeVirt's validating webhooks make on VirtualMachines (the ones clients hit). */
import { ApiError } from '../errors.ts';
import type { Registry } from '../registry.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

function deny(webhook: string, causes: Array<{ field: string; message: string }>): ApiError {
  const msg = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new ApiError(422, 'Invalid', `admission webhook "${webhook}" denied the request: ${msg}`, {
    causes: causes.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.field })),
  });
}

const STRATEGIES = ['Always', 'RerunOnFailure', 'Manual', 'Halted', 'Once', 'WaitAsReceiver'];

export function checkVmiSpec(spec: Obj | undefined, base: string): Array<{ field: string; message: string }> {
  const causes: Array<{ field: string; message: string }> = [];
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
  const volumes: Obj[] = spec.volumes ?? [];
  volumes.forEach((v, i) => {
    if (!disks.some((d) => d.name === v.name) && !(v.cloudInitNoCloud || v.cloudInitConfigDrive)) {
      // KubeVirt allows volumes without disks only for some kinds; keep it lenient for hotplug
      void i;
    }
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

export function installKubeVirtAdmission(reg: Registry): void {
  reg.addAdmission('kubevirt.io', 'virtualmachines', ({ obj, subresource }) => {
    if (subresource === 'status') return;
    const spec = obj.spec ?? {};
    const causes: Array<{ field: string; message: string }> = [];
    if (spec.running !== undefined && spec.runStrategy !== undefined) {
      causes.push({ field: 'spec.running', message: 'running and runstrategy are mutually exclusive' });
    }
    if (spec.runStrategy !== undefined && !STRATEGIES.includes(spec.runStrategy)) {
      causes.push({ field: 'spec.runStrategy', message: `Invalid RunStrategy (${spec.runStrategy})` });
    }
    if (!spec.template) causes.push({ field: 'spec.template', message: 'missing virtual machine template.' });
    else causes.push(...checkVmiSpec(spec.template.spec, 'spec.template.spec'));
    if (causes.length) throw deny('virtualmachine-validator.kubevirt.io', causes);
  });
  reg.addAdmission('kubevirt.io', 'virtualmachineinstances', ({ obj, old, subresource }) => {
    if (subresource === 'status') return;
    if (!old) {
      const causes = checkVmiSpec(obj.spec, 'spec');
      if (causes.length) throw deny('virtualmachineinstances-create-validator.kubevirt.io', causes);
    }
  });
  reg.addAdmission('cdi.kubevirt.io', 'datavolumes', ({ obj, old }) => {
    const src = obj.spec?.source;
    if (!old && !src && !obj.spec?.sourceRef) {
      throw deny('datavolume-validate.cdi.kubevirt.io', [
        { field: 'spec', message: 'Data volume should have either Source or SourceRef' },
      ]);
    }
    if (!old && src?.http && typeof src.http.url !== 'string') {
      throw deny('datavolume-validate.cdi.kubevirt.io', [
        { field: 'spec.source.http.url', message: 'source http url is required' },
      ]);
    }
    if (old && JSON.stringify(old.spec) !== JSON.stringify(obj.spec)) {
      throw deny('datavolume-validate.cdi.kubevirt.io', [
        { field: 'spec', message: 'Cannot update spec for DataVolume' },
      ]);
    }
  });
}

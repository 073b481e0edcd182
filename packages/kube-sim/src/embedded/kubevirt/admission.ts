/** The checks KubeVirt's and CDI's validating webhooks make (shared with the fake KubeVirt), run in-process. */
import {
  type Cause,
  causesMessage,
  DV_WEBHOOK,
  dataVolumeCauses,
  statusCauses,
  VM_WEBHOOK,
  VMI_CREATE_WEBHOOK,
  vmCauses,
  vmiCreateCauses,
} from '../../fakecluster/kubevirt/admission.ts';
import {
  activeKubeVirt,
  type FeatureGates,
  featureGatesOf,
} from '../../fakecluster/kubevirt/feature-gates.ts';
import { ApiError } from '../errors.ts';
import type { Registry } from '../registry.ts';

export { checkVmiSpec } from '../../fakecluster/kubevirt/admission.ts';

function deny(webhook: string, causes: Cause[]): ApiError {
  return new ApiError(
    422,
    'Invalid',
    `admission webhook "${webhook}" denied the request: ${causesMessage(causes)}`,
    {
      causes: statusCauses(causes),
    },
  );
}

/** The feature gates of the cluster's KubeVirt CR (KubeVirt v1.9.0's defaults without one). */
function gatesOf(reg: Registry): FeatureGates {
  const t = reg.lookup('kubevirt.io', 'v1', 'kubevirts');
  return featureGatesOf(t ? activeKubeVirt(reg.list(t, undefined).items) : undefined);
}

export function installKubeVirtAdmission(reg: Registry): void {
  reg.addAdmission('kubevirt.io', 'virtualmachines', ({ obj, subresource }) => {
    if (subresource === 'status') return;
    const causes = vmCauses(obj, gatesOf(reg));
    if (causes.length) throw deny(VM_WEBHOOK, causes);
  });
  reg.addAdmission('kubevirt.io', 'virtualmachineinstances', ({ obj, old, subresource }) => {
    if (subresource === 'status' || old) return;
    const causes = vmiCreateCauses(obj, gatesOf(reg));
    if (causes.length) throw deny(VMI_CREATE_WEBHOOK, causes);
  });
  reg.addAdmission('cdi.kubevirt.io', 'datavolumes', ({ obj, old }) => {
    const causes = dataVolumeCauses(obj, old);
    if (causes.length) throw deny(DV_WEBHOOK, causes);
  });
}

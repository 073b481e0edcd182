import { createHash } from 'node:crypto';

/** Name of every per-BMC object (Deployment, Service, ServiceAccount, Role, RoleBinding). */
export function bmcObjectName(bmcName: string): string {
  return dnsLabel(`vbmc-${bmcName}`, bmcName);
}

/** Name of the namespace's shared agent objects. */
export const SHARED_AGENT_NAME = 'kubevirtbmc-agent';

/**
 * A DNS-1035 label (≤ 63 chars, lower-case alphanumerics and '-', starting with a letter) from
 * `wanted`; when `wanted` does not fit as is, a short hash of `source` keeps names distinct.
 */
export function dnsLabel(wanted: string, source: string): string {
  const cleaned = wanted.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (cleaned === wanted && cleaned.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(cleaned))
    return cleaned;
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 8);
  const head = cleaned.slice(0, 63 - hash.length - 1).replace(/-+$/, '');
  return `${head}-${hash}`;
}

/**
 * The ConfigMap where the agent keeps one BMC's Redfish event subscriptions. The agent names it
 * the same way (`src/agent/subscription-store.ts`); a unit test holds the two together.
 */
export function subscriptionConfigMapName(bmcName: string): string {
  return `${bmcName}-redfish-subscriptions`;
}

/**
 * The Service name upstream KubeVirtBMC gives a BMC: `<vm>-virtbmc`, after the VirtualMachine, not
 * the VirtualMachineBMC. The controller serves it too, so addresses written for upstream keep working.
 */
export function upstreamServiceName(vmName: string): string {
  return dnsLabel(`${vmName}-virtbmc`, vmName);
}

/**
 * Whether this cluster's KubeVirt hot-plugs volumes into running VMs, from its `KubeVirt` CR. The
 * controller reads the CR and reports the answer as each VirtualMachineBMC's
 * `MediaHotplugAvailable` condition (`hotplugCondition`); the agent reads that condition
 * (`hotplugFromConditions`) and refuses up front the media changes that cannot reach the VM.
 * KubeVirt's rules, cited in docs/kubevirt.md ("Feature gates and hot-plug"):
 * - a gate named in `spec.configuration.developerConfiguration.featureGates` is on, else one named
 *   in `disabledFeatureGates` is off, else its default for the running version;
 * - `DeclarativeHotplugVolumes` defaults to off up to v1.8 (Alpha) and on from v1.9 (Beta);
 *   `HotplugVolumes` defaults to off (Alpha, then Deprecated in v1.9);
 * - declarative hot-plug works only with `DeclarativeHotplugVolumes` on and `HotplugVolumes` off;
 *   with `DeclarativeHotplugVolumes` off the VM webhook also refuses an empty CD-ROM drive.
 */

export const HOTPLUG_CONDITION = 'MediaHotplugAvailable';

export const HOTPLUG_REASONS = {
  available: 'DeclarativeHotplugVolumes',
  gateOff: 'DeclarativeHotplugVolumesDisabled',
  legacyOn: 'HotplugVolumesEnabled',
  unreadable: 'KubeVirtConfigUnknown',
  noKubeVirt: 'KubeVirtNotFound',
  versionUnknown: 'KubeVirtVersionUnknown',
} as const;

/** What the agent knows: images reach a running VM, or why not. */
export interface HotplugSupport {
  readonly state: 'available' | 'gate-off' | 'legacy-on';
  /** The controller's words: the KubeVirt CR, its version, and what to change. */
  readonly message: string;
}

export interface KubeVirtCr {
  metadata: {
    name: string;
    namespace?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
  spec?: {
    configuration?: { developerConfiguration?: { featureGates?: unknown; disabledFeatureGates?: unknown } };
  };
  status?: { observedKubeVirtVersion?: string };
}

export type HotplugConditionValue = [status: 'True' | 'False' | 'Unknown', reason: string, message: string];

/** The KubeVirt CR in effect: the oldest one not being deleted (KubeVirt itself runs only one). */
export function activeKubeVirt<T extends KubeVirtCr>(list: readonly T[]): T | undefined {
  return [...list]
    .filter((kv) => !kv.metadata.deletionTimestamp)
    .sort((a, b) =>
      String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')),
    )[0];
}

/** `[major, minor]` of a KubeVirt version such as `v1.9.0` or `v1.8.2-rc.1`, or null. */
export function kubevirtMinor(version: string | undefined): [number, number] | null {
  const m = /^v?(\d+)\.(\d+)/.exec(version ?? '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** A gate's state: true/false, or null when it is not named and its default is not known. */
function gate(
  name: string,
  dev: Record<string, unknown> | undefined,
  defaultOn: boolean | null,
): boolean | null {
  const listed = (key: string) => {
    const v = dev?.[key];
    return Array.isArray(v) && v.includes(name);
  };
  if (listed('featureGates')) return true;
  if (listed('disabledFeatureGates')) return false;
  return defaultOn;
}

/**
 * The `MediaHotplugAvailable` condition for the KubeVirt CRs of the cluster (null: the controller
 * could not read them, e.g. an older ClusterRole without `kubevirts`).
 */
export function hotplugCondition(list: readonly KubeVirtCr[] | null): HotplugConditionValue {
  const R = HOTPLUG_REASONS;
  if (list === null) {
    return [
      'Unknown',
      R.unreadable,
      'the controller cannot read the KubeVirt CR (kubevirts.kubevirt.io); media changes on a running VM are attempted and the slot reports whether they arrive',
    ];
  }
  const kv = activeKubeVirt(list);
  if (!kv) {
    return ['Unknown', R.noKubeVirt, 'no KubeVirt CR in the cluster: is KubeVirt installed?'];
  }
  const where = `KubeVirt CR ${kv.metadata.namespace ? `${kv.metadata.namespace}/` : ''}${kv.metadata.name}`;
  const version = kv.status?.observedKubeVirtVersion;
  const minor = kubevirtMinor(version);
  const dev = kv.spec?.configuration?.developerConfiguration as Record<string, unknown> | undefined;
  const field = 'spec.configuration.developerConfiguration.featureGates';
  const who = `KubeVirt${version ? ` ${version}` : ''} (${where})`;
  // Beta from v1.9: on unless disabled; Alpha before: off unless named.
  const declarative = gate(
    'DeclarativeHotplugVolumes',
    dev,
    minor ? minor[0] > 1 || (minor[0] === 1 && minor[1] >= 9) : null,
  );
  const legacy = gate('HotplugVolumes', dev, false);
  if (declarative === false) {
    return [
      'False',
      R.gateOff,
      `${who} has the DeclarativeHotplugVolumes feature gate off: images do not reach a running VM and an empty CD-ROM drive (an eject) is refused; add DeclarativeHotplugVolumes to ${field}`,
    ];
  }
  if (legacy) {
    return [
      'False',
      R.legacyOn,
      `${who} has the legacy HotplugVolumes feature gate on, which turns declarative hot-plug off: an image inserted or ejected while the VM runs takes effect only at its next start; remove HotplugVolumes from ${field}`,
    ];
  }
  if (declarative === null) {
    return [
      'Unknown',
      R.versionUnknown,
      `${where} names neither DeclarativeHotplugVolumes nor its version (status.observedKubeVirtVersion), so its default is unknown (on from v1.9); add DeclarativeHotplugVolumes to ${field} to be sure`,
    ];
  }
  return [
    'True',
    R.available,
    `${who} hot-plugs volumes (DeclarativeHotplugVolumes on, HotplugVolumes off): an inserted image reaches the running VM`,
  ];
}

/** What the agent makes of its VirtualMachineBMC's conditions: undefined when nothing is known. */
export function hotplugFromConditions(
  conditions: readonly { type?: string; status?: string; reason?: string; message?: string }[] | undefined,
): HotplugSupport | undefined {
  const c = conditions?.find((x) => x.type === HOTPLUG_CONDITION);
  if (!c) return undefined;
  const message = c.message ?? '';
  if (c.status === 'True') return { state: 'available', message };
  if (c.status !== 'False') return undefined;
  if (c.reason === HOTPLUG_REASONS.gateOff) return { state: 'gate-off', message };
  if (c.reason === HOTPLUG_REASONS.legacyOn) return { state: 'legacy-on', message };
  return undefined;
}

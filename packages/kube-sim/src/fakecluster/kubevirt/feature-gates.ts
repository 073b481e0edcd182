/**
 * KubeVirt's feature gates as the fake reads them from the `KubeVirt` CR
 * (`spec.configuration.developerConfiguration.featureGates` / `disabledFeatureGates`), with the
 * defaults of KubeVirt v1.9.0 (pkg/virt-config/featuregate: `IsEnabled`, active.go, inactive.go):
 * a gate named in `featureGates` is on, else one named in `disabledFeatureGates` is off, else a
 * Beta gate is on and any other off. `DeclarativeHotplugVolumes` is Beta in v1.9.0 (Alpha, so off
 * unless named, in v1.6–v1.8); `HotplugVolumes` is Deprecated in v1.9.0 (on only when named).
 * Citations in docs/kubevirt.md ("Feature gates and hot-plug").
 */
import type { Obj } from './logic.ts';

export interface FeatureGates {
  readonly declarativeHotplugVolumes: boolean;
  readonly hotplugVolumes: boolean;
}

export const DECLARATIVE_HOTPLUG_VOLUMES = 'DeclarativeHotplugVolumes';
export const HOTPLUG_VOLUMES = 'HotplugVolumes';

/** What KubeVirt v1.9.0 enables when the KubeVirt CR names no gate. */
export const DEFAULT_GATES: FeatureGates = { declarativeHotplugVolumes: true, hotplugVolumes: false };

const BETA = new Set([DECLARATIVE_HOTPLUG_VOLUMES]);

function enabled(gate: string, dev: Obj | undefined): boolean {
  const on: unknown = dev?.featureGates;
  const off: unknown = dev?.disabledFeatureGates;
  if (Array.isArray(on) && on.includes(gate)) return true;
  if (Array.isArray(off) && off.includes(gate)) return false;
  return BETA.has(gate);
}

/** The gates of a KubeVirt CR (undefined: none installed, the defaults). */
export function featureGatesOf(kv: Obj | undefined): FeatureGates {
  const dev = kv?.spec?.configuration?.developerConfiguration;
  return {
    declarativeHotplugVolumes: enabled(DECLARATIVE_HOTPLUG_VOLUMES, dev),
    hotplugVolumes: enabled(HOTPLUG_VOLUMES, dev),
  };
}

/**
 * Whether virt-controller keeps a running VMI's hot-plug volumes in line with its VM's template:
 * only with DeclarativeHotplugVolumes on and the legacy HotplugVolumes off
 * (pkg/virt-controller/watch/vm/vm.go `handleDeclarativeVolumeHotplug`, v1.9.0).
 */
export function declarativeHotplugActive(g: FeatureGates): boolean {
  return g.declarativeHotplugVolumes && !g.hotplugVolumes;
}

/** The KubeVirt CR in effect among those listed: the oldest one not being deleted. */
export function activeKubeVirt(list: readonly Obj[]): Obj | undefined {
  return [...list]
    .filter((kv) => !kv.metadata?.deletionTimestamp)
    .sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')),
    )[0];
}

/**
 * PersistentVolumes as kube-apiserver and kube-controller-manager treat them, for the volumes the
 * fake CDI makes (a PersistentVolume pre-bound to its claim by namespace and name):
 *
 * - on create (the PV strategy and the StorageObjectInUseProtection admission plugin): phase
 *   Pending, `volumeMode: Filesystem`, reclaim policy Retain, a hostPath's `type: ""`, and the
 *   `kubernetes.io/pv-protection` finalizer;
 * - the PV binder: a volume pre-bound to a claim that exists is bound to it (the claimRef gets the
 *   claim's uid and resourceVersion, the volume goes Bound; the claim gets `spec.volumeName`, the
 *   `pv.kubernetes.io/bind-completed` and `bound-by-controller` annotations, and status Bound with
 *   the volume's access modes and capacity); an unclaimed volume is Available; a bound volume whose
 *   claim is gone is Released (whatever the reclaim policy: there is no volume plugin to recycle or
 *   delete it);
 * - pv-protection: a deleting volume that is not Bound loses its finalizer.
 *
 * A pre-bound volume binds whatever its class (as upstream), if its capacity covers the claim's
 * request and its volume mode is the claim's. Not done: matching claims to volumes that are not
 * pre-bound, dynamic provisioning, the claim's
 * `Unused` condition that kube-controller-manager 1.37 writes.
 */
import { parseQuantity } from '../../fakecluster/kubelet/env.ts';
import { clone, deepEqual } from '../patch.ts';
import type { Registry } from '../registry.ts';
import type { ResourceType } from '../resources.ts';
import type { Obj, StoreEvent } from '../store.ts';
import type { Scheduler } from '../timing.ts';

export const PV_PROTECTION = 'kubernetes.io/pv-protection';

/** A resource quantity as a number; NaN when it is not one. */
function quantity(q: unknown): number {
  try {
    return parseQuantity(String(q ?? ''));
  } catch {
    return Number.NaN;
  }
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class VolumeBinder {
  private readonly PV: ResourceType;
  private readonly PVC: ResourceType;
  private pending = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly reg: Registry,
    private readonly sched: Scheduler,
  ) {
    this.PV = reg.type('', 'persistentvolumes');
    this.PVC = reg.type('', 'persistentvolumeclaims');
    reg.addDefaulter('', 'persistentvolumes', (pv, old) => {
      if (old) return;
      pv.spec = { ...(pv.spec ?? {}) };
      pv.spec.persistentVolumeReclaimPolicy ??= 'Retain';
      pv.spec.volumeMode ??= 'Filesystem';
      if (pv.spec.hostPath) pv.spec.hostPath = { ...pv.spec.hostPath, type: pv.spec.hostPath.type ?? '' };
      pv.status = { phase: 'Pending', lastPhaseTransitionTime: now() };
      const fins: string[] = pv.metadata.finalizers ?? [];
      if (!fins.includes(PV_PROTECTION)) pv.metadata.finalizers = [...fins, PV_PROTECTION];
    });
    this.unsubscribe = reg.store.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe();
  }

  private onEvent(e: StoreEvent): void {
    if (e.key === '/persistentvolumes' || e.key === '/persistentvolumeclaims') this.kick();
  }

  private kick(): void {
    if (this.pending) return;
    this.pending = true;
    this.sched.soon(() => {
      this.pending = false;
      try {
        this.sync();
      } catch {
        // raced with a client's write: its event brings us back
        this.sched.after(20, () => this.kick());
      }
    });
  }

  private setPhase(pv: Obj, phase: string): Obj {
    const next = clone(pv);
    next.status = { ...(next.status ?? {}), phase, lastPhaseTransitionTime: now() };
    return this.reg.update(this.PV, undefined, pv.metadata.name, next, {
      subresource: 'status',
      internal: true,
    });
  }

  private sync(): void {
    for (const found of this.reg.store.list('/persistentvolumes')) {
      let pv = found;
      const name = pv.metadata.name;
      const phase = pv.status?.phase;
      if (pv.metadata.deletionTimestamp) {
        if (phase !== 'Bound' && (pv.metadata.finalizers ?? []).includes(PV_PROTECTION)) {
          const next = clone(pv);
          next.metadata.finalizers = next.metadata.finalizers.filter((f: string) => f !== PV_PROTECTION);
          this.reg.update(this.PV, undefined, name, next, { internal: true });
        }
        continue;
      }
      const ref = pv.spec?.claimRef;
      const claim = ref?.name ? this.reg.tryGet(this.PVC, ref.namespace, ref.name) : undefined;
      if (!ref) {
        if (phase !== 'Available') this.setPhase(pv, 'Available');
        continue;
      }
      if (ref.uid && claim?.metadata.uid !== ref.uid) {
        // the claim it was bound to is gone
        if (phase !== 'Released' && phase !== 'Failed') this.setPhase(pv, 'Released');
        continue;
      }
      if (!claim || claim.metadata.deletionTimestamp) {
        if (!ref.uid && phase !== 'Available') this.setPhase(pv, 'Available');
        continue;
      }
      const volumeName = claim.spec?.volumeName;
      if (volumeName && volumeName !== name) continue; // the claim asked for another volume
      // pre-bound by name: bound whatever the class, if it is large enough and of the claim's mode
      if (!volumeName) {
        const has = quantity(pv.spec.capacity?.storage);
        const wants = quantity(claim.spec?.resources?.requests?.storage);
        if (!(has >= wants)) continue;
        if ((pv.spec.volumeMode ?? 'Filesystem') !== (claim.spec?.volumeMode ?? 'Filesystem')) continue;
      }
      // bind the volume to the claim
      if (ref.uid !== claim.metadata.uid) {
        const next = clone(pv);
        next.spec.claimRef = {
          ...ref,
          uid: claim.metadata.uid,
          resourceVersion: claim.metadata.resourceVersion,
        };
        pv = this.reg.update(this.PV, undefined, name, next, { internal: true });
      }
      if (pv.status?.phase !== 'Bound') pv = this.setPhase(pv, 'Bound');
      // bind the claim to the volume
      let cur = claim;
      if (!volumeName || cur.metadata.annotations?.['pv.kubernetes.io/bind-completed'] !== 'yes') {
        const next = clone(cur);
        next.spec.volumeName = name;
        next.metadata.annotations = {
          ...(next.metadata.annotations ?? {}),
          'pv.kubernetes.io/bind-completed': 'yes',
          ...(volumeName ? {} : { 'pv.kubernetes.io/bound-by-controller': 'yes' }),
        };
        cur = this.reg.update(this.PVC, cur.metadata.namespace, cur.metadata.name, next, { internal: true });
      }
      const status = {
        ...(cur.status ?? {}),
        phase: 'Bound',
        accessModes: pv.spec.accessModes,
        capacity: pv.spec.capacity,
      };
      if (!deepEqual(status, cur.status ?? {})) {
        const next = clone(cur);
        next.status = status;
        this.reg.update(this.PVC, cur.metadata.namespace, cur.metadata.name, next, {
          subresource: 'status',
          internal: true,
        });
      }
    }
  }
}

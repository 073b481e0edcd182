/**
 * PersistentVolumes as the fake CDI uses them: a volume pre-bound to its claim by namespace and
 * name, which kube-controller-manager's PV binder binds once the claim exists, Released when the
 * claim goes, and pv-protection letting it go once it is not Bound. The real binder is
 * asynchronous, so these poll with bounded waits.
 */
import { type Check, check, gone, type Obj, ok, poll } from '../lib.ts';

const TABLE =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const PVS = '/api/v1/persistentvolumes';
const pvcs = (ns: string) => `/api/v1/namespaces/${ns}/persistentvolumeclaims`;

function preBound(name: string, ns: string, claim: string, storageClassName: string): Obj {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, labels: { 'kubevirtbmc.io/check': ns } },
    spec: {
      capacity: { storage: '2Gi' },
      accessModes: ['ReadWriteOnce'],
      storageClassName,
      persistentVolumeReclaimPolicy: 'Retain',
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name: claim },
      hostPath: { path: `/var/lib/check/${ns}/${claim}` },
    },
  };
}

function claim(name: string, storageClassName: string, storage = '1Gi'): Obj {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } }, storageClassName },
  };
}

/** The claim without the `Unused` condition kube-controller-manager 1.37 adds (see differences.ts). */
function claimShape(pvc: Obj): Obj {
  const { conditions: _conditions, ...status } = pvc.status ?? {};
  return { metadata: pvc.metadata, spec: pvc.spec, status };
}

function volumeShape(pv: Obj): Obj {
  return { metadata: pv.metadata, spec: pv.spec, status: pv.status };
}

export const storageChecks: Check[] = [
  check(
    'volumes/pre-bound',
    'A PersistentVolume pre-bound to a claim: defaults, bound once the claim exists, Released after it, deleted once not Bound',
    async (api, { ns }) => {
      const pvName = `${ns}-pv`;
      const created = ok(await api.post(PVS, preBound(pvName, ns, 'data', 'check-local')), 'create PV');
      const pvc = ok(await api.post(pvcs(ns), claim('data', 'check-local')), 'create PVC');
      const bound = await poll(async () => {
        const pv = (await api.get(`${PVS}/${pvName}`)).json;
        const c = (await api.get(`${pvcs(ns)}/data`)).json;
        return pv?.status?.phase === 'Bound' && c?.status?.phase === 'Bound' ? { pv, c } : undefined;
      }, 20_000);
      const table = await api.get(`${PVS}?labelSelector=kubevirtbmc.io%2Fcheck%3D${ns}`, { accept: TABLE });
      const rows = ((table.json?.rows ?? []) as Obj[]).map((r) => r.cells);
      const deleted = await api.del(`${pvcs(ns)}/data`);
      const released = await poll(async () => {
        const pv = (await api.get(`${PVS}/${pvName}`)).json;
        return pv?.status?.phase === 'Released' ? pv : undefined;
      }, 20_000);
      const delPv = await api.del(`${PVS}/${pvName}`);
      return {
        created: volumeShape(created),
        claim: claimShape(pvc),
        boundVolume: bound && volumeShape(bound.pv),
        boundClaim: bound && claimShape(bound.c),
        pvcConditions: ((bound?.c.status?.conditions ?? []) as Obj[]).map((c) => c.type),
        columns: ((table.json?.columnDefinitions ?? []) as Obj[]).map((c) => [c.name, c.priority]),
        rows: rows.map((cells: unknown[]) => cells.slice(0, -2)),
        deleteClaim: deleted.status,
        released: released && volumeShape(released),
        deleteVolume: { http: delPv.status, kind: delPv.json?.kind },
        volumeGone: await gone(api, `${PVS}/${pvName}`),
      };
    },
  ),

  check(
    'volumes/unclaimed',
    'A PersistentVolume for a claim that does not exist yet is Available; pre-bound, it binds whatever the class, but not to a claim asking for more',
    async (api, { ns }) => {
      const pvName = `${ns}-pv`;
      ok(await api.post(PVS, preBound(pvName, ns, 'later', 'class-a')), 'create PV');
      const available = await poll(async () => {
        const pv = (await api.get(`${PVS}/${pvName}`)).json;
        return pv?.status?.phase === 'Available' ? pv : undefined;
      }, 20_000);
      ok(await api.post(pvcs(ns), claim('later', 'class-a', '5Gi')), 'create PVC');
      // long enough for the real binder to have tried (it binds within ~0.1 s)
      await new Promise((r) => setTimeout(r, 1500));
      const pending = (await api.get(`${pvcs(ns)}/later`)).json;
      const pv = (await api.get(`${PVS}/${pvName}`)).json;
      await api.del(`${PVS}/${pvName}`);
      const volumeGone = await gone(api, `${PVS}/${pvName}`);
      // pre-bound by name, a volume of another class binds all the same
      const other = `${ns}-other`;
      ok(await api.post(PVS, preBound(other, ns, 'other', 'class-a')), 'create the other PV');
      ok(await api.post(pvcs(ns), claim('other', 'class-b')), 'create the other PVC');
      const otherBound = await poll(async () => {
        const c = (await api.get(`${pvcs(ns)}/other`)).json;
        return c?.status?.phase === 'Bound' ? c : undefined;
      }, 20_000);
      return {
        available: available?.status?.phase,
        claimPhase: pending?.status?.phase,
        claimVolume: pending?.spec?.volumeName ?? null,
        volumePhase: pv?.status?.phase,
        volumeGone,
        otherClass: otherBound?.spec?.volumeName === other,
      };
    },
  ),
];

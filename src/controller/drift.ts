/**
 * Drift detection. The API server fills in defaults the controller never set (imagePullPolicy,
 * clusterIP, terminationMessagePath…), so "live equals desired" would never hold. Instead the
 * desired object must be contained in the live one: every field the controller sets has the value
 * it wants, lists have exactly the wanted items, and security contexts match exactly (an extra
 * `privileged: true` added by someone is drift, not a default).
 */
import type { KObject } from './types.ts';

const EXACT_KEYS = new Set(['securityContext', 'rules', 'subjects', 'roleRef', 'selector', 'matchLabels']);

export function contains(desired: unknown, live: unknown, key = ''): boolean {
  if (EXACT_KEYS.has(key)) return deepEqual(desired, live);
  if (desired === null || typeof desired !== 'object') return desired === live;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return false;
    return desired.every((d, i) => contains(d, live[i]));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  const l = live as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) =>
    v === undefined ? true : contains(v, l[k], k),
  );
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

/** The parts of an object the controller owns, besides metadata: by kind. */
function ownedBody(obj: KObject): Record<string, unknown> {
  switch (obj.kind) {
    case 'Role':
      return { rules: obj.rules };
    case 'RoleBinding':
      return { roleRef: obj.roleRef, subjects: obj.subjects };
    case 'ServiceAccount':
      return { automountServiceAccountToken: obj.automountServiceAccountToken };
    case 'ConfigMap':
      // the data is the agent's (Redfish event subscriptions): only the metadata is the controller's
      return {};
    default:
      return { spec: obj.spec };
  }
}

function ownersEqual(desired: KObject, live: KObject): boolean {
  const d = (desired.metadata.ownerReferences ?? []).map((o) => `${o.uid}/${o.controller === true}`);
  const l = (live.metadata.ownerReferences ?? []).map((o) => `${o.uid}/${o.controller === true}`);
  return deepEqual(d.sort(), l.sort());
}

/** A human-readable reason when `live` has drifted from `desired`, or null when it has not. */
export function driftOf(desired: KObject, live: KObject): string | null {
  if (!contains(desired.metadata.labels ?? {}, live.metadata.labels ?? {})) return 'labels changed';
  if (!contains(desired.metadata.annotations ?? {}, live.metadata.annotations ?? {}))
    return 'annotations changed';
  if (!ownersEqual(desired, live)) return 'owner references changed';
  const body = ownedBody(desired);
  const liveBody = ownedBody(live);
  for (const [k, v] of Object.entries(body)) {
    if (!contains(v, liveBody[k], k)) return `${k} changed`;
  }
  return null;
}

/** True when the change cannot be made in place (an immutable field differs): delete and recreate. */
export function needsRecreate(desired: KObject, live: KObject): boolean {
  if (desired.kind === 'RoleBinding') return !deepEqual(desired.roleRef, live.roleRef);
  if (desired.kind === 'Deployment') return !deepEqual(desired.spec?.selector, live.spec?.selector);
  return false;
}

/**
 * The object to PUT to correct drift: the live object (for its resourceVersion and server-owned
 * fields) with the controller's fields replaced by the desired ones.
 */
export function mergeForUpdate(desired: KObject, live: KObject): KObject {
  const out: KObject = {
    ...live,
    metadata: {
      ...live.metadata,
      labels: { ...(live.metadata.labels ?? {}), ...(desired.metadata.labels ?? {}) },
      annotations: { ...(live.metadata.annotations ?? {}), ...(desired.metadata.annotations ?? {}) },
      ownerReferences: desired.metadata.ownerReferences ?? [],
    },
  };
  if (Object.keys(out.metadata.annotations ?? {}).length === 0) delete out.metadata.annotations;
  switch (desired.kind) {
    case 'Role':
      out.rules = desired.rules;
      break;
    case 'RoleBinding':
      out.subjects = desired.subjects;
      break;
    case 'ServiceAccount':
      out.automountServiceAccountToken = desired.automountServiceAccountToken;
      break;
    case 'ConfigMap':
      break;
    case 'Service': {
      // clusterIP is immutable and node ports are allocated by the server: keep the live ones
      // unless the BMC asks for fixed node ports.
      const liveSpec = live.spec ?? {};
      const livePorts: Array<Record<string, unknown>> = liveSpec.ports ?? [];
      const spec = { ...desired.spec };
      for (const k of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy']) {
        if (liveSpec[k] !== undefined) spec[k] = liveSpec[k];
      }
      if (spec.type !== 'ClusterIP') {
        spec.ports = (spec.ports as Array<Record<string, unknown>>).map((p) => {
          if (p.nodePort !== undefined) return p;
          const old = livePorts.find((lp) => lp.name === p.name && lp.protocol === p.protocol);
          return old?.nodePort !== undefined ? { ...p, nodePort: old.nodePort } : p;
        });
      }
      out.spec = spec;
      break;
    }
    default:
      out.spec = desired.spec;
  }
  return out;
}

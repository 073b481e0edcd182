/**
 * A container's environment as a kubelet computes it: `envFrom` (ConfigMaps and Secrets, with a
 * prefix), then `env` in order (`value` with `$(VAR)` expansion, `fieldRef`, `resourceFieldRef`,
 * `secretKeyRef`, `configMapKeyRef`, each optional or not). A missing non-optional source is an
 * `EnvError`, which the kubelet reports as CreateContainerConfigError and retries.
 */
import { parseQuantity as parseKubeQuantity } from '../../../../../src/kube/quantity.ts';
import type { Container, Pod } from './types.ts';

export class EnvError extends Error {}

export interface EnvSources {
  /** The pod's address and its node's, as the process sees them. */
  podIP: string;
  hostIP: string;
  /** The node's allocatable resources (the default of limits a container does not set). */
  allocatable: Record<string, string>;
  /** A Secret's data decoded, or undefined when it does not exist. */
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** A ConfigMap's data, or undefined when it does not exist. */
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/**
 * Kubernetes' variable references: `$(NAME)` becomes the variable's value when it is defined and
 * stays as written when it is not; `$$` is a literal `$` (so `$$(NAME)` gives `$(NAME)`).
 */
export function expand(input: string, vars: Readonly<Record<string, string>>): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      i++;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
      out += value ?? input.slice(i, close + 1);
      i = close + 1;
    } else {
      out += '$';
      i++;
    }
  }
  return out;
}

/** A resource quantity (`100m`, `64Mi`, `1e3`, `2`) as a number of base units. */
export function parseQuantity(q: string | number): number {
  const v = parseKubeQuantity(q);
  if (v === null) throw new EnvError(`invalid quantity ${JSON.stringify(q)}`);
  return v;
}

function fieldValue(pod: Pod, path: string, src: EnvSources): string {
  const indexed = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (indexed) {
    const map = indexed[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[indexed[2]!] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'metadata.labels':
    case 'metadata.annotations': {
      const map = (path === 'metadata.labels' ? pod.metadata.labels : pod.metadata.annotations) ?? {};
      return Object.entries(map)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join('\n');
    }
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return src.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return src.hostIP;
    default:
      throw new EnvError(`unsupported fieldRef fieldPath ${JSON.stringify(path)}`);
  }
}

function resourceValue(
  pod: Pod,
  self: Container,
  ref: { resource: string; containerName?: string; divisor?: string | number },
  src: EnvSources,
): string {
  const c = ref.containerName ? pod.spec?.containers?.find((x) => x.name === ref.containerName) : self;
  if (!c) throw new EnvError(`resourceFieldRef names no container ${JSON.stringify(ref.containerName)}`);
  const [kind, resource] = ref.resource.split('.', 2) as [string, string | undefined];
  if (!resource || (kind !== 'limits' && kind !== 'requests'))
    throw new EnvError(`unsupported resourceFieldRef resource ${JSON.stringify(ref.resource)}`);
  const limit = c.resources?.limits?.[resource];
  const raw =
    kind === 'limits'
      ? (limit ?? src.allocatable[resource] ?? '0')
      : (c.resources?.requests?.[resource] ?? limit ?? '0');
  const divisor = parseQuantity(ref.divisor ?? 1) || 1;
  return String(Math.ceil(parseQuantity(raw) / divisor - 1e-9));
}

/** The container's environment (without what the kubelet adds itself: KUBECONFIG, POD_IP, the port map). */
export async function resolveEnv(pod: Pod, c: Container, src: EnvSources): Promise<Record<string, string>> {
  const ns = pod.metadata.namespace ?? 'default';
  const env: Record<string, string> = {};
  const secrets = new Map<string, Promise<Record<string, string> | undefined>>();
  const configMaps = new Map<string, Promise<Record<string, string> | undefined>>();
  const secret = (name: string) => {
    const p = secrets.get(name) ?? src.secret(ns, name);
    secrets.set(name, p);
    return p;
  };
  const configMap = (name: string) => {
    const p = configMaps.get(name) ?? src.configMap(ns, name);
    configMaps.set(name, p);
    return p;
  };
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const isSecret = !from.configMapRef;
    const data = await (isSecret ? secret(ref.name) : configMap(ref.name));
    if (!data) {
      if (ref.optional) continue;
      throw new EnvError(`${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      env[e.name] = expand(String(e.value ?? ''), env);
    } else if (vf.fieldRef) {
      env[e.name] = fieldValue(pod, vf.fieldRef.fieldPath, src);
    } else if (vf.resourceFieldRef) {
      env[e.name] = resourceValue(pod, c, vf.resourceFieldRef, src);
    } else if (vf.secretKeyRef || vf.configMapKeyRef) {
      const isSecret = !!vf.secretKeyRef;
      const ref = (vf.secretKeyRef ?? vf.configMapKeyRef)!;
      const data = await (isSecret ? secret(ref.name) : configMap(ref.name));
      const kind = isSecret ? 'Secret' : 'ConfigMap';
      if (!data) {
        if (ref.optional) continue;
        throw new EnvError(`${kind.toLowerCase()} "${ref.name}" not found`);
      }
      const value = data[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new EnvError(`couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}`);
      }
      env[e.name] = value;
    }
  }
  return env;
}

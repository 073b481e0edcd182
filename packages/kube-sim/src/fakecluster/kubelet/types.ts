/** The parts of core/v1 objects the fake node reads and writes. */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
  }>;
  [k: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string; containerName?: string; divisor?: string | number };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface Probe {
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: string;
    httpHeaders?: Array<{ name: string; value: string }>;
  };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command?: string[] };
  grpc?: { port: number };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
}

export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string | null;
  [k: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    serviceAccount?: string;
    automountServiceAccountToken?: boolean;
    restartPolicy?: string;
    terminationGracePeriodSeconds?: number;
    containers?: Container[];
    initContainers?: Container[];
    [k: string]: unknown;
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    hostIP?: string;
    conditions?: PodCondition[];
    containerStatuses?: unknown[];
    startTime?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
}

export interface Service {
  metadata: ObjectMeta;
  spec?: { selector?: Record<string, string>; ports?: ServicePort[]; [k: string]: unknown };
  [k: string]: unknown;
}

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The annotation on each pod: declared `"<containerPort>/<PROTO>"` → its 127.0.0.1 host port. */
export const HOST_PORTS_ANNOTATION = 'sim.kubevirtbmc.io/host-ports';
/** The annotation on each Service: `"<servicePort>/<PROTO>"` → `127.0.0.1:<hostPort>` (as packages/kube-sim/src/embedded writes it). */
export const ENDPOINTS_ANNOTATION = 'sim.kubevirtbmc.io/endpoints';

/** `2025-01-02T03:04:05Z`: Kubernetes' `metav1.Time` (seconds). */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `2025-01-02T03:04:05.123000Z`: Kubernetes' `metav1.MicroTime`. */
export function microNow(): string {
  return new Date().toISOString().replace(/Z$/, '000Z');
}

/** `registry.example/org/kubevirtbmc:v1` → `registry.example/org/kubevirtbmc`. */
export function imageRepository(image: string): string {
  let s = image.split('@')[0]!;
  const slash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  if (colon > slash) s = s.slice(0, colon);
  return s;
}

/** Whether a container runs the agent (its image repository ends in `kubevirtbmc`). */
export function isAgentImage(image: string | undefined): boolean {
  return !!image && imageRepository(image).endsWith('kubevirtbmc');
}

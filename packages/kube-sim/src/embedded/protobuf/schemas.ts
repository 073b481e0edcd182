/**
 * The protobuf field numbers of the Kubernetes kinds that `kubectl create <kind>`, `kubectl create
 * secret|configmap|serviceaccount|role|rolebinding|…`, `kubectl create deployment`, `kubectl run`
 * and `kubectl expose` send (kubectl 1.32 sends built-in kinds as protobuf). Field numbers are those of
 * k8s.io/api and k8s.io/apimachinery; only the fields these commands can set are listed. A field
 * that is not listed is accepted when it carries nothing (Go's encoder writes every non-pointer
 * field, empty or not) and refused otherwise, so nothing a client sends is silently dropped.
 */

export type Scalar = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'intstr' | 'quantity';

export interface FieldSpec {
  name: string;
  type: Scalar | { message: string } | 'skip';
  repeated?: boolean;
  /** `map<string, V>` with V of this type (encoded as repeated key = 1, value = 2 entries). */
  map?: Scalar;
  /** A pointer in Go: present on the wire only when set, so a zero or false value is kept. */
  keepZero?: boolean;
}

export type MessageSpec = Readonly<Record<number, FieldSpec>>;

const str = (name: string): FieldSpec => ({ name, type: 'string' });
const strs = (name: string): FieldSpec => ({ name, type: 'string', repeated: true });
const int = (name: string, keepZero = false): FieldSpec => ({ name, type: 'int', keepZero });
const bool = (name: string, keepZero = false): FieldSpec => ({ name, type: 'bool', keepZero });
const msg = (name: string, message: string): FieldSpec => ({ name, type: { message } });
const msgs = (name: string, message: string): FieldSpec => ({ name, type: { message }, repeated: true });
const map = (name: string, of: Scalar): FieldSpec => ({ name, type: of, map: of });
const skip = (name: string): FieldSpec => ({ name, type: 'skip' });

export const MESSAGES: Readonly<Record<string, MessageSpec>> = {
  // k8s.io/apimachinery/pkg/apis/meta/v1
  ObjectMeta: {
    1: str('name'),
    2: str('generateName'),
    3: str('namespace'),
    4: skip('selfLink'),
    5: str('uid'),
    6: str('resourceVersion'),
    7: int('generation'),
    8: { name: 'creationTimestamp', type: 'time' },
    9: { name: 'deletionTimestamp', type: 'time' },
    10: int('deletionGracePeriodSeconds', true),
    11: map('labels', 'string'),
    12: map('annotations', 'string'),
    13: msgs('ownerReferences', 'OwnerReference'),
    14: strs('finalizers'),
    17: skip('managedFields'),
  },
  OwnerReference: {
    1: str('kind'),
    3: str('name'),
    4: str('uid'),
    5: str('apiVersion'),
    6: bool('controller', true),
    7: bool('blockOwnerDeletion', true),
  },
  LabelSelector: {
    1: map('matchLabels', 'string'),
    2: msgs('matchExpressions', 'LabelSelectorRequirement'),
  },
  LabelSelectorRequirement: { 1: str('key'), 2: str('operator'), 3: strs('values') },

  // k8s.io/api/core/v1
  Namespace: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'NamespaceSpec'), 3: skip('status') },
  NamespaceSpec: { 1: strs('finalizers') },
  Secret: {
    1: msg('metadata', 'ObjectMeta'),
    2: map('data', 'bytes'),
    3: str('type'),
    4: map('stringData', 'string'),
    5: bool('immutable', true),
  },
  ConfigMap: {
    1: msg('metadata', 'ObjectMeta'),
    2: map('data', 'string'),
    3: map('binaryData', 'bytes'),
    4: bool('immutable', true),
  },
  ServiceAccount: {
    1: msg('metadata', 'ObjectMeta'),
    2: msgs('secrets', 'ObjectReference'),
    3: msgs('imagePullSecrets', 'LocalObjectReference'),
    4: bool('automountServiceAccountToken', true),
  },
  ObjectReference: {
    1: str('kind'),
    2: str('namespace'),
    3: str('name'),
    4: str('uid'),
    5: str('apiVersion'),
    6: str('resourceVersion'),
    7: str('fieldPath'),
  },
  LocalObjectReference: { 1: str('name') },
  Service: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'ServiceSpec'), 3: skip('status') },
  ServiceSpec: {
    1: msgs('ports', 'ServicePort'),
    2: map('selector', 'string'),
    3: str('clusterIP'),
    4: str('type'),
    5: strs('externalIPs'),
    7: str('sessionAffinity'),
    8: str('loadBalancerIP'),
    9: strs('loadBalancerSourceRanges'),
    10: str('externalName'),
    11: str('externalTrafficPolicy'),
    12: int('healthCheckNodePort'),
    13: bool('publishNotReadyAddresses'),
    17: str('ipFamilyPolicy'),
    18: strs('clusterIPs'),
    19: strs('ipFamilies'),
    20: bool('allocateLoadBalancerNodePorts', true),
    21: str('loadBalancerClass'),
    22: str('internalTrafficPolicy'),
    23: str('trafficDistribution'),
  },
  ServicePort: {
    1: str('name'),
    2: str('protocol'),
    3: int('port'),
    4: { name: 'targetPort', type: 'intstr' },
    5: int('nodePort'),
    6: str('appProtocol'),
  },
  Pod: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'PodSpec'), 3: skip('status') },
  PodTemplateSpec: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'PodSpec') },
  PodSpec: {
    2: msgs('containers', 'Container'),
    3: str('restartPolicy'),
    4: int('terminationGracePeriodSeconds', true),
    6: str('dnsPolicy'),
    7: map('nodeSelector', 'string'),
    8: str('serviceAccountName'),
    9: str('serviceAccount'),
    15: msgs('imagePullSecrets', 'LocalObjectReference'),
    19: str('schedulerName'),
    20: msgs('initContainers', 'Container'),
  },
  Container: {
    1: str('name'),
    2: str('image'),
    3: strs('command'),
    4: strs('args'),
    5: str('workingDir'),
    6: msgs('ports', 'ContainerPort'),
    7: msgs('env', 'EnvVar'),
    8: msg('resources', 'ResourceRequirements'),
    13: str('terminationMessagePath'),
    14: str('imagePullPolicy'),
    16: bool('stdin'),
    17: bool('stdinOnce'),
    18: bool('tty'),
    20: str('terminationMessagePolicy'),
  },
  ContainerPort: {
    1: str('name'),
    2: int('hostPort'),
    3: int('containerPort'),
    4: str('protocol'),
    5: str('hostIP'),
  },
  EnvVar: { 1: str('name'), 2: str('value') },
  ResourceRequirements: { 1: map('limits', 'quantity'), 2: map('requests', 'quantity') },

  // k8s.io/api/apps/v1
  Deployment: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'DeploymentSpec'), 3: skip('status') },
  DeploymentSpec: {
    1: int('replicas', true),
    2: msg('selector', 'LabelSelector'),
    3: msg('template', 'PodTemplateSpec'),
    4: msg('strategy', 'DeploymentStrategy'),
    5: int('minReadySeconds'),
    6: int('revisionHistoryLimit', true),
    7: bool('paused'),
    9: int('progressDeadlineSeconds', true),
  },
  DeploymentStrategy: { 1: str('type'), 2: msg('rollingUpdate', 'RollingUpdateDeployment') },
  RollingUpdateDeployment: {
    1: { name: 'maxUnavailable', type: 'intstr' },
    2: { name: 'maxSurge', type: 'intstr' },
  },

  // k8s.io/api/rbac/v1
  Role: { 1: msg('metadata', 'ObjectMeta'), 2: msgs('rules', 'PolicyRule') },
  ClusterRole: {
    1: msg('metadata', 'ObjectMeta'),
    2: msgs('rules', 'PolicyRule'),
    3: msg('aggregationRule', 'AggregationRule'),
  },
  AggregationRule: { 1: msgs('clusterRoleSelectors', 'LabelSelector') },
  PolicyRule: {
    1: strs('verbs'),
    2: strs('apiGroups'),
    3: strs('resources'),
    4: strs('resourceNames'),
    5: strs('nonResourceURLs'),
  },
  RoleBinding: {
    1: msg('metadata', 'ObjectMeta'),
    2: msgs('subjects', 'Subject'),
    3: msg('roleRef', 'RoleRef'),
  },
  ClusterRoleBinding: {
    1: msg('metadata', 'ObjectMeta'),
    2: msgs('subjects', 'Subject'),
    3: msg('roleRef', 'RoleRef'),
  },
  Subject: { 1: str('kind'), 2: str('apiGroup'), 3: str('name'), 4: str('namespace') },
  RoleRef: { 1: str('apiGroup'), 2: str('kind'), 3: str('name') },
};

/** The kinds that can arrive as protobuf, by apiVersion and kind, and their message. */
export const KINDS: Readonly<Record<string, string>> = {
  'v1/Namespace': 'Namespace',
  'v1/Secret': 'Secret',
  'v1/ConfigMap': 'ConfigMap',
  'v1/ServiceAccount': 'ServiceAccount',
  'v1/Service': 'Service',
  'v1/Pod': 'Pod',
  'apps/v1/Deployment': 'Deployment',
  'rbac.authorization.k8s.io/v1/Role': 'Role',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'ClusterRole',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'ClusterRoleBinding',
};

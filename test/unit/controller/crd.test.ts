import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { missingClients } from '../../support/clients.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
// biome-ignore lint/suspicious/noExplicitAny: YAML document
const crd: any = parse(readFileSync(`${ROOT}deploy/crd/virtualmachinebmcs.yaml`, 'utf8'));
const version = crd.spec.versions[0];

/** The structural schema without the Kubernetes-only keywords JSON Schema does not know. */
function jsonSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(jsonSchema);
  if (!s || typeof s !== 'object') return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s))
    if (!k.startsWith('x-kubernetes-') && k !== 'default') out[k] = jsonSchema(v);
  return out;
}

const validate = new Ajv({ strict: false, allErrors: true }).compile(
  jsonSchema(version.schema.openAPIV3Schema) as object,
);

test('CRD names, short name, status subresource and printer columns', () => {
  assert.equal(crd.metadata.name, 'virtualmachinebmcs.bmc.kubevirt.io');
  assert.equal(version.name, 'v1beta1');
  assert.ok(crd.spec.names.shortNames.includes('vmbmc'));
  assert.deepEqual(version.subresources, { status: {} });
  assert.deepEqual(
    version.additionalPrinterColumns.map((c: { name: string }) => c.name),
    ['VM', 'Ready', 'IPMI', 'Redfish', 'Age'],
  );
});

test('the sample and an upstream-style manifest are valid', () => {
  const docs = parseAllDocuments(readFileSync(`${ROOT}deploy/samples/virtualmachinebmc.yaml`, 'utf8')).map(
    (d) => d.toJSON(),
  );
  assert.ok(validate(docs[0]), JSON.stringify(validate.errors));
  const upstream = {
    apiVersion: 'bmc.kubevirt.io/v1beta1',
    kind: 'VirtualMachineBMC',
    metadata: { name: 'x' },
    spec: { virtualMachineRef: { name: 'vm' }, authSecretRef: { name: 's' } },
  };
  assert.ok(validate(upstream));
});

test('bad objects fail the schema', () => {
  const base = { virtualMachineRef: { name: 'vm' }, authSecretRef: { name: 's' } };
  for (const spec of [
    { virtualMachineRef: { name: 'vm' } },
    { ...base, virtualMachineRef: { name: 'Bad_Name' } },
    { ...base, service: { type: 'Magic' } },
    { ...base, service: { type: 'NodePort', ipmiNodePort: 80 } },
    { ...base, ipmi: { enabled: 'yes' } },
  ]) {
    assert.equal(validate({ spec }), false, JSON.stringify(spec));
  }
});

test('the CEL rules are present with readable messages', () => {
  const spec = version.schema.openAPIV3Schema.properties.spec;
  assert.deepEqual(
    spec['x-kubernetes-validations'].map((r: { message: string }) => r.message),
    ['at least one protocol must be enabled (spec.ipmi.enabled or spec.redfish.enabled)'],
  );
  assert.match(
    spec.properties.service['x-kubernetes-validations'][0].message,
    /need service type NodePort or LoadBalancer/,
  );
});

test('kubectl kustomize deploy/ renders the install', { skip: missingClients('kubectl') }, () => {
  const r = spawnSync('kubectl', ['kustomize', `${ROOT}deploy/`], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const kinds = parseAllDocuments(r.stdout).map(
    (d) => `${d.get('kind')}/${(d.toJSON() as { metadata: { name: string } }).metadata.name}`,
  );
  assert.deepEqual(kinds.sort(), [
    'ClusterRole/kubevirtbmc-controller',
    'ClusterRoleBinding/kubevirtbmc-controller',
    'CustomResourceDefinition/virtualmachinebmcs.bmc.kubevirt.io',
    'Deployment/kubevirtbmc-controller',
    'Namespace/kubevirtbmc-system',
    'Role/kubevirtbmc-controller-self',
    'Role/kubevirtbmc-leader-election',
    'RoleBinding/kubevirtbmc-controller-self',
    'RoleBinding/kubevirtbmc-leader-election',
    'ServiceAccount/kubevirtbmc-controller',
    'ValidatingAdmissionPolicy/kubevirtbmc-agent-datavolumes',
    'ValidatingAdmissionPolicy/kubevirtbmc-agent-secrets',
    'ValidatingAdmissionPolicy/kubevirtbmc-controller-secrets',
    'ValidatingAdmissionPolicyBinding/kubevirtbmc-agent-datavolumes',
    'ValidatingAdmissionPolicyBinding/kubevirtbmc-agent-secrets',
    'ValidatingAdmissionPolicyBinding/kubevirtbmc-controller-secrets',
  ]);
});

/**
 * `spec.redfish.virtualMedia` of a VirtualMachineBMC: the CRD accepts the settings and refuses bad
 * ones (additively: a BMC without them is unchanged), the shared agent's definition carries them, and
 * a per-VM agent's pod template changes (so it restarts and reads them) only when they are set.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { definitionFromBmc } from '../../../src/agent/sources.ts';
import { perVmDeployment } from '../../../src/controller/builders.ts';
import type { VirtualMachineBMC } from '../../../src/controller/types.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
// biome-ignore lint/suspicious/noExplicitAny: YAML document
const crd: any = parse(readFileSync(`${ROOT}deploy/crd/virtualmachinebmcs.yaml`, 'utf8'));

function jsonSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(jsonSchema);
  if (!s || typeof s !== 'object') return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s))
    if (!k.startsWith('x-kubernetes-') && k !== 'default') out[k] = jsonSchema(v);
  return out;
}
const validate = new Ajv({ strict: false, allErrors: true }).compile(
  jsonSchema(crd.spec.versions[0].schema.openAPIV3Schema) as object,
);

const virtualMedia = {
  storage: {
    storageClassName: 'fast-local',
    volumeMode: 'Block' as const,
    accessModes: ['ReadWriteOnce'],
    size: '6Gi',
    maxSize: '40Gi',
  },
  tls: { certConfigMap: 'images-ca' },
  importRetries: 5,
};
const base = { virtualMachineRef: { name: 'vm' }, authSecretRef: { name: 's' } };

test('the CRD accepts spec.redfish.virtualMedia and refuses bad values', () => {
  assert.ok(validate({ spec: { ...base, redfish: { virtualMedia } } }), JSON.stringify(validate.errors));
  for (const bad of [
    { storage: { volumeMode: 'Raw' } },
    { storage: { accessModes: ['ReadWriteSometimes'] } },
    { storage: { size: 'large' } },
    { storage: { storageClassName: 'Bad_Class' } },
    { tls: { insecureSkipVerify: 'yes' } },
    { importRetries: 0 },
    { importRetries: 21 },
  ]) {
    assert.equal(validate({ spec: { ...base, redfish: { virtualMedia: bad } } }), false, JSON.stringify(bad));
  }
  const tls =
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.redfish.properties.virtualMedia
      .properties.tls;
  assert.equal(
    tls['x-kubernetes-validations'][0].message,
    'set either certConfigMap or insecureSkipVerify, not both',
  );
});

const bmc = (withMedia: boolean): VirtualMachineBMC => ({
  apiVersion: 'bmc.kubevirt.io/v1beta1',
  kind: 'VirtualMachineBMC',
  metadata: { name: 'b', namespace: 'ns', uid: 'u-1' },
  spec: { ...base, ...(withMedia ? { redfish: { virtualMedia } } : {}) } as VirtualMachineBMC['spec'],
  status: { placement: 'shared', ports: { ipmi: 20000, redfish: 20001 } },
});

test('the shared agent gets the settings with the BMC definition', () => {
  assert.deepEqual(definitionFromBmc(bmc(true))?.media, virtualMedia);
  assert.equal(definitionFromBmc(bmc(false))?.media, undefined);
});

test('a per-VM agent restarts when the settings change, and not for BMCs without them', () => {
  const annotation = (b: VirtualMachineBMC) =>
    perVmDeployment(b, 1, { image: 'x' }).spec.template.metadata.annotations?.[
      'bmc.kubevirt.io/virtual-media'
    ];
  assert.equal(annotation(bmc(false)), undefined);
  const one = annotation(bmc(true));
  assert.match(one, /^[0-9a-f]{16}$/);
  const changed = bmc(true);
  changed.spec.redfish!.virtualMedia = { ...virtualMedia, importRetries: 4 };
  assert.notEqual(annotation(changed), one);
});

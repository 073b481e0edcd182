import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MediaSlot } from '../../../src/machine/index.ts';
import {
  KUBEVIRT_VIRTUAL_MEDIA_OEM_TYPE,
  renderVirtualMedia,
} from '../../../src/redfish/resources/virtual-media.ts';

/**
 * `Oem.KubeVirt` in a VirtualMedia names its type, as Redfish requires of every OEM object (the DMTF
 * Service Validator reports it missing otherwise), and the OEM schema it names
 * (test/fixtures/redfish/oem/KubeVirt_v1.xml) declares every property and value the service emits.
 */
const CSDL = readFileSync(join(import.meta.dirname, '../../fixtures/redfish/oem/KubeVirt_v1.xml'), 'utf8');

const slot = (state: MediaSlot['state']): MediaSlot => ({
  id: 'Cd',
  name: 'Virtual CD',
  mediaTypes: ['CD', 'DVD'],
  state,
  image: state === 'Empty' ? null : 'https://example.com/boot.iso',
  imageName: state === 'Empty' ? null : 'boot.iso',
  writeProtected: true,
  transferProtocol: state === 'Empty' ? null : 'HTTPS',
  progressPercent: state === 'Inserting' ? 40 : null,
  message: state === 'Failed' ? 'download failed' : null,
});

test('Oem.KubeVirt carries @odata.type #KubeVirt.v1_0_0.VirtualMedia in every state', () => {
  for (const state of ['Empty', 'Inserting', 'Inserted', 'Ejecting', 'Failed'] as const) {
    const body = renderVirtualMedia('/redfish/v1/Managers/BMC/VirtualMedia/Cd', slot(state)) as {
      Oem: { KubeVirt: Record<string, unknown> };
    };
    assert.equal(body.Oem.KubeVirt['@odata.type'], '#KubeVirt.v1_0_0.VirtualMedia', state);
    assert.equal(body.Oem.KubeVirt.MediaState, state);
  }
  assert.equal(KUBEVIRT_VIRTUAL_MEDIA_OEM_TYPE, '#KubeVirt.v1_0_0.VirtualMedia');
});

test('the OEM schema declares that type, each of its properties and each MediaState', () => {
  assert.match(CSDL, /<Schema [^>]*Namespace="KubeVirt\.v1_0_0">/);
  assert.match(CSDL, /<ComplexType Name="VirtualMedia" BaseType="Resource\.OemObject">/);
  const body = renderVirtualMedia('/x', slot('Inserting')) as { Oem: { KubeVirt: Record<string, unknown> } };
  for (const p of Object.keys(body.Oem.KubeVirt).filter((k) => !k.startsWith('@'))) {
    assert.match(CSDL, new RegExp(`<Property Name="${p}"`), p);
  }
  for (const s of ['Empty', 'Inserting', 'Inserted', 'Ejecting', 'Failed']) {
    assert.match(CSDL, new RegExp(`<Member Name="${s}"/>`), s);
  }
});

/**
 * Ironic's virtual-media boot of a running node: insert the image, set boot-once Cd, reset at once.
 * With realistic timing the CDI import is still running when the reset arrives; the backend holds
 * the reset until the image is attached, so the guest really boots the image (a reset passed on at
 * once would boot an empty drive: the image is hot-plugged only after its import).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kubevirtEnv, uniqueName, vmManifest } from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

const env = kubevirtEnv('realistic');

test('insert, boot-once Cd and an immediate reset boot the guest from the inserted image', {
  timeout: 120_000,
}, async () => {
  const name = uniqueName('vmreset');
  await env.user.createVm(vmManifest(name, { runStrategy: 'Always' }));
  const m = env.backend.machine(name);
  await waitFor(() => m.getPowerState() === 'On', { timeoutMs: 30_000, what: 'VM running' });

  const console = await m.openConsole();
  let text = '';
  console.on((e) => {
    if (e.type === 'data') text += new TextDecoder().decode(e.data);
  });

  // The first boot ends at the login prompt (KubeVirt replays nothing to a new reader: Enter brings
  // the prompt back if it went by before the attach); look only past it.
  await waitFor(
    () => {
      if (text.includes('login:')) return true;
      console.write(new TextEncoder().encode('\r'));
      return false;
    },
    { timeoutMs: 30_000, intervalMs: 300, what: 'the first boot' },
  );
  const mark = text.length;
  const image = 'http://images.example/installer-9.iso';
  const accepted = await m.insertMedia('Cd', { image });
  assert.equal(accepted.state, 'Inserting', 'the import takes a while with realistic timing');
  await m.setBootOverride({ target: 'Cd', persistence: 'Once' });
  await m.power('ForceRestart');
  assert.equal(
    m.getMediaSlots()[0]!.state,
    'Inserting',
    'the reset was accepted while the image still imports',
  );

  const booted = await waitFor(() => /Booting from [^\r\n]*/.exec(text.slice(mark))?.[0], {
    timeoutMs: 90_000,
    intervalMs: 50,
    what: 'the guest to boot after the reset',
  });
  assert.match(booted, /CD-ROM 'cdrom' \(image http:\/\/images\.example\/installer-9\.iso\)/, text);
  assert.equal(m.getMediaSlots()[0]!.state, 'Inserted');
  await console.close();
});

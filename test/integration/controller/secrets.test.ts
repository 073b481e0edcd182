/**
 * The controller reads only the Secrets VirtualMachineBMCs name: it labels each one
 * bmc.kubevirt.io/bmc-secret and lists and watches Secrets with that label only, so Secrets no BMC
 * names (other applications' passwords, tokens, certificates) never reach it. It changes nothing
 * of a Secret but that label.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BmcController } from '../../../src/controller/controller.ts';
import { LABEL_BMC_SECRET } from '../../../src/controller/secrets.ts';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
import { bmcYaml, secretYaml, TestCluster, vmYaml } from './helpers.ts';

const IMAGE = 'ghcr.io/kubevirtbmc-project/kubevirtbmc:test';

describe('the Secrets the controller reads', { skip: missingClients('kubectl'), timeout: 300_000 }, () => {
  let c: TestCluster;
  let controller: BmcController;
  const controllerRequests = () =>
    c.sim.stats.requests().filter((r) => r.userAgent?.startsWith('kubevirtbmc-controller'));

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    await c.kubectlOk(['create', 'namespace', 'secrets-test']);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        secretYaml('secrets-test', 'someone-elses', 'app', 'not-for-the-bmc'),
        vmYaml('secrets-test', 'vm-a'),
        secretYaml('secrets-test', 'auth-a', 'admin', 'pw-a'),
        bmcYaml('secrets-test', 'bmc-a', 'vm-a', 'auth-a'),
      ].join('---\n'),
    );
    c.sim.stats.reset();
    controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement: 'per-vm',
      agent: { image: IMAGE },
    });
    await controller.start();
    await c.waitCondition('secrets-test', 'bmc-a', 'Ready', 'True', 120_000);
  });
  after(async () => {
    await controller?.stop();
    await c?.stop();
  });

  test('a named Secret gets the label and keeps its data; a Secret no BMC names is not touched', async () => {
    const named = await c.getJson(['-n', 'secrets-test', 'secret', 'auth-a']);
    assert.equal(named.metadata.labels?.[LABEL_BMC_SECRET], 'true');
    assert.equal(Buffer.from(named.data.password, 'base64').toString(), 'pw-a');
    assert.equal(Buffer.from(named.data.username, 'base64').toString(), 'admin');
    const other = await c.getJson(['-n', 'secrets-test', 'secret', 'someone-elses']);
    assert.equal(other.metadata.labels?.[LABEL_BMC_SECRET], undefined);
  });

  test('it lists and watches only labelled Secrets, and never reads one no BMC names', () => {
    const secretRequests = controllerRequests().filter((r) =>
      /^\/api\/v1\/(namespaces\/[^/]+\/)?secrets/.test(r.path),
    );
    const collection = secretRequests.filter((r) => r.verb === 'list' || r.verb === 'watch');
    assert.ok(collection.length > 0, 'the controller lists Secrets');
    for (const r of collection) {
      assert.equal(
        new URLSearchParams(r.query).get('labelSelector'),
        `${LABEL_BMC_SECRET}=true`,
        `${r.verb} ${r.path}?${r.query}`,
      );
    }
    assert.deepEqual(
      secretRequests.filter((r) => r.path.endsWith('/someone-elses')),
      [],
      'the controller read a Secret no BMC names',
    );
  });

  test('a BMC whose Secret is created later becomes Ready', async () => {
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [vmYaml('secrets-test', 'vm-b'), bmcYaml('secrets-test', 'bmc-b', 'vm-b', 'auth-b')].join('---\n'),
    );
    const waiting = await c.waitCondition('secrets-test', 'bmc-b', 'Ready', 'False');
    assert.match(waiting.message, /auth-b/);
    await c.kubectlOk(['apply', '-f', '-'], secretYaml('secrets-test', 'auth-b', 'admin', 'pw-b'));
    // the watch cannot announce an unlabelled Secret: the controller looks again within 10 s
    await c.waitCondition('secrets-test', 'bmc-b', 'Ready', 'True', 60_000);
    const b = await c.getJson(['-n', 'secrets-test', 'secret', 'auth-b']);
    assert.equal(b.metadata.labels?.[LABEL_BMC_SECRET], 'true');
  });

  test('a label someone removes comes back, and a change to the Secret is still seen', async () => {
    await c.kubectlOk(['-n', 'secrets-test', 'label', 'secret', 'auth-a', `${LABEL_BMC_SECRET}-`]);
    await waitFor(
      async () =>
        (await c.getJson(['-n', 'secrets-test', 'secret', 'auth-a'])).metadata.labels?.[LABEL_BMC_SECRET] ===
        'true',
      { timeoutMs: 30_000, intervalMs: 250, what: 'the label put back' },
    );
    // an unusable Secret is reported on the BMC: proof the controller still sees its changes
    await c.kubectlOk([
      '-n',
      'secrets-test',
      'patch',
      'secret',
      'auth-a',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/data/password"}]',
    ]);
    const bad = await c.waitCondition('secrets-test', 'bmc-a', 'Ready', 'False', 30_000);
    assert.equal(bad.reason, 'SecretInvalid');
  });
});

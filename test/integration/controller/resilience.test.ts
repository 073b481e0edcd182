/**
 * The controller keeps working through what real API servers do to long-running clients: watches
 * dropped, history compacted (410 Gone), 500s and 429s, an API server restart.
 */
import { after, before, describe, test } from 'node:test';
import { BmcController } from '../../../src/controller/controller.ts';
import { missingClients } from '../../support/clients.ts';
import { bmcYaml, secretYaml, TestCluster, vmYaml } from './helpers.ts';

describe('controller resilience', { skip: missingClients('kubectl'), timeout: 300_000 }, () => {
  let c: TestCluster;
  let controller: BmcController;
  let n = 0;

  async function newBmcBecomesReady(): Promise<void> {
    n++;
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('default', `vm${n}`),
        secretYaml('default', `auth${n}`, 'admin', 'pw'),
        bmcYaml('default', `bmc${n}`, `vm${n}`, `auth${n}`),
      ].join('---\n'),
    );
    await c.kubectlOk(['wait', '--for=condition=Ready', `vmbmc/bmc${n}`, '--timeout=60s'], undefined, 70_000);
  }

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement: 'shared',
      agent: { image: 'registry.example/not-an-agent:1' },
      metricsPort: null,
    });
    await controller.start();
    await newBmcBecomesReady();
  });
  after(async () => {
    await controller?.stop();
    await c?.stop();
  });

  test('all watches dropped', async () => {
    c.sim.faults.dropWatches();
    await newBmcBecomesReady();
  });

  test('history compacted, then watches dropped (resume gets 410, caches relist)', async () => {
    c.sim.faults.compact();
    c.sim.faults.dropWatches();
    await newBmcBecomesReady();
  });

  test('status writes fail with 500 three times, then succeed', async () => {
    c.sim.faults.failNext(3, 500, { path: /virtualmachinebmcs\/[^/]+\/status/, method: 'PATCH' });
    await newBmcBecomesReady();
  });

  test('429 on creates', async () => {
    c.sim.faults.failNext(2, 429, { path: /\/services$/, method: 'POST' });
    await newBmcBecomesReady();
  });

  test('API server restart', async () => {
    await c.sim.faults.restart();
    await newBmcBecomesReady();
  });
});

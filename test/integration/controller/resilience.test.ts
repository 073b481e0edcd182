/**
 * The controller keeps working through what real API servers do to long-running clients: watches
 * dropped, history compacted (410 Gone), 500s and 429s, an API server restart.
 */
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { BmcController } from '../../../src/controller/controller.ts';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
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

describe('controller started before the CRD is installed', {
  skip: missingClients('kubectl'),
  timeout: 120_000,
}, () => {
  test('says what is missing, then works once it is applied', async () => {
    const c = await TestCluster.start();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement: 'shared',
      agent: { image: 'registry.example/not-an-agent:1' },
      metricsPort: null,
      logger,
    });
    try {
      const started = controller.start();
      await waitFor(
        () =>
          lines.some((l) =>
            l.includes('the VirtualMachineBMC CRD is not installed: kubectl apply -k deploy/'),
          ),
        {
          timeoutMs: 20_000,
          what: 'the hint in the log',
        },
      );
      await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
      await started;
      await c.kubectlOk(
        ['apply', '-f', '-'],
        [
          vmYaml('default', 'vm1'),
          secretYaml('default', 'a1', 'admin', 'pw'),
          bmcYaml('default', 'b1', 'vm1', 'a1'),
        ].join('---\n'),
      );
      await c.kubectlOk(['wait', '--for=condition=Ready', 'vmbmc/b1', '--timeout=60s'], undefined, 70_000);
    } finally {
      await controller.stop();
      await c.stop();
    }
  });
});

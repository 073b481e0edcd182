import { startCluster } from '../../support/cluster.ts';
import {
  cachedIn,
  loadKubeConfig,
  startBackend,
  UserClient,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { describeMachineContract } from '../../support/machine-contract.ts';

// The shared Machine contract, run against a KubeVirt VM in the test cluster, for the two run
// strategies a powered-off VM usually has. Each run gets its own cluster.
for (const runStrategy of ['Halted', 'Manual'] as const) {
  describeMachineContract(
    `KubeVirt VM (runStrategy ${runStrategy})`,
    async () => {
      const sim = await startCluster({ timing: 'fast' });
      const kc = loadKubeConfig(sim.kubeconfigPath);
      const name = uniqueName('contract');
      await new UserClient(kc).createVm(vmManifest(name, { runStrategy }));
      const backend = await startBackend(kc);
      const machine = backend.machine(name);
      await cachedIn(machine);
      return {
        machine,
        bootLog: () => sim.consoleTranscript('default', name),
        async dispose() {
          await backend.stop();
          await sim.stop();
        },
      };
    },
    { settleMs: 15_000 },
  );
}

/**
 * virt-api's subresource endpoints (subresources.kubevirt.io/v1) in the embedded cluster: the fake
 * KubeVirt's `VirtApi` (packages/kube-sim/src/fakecluster/kubevirt/virt-api.ts, the same code the real API server
 * reaches through its aggregator) mounted over the registry. Status codes and refusal messages
 * follow KubeVirt's pkg/virt-api/rest.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { GuestState } from '../../fakecluster/kubevirt/guests.ts';
import { isFinal } from '../../fakecluster/kubevirt/logic.ts';
import { VirtApi, type VirtApiBackend } from '../../fakecluster/kubevirt/virt-api.ts';
import { ApiError } from '../errors.ts';
import type { Registry } from '../registry.ts';
import type { RequestInfo } from '../server.ts';
import type { Obj } from '../store.ts';
import type { KubeVirtSim } from './controller.ts';

/** The registry as virt-api's backend: reads and writes of VMs and VMIs, the simulator's guests. */
class RegistryBackend implements VirtApiBackend {
  constructor(
    private readonly reg: Registry,
    private readonly sim: KubeVirtSim,
  ) {}

  async getVm(namespace: string, name: string): Promise<Obj | undefined> {
    return this.reg.tryGet(this.sim.VM, namespace, name);
  }

  async getVmi(namespace: string, name: string): Promise<Obj | undefined> {
    return this.reg.tryGet(this.sim.VMI, namespace, name);
  }

  async patch(
    kind: 'vm' | 'vmi',
    namespace: string,
    name: string,
    type: 'json' | 'merge',
    body: unknown,
    status = false,
  ): Promise<void> {
    try {
      this.reg.patch(
        kind === 'vm' ? this.sim.VM : this.sim.VMI,
        namespace,
        name,
        type === 'json' ? 'application/json-patch+json' : 'application/merge-patch+json',
        body,
        status ? { subresource: 'status' } : {},
      );
    } catch (e) {
      // virt-api sees what a client of the API server sees: the Status message, not the server's
      // internal detail (a failed json-patch `test` is only "the server rejected our request…")
      if (e instanceof ApiError && e.status.message !== undefined && e.message !== e.status.message) {
        const said = new ApiError(e.code, e.status.reason ?? '', e.status.message, e.status.details);
        throw said;
      }
      throw e;
    }
  }

  async updateVm(vm: Obj): Promise<void> {
    this.reg.update(this.sim.VM, vm.metadata.namespace, vm.metadata.name, vm);
  }

  async setPaused(vmi: Obj, paused: boolean): Promise<void> {
    this.sim.setPaused(vmi, paused);
  }

  reboot(vmi: Obj, kind: 'soft' | 'reset'): void {
    this.sim.rebootGuest(vmi, kind);
  }

  guest(vmi: Obj): GuestState {
    return this.sim.guest(vmi);
  }

  onVmiEnd(_namespace: string, uid: string, fn: () => void): () => void {
    let done = false;
    const unsubscribe = this.reg.store.subscribe((e) => {
      if (done || e.key !== 'kubevirt.io/virtualmachineinstances' || e.obj.metadata.uid !== uid) return;
      if (e.type === 'DELETED' || isFinal(e.obj)) {
        done = true;
        setTimeout(fn, 0);
      }
    });
    return unsubscribe;
  }
}

export class KubeVirtApi {
  private readonly api: VirtApi;

  constructor(reg: Registry, sim: KubeVirtSim) {
    this.api = new VirtApi(new RegistryBackend(reg, sim));
  }

  close(): void {
    this.api.close();
  }

  /** HTTP handler for the whole subresources.kubevirt.io group (the body already read). */
  handle = (req: IncomingMessage, res: ServerResponse, _info: RequestInfo, body: Buffer): Promise<void> =>
    this.api.handle(req, res, body);

  upgrade = (req: IncomingMessage, socket: Socket, head: Buffer, _info: RequestInfo): void => {
    void this.api.upgrade(req, socket, head);
  };
}

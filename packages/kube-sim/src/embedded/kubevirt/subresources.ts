/**
 * virt-api's subresource endpoints (subresources.kubevirt.io/v1) in the embedded cluster: the fake
 * KubeVirt's `VirtApi` (packages/kube-sim/src/fakecluster/kubevirt/virt-api.ts, the same code the
 * real API server reaches through its aggregator), mounted on the server's own routes after its
 * authentication and RBAC, over the same backend as on the real cluster: the fake KubeVirt
 * controller, which reads and writes through the API as a client. Status codes and refusal
 * messages follow KubeVirt's pkg/virt-api/rest.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { VirtApi, type VirtApiBackend } from '../../fakecluster/kubevirt/virt-api.ts';
import type { RequestInfo } from '../server.ts';

export class KubeVirtApi {
  private readonly api: VirtApi;

  constructor(backend: VirtApiBackend) {
    this.api = new VirtApi(backend);
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

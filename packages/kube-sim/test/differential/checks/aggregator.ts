/**
 * WebSocket upgrades to subresources.kubevirt.io: the VM console as virtctl opens it. On the real
 * server the request passes its authentication and RBAC, then the aggregation layer's proxy, to the
 * fake virt-api; the embedded server serves it in-process with the same virt-api code.
 */
import WebSocket from 'ws';
import { type Api, type Check, check, ok, poll, saToken } from '../lib.ts';

const SUB = '/apis/subresources.kubevirt.io/v1';

function vm(name: string): Record<string, unknown> {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name },
    spec: {
      runStrategy: 'Always',
      template: {
        spec: {
          domain: {
            devices: { disks: [{ name: 'rootdisk', disk: { bus: 'virtio' } }] },
            memory: { guest: '512Mi' },
          },
          volumes: [{ name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:latest' } }],
        },
      },
    },
  };
}

interface Opened {
  status: number;
  protocol?: string;
  /** Whether guest output arrived within 5 s (binary frames). */
  output?: boolean;
  reason?: string;
  message?: string;
}

/** Opens the console websocket and reports what a client sees. */
function openConsole(api: Api, ns: string, vmi: string, token = api.adminToken): Promise<Opened> {
  return new Promise((resolve) => {
    const url = `${api.url.replace(/^http/, 'ws')}${SUB}/namespaces/${ns}/virtualmachineinstances/${vmi}/console`;
    const ws = new WebSocket(url, ['plain.kubevirt.io'], {
      headers: { Authorization: `Bearer ${token}` },
      ca: api.caCert,
    });
    let output = false;
    ws.on('message', (_d: Buffer, binary: boolean) => {
      if (binary) output = true;
    });
    ws.on('open', () => {
      const done = () => {
        ws.terminate();
        resolve({ status: 101, protocol: ws.protocol, output });
      };
      const t = setInterval(() => {
        if (output) {
          clearInterval(t);
          done();
        }
      }, 50);
      setTimeout(() => {
        clearInterval(t);
        done();
      }, 5000);
      ws.send(Buffer.from('\r'));
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => {
        let json: { reason?: string; message?: string } = {};
        try {
          json = JSON.parse(body);
        } catch {}
        resolve({ status: res.statusCode ?? 0, reason: json.reason, message: json.message });
      });
    });
    ws.on('error', () => resolve({ status: 0 }));
  });
}

export const aggregatorChecks: Check[] = [
  check(
    'aggregator/console-running',
    'the console of a running VMI upgrades to plain.kubevirt.io and streams the guest',
    async (api, { ns }) => {
      ok(await api.post(`/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`, vm('vm1')), 'create the VM');
      const running = await poll(
        async () =>
          (await api.get(`/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/vm1`)).json?.status
            ?.phase === 'Running',
        30_000,
        100,
      );
      if (!running) throw new Error(`${api.kind}: the VMI did not run within 30 s`);
      return { ...(await openConsole(api, ns, 'vm1')) };
    },
  ),
  check(
    'aggregator/console-missing',
    'the console of a VMI that does not exist is refused with its Status',
    async (api, { ns }) => ({
      ...(await openConsole(api, ns, 'nothing-here')),
    }),
  ),
  check(
    'aggregator/console-forbidden',
    'a ServiceAccount without RBAC is refused the console by the API server',
    async (api, { ns }) => {
      const token = await saToken(api, ns, 'nobody');
      return { ...(await openConsole(api, ns, 'vm1', token)) };
    },
  ),
];

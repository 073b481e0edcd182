import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import type { SimCluster } from '../../packages/kube-sim/src/embedded/index.ts';
import { waitFor } from './wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

/** Minimal authenticated HTTP client for the sim (fetch + admin token from the kubeconfig). */
export class SimHttp {
  readonly token: string;
  constructor(private readonly cluster: SimCluster) {
    this.token = /token: (\S+)/.exec(readFileSync(cluster.kubeconfigPath, 'utf8'))![1]!;
  }

  async req(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ status: number; text: string; json: Obj }> {
    const res = await fetch(`${this.cluster.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { 'Content-Type': contentType } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: Obj = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      // not JSON
    }
    return { status: res.status, text, json };
  }

  vm(ns: string, name: string) {
    return this.req('GET', `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines/${name}`);
  }
  vmi(ns: string, name: string) {
    return this.req('GET', `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/${name}`);
  }
  sub(
    kind: 'virtualmachines' | 'virtualmachineinstances',
    ns: string,
    name: string,
    action: string,
    body?: unknown,
  ) {
    return this.req(
      'PUT',
      `/apis/subresources.kubevirt.io/v1/namespaces/${ns}/${kind}/${name}/${action}`,
      body,
    );
  }

  /** Opens the serial console websocket (subprotocol plain.kubevirt.io). */
  console(
    ns: string,
    name: string,
  ): Promise<{ ws: WebSocket; output: () => string; protocol: string } | { status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const url = `${this.cluster.url.replace(/^http/, 'ws')}/apis/subresources.kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/${name}/console`;
      const ws = new WebSocket(url, ['plain.kubevirt.io'], {
        headers: { Authorization: `Bearer ${this.token}` },
      });
      let out = '';
      ws.on('message', (d: Buffer, isBinary: boolean) => {
        if (isBinary) out += d.toString('utf8');
      });
      ws.on('open', () => resolve({ ws, output: () => out, protocol: ws.protocol }));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('error', reject);
    });
  }
}

export function vmManifest(
  name: string,
  strategy: { runStrategy?: string; running?: boolean },
  spec: Obj = {},
): Obj {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name },
    spec: {
      ...strategy,
      template: {
        metadata: { labels: { 'kubevirt.io/vm': name } },
        spec: {
          domain: {
            devices: {
              disks: [{ name: 'rootdisk', disk: { bus: 'virtio' }, bootOrder: 1 }],
              interfaces: [{ name: 'default', masquerade: {} }],
            },
            resources: { requests: { memory: '1Gi' } },
          },
          networks: [{ name: 'default', pod: {} }],
          volumes: [{ name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } }],
          ...spec,
        },
      },
    },
  };
}

/** waitFor with margins for a loaded 2-core machine: 15 s budget, 10 ms between polls (callers may override). */
export function simWait<T>(
  check: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
) {
  return waitFor(check, { timeoutMs: 15_000, intervalMs: 10, ...opts });
}

import type { Logger } from 'pino';
import WebSocket from 'ws';
import { proxyFor, tunnelAgent } from '../kube/proxy.ts';
import type { ConsoleEvent, ConsoleStream } from '../machine/index.ts';
import { KubeApi } from './kube-api.ts';
import type { VirtualMachineInstance } from './types.ts';

/** KubeVirt's console subprotocol: raw serial bytes in binary frames, no channel prefix. */
export const CONSOLE_SUBPROTOCOL = 'plain.kubevirt.io';

export interface ConsoleTarget {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly name: string;
  readonly logger?: Logger;
}

/**
 * The VM's serial console: the VMI `console` subresource over a websocket (subprotocol
 * `plain.kubevirt.io`, as virtctl uses), kept as one stream across reboots. The machine tells it
 * about every VMI change (`update`): it attaches while a VMI runs, detaches when it stops, and
 * reattaches to a recreated VMI (a new uid) or after a dropped connection, with a bounded backoff.
 */
export class KubeVirtConsole implements ConsoleStream {
  readonly #target: ConsoleTarget;
  readonly #listeners = new Set<(event: ConsoleEvent) => void>();
  readonly #onClose: (c: KubeVirtConsole) => void;
  #ws: WebSocket | null = null;
  #wsUid: string | null = null;
  #attached = false;
  #closed = false;
  #runningUid: string | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #failures = 0;

  constructor(target: ConsoleTarget, onClose: (c: KubeVirtConsole) => void) {
    this.#target = target;
    this.#onClose = onClose;
  }

  get attached(): boolean {
    return this.#attached;
  }

  write(data: Uint8Array): void {
    if (!this.#attached || this.#closed || !this.#ws || this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(Buffer.from(data), { binary: true });
  }

  /** KubeVirt's console carries bytes only; it has no way to send a serial break. */
  sendBreak(): void {}

  on(listener: (event: ConsoleEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearRetry();
    const ws = this.#ws;
    this.#ws = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000);
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000).unref();
      });
    }
    this.#attached = false;
    this.#send({ type: 'closed', reason: 'closed by reader' });
    this.#listeners.clear();
    this.#onClose(this);
  }

  /** Ends the stream for good because the machine went away. */
  end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearRetry();
    this.#ws?.terminate();
    this.#ws = null;
    this.#attached = false;
    this.#send({ type: 'closed', reason });
    this.#listeners.clear();
  }

  /** Called by the machine whenever its VMI may have changed. */
  update(vmi: VirtualMachineInstance | undefined): void {
    if (this.#closed) return;
    const running = vmi?.status?.phase === 'Running' && !vmi.metadata?.deletionTimestamp;
    const uid = running ? (vmi?.metadata?.uid ?? null) : null;
    if (uid === this.#runningUid) return;
    this.#runningUid = uid;
    this.#failures = 0;
    this.#clearRetry();
    if (this.#ws && this.#wsUid !== uid) {
      const old = this.#ws;
      this.#ws = null;
      old.terminate();
      this.#setAttached(false, uid ? 'the VM restarted' : 'the VM is not running');
    }
    if (uid) this.#connect(uid);
  }

  #clearRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  #scheduleRetry(uid: string): void {
    if (this.#closed || this.#runningUid !== uid || this.#retryTimer) return;
    const delay = Math.min(5000, 100 * 2 ** Math.min(this.#failures, 6));
    this.#failures++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#runningUid === uid && !this.#ws) this.#connect(uid);
    }, delay);
  }

  #connect(uid: string): void {
    const { api, namespace, name, logger } = this.#target;
    const path = KubeApi.kubevirtSubresourcePath('virtualmachineinstances', namespace, name, 'console');
    const url = api.server().replace(/^http/, 'ws') + path;
    const options: Record<string, unknown> & { headers?: Record<string, string> } = {};
    api.countRequest();
    void api.kubeConfig
      .applyToHTTPSOptions(options as never)
      .then(() => {
        if (this.#closed || this.#runningUid !== uid) return;
        // through the kubeconfig's proxy-url or HTTPS_PROXY (NO_PROXY aside), as every request
        const server = new URL(api.server());
        const proxy = proxyFor(server, api.kubeConfig.getCurrentCluster()?.proxyUrl);
        const ws = new WebSocket(url, [CONSOLE_SUBPROTOCOL], {
          ...(proxy ? { agent: tunnelAgent(server, proxy) } : {}),
          headers: options.headers,
          ca: options.ca as never,
          cert: options.cert as never,
          key: options.key as never,
          rejectUnauthorized: options.rejectUnauthorized as boolean | undefined,
          handshakeTimeout: 10_000,
        });
        this.#ws = ws;
        this.#wsUid = uid;
        ws.binaryType = 'nodebuffer';
        ws.on('open', () => {
          if (this.#ws !== ws) return;
          this.#failures = 0;
          this.#setAttached(true);
        });
        ws.on('message', (data: Buffer) => {
          if (this.#ws !== ws || this.#closed) return;
          this.#send({ type: 'data', data: new Uint8Array(data) });
        });
        ws.on('unexpected-response', (_req, res) => {
          logger?.debug({ status: res.statusCode, vm: name }, 'console connection refused');
          res.resume();
          ws.terminate();
        });
        ws.on('error', (err) => logger?.debug({ err: err.message, vm: name }, 'console connection error'));
        ws.on('close', () => {
          if (this.#ws !== ws) return;
          this.#ws = null;
          this.#setAttached(false, 'the console connection closed');
          this.#scheduleRetry(uid);
        });
      })
      .catch((err) => {
        logger?.warn({ err, vm: name }, 'cannot open the console');
        this.#scheduleRetry(uid);
      });
  }

  #setAttached(attached: boolean, reason?: string): void {
    if (this.#attached === attached) return;
    this.#attached = attached;
    this.#send(reason ? { type: 'state', attached, reason } : { type: 'state', attached });
  }

  #send(event: ConsoleEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch {
        // a faulty listener must not break the others
      }
    }
  }
}

import type { Logger } from 'pino';
import WebSocket from 'ws';
import { proxyFor, tunnelAgent } from '../kube/proxy.ts';
import type { ConsoleEvent, ConsoleStream } from '../machine/index.ts';
import { KubeApi } from './kube-api.ts';
import type { VirtualMachineInstance } from './types.ts';

/** KubeVirt's console subprotocol: raw serial bytes in binary frames, no channel prefix. */
export const CONSOLE_SUBPROTOCOL = 'plain.kubevirt.io';

/**
 * How long a console connection that closed while its VMI still runs waits for the VMI to stop or
 * restart before it counts as taken over (the close can arrive before the watch event that
 * explains it).
 */
export const TAKEOVER_SETTLE_MS = 3000;

/** The `reason` of the `state` event sent when another client took the serial console. */
export const TAKEN_OVER_REASON = 'another client (e.g. virtctl console) connected to the serial console';

export interface ConsoleTarget {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly name: string;
  readonly logger?: Logger;
  /** Overrides `TAKEOVER_SETTLE_MS` (tests). */
  readonly takeoverSettleMs?: number;
}

/**
 * The VM's serial console: the VMI `console` subresource over a websocket (subprotocol
 * `plain.kubevirt.io`, as virtctl uses), kept as one stream across reboots. The machine tells it
 * about every VMI change (`update`): it attaches as soon as a VMI runs, detaches when it stops, and
 * reattaches to a recreated VMI (a new uid). A connection attempt that fails is retried with a
 * bounded backoff.
 *
 * virt-handler serves one console connection per VMI and cuts the older one when another client
 * connects. So a connection that was open and closes while the same VMI still runs (after
 * `TAKEOVER_SETTLE_MS`, in case the VMI was in fact stopping) means another client took the console:
 * the stream says so (`state` with `takenOver`) and does not reconnect, which would cut that client
 * in turn, until the VM starts again (a new VMI) or the reader opens a new stream.
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
  /** An open connection closed while its VMI runs: waiting to see whether the VMI stops. */
  #lostTimer: NodeJS.Timeout | null = null;
  /** The VMI uid whose console another client took (no reconnection to it). */
  #takenOverUid: string | null = null;

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
    this.#clearLost();
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
    this.#clearLost();
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
    this.#takenOverUid = null;
    this.#clearRetry();
    const reason = uid ? 'the VM restarted' : 'the VM is not running';
    if (this.#clearLost()) {
      // the connection closed because the VMI stopped, not because another client took it
      this.#send({ type: 'state', attached: false, reason });
    }
    if (this.#ws && this.#wsUid !== uid) {
      const old = this.#ws;
      this.#ws = null;
      old.terminate();
      this.#setAttached(false, reason);
    }
    if (uid) this.#connect(uid);
  }

  /** The uid of the running VMI whose console another client holds, or null. */
  get takenOver(): string | null {
    return this.#takenOverUid;
  }

  #clearRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  /** Stops waiting on a lost connection; true when one was pending. */
  #clearLost(): boolean {
    if (!this.#lostTimer) return false;
    clearTimeout(this.#lostTimer);
    this.#lostTimer = null;
    return true;
  }

  /** An open connection to a running VMI closed: taken over, unless the VMI turns out to be stopping. */
  #lost(uid: string): void {
    // Detached at once (keystrokes are dropped); the event, with its reason, once it is known.
    this.#attached = false;
    this.#lostTimer = setTimeout(() => {
      this.#lostTimer = null;
      if (this.#closed || this.#runningUid !== uid) return;
      this.#takenOverUid = uid;
      this.#target.logger?.info(
        { vm: this.#target.name },
        'console taken over by another client; not reconnecting until the VM starts again',
      );
      this.#send({ type: 'state', attached: false, reason: TAKEN_OVER_REASON, takenOver: true });
    }, this.#target.takeoverSettleMs ?? TAKEOVER_SETTLE_MS);
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
        let opened = false;
        ws.on('open', () => {
          if (this.#ws !== ws) return;
          opened = true;
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
          if (opened && !this.#closed && this.#runningUid === uid) {
            // virt-handler cuts the older connection when another client connects (1006, no close
            // frame): reconnecting would cut that client in turn, and the two would take turns.
            this.#lost(uid);
            return;
          }
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

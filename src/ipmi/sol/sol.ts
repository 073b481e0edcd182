import pino, { type Logger } from 'pino';
import type { Machine } from '../../machine/index.ts';
import { completionCodeFor } from '../commands/errors.ts';
import {
  CC,
  type CommandContext,
  type CommandResult,
  type CommandSpec,
  fail,
  NETFN_APP,
  NETFN_TRANSPORT,
  ok,
} from '../commands/types.ts';
import { CONF_NONE, INTEGRITY_NONE } from '../crypto/suites.ts';
import type { PayloadSender } from '../session/payloads.ts';
import { PRIV_ADMIN, PRIV_USER, type RmcpPlusSession, type Session } from '../session/session.ts';
import { activateResponse, instanceInfoResponse, PAYLOAD_SOL } from './codec.ts';
import {
  defaultSolConfig,
  getSolParameter,
  SOL_PARAMETER_REVISION,
  type SolConfig,
  setSolParameter,
} from './config.ts';
import { SolInstance, type SolTiming } from './instance.ts';

export interface SolOptions {
  /**
   * The UDP port Activate Payload reports. Default: the port the BMC listens on, which is where the
   * request arrived. Set it when a NAT in front of the BMC (a Service mapping 623 → the pod's port,
   * a relay) makes consoles reach it on another port: they insist on the port they used.
   */
  advertisedPort?: number;
  /** Maximum SOL payload size, 4-byte header included, both directions (5–259; default 255). */
  maxPayloadSize?: number;
  /** Initial configuration parameters (Set SOL Configuration Parameters changes them at run time). */
  config?: Partial<SolConfig>;
  /** Retransmission interval once the configured retries are used up (default 1000 ms). */
  slowRetryMs?: number;
}

/** The part of IpmiServer SOL plugs into. */
export interface SolHost extends PayloadSender {
  registerPayload(
    payloadType: number,
    handler: (s: RmcpPlusSession, payload: Buffer, sender: PayloadSender) => void,
  ): void;
  registerCommand(spec: CommandSpec): void;
}

/** Activate Payload completion codes. */
const ALREADY_ACTIVE = 0x80;
const PAYLOAD_DISABLED = 0x81;
const CANNOT_ACTIVATE_WITHOUT_ENCRYPTION = 0x84;
/** Deactivate Payload: already deactivated. */
const ALREADY_DEACTIVATED = 0x80;
/** Get Channel Payload Version: payload type not available on this channel. */
const PAYLOAD_NOT_AVAILABLE = 0x80;

function channelOk(c: number): boolean {
  const n = c & 0x0f;
  return n === 0x0e || n === 1;
}

interface Active {
  readonly session: RmcpPlusSession;
  /** Null while the console stream is being opened. */
  instance: SolInstance | null;
  readonly onClose: (reason: string) => void;
}

/**
 * Serial over LAN for one BMC: the payload commands, the SOL configuration parameters and at most
 * one active instance, bound to the RMCP+ session that activated it and to the machine's console.
 * A new session of the same account takes the instance over; another account gets 0x80.
 */
export class Sol {
  readonly config: SolConfig;
  readonly #machine: Machine;
  readonly #host: SolHost;
  readonly #log: Logger;
  readonly #o: SolOptions;
  readonly #maxPayload: number;
  #active: Active | null = null;

  constructor(host: SolHost, machine: Machine, options: SolOptions = {}, logger?: Logger) {
    this.#host = host;
    this.#machine = machine;
    this.#o = options;
    this.#log = logger ?? pino({ level: 'silent' });
    const size = options.maxPayloadSize ?? 255;
    if (!Number.isInteger(size) || size < 5 || size > 259)
      throw new Error(`SOL maxPayloadSize must be 5..259, got ${size}`);
    this.#maxPayload = size;
    this.config = { ...defaultSolConfig(), ...options.config };
    host.registerPayload(PAYLOAD_SOL, (s, payload) => this.#onPayload(s, payload));
    for (const spec of this.commands()) host.registerCommand(spec);
  }

  /** The BMC session ID owning the active instance, or null. */
  get activeSessionId(): number | null {
    return this.#active?.session.id ?? null;
  }

  /** The active instance's counters (tests, metrics). */
  get stats(): SolInstance['stats'] | null {
    return this.#active?.instance?.stats ?? null;
  }

  /** Ends the active instance, if any (e.g. the server closes). */
  async deactivate(reason: string, notify = true): Promise<boolean> {
    const a = this.#active;
    if (!a) return false;
    this.#active = null;
    const i = a.session.closeListeners.indexOf(a.onClose);
    if (i >= 0) a.session.closeListeners.splice(i, 1);
    this.#log.info(
      { session: a.session.id.toString(16), user: a.session.username, reason },
      'SOL deactivated',
    );
    await a.instance?.end(notify);
    return true;
  }

  /** Whether the machine runs (so a console not attached yet is still connecting). */
  #running(): boolean {
    try {
      const state = this.#machine.getPowerState();
      return state === 'On' || state === 'Paused';
    } catch {
      return false;
    }
  }

  #port(): number {
    return this.#o.advertisedPort ?? this.#host.port;
  }

  #timing(): SolTiming {
    const c = this.config;
    return {
      accumulateMs: c.accumulateInterval * 5,
      sendThreshold: c.sendThreshold,
      retries: c.retryCount & 7,
      retryMs: Math.max(10, c.retryInterval * 10),
      slowRetryMs: this.#o.slowRetryMs ?? 1000,
    };
  }

  #onPayload(s: RmcpPlusSession, payload: Buffer): void {
    const a = this.#active;
    if (a?.session !== s || !a.instance) return;
    a.instance.receive(payload);
  }

  async #activate(ctx: CommandContext, data: Uint8Array): Promise<CommandResult> {
    const s = ctx.session as Session | null;
    if (data.length !== 6) return fail(CC.DATA_LENGTH_INVALID);
    if ((data[0]! & 0x3f) !== PAYLOAD_SOL) return fail(CC.INVALID_DATA_FIELD);
    if ((data[1]! & 0x0f) !== 1) return fail(CC.INVALID_DATA_FIELD);
    if (s?.kind !== 'rmcpplus') return fail(PAYLOAD_DISABLED); // SOL needs an RMCP+ session
    const c = this.config;
    if (!c.enabled) return fail(PAYLOAD_DISABLED);
    if (s.privilege < c.privilege) return fail(CC.INSUFFICIENT_PRIVILEGE);
    const held = this.#active;
    if (held && held.session !== s && held.session.username !== s.username) return fail(ALREADY_ACTIVE);
    const encrypted = s.suite.confidentiality !== CONF_NONE;
    const authenticated = s.suite.integrity !== INTEGRITY_NONE;
    // The session's algorithms decide (ipmitool asks for encryption even on suites without it).
    if (c.forceEncryption && !encrypted) return fail(CANNOT_ACTIVATE_WITHOUT_ENCRYPTION);
    if (c.forceAuthentication && !authenticated) return fail(CANNOT_ACTIVATE_WITHOUT_ENCRYPTION);
    if (held) {
      if (held.session === s) return fail(ALREADY_ACTIVE); // this session already has it
      // The same account activates again from a new session: its earlier console is gone (ipmitool
      // killed, Ironic's socat client left) and would hold SOL until its session idles out, or the
      // user replaced it. The new session takes the payload over; the old one is sent "SOL
      // deactivating" (ipmiconsole exits; ipmitool 1.8.19 ignores the bit and shows nothing more).
      // Another account's console is refused (0x80) as before: it needs an administrator's
      // Deactivate Payload or the owner's idle timeout.
      await this.deactivate(`taken over by session ${s.id.toString(16)} of the same user`, true);
      if (this.#active) return fail(ALREADY_ACTIVE); // another activation won the race
    }
    const onClose = (reason: string) => {
      if (this.#active?.session === s) void this.deactivate(`session ended: ${reason}`, false);
    };
    const active: Active = { session: s, instance: null, onClose };
    this.#active = active;
    s.closeListeners.push(onClose);
    let stream: Awaited<ReturnType<Machine['openConsole']>>;
    try {
      stream = await this.#machine.openConsole();
    } catch (err) {
      if (this.#active === active) {
        this.#active = null;
        const i = s.closeListeners.indexOf(onClose);
        if (i >= 0) s.closeListeners.splice(i, 1);
      }
      this.#log.warn({ err: String(err) }, 'SOL: cannot open the console');
      return fail(
        completionCodeFor(err) === CC.INVALID_DATA_FIELD ? PAYLOAD_DISABLED : completionCodeFor(err),
      );
    }
    if (this.#active !== active) {
      await stream.close().catch(() => {});
      return fail(CC.NOT_IN_PRESENT_STATE); // the session ended while the console was opening
    }
    const reply = activateResponse(this.#maxPayload, this.#maxPayload, this.#port());
    return {
      cc: CC.OK,
      data: reply,
      // Output starts after the Activate Payload response went out.
      after: () => {
        if (this.#active !== active) {
          void stream.close().catch(() => {});
          return;
        }
        active.instance = new SolInstance({
          console: stream,
          send: (p) => this.#host.send(s, PAYLOAD_SOL, p),
          timing: () => this.#timing(),
          maxChunk: this.#maxPayload - 4,
          onConsoleClosed: (reason) => {
            if (this.#active === active) void this.deactivate(`console closed: ${reason}`, true);
          },
          machineRunning: this.#running(),
        });
        this.#log.info({ session: s.id.toString(16), user: s.username }, 'SOL activated');
      },
    };
  }

  #deactivate(ctx: CommandContext, data: Uint8Array): CommandResult {
    if (data.length !== 6) return fail(CC.DATA_LENGTH_INVALID);
    if ((data[0]! & 0x3f) !== PAYLOAD_SOL || (data[1]! & 0x0f) !== 1) return fail(CC.INVALID_DATA_FIELD);
    const a = this.#active;
    if (!a) return fail(ALREADY_DEACTIVATED);
    const s = ctx.session;
    // The owner's session, another session of the same account, or an administrator (e.g. `sol
    // deactivate` for a stuck console).
    if (s?.id !== a.session.id && s?.username !== a.session.username && (s?.privilege ?? 0) < PRIV_ADMIN)
      return fail(CC.INSUFFICIENT_PRIVILEGE);
    const own = s?.id === a.session.id;
    return {
      cc: CC.OK,
      after: () =>
        void this.deactivate(own ? 'deactivated by its console' : `deactivated by ${s?.username}`, !own),
    };
  }

  commands(): CommandSpec[] {
    return [
      {
        netFn: NETFN_APP,
        cmd: 0x48,
        name: 'Activate Payload',
        privilege: PRIV_USER,
        handler: (req, ctx) => this.#activate(ctx, req.data),
      },
      {
        netFn: NETFN_APP,
        cmd: 0x49,
        name: 'Deactivate Payload',
        privilege: PRIV_USER,
        handler: (req, ctx) => this.#deactivate(ctx, req.data),
      },
      {
        netFn: NETFN_APP,
        cmd: 0x4a,
        name: 'Get Payload Activation Status',
        privilege: PRIV_USER,
        handler: (req) => {
          if (req.data.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
          if ((req.data[0]! & 0x3f) !== PAYLOAD_SOL) return ok([0x00, 0x00, 0x00]);
          return ok([0x01, this.#active ? 0x01 : 0x00, 0x00]);
        },
      },
      {
        netFn: NETFN_APP,
        cmd: 0x4b,
        name: 'Get Payload Instance Info',
        privilege: PRIV_USER,
        handler: (req) => {
          if (req.data.length !== 2) return fail(CC.DATA_LENGTH_INVALID);
          if ((req.data[0]! & 0x3f) !== PAYLOAD_SOL || (req.data[1]! & 0x0f) !== 1)
            return fail(CC.INVALID_DATA_FIELD);
          const a = this.#active;
          return ok(instanceInfoResponse(a?.session.id ?? 0, a !== null));
        },
      },
      {
        netFn: NETFN_APP,
        cmd: 0x4f,
        name: 'Get Channel Payload Version',
        privilege: PRIV_USER,
        handler: (req) => {
          if (req.data.length !== 2) return fail(CC.DATA_LENGTH_INVALID);
          if (!channelOk(req.data[0]!)) return fail(CC.INVALID_DATA_FIELD);
          const type = req.data[1]! & 0x3f;
          if (type !== 0 && type !== PAYLOAD_SOL) return fail(PAYLOAD_NOT_AVAILABLE);
          return ok([0x10]);
        },
      },
      {
        netFn: NETFN_TRANSPORT,
        cmd: 0x22,
        name: 'Get SOL Configuration Parameters',
        privilege: PRIV_USER,
        handler: (req) => {
          if (req.data.length !== 4) return fail(CC.DATA_LENGTH_INVALID);
          if (!channelOk(req.data[0]!)) return fail(CC.INVALID_DATA_FIELD);
          if (req.data[0]! & 0x80) return ok([SOL_PARAMETER_REVISION]);
          const value = getSolParameter(this.config, req.data[1]!, this.#port());
          if (!value) return fail(0x80);
          return ok([SOL_PARAMETER_REVISION, ...value]);
        },
      },
      {
        netFn: NETFN_TRANSPORT,
        cmd: 0x21,
        name: 'Set SOL Configuration Parameters',
        privilege: PRIV_ADMIN,
        handler: (req) => {
          if (req.data.length < 3) return fail(CC.DATA_LENGTH_INVALID);
          if (!channelOk(req.data[0]!)) return fail(CC.INVALID_DATA_FIELD);
          const before = { ...this.config };
          const cc = setSolParameter(this.config, req.data[1]!, req.data.subarray(2));
          if (cc !== 0) Object.assign(this.config, before);
          else this.#log.info({ parameter: req.data[1] }, 'SOL configuration changed');
          return fail(cc);
        },
      },
    ];
  }
}

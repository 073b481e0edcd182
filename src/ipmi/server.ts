import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import pino, { type Logger } from 'pino';
import {
  type AccountChange,
  type AccountSource,
  type ActionContext,
  type Machine,
  type SessionsEnded,
  validateAccount,
} from '../machine/index.ts';
import { LoginGuard, type LoginLimits, loggableName } from '../machine/login-limits.ts';
import { AUTH_RMCP_PLUS } from './codec/lan15.ts';
import { decodeRequest, encodeResponse, type IpmiRequest } from './codec/message.ts';
import {
  decodeAsfPing,
  decodeRmcpHeader,
  encodeAsfPong,
  RMCP_CLASS_ASF,
  RMCP_CLASS_IPMI,
} from './codec/rmcp.ts';
import {
  decodeRmcpPlusHeader,
  encodeSessionPacket,
  encodeUnauthenticated,
  openSessionPacket,
  PAYLOAD_IPMI,
  PAYLOAD_OPEN_SESSION_REQUEST,
  PAYLOAD_OPEN_SESSION_RESPONSE,
  PAYLOAD_RAKP1,
  PAYLOAD_RAKP2,
  PAYLOAD_RAKP3,
  PAYLOAD_RAKP4,
} from './codec/rmcpplus.ts';
import { BmcState, deviceGuid } from './commands/bmc-state.ts';
import { dispatch } from './commands/dispatch.ts';
import type { ActiveSession, CommandContext, CommandResult, CommandSpec } from './commands/types.ts';
import { randomIv } from './crypto/packet.ts';
import { encodeInSession, encodeSessionless, Lan15Sessions } from './session/lan15.ts';
import type { PayloadHandler, PayloadSender } from './session/payloads.ts';
import { RmcpPlusHandshake } from './session/rmcpplus.ts';
import { nextSeq, type RmcpPlusSession, type Session, type Source } from './session/session.ts';
import { SessionTable } from './session/table.ts';
import { Sol, type SolOptions } from './sol/sol.ts';

export interface IpmiServerOptions {
  machine: Machine;
  /**
   * Read on every authentication (password rotation without restart). When it can announce changes
   * (`accounts.subscribe`), every session of an account whose password, role or name changed ends at
   * once, Serial over LAN included.
   */
  accounts: AccountSource;
  logger?: Logger;
  /** Allow IPMI 1.5 sessions with auth type NONE (no password check). Default false. */
  allowAuthTypeNone?: boolean;
  /** Idle time after which an active session ends. Default 60 000 ms. */
  sessionIdleTimeoutMs?: number;
  /**
   * Concurrent active sessions per BMC. Default 16. Logins in progress do not take a slot: they
   * are bounded separately (8 per source address, 1024 in all).
   */
  maxSessions?: number;
  /**
   * Failed-login budgets (`src/machine/login-limits.ts`, the same policy as Redfish's): per source
   * address (6 failures, then one more every 5 s; an IPv6 address by its /64) and per user name
   * across sources (10, then one more every 6 s; sources that logged in within 24 h are exempt).
   * A value that is not a usable number throws.
   */
  loginLimits?: LoginLimits;
  /** Time an RMCP+ login may take from Open Session to RAKP3. Default 5 000 ms. */
  sessionSetupTimeoutMs?: number;
  /**
   * Called for every failed or refused login (wrong password, unknown user, privilege above the
   * account's limit, refused by the failed-login budgets), with the user name as sent (escaped for
   * logs by `loggableName`) and the source; never the password. The agent counts them in
   * `kubevirtbmc_login_failures_total`.
   */
  onLoginFailure?: (e: { user: string; source: string; reason: string }) => void;
  /** Serial over LAN (payload type 1) on the Machine's console; `false` turns it off. Default on. */
  sol?: SolOptions | false;
  /** BMC reset (`mc reset cold|warm`): restarts this BMC's service; called after the reply is sent. */
  resetBmc?: () => void;
}

const EMPTY = Buffer.alloc(0);

/**
 * An IPMI-over-LAN BMC for one Machine: RMCP/ASF ping, IPMI 1.5 sessions and RMCP+ (IPMI 2.0) on
 * one UDP socket. Malformed or unauthenticated packets are dropped; nothing a client sends can
 * make it throw.
 */
export class IpmiServer implements PayloadSender {
  readonly #machine: Machine;
  readonly #resetBmc: (() => void) | undefined;
  readonly #accounts: AccountSource;
  readonly #log: Logger;
  readonly #allowNone: boolean;
  readonly #table: SessionTable;
  readonly #guard: LoginGuard;
  readonly #handshake: RmcpPlusHandshake;
  readonly #lan15: Lan15Sessions;
  readonly #bmc = new BmcState();
  readonly #payloads = new Map<number, PayloadHandler>();
  readonly #commands = new Map<number, CommandSpec>();
  readonly #contexts = new WeakMap<Session, CommandContext>();
  /** Serial over LAN, when enabled (src/ipmi/sol/). */
  readonly sol: Sol | null;
  readonly #abandonLog = { tokens: 10, at: Date.now(), suppressed: 0 };
  #socket: Socket | null = null;
  #sweep: NodeJS.Timeout | null = null;
  #port = 0;
  #unsubscribe: (() => void) | null = null;

  /**
   * Throws when a fixed list of accounts (a source without `subscribe`) holds one IPMI cannot use
   * (user name over 16 bytes, password over 20, empty fields), naming the account and the limit: a
   * configuration error, reported at start. A changeable source (a watched Secret) may hold such an
   * account for a while: its owner reports that once (the agent logs it and records an Event, the
   * controller sets a condition); IPMI refuses the account, logging each refused login with the
   * reason, and Redfish may still serve it.
   */
  constructor(options: IpmiServerOptions) {
    if (!options.accounts.subscribe) {
      for (const a of options.accounts()) {
        const problem = validateAccount(a);
        if (problem) throw new Error(`IPMI account ${JSON.stringify(a.username ?? '')}: ${problem}`);
      }
    }
    this.#machine = options.machine;
    this.#resetBmc = options.resetBmc;
    this.#accounts = options.accounts;
    this.#log = options.logger ?? pino({ level: 'silent' });
    this.#allowNone = options.allowAuthTypeNone ?? false;
    this.#table = new SessionTable(
      options.maxSessions ?? 16,
      options.sessionIdleTimeoutMs ?? 60_000,
      options.sessionSetupTimeoutMs ?? 5_000,
    );
    this.#guard = new LoginGuard(options.loginLimits ?? {}, options.accounts);
    const onLoginFailure = options.onLoginFailure;
    const common = {
      table: this.#table,
      accounts: this.#accounts,
      guard: this.#guard,
      onAuthFailure: (source: Source, username: string, sent: string) => {
        const from = `${source.address}:${source.port}`;
        // An account IPMI cannot carry looks unknown to the login: say why in the log (the console
        // is answered as for an unknown name).
        const reason = sent === 'unknown user name' ? (this.#unusable(username) ?? sent) : sent;
        const user = loggableName(username);
        this.#log.warn({ source: from, user, reason }, 'IPMI login failed');
        if (onLoginFailure) {
          try {
            onLoginFailure({ user, source: from, reason });
          } catch (err) {
            this.#log.error({ err }, 'login failure listener failed');
          }
        }
      },
      now: Date.now,
    };
    this.#handshake = new RmcpPlusHandshake({
      ...common,
      guid: () => this.#guid(),
      onSessionOpened: (s) => this.#opened(s),
      // RAKP 1 without RAKP 3 proves nothing either way: a lost packet, a client that found the
      // password wrong on its own (ipmitool, FreeIPMI, pyghmi), or a RAKP 2 harvest (security.md).
      onAbandoned: (s, reason) => {
        if (s.state === 'rakp2') this.#logAbandoned(s, reason);
      },
      idInUse: (id) => this.#lan15.pending(id) !== undefined,
      setup: { ttlMs: this.#table.setupTimeoutMs },
    });
    this.#lan15 = new Lan15Sessions({
      ...common,
      allowAuthTypeNone: this.#allowNone,
      onSessionOpened: (s) => this.#opened(s),
      idInUse: (id) => this.#handshake.hasPending(id),
    });
    // --- SOL registers its payload handler and commands through the public seam (src/ipmi/sol/).
    this.sol = options.sol === false ? null : new Sol(this, this.#machine, options.sol, this.#log);
    this.#unsubscribe = options.accounts.subscribe?.((change) => this.#revoke(change)) ?? null;
  }

  get port(): number {
    return this.#port;
  }

  /** Number of active sessions. */
  get sessionCount(): number {
    return this.#table.size;
  }

  /** Logins in progress: RMCP+ sessions before RAKP 3 and IPMI 1.5 challenges. */
  get pendingLogins(): number {
    return this.#handshake.pendingCount + this.#lan15.pendingCount;
  }

  /** Registers the handler of an RMCP+ payload type other than IPMI (e.g. SOL = 1). */
  registerPayload(payloadType: number, handler: PayloadHandler): void {
    if (payloadType === PAYLOAD_IPMI || payloadType >= 0x10)
      throw new Error(`payload type ${payloadType} is reserved`);
    this.#payloads.set(payloadType, handler);
  }

  /**
   * Adds (or overrides) a command for this server, e.g. SOL's Activate/Deactivate Payload. Its
   * handler sees the session in `ctx.session` (an RMCP+ session has `kind: 'rmcpplus'`).
   */
  registerCommand(spec: CommandSpec): void {
    this.#commands.set((spec.netFn << 8) | spec.cmd, spec);
  }

  async listen(port: number, host = '127.0.0.1'): Promise<{ address: string; port: number }> {
    if (this.#socket) throw new Error('already listening');
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
    socket.on('error', (err) => this.#log.error({ err }, 'IPMI socket error'));
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      socket.close();
      throw err;
    }
    this.#socket = socket;
    const a = socket.address();
    this.#port = a.port;
    this.#bmc.listenAddress = a.address;
    this.#log.info({ address: a.address, port: a.port }, 'IPMI listening');
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = null;
    for (const s of [...this.#table.values()]) {
      this.#table.delete(s.id);
      this.#ended(s, 'server closed');
    }
    this.#handshake.clear();
    this.#lan15.clear();
    const socket = this.#socket;
    this.#socket = null;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /** Sends a payload in an active RMCP+ session with its protection and next sequence number. */
  send(session: RmcpPlusSession, payloadType: number, payload: Uint8Array): void {
    if (!session.keys) return;
    const seq = session.outboundSeq;
    session.outboundSeq = nextSeq(seq);
    const pkt = encodeSessionPacket(
      session.keys,
      payloadType,
      session.consoleSessionId,
      seq,
      payload,
      randomIv(),
    );
    this.#raw(pkt, session.source);
  }

  // --- packet routing ---------------------------------------------------------------------------

  #onMessage(buf: Buffer, rinfo: RemoteInfo): void {
    try {
      const rmcp = decodeRmcpHeader(buf);
      if (!rmcp || rmcp.ack) return;
      const source: Source = { address: rinfo.address, port: rinfo.port };
      if (rmcp.messageClass === RMCP_CLASS_ASF) {
        const ping = decodeAsfPing(buf);
        if (ping) this.#raw(encodeAsfPong(ping.tag), source);
        return;
      }
      if (rmcp.messageClass !== RMCP_CLASS_IPMI || buf.length < 5) return;
      // The byte after the RMCP header is the auth type (1.5) or the RMCP+ session format (2.0).
      if (buf[4] === AUTH_RMCP_PLUS) this.#rmcpPlus(buf, source);
      else this.#lan15Packet(buf, source);
    } catch (err) {
      this.#log.debug({ err }, 'IPMI packet dropped');
    }
    this.#armSweep();
  }

  /**
   * Expiry runs only while there are sessions or logins in progress: they come from packets, so
   * the sweep is armed after a packet and disarms itself once all are gone (an idle BMC has no
   * timer).
   */
  #armSweep(): void {
    if (this.#sweep || !this.#socket || (this.#table.size === 0 && this.pendingLogins === 0)) return;
    const interval = Math.max(50, Math.min(1000, Math.floor(this.#table.idleTimeoutMs / 4)));
    this.#sweep = setInterval(() => this.#expire(), interval);
    this.#sweep.unref();
  }

  #rmcpPlus(buf: Buffer, source: Source): void {
    const h = decodeRmcpPlusHeader(buf);
    if (!h) return;
    if (h.sessionId === 0) {
      if (h.authenticated || h.encrypted || 16 + h.payloadLength !== buf.length) return;
      const payload = buf.subarray(16);
      let reply: Buffer | null = null;
      let type = 0;
      switch (h.payloadType) {
        case PAYLOAD_OPEN_SESSION_REQUEST:
          reply = this.#handshake.openSession(payload, source);
          type = PAYLOAD_OPEN_SESSION_RESPONSE;
          break;
        case PAYLOAD_RAKP1:
          reply = this.#handshake.rakp1(payload, source);
          type = PAYLOAD_RAKP2;
          break;
        case PAYLOAD_RAKP3:
          reply = this.#handshake.rakp3(payload, source);
          type = PAYLOAD_RAKP4;
          break;
        case PAYLOAD_IPMI: {
          const req = decodeRequest(payload);
          if (!req) return;
          this.#run(req, this.#sessionlessContext(source, true), (msg) =>
            this.#raw(encodeUnauthenticated(PAYLOAD_IPMI, msg), source),
          );
          return;
        }
        default:
          return;
      }
      if (reply) this.#raw(encodeUnauthenticated(type, reply), source);
      return;
    }
    const s = this.#table.get(h.sessionId);
    if (s?.kind !== 'rmcpplus' || s.state !== 'active' || !s.keys || !s.inbound) return;
    if (s.source.address !== source.address) return;
    const payload = openSessionPacket(s.keys, h, buf);
    if (!payload || !s.inbound.check(h.sequence)) return;
    s.inbound.accept(h.sequence);
    s.lastActivity = Date.now();
    if (h.payloadType === PAYLOAD_IPMI) {
      const req = decodeRequest(payload);
      if (!req) return;
      this.#runInSession(s, payload, req, (msg) => this.send(s, PAYLOAD_IPMI, msg));
      return;
    }
    this.#payloads.get(h.payloadType)?.(s, payload, this);
  }

  #lan15Packet(buf: Buffer, source: Source): void {
    const step = this.#lan15.receive(buf, source);
    switch (step.kind) {
      case 'send':
        this.#raw(step.packet, step.to);
        return;
      case 'sessionless':
        this.#run(step.req, this.#sessionlessContext(source, false), (msg) =>
          this.#raw(encodeSessionless(msg), source),
        );
        return;
      case 'command': {
        const s = step.session;
        this.#runInSession(s, step.message, step.req, (msg) => this.#raw(encodeInSession(s, msg), s.source));
        return;
      }
      case 'drop':
        return;
    }
  }

  /**
   * Runs an in-session request once: a retransmission of the last request (same bytes, within
   * 10 s) gets the cached reply again, or nothing while the first execution is still running.
   */
  #runInSession(s: Session, message: Buffer, req: IpmiRequest, reply: (msg: Buffer) => void): void {
    const now = Date.now();
    const last = s.lastRequest;
    if (last && now - last.at < 10_000 && last.message.equals(message)) {
      if (last.response) reply(last.response);
      return;
    }
    const entry: NonNullable<Session['lastRequest']> = {
      message: Buffer.from(message),
      at: now,
      response: null,
    };
    s.lastRequest = entry;
    this.#run(req, this.#context(s), (msg) => {
      entry.response = msg;
      reply(msg);
    });
  }

  #run(req: IpmiRequest, ctx: CommandContext, reply: (msg: Buffer) => void): void {
    const done = (r: CommandResult) => {
      reply(encodeResponse(req, r.cc, r.data ?? EMPTY));
      r.after?.();
    };
    const r = dispatch(req, ctx, this.#commands);
    if (r instanceof Promise) {
      r.then(done).catch((err) => this.#log.error({ err }, 'IPMI reply failed'));
    } else {
      done(r);
    }
  }

  #raw(pkt: Buffer, to: Source): void {
    this.#socket?.send(pkt, to.port, to.address);
  }

  // --- sessions ---------------------------------------------------------------------------------

  #context(s: Session): CommandContext {
    let ctx = this.#contexts.get(s);
    if (!ctx) {
      const action: ActionContext = {
        actor: s.username,
        source: `${s.source.address}:${s.source.port}`,
        protocol: 'ipmi',
      };
      ctx = this.#baseContext(s, action, s.kind === 'rmcpplus');
      this.#contexts.set(s, ctx);
    }
    return ctx;
  }

  #activeSessions(): ActiveSession[] {
    const out: ActiveSession[] = [];
    for (const s of this.#table.values()) {
      if (s.state !== 'active') continue;
      out.push({ handle: this.#table.handleOf(s.id), session: s, rmcpPlus: s.kind === 'rmcpplus' });
    }
    return out.sort((a, b) => a.handle - b.handle);
  }

  #sessionlessContext(_source: Source, rmcpPlus: boolean): CommandContext {
    return this.#baseContext(null, undefined, rmcpPlus);
  }

  #baseContext(s: Session | null, action: ActionContext | undefined, rmcpPlus: boolean): CommandContext {
    return {
      machine: this.#machine,
      bmc: this.#bmc,
      session: s,
      accounts: this.#accounts,
      allowAuthTypeNone: this.#allowNone,
      action,
      rmcpPlus,
      closeSession: (id) => this.#close(id, 'closed by console'),
      hasSession: (id) => this.#table.get(id)?.state === 'active',
      activeSessions: () => this.#table.activeCount(),
      sessions: () => this.#activeSessions(),
      sessionSlots: this.#table.maxSessions,
      loginLimits: this.#guard.limits,
      hasPayload: (payloadType) => this.#payloads.has(payloadType),
      port: () => this.#port,
      ...(this.#resetBmc ? { resetBmc: this.#resetBmc } : {}),
    };
  }

  /**
   * A login that got its RAKP 2 and never sent RAKP 3. That is how a wrong password looks with
   * every common console (ipmitool, FreeIPMI and pyghmi check RAKP 2 themselves and give up), but
   * also a lost packet or a RAKP 2 harvest (docs/security.md), so it is logged (info, at most 10
   * lines per 10 s, then a count of the lines left out) and not counted as a failed login.
   */
  #logAbandoned(s: RmcpPlusSession, reason: string): void {
    const now = Date.now();
    const b = this.#abandonLog;
    b.tokens = Math.min(10, b.tokens + (now - b.at) / 1000);
    b.at = now;
    if (b.tokens < 1) {
      b.suppressed++;
      return;
    }
    b.tokens--;
    this.#log.info(
      {
        source: `${s.source.address}:${s.source.port}`,
        user: loggableName(s.username),
        knownUser: s.handshake?.known ?? false,
        reason,
        ...(b.suppressed ? { notLogged: b.suppressed } : {}),
      },
      'IPMI login not completed after RAKP 2 (wrong password on the console, lost packet, or a scan)',
    );
    b.suppressed = 0;
  }

  #guid(): Buffer {
    try {
      return deviceGuid(this.#machine.getIdentity());
    } catch {
      return Buffer.alloc(16);
    }
  }

  #opened(s: Session): void {
    this.#log.info(
      {
        session: s.id.toString(16),
        user: s.username,
        source: `${s.source.address}:${s.source.port}`,
        kind: s.kind,
      },
      'IPMI session opened',
    );
  }

  /**
   * The accounts changed: every session of a revoked account ends now. A Serial over LAN console
   * on one is told "SOL deactivating" first (ipmitool then says the BMC closed it and exits);
   * logins in progress are dropped, since RAKP 3 is checked against the password RAKP 1 found.
   */
  #revoke(change: AccountChange): SessionsEnded {
    const names = new Set(change.revoked);
    this.#handshake.clear();
    let sessions = 0;
    for (const s of [...this.#table.values()]) {
      if (!names.has(s.username)) continue;
      if (this.sol && this.sol.activeSessionId === s.id)
        void this.sol.deactivate('credentials changed', true);
      if (this.#close(s.id, 'credentials changed')) sessions++;
    }
    return { protocol: 'ipmi', sessions };
  }

  /** Why IPMI refuses an account that exists, or null (unknown, or usable). */
  #unusable(username: string): string | null {
    const a = this.#accounts().find((x) => x.username === username);
    const problem = a ? validateAccount(a) : null;
    return problem ? `account not usable over IPMI: ${problem}` : null;
  }

  #close(id: number, reason: string): boolean {
    const s = this.#table.delete(id);
    if (!s) return false;
    this.#ended(s, reason);
    return true;
  }

  #ended(s: Session, reason: string): void {
    if (s.state === 'active')
      this.#log.info({ session: s.id.toString(16), user: s.username, reason }, 'IPMI session ended');
    for (const l of s.closeListeners.splice(0)) {
      try {
        l(reason);
      } catch (err) {
        this.#log.error({ err }, 'session close listener failed');
      }
    }
  }

  #expire(): void {
    const now = Date.now();
    for (const s of this.#table.expire(now)) this.#ended(s, 'idle timeout');
    this.#handshake.expire(now);
    this.#lan15.expire();
    if (this.#table.size === 0 && this.pendingLogins === 0 && this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  }
}

import { randomBytes } from 'node:crypto';
import type { AccountSource } from '../../machine/index.ts';
import { type LoginGuard, refusalReason } from '../../machine/login-limits.ts';
import {
  AUTH_MD5,
  AUTH_NONE,
  AUTH_PASSWORD,
  decodeLan15,
  encodeLan15,
  type Lan15Packet,
} from '../codec/lan15.ts';
import { decodeRequest, encodeResponse, type IpmiRequest } from '../codec/message.ts';
import { constantTimeEqual } from '../codec/rmcpplus.ts';
import { CC, NETFN_APP } from '../commands/types.ts';
import { md5AuthCode, pad16 } from '../crypto/auth15.ts';
import { SequenceWindow } from './replay.ts';
import { accountKey, decoyKey, findAccount } from './rmcpplus.ts';
import { type Lan15Session, nextSeq, PRIV_ADMIN, PRIV_USER, roleLimit, type Source } from './session.ts';
import { SetupTable } from './setup.ts';
import type { SessionTable } from './table.ts';

/**
 * IPMI 1.5 sessions: Get Session Challenge (outside any session) hands out a temporary session
 * ID and a challenge; Activate Session, sent in that temporary session and authenticated with the
 * chosen auth type, turns it into an active session; every later packet carries an auth code and
 * a sequence number checked against the session's window. `Lan15Sessions.receive` decides what
 * the server does with one 1.5 packet; the message codecs and auth-code functions are pure.
 */

/** Width of the IPMI 1.5 inbound window (±8, as OpenIPMI's lanserv). */
export const LAN15_WINDOW = 8;
const CHALLENGE_TTL_MS = 10_000;
/** Challenges kept at most, all sources together (the oldest is dropped for a new one). */
export const MAX_CHALLENGES = 1024;
/** Challenges kept at most per source address (its oldest is dropped for a new one). */
export const MAX_CHALLENGES_PER_SOURCE = 8;

/** The two session-setup commands (netFn App) answered here rather than by the command table. */
export const CMD_GET_SESSION_CHALLENGE = 0x39;
export const CMD_ACTIVATE_SESSION = 0x3a;

/** Completion codes the two session-setup commands define for themselves. */
export const LAN15_CC = {
  /** Get Session Challenge: no such user name. */
  INVALID_USER_NAME: 0x81,
  /** Get Session Challenge: the null user name (user 1) is not enabled. */
  NULL_USER_NAME_DISABLED: 0x82,
  /** Activate Session: no session slot available. */
  NO_SESSION_SLOT: 0x81,
  /** Activate Session: the requested maximum privilege exceeds the user's or channel's limit. */
  PRIVILEGE_EXCEEDS_LIMIT: 0x86,
} as const;

const EMPTY = Buffer.alloc(0);
const USER_NAME_LENGTH = 16;
const CHALLENGE_LENGTH = 16;
/** Get Session Challenge request: auth type (1), user name (16, NUL padded). */
const CHALLENGE_REQUEST_LENGTH = 1 + USER_NAME_LENGTH;
/** Activate Session request: auth type, max privilege, challenge (16), first outbound sequence (4). */
const ACTIVATE_REQUEST_LENGTH = 2 + CHALLENGE_LENGTH + 4;

// --- message codecs (pure) -----------------------------------------------------------------------

export interface ChallengeRequest {
  readonly authType: number;
  /** The user name up to its first NUL (empty for the null user). */
  readonly username: Buffer;
}

/** Get Session Challenge request data, or null when it is not 17 bytes. */
export function decodeChallengeRequest(data: Buffer): ChallengeRequest | null {
  if (data.length !== CHALLENGE_REQUEST_LENGTH) return null;
  const nameBytes = data.subarray(1, CHALLENGE_REQUEST_LENGTH);
  const end = nameBytes.indexOf(0);
  return {
    authType: data[0]! & 0x0f,
    username: Buffer.from(nameBytes.subarray(0, end < 0 ? USER_NAME_LENGTH : end)),
  };
}

/** Get Session Challenge response data: temporary session ID (LE), then the 16-byte challenge. */
export function encodeChallengeResponse(tempSessionId: number, challenge: Buffer): Buffer {
  const data = Buffer.allocUnsafe(4 + CHALLENGE_LENGTH);
  data.writeUInt32LE(tempSessionId >>> 0, 0);
  challenge.copy(data, 4);
  return data;
}

export interface ActivateRequest {
  readonly authType: number;
  readonly maxPrivilege: number;
  readonly challenge: Buffer;
  /** The sequence number the BMC's first reply carries (0 means start at 1). */
  readonly outboundSeq: number;
}

/** Activate Session request data, or null when it is not 22 bytes. */
export function decodeActivateRequest(data: Buffer): ActivateRequest | null {
  if (data.length !== ACTIVATE_REQUEST_LENGTH) return null;
  return {
    authType: data[0]! & 0x0f,
    maxPrivilege: data[1]! & 0x0f,
    challenge: data.subarray(2, 2 + CHALLENGE_LENGTH),
    outboundSeq: data.readUInt32LE(2 + CHALLENGE_LENGTH),
  };
}

/** Activate Session response data: auth type, session ID, initial inbound sequence, max privilege. */
export function encodeActivateResponse(s: Lan15Session): Buffer {
  const data = Buffer.allocUnsafe(10);
  data[0] = s.authType;
  data.writeUInt32LE(s.id, 1);
  data.writeUInt32LE(s.activation.inboundStart, 5);
  data[9] = s.activation.maxPrivilege;
  return data;
}

function isAppCommand(req: IpmiRequest, cmd: number): boolean {
  return req.netFn === NETFN_APP && req.cmd === cmd;
}

// --- auth codes and packets (pure; encodeInSession advances the session's sequence number) -------

/** Verifies a 1.5 packet's auth code against `password` (constant time). */
export function verifyAuthCode(packet: Lan15Packet, password: Buffer): boolean {
  if (packet.authType === AUTH_NONE) return packet.authCode === null;
  if (!packet.authCode) return false;
  if (packet.authType === AUTH_PASSWORD) return constantTimeEqual(packet.authCode, pad16(password));
  if (packet.authType === AUTH_MD5) {
    return constantTimeEqual(
      packet.authCode,
      md5AuthCode(password, packet.sessionId, packet.sequence, packet.message),
    );
  }
  return false;
}

/** The auth code of a 1.5 packet the BMC sends (undefined for auth type NONE). */
export function authCodeFor(
  authType: number,
  password: Buffer,
  sessionId: number,
  sequence: number,
  message: Buffer,
): Buffer | undefined {
  if (authType === AUTH_NONE) return undefined;
  if (authType === AUTH_PASSWORD) return pad16(password);
  return md5AuthCode(password, sessionId, sequence, message);
}

/** A packet outside any session (session ID 0, sequence 0, auth type NONE). */
export function encodeSessionless(message: Buffer): Buffer {
  return encodeLan15({ authType: AUTH_NONE, sequence: 0, sessionId: 0, message });
}

/**
 * A packet in an active session: its auth type and auth code, and the session's next outbound
 * sequence number, which this advances.
 */
export function encodeInSession(s: Lan15Session, message: Buffer): Buffer {
  const sequence = s.outboundSeq;
  s.outboundSeq = nextSeq(sequence);
  return encodeLan15({
    authType: s.authType,
    sequence,
    sessionId: s.id,
    message,
    authCode: (m) => authCodeFor(s.authType, s.password, s.id, sequence, m)!,
  });
}

/** A packet in a temporary session (sequence 0), authenticated with the account's password. */
function encodeInTemporarySession(
  tempSessionId: number,
  authType: number,
  password: Buffer,
  message: Buffer,
): Buffer {
  return encodeLan15({
    authType,
    sequence: 0,
    sessionId: tempSessionId,
    message,
    authCode: (m) => authCodeFor(authType, password, tempSessionId, 0, m)!,
  });
}

// --- session establishment and packet acceptance -------------------------------------------------

interface Challenge {
  /** The temporary session ID. */
  readonly id: number;
  readonly authType: number;
  /** The user name as sent. */
  readonly username: Buffer;
  readonly challenge: Buffer;
  readonly source: Source;
  readonly createdAt: number;
}

export interface Lan15Deps {
  readonly table: SessionTable;
  readonly accounts: AccountSource;
  readonly guard: LoginGuard;
  readonly allowAuthTypeNone: boolean;
  readonly onAuthFailure: (source: Source, username: string, reason: string) => void;
  readonly onSessionOpened: (s: Lan15Session) => void;
  /** IDs in use elsewhere (RMCP+ logins in progress), never handed out here. */
  readonly idInUse?: (id: number) => boolean;
  readonly now: () => number;
  /** Source of challenges and initial sequence numbers (default: crypto's randomBytes). */
  readonly randomBytes?: (size: number) => Buffer;
}

export type Lan15Reply = { cc: number; data?: Uint8Array };

/** What the server does with one IPMI 1.5 packet. */
export type Lan15Step =
  /** Nothing may be answered: malformed, unauthenticated, out of the window, or not addressed to us. */
  | { readonly kind: 'drop' }
  /** Session setup, answered here: send `packet` to `to`. */
  | { readonly kind: 'send'; readonly packet: Buffer; readonly to: Source }
  /** A command outside any session: run it pre-session, answer with `encodeSessionless`. */
  | { readonly kind: 'sessionless'; readonly req: IpmiRequest }
  /** An authenticated command in an active session: run it, answer with `encodeInSession`. */
  | {
      readonly kind: 'command';
      readonly session: Lan15Session;
      readonly req: IpmiRequest;
      /** The IPMI message as received (to recognise a retransmission). */
      readonly message: Buffer;
    };

const DROP: Lan15Step = { kind: 'drop' };

/**
 * IPMI 1.5 session establishment: Get Session Challenge (pre-session) and Activate Session
 * (inside the temporary session, authenticated with the chosen auth type), and the checks every
 * packet of an active 1.5 session passes (auth code, source, sequence window).
 */
export class Lan15Sessions {
  readonly #challenges: SetupTable<Challenge>;
  readonly #random: (size: number) => Buffer;
  readonly #secret = randomBytes(32);

  constructor(readonly deps: Lan15Deps) {
    this.#random = deps.randomBytes ?? randomBytes;
    this.#challenges = new SetupTable(
      { ttlMs: CHALLENGE_TTL_MS, max: MAX_CHALLENGES, perSource: MAX_CHALLENGES_PER_SOURCE },
      deps.now,
    );
  }

  /** Challenges handed out and not yet used or expired. */
  get pendingCount(): number {
    return this.#challenges.size;
  }

  /** Drops the challenges that ran out of time. */
  expire(): void {
    this.#challenges.expire();
  }

  clear(): void {
    this.#challenges.clear();
  }

  /** MD5, and NONE when enabled. Straight password (the password in clear in every packet) is refused. */
  authTypeAllowed(t: number): boolean {
    return t === AUTH_MD5 || (t === AUTH_NONE && this.deps.allowAuthTypeNone);
  }

  /** Decides what to do with one 1.5 packet from `source`. Never throws on malformed input. */
  receive(buf: Buffer, source: Source): Lan15Step {
    const packet = decodeLan15(buf);
    if (!packet) return DROP;
    const req = decodeRequest(packet.message);
    if (!req) return DROP;
    if (packet.sessionId === 0) return this.#outsideSession(packet, req, source);
    const pending = this.pending(packet.sessionId);
    if (pending) return this.#inTemporarySession(pending, packet, req, source);
    return this.#inActiveSession(packet, req, source);
  }

  /**
   * Get Session Challenge (netFn App, cmd 0x39). Every non-empty user name gets a challenge, known
   * or not (and whether or not its password fits in 1.5's 16 bytes): which names exist shows
   * nowhere, the activation simply does not authenticate.
   */
  challenge(req: IpmiRequest, source: Source): Lan15Reply {
    const request = decodeChallengeRequest(req.data);
    if (!request) return { cc: CC.DATA_LENGTH_INVALID };
    const { authType, username: name } = request;
    if (!this.authTypeAllowed(authType)) return { cc: CC.INVALID_DATA_FIELD };
    if (name.length === 0) return { cc: LAN15_CC.NULL_USER_NAME_DISABLED };
    const refused = this.deps.guard.check(source.address, accountKey(name));
    if (refused) {
      this.deps.onAuthFailure(source, name.toString('latin1'), refusalReason(refused.budget));
      return { cc: CC.NODE_BUSY };
    }
    const c = this.#issueChallenge(authType, name, source);
    return { cc: CC.OK, data: encodeChallengeResponse(c.id, c.challenge) };
  }

  /** The temporary session a packet addresses (for Activate Session), if any. */
  pending(sessionId: number): Challenge | undefined {
    return this.#challenges.get(sessionId);
  }

  /** Session ID 0: Get Session Challenge is answered here, anything else runs pre-session. */
  #outsideSession(packet: Lan15Packet, req: IpmiRequest, source: Source): Lan15Step {
    if (packet.authType !== AUTH_NONE || packet.sequence !== 0) return DROP;
    if (!isAppCommand(req, CMD_GET_SESSION_CHALLENGE)) return { kind: 'sessionless', req };
    const r = this.challenge(req, source);
    return {
      kind: 'send',
      packet: encodeSessionless(encodeResponse(req, r.cc, r.data ?? EMPTY)),
      to: source,
    };
  }

  /**
   * Activate Session in a temporary session. A packet that does not authenticate is dropped
   * (nothing may be answered); an authenticated refusal is answered in the temporary session, a
   * success in the new session.
   */
  #inTemporarySession(c: Challenge, packet: Lan15Packet, req: IpmiRequest, source: Source): Lan15Step {
    if (!isAppCommand(req, CMD_ACTIVATE_SESSION)) return DROP;
    if (c.source.address !== source.address || packet.authType !== c.authType) return DROP;
    const name = c.username.toString('latin1');
    const key = accountKey(c.username);
    const refused = this.deps.guard.check(source.address, key);
    if (refused) {
      this.#challenges.delete(c.id);
      this.deps.onAuthFailure(source, name, refusalReason(refused.budget));
      return DROP;
    }
    const found = findAccount(this.deps.accounts(), c.username);
    // 1.5 auth codes carry 16 password bytes: a longer password could not be checked in full.
    const account = found && Buffer.byteLength(found.password) <= 16 ? found : undefined;
    // An unknown name is checked against a stand-in password: the same work, the same silence.
    const password = account
      ? Buffer.from(account.password, 'utf8')
      : decoyKey(this.#secret, c.username).subarray(0, 16);
    if (!verifyAuthCode(packet, password) || !account) {
      this.#challenges.delete(c.id);
      this.deps.guard.failed(source.address, key);
      this.deps.onAuthFailure(
        source,
        name,
        account
          ? 'wrong password (1.5 auth code)'
          : found
            ? 'password longer than 16 bytes cannot be used with IPMI 1.5'
            : 'unknown user name',
      );
      return DROP;
    }
    const refuse = (cc: number): Lan15Step => ({
      kind: 'send',
      packet: encodeInTemporarySession(c.id, c.authType, password, encodeResponse(req, cc, EMPTY)),
      to: source,
    });
    const request = decodeActivateRequest(req.data);
    if (!request) return refuse(CC.DATA_LENGTH_INVALID);
    if (!constantTimeEqual(request.challenge, c.challenge)) {
      this.#challenges.delete(c.id);
      return DROP;
    }
    this.deps.guard.succeeded(source.address, key);
    if (request.authType !== c.authType) return refuse(CC.INVALID_DATA_FIELD);
    const requested = request.maxPrivilege;
    if (requested < 1 || requested > PRIV_ADMIN) return refuse(CC.INVALID_DATA_FIELD);
    if (requested > roleLimit(account.role)) return refuse(LAN15_CC.PRIVILEGE_EXCEEDS_LIMIT);
    if (!this.deps.table.hasRoom() || this.deps.table.get(c.id)) return refuse(LAN15_CC.NO_SESSION_SLOT);
    this.#challenges.delete(c.id);
    const session = this.#open(c, source, account.username, password, request);
    const reply = encodeResponse(req, CC.OK, encodeActivateResponse(session));
    return { kind: 'send', packet: encodeInSession(session, reply), to: session.source };
  }

  /**
   * A packet of an active session: same source address and auth type, a valid auth code and a
   * sequence number inside the window. Sequence 0 is only a retransmitted Activate Session (its
   * reply was lost), answered again.
   */
  #inActiveSession(packet: Lan15Packet, req: IpmiRequest, source: Source): Lan15Step {
    const s = this.deps.table.get(packet.sessionId);
    if (s?.kind !== 'lan15' || s.source.address !== source.address) return DROP;
    if (packet.authType !== s.authType || !verifyAuthCode(packet, s.password)) return DROP;
    if (packet.sequence === 0) {
      if (!isAppCommand(req, CMD_ACTIVATE_SESSION)) return DROP;
      if (!decodeActivateRequest(req.data)?.challenge.equals(s.challenge)) return DROP;
      const reply = encodeResponse(req, CC.OK, encodeActivateResponse(s));
      return { kind: 'send', packet: encodeInSession(s, reply), to: s.source };
    }
    if (!s.inbound.check(packet.sequence)) return DROP;
    s.inbound.accept(packet.sequence);
    s.lastActivity = this.deps.now();
    return { kind: 'command', session: s, req, message: packet.message };
  }

  /** A new challenge, stored under a fresh temporary session ID. */
  #issueChallenge(authType: number, username: Buffer, source: Source): Challenge {
    const tempId = this.deps.table.newId(
      (id) => this.#challenges.has(id) || (this.deps.idInUse?.(id) ?? false),
    );
    const c: Challenge = {
      id: tempId,
      authType,
      username: Buffer.from(username),
      challenge: this.#random(CHALLENGE_LENGTH),
      source,
      createdAt: this.deps.now(),
    };
    this.#challenges.add(c);
    return c;
  }

  /** The active session an accepted Activate Session creates (added to the table). */
  #open(
    c: Challenge,
    source: Source,
    username: string,
    password: Buffer,
    request: ActivateRequest,
  ): Lan15Session {
    // The console's first sequence number: random, away from the 32-bit wrap.
    const inboundStart = (this.#random(4).readUInt32LE(0) & 0x7fffffff) + 1;
    const session: Lan15Session = {
      kind: 'lan15',
      id: c.id,
      username,
      source,
      maxPrivilege: request.maxPrivilege,
      privilege: PRIV_USER,
      lastActivity: this.deps.now(),
      closeListeners: [],
      authType: c.authType,
      password,
      inbound: new SequenceWindow(LAN15_WINDOW, inboundStart),
      outboundSeq: request.outboundSeq === 0 ? 1 : request.outboundSeq,
      challenge: c.challenge,
      activation: { inboundStart, maxPrivilege: request.maxPrivilege },
      state: 'active',
    };
    this.deps.table.add(session);
    this.deps.onSessionOpened(session);
    return session;
  }
}

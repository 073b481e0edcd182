import { randomBytes } from 'node:crypto';
import type { AccountSource } from '../../machine/index.ts';
import { AUTH_MD5, AUTH_NONE, AUTH_PASSWORD, type Lan15Packet } from '../codec/lan15.ts';
import type { IpmiRequest } from '../codec/message.ts';
import { constantTimeEqual } from '../codec/rmcpplus.ts';
import { md5AuthCode, pad16 } from '../crypto/auth15.ts';
import type { AuthFailureLimiter } from './rate-limit.ts';
import { SequenceWindow } from './replay.ts';
import { findAccount } from './rmcpplus.ts';
import { type Lan15Session, PRIV_ADMIN, PRIV_USER, roleLimit, type Source } from './session.ts';
import type { SessionTable } from './table.ts';

/** Width of the IPMI 1.5 inbound window (±8, as OpenIPMI's lanserv). */
export const LAN15_WINDOW = 8;
const CHALLENGE_TTL_MS = 10_000;
const MAX_CHALLENGES = 64;

interface Challenge {
  readonly tempId: number;
  readonly authType: number;
  readonly username: string;
  readonly challenge: Buffer;
  readonly source: Source;
  readonly at: number;
}

export interface Lan15Deps {
  readonly table: SessionTable;
  readonly accounts: AccountSource;
  readonly limiter: AuthFailureLimiter;
  readonly allowAuthTypeNone: boolean;
  readonly onAuthFailure: (source: Source, username: string, reason: string) => void;
  readonly onSessionOpened: (s: Lan15Session) => void;
  readonly onEvict: (s: import('./session.ts').Session) => void;
  readonly now: () => number;
}

export type Lan15Reply = { cc: number; data?: Uint8Array };

/**
 * IPMI 1.5 session establishment: Get Session Challenge (pre-session) and Activate Session
 * (inside the temporary session, authenticated with the chosen auth type).
 */
export class Lan15Sessions {
  readonly #challenges = new Map<number, Challenge>();

  constructor(readonly deps: Lan15Deps) {}

  authTypeAllowed(t: number): boolean {
    return t === AUTH_MD5 || t === AUTH_PASSWORD || (t === AUTH_NONE && this.deps.allowAuthTypeNone);
  }

  /** Get Session Challenge (0x06/0x39). */
  challenge(req: IpmiRequest, source: Source): Lan15Reply {
    if (req.data.length !== 17) return { cc: 0xc7 };
    const authType = req.data[0]! & 0x0f;
    if (!this.authTypeAllowed(authType)) return { cc: 0xcc };
    const nameBytes = req.data.subarray(1, 17);
    const end = nameBytes.indexOf(0);
    const name = Buffer.from(nameBytes.subarray(0, end < 0 ? 16 : end));
    if (name.length === 0) return { cc: 0x82 }; // null user name not enabled
    if (!this.deps.limiter.allowed(source.address)) {
      this.deps.onAuthFailure(source, name.toString('latin1'), 'too many failed logins from this source');
      return { cc: 0xc0 }; // node busy
    }
    const account = findAccount(this.deps.accounts(), name);
    if (!account) {
      this.deps.limiter.fail(source.address);
      this.deps.onAuthFailure(source, name.toString('latin1'), 'unknown user name');
      return { cc: 0x81 }; // invalid user name
    }
    if (Buffer.byteLength(account.password) > 16) {
      // 1.5 auth codes hold 16 password bytes: the rest would not be checked. Use RMCP+.
      this.deps.onAuthFailure(
        source,
        account.username,
        'password longer than 16 bytes cannot be used with IPMI 1.5',
      );
      return { cc: 0xcc };
    }
    this.#sweep();
    if (this.#challenges.size >= MAX_CHALLENGES) {
      const oldest = this.#challenges.keys().next().value;
      if (oldest !== undefined) this.#challenges.delete(oldest);
    }
    let tempId = this.deps.table.newId();
    while (this.#challenges.has(tempId)) tempId = this.deps.table.newId();
    const challenge = randomBytes(16);
    this.#challenges.set(tempId, {
      tempId,
      authType,
      username: account.username,
      challenge,
      source,
      at: this.deps.now(),
    });
    const data = Buffer.allocUnsafe(20);
    data.writeUInt32LE(tempId, 0);
    challenge.copy(data, 4);
    return { cc: 0, data };
  }

  /** The temporary session a packet addresses (for Activate Session), if any. */
  pending(sessionId: number): Challenge | undefined {
    const c = this.#challenges.get(sessionId);
    if (c && this.deps.now() - c.at > CHALLENGE_TTL_MS) {
      this.#challenges.delete(sessionId);
      return undefined;
    }
    return c;
  }

  /**
   * Activate Session in a temporary session. Returns null to drop the packet silently (it did not
   * authenticate: nothing may be answered), otherwise the reply and — on success — the session.
   */
  activate(
    packet: Lan15Packet,
    req: IpmiRequest,
    source: Source,
  ): { reply: Lan15Reply; session?: Lan15Session; password: Buffer } | null {
    const c = this.pending(packet.sessionId);
    if (!c || c.source.address !== source.address || packet.authType !== c.authType) return null;
    const account = this.deps.accounts().find((a) => a.username === c.username);
    if (!this.deps.limiter.allowed(source.address)) {
      this.deps.onAuthFailure(source, c.username, 'too many failed logins from this source');
      return null;
    }
    const password = Buffer.from(account?.password ?? '', 'utf8');
    if (!account || !verifyAuthCode(packet, password)) {
      this.#challenges.delete(c.tempId);
      this.deps.limiter.fail(source.address);
      this.deps.onAuthFailure(source, c.username, 'wrong password (1.5 auth code)');
      return null;
    }
    if (req.data.length !== 22) return { reply: { cc: 0xc7 }, password };
    if (!constantTimeEqual(req.data.subarray(2, 18), c.challenge)) {
      this.#challenges.delete(c.tempId);
      return null;
    }
    if ((req.data[0]! & 0x0f) !== c.authType) return { reply: { cc: 0xcc }, password };
    const requested = req.data[1]! & 0x0f;
    const limit = roleLimit(account.role);
    if (requested < 1 || requested > PRIV_ADMIN) return { reply: { cc: 0xcc }, password };
    if (requested > limit) return { reply: { cc: 0x86 }, password };
    if (!this.deps.table.reserve((s) => this.deps.onEvict(s))) return { reply: { cc: 0x81 }, password };
    this.#challenges.delete(c.tempId);
    const outbound = req.data.readUInt32LE(18);
    // The console's first sequence number: random, away from the 32-bit wrap.
    const inboundStart = (randomBytes(4).readUInt32LE(0) & 0x7fffffff) + 1;
    const session: Lan15Session = {
      kind: 'lan15',
      id: c.tempId,
      username: account.username,
      source,
      maxPrivilege: requested,
      privilege: PRIV_USER,
      lastActivity: this.deps.now(),
      closeListeners: [],
      authType: c.authType,
      password,
      inbound: new SequenceWindow(LAN15_WINDOW, inboundStart),
      outboundSeq: outbound === 0 ? 1 : outbound,
      challenge: c.challenge,
      activation: { inboundStart, maxPrivilege: requested },
      state: 'active',
    };
    this.deps.table.add(session);
    this.deps.onSessionOpened(session);
    return { reply: { cc: 0, data: activationReply(session) }, session, password };
  }

  #sweep(): void {
    const now = this.deps.now();
    for (const [id, c] of this.#challenges) if (now - c.at > CHALLENGE_TTL_MS) this.#challenges.delete(id);
  }
}

/** Activate Session response data: auth type, session ID, initial inbound sequence, max privilege. */
export function activationReply(s: Lan15Session): Buffer {
  const data = Buffer.allocUnsafe(10);
  data[0] = s.authType;
  data.writeUInt32LE(s.id, 1);
  data.writeUInt32LE(s.activation.inboundStart, 5);
  data[9] = s.activation.maxPrivilege;
  return data;
}

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

/** The auth code for a packet the BMC sends in an active 1.5 session. */
export function outboundAuthCode(s: Lan15Session, sequence: number, message: Buffer): Buffer | undefined {
  return authCodeFor(s.authType, s.password, s.id, sequence, message);
}

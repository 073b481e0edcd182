import { randomBytes } from 'node:crypto';
import { type AccountSource, type BmcAccount, validateAccount } from '../../machine/index.ts';
import {
  decodeOpenSessionRequest,
  decodeRakp1,
  decodeRakp3,
  encodeOpenSessionResponse,
  encodeRakp2,
  encodeRakp4,
} from '../codec/handshake.ts';
import { constantTimeEqual } from '../codec/rmcpplus.ts';
import {
  deriveKeys,
  type RakpInputs,
  rakp2AuthCode,
  rakp3AuthCode,
  rakp4Icv,
  sessionIntegrityKey,
} from '../crypto/rakp.ts';
import { matchSuite, RMCPP_STATUS } from '../crypto/suites.ts';
import type { AuthFailureLimiter } from './rate-limit.ts';
import { SequenceWindow } from './replay.ts';
import { PRIV_ADMIN, PRIV_USER, type RmcpPlusSession, roleLimit, type Source } from './session.ts';
import type { SessionTable } from './table.ts';

/** Width of the RMCP+ inbound sequence window (32 below / 32 above the highest accepted). */
export const RMCPPLUS_WINDOW = 32;

export interface HandshakeDeps {
  readonly table: SessionTable;
  readonly accounts: AccountSource;
  readonly limiter: AuthFailureLimiter;
  /** The BMC GUID sent in RAKP2 and hashed into RAKP2/RAKP4. */
  readonly guid: () => Buffer;
  readonly onAuthFailure: (source: Source, username: string, reason: string) => void;
  readonly onSessionOpened: (s: RmcpPlusSession) => void;
  readonly onEvict: (s: RmcpPlusSession | import('./session.ts').Session) => void;
  readonly now: () => number;
}

/** Finds the account by exact (case-sensitive) user name bytes. */
export function findAccount(accounts: readonly BmcAccount[], name: Buffer): BmcAccount | undefined {
  if (name.length === 0) return undefined;
  const text = name.toString('latin1');
  // Accounts beyond the IPMI limits (possible after a rotation) can never log in.
  return accounts.find(
    (a) =>
      a.username === text && Buffer.byteLength(a.username) === name.length && validateAccount(a) === null,
  );
}

/**
 * RMCP+ session setup: Open Session, RAKP1 → RAKP2, RAKP3 → RAKP4. Repeated messages get the
 * cached answer (idempotent), so a console that retransmits never sees a state error.
 * Each method returns the reply payload (for session ID 0 framing), or null to stay silent.
 */
export class RmcpPlusHandshake {
  constructor(readonly deps: HandshakeDeps) {}

  openSession(payload: Buffer, source: Source): Buffer | null {
    const req = decodeOpenSessionRequest(payload);
    if (!req) {
      if (payload.length < 8) return null;
      return encodeOpenSessionResponse({
        tag: payload[0]!,
        status: RMCPP_STATUS.ILLEGAL_PARAMETER,
        privilege: 0,
        consoleSessionId: payload.readUInt32LE(4),
      });
    }
    const { table } = this.deps;
    // A retransmitted Open Session (same source, same bytes) gets the same session back.
    for (const s of table.values()) {
      if (
        s.kind === 'rmcpplus' &&
        s.state === 'opened' &&
        s.source.address === source.address &&
        s.source.port === source.port &&
        s.openRequest.equals(payload)
      ) {
        s.lastActivity = this.deps.now();
        return s.openResponse;
      }
    }
    const refuse = (status: number) =>
      encodeOpenSessionResponse({
        tag: req.tag,
        status,
        privilege: 0,
        consoleSessionId: req.consoleSessionId,
      });
    const suite = matchSuite(req.auth, req.integrity, req.confidentiality);
    if (typeof suite === 'number') return refuse(suite);
    if (req.privilege > PRIV_ADMIN) return refuse(RMCPP_STATUS.INVALID_ROLE);
    if (req.consoleSessionId === 0) return refuse(RMCPP_STATUS.INVALID_SESSION_ID);
    if (!table.reserve((s) => this.deps.onEvict(s))) return refuse(RMCPP_STATUS.INSUFFICIENT_RESOURCES);
    const id = table.newId();
    const privilege = req.privilege === 0 ? PRIV_ADMIN : req.privilege;
    const openResponse = encodeOpenSessionResponse({
      tag: req.tag,
      status: 0,
      privilege,
      consoleSessionId: req.consoleSessionId,
      bmcSessionId: id,
      algorithmPayloads: req.algorithmPayloads,
    });
    const now = this.deps.now();
    const s: RmcpPlusSession = {
      kind: 'rmcpplus',
      id,
      username: '',
      source,
      maxPrivilege: privilege,
      privilege: PRIV_USER,
      lastActivity: now,
      createdAt: now,
      closeListeners: [],
      state: 'opened',
      consoleSessionId: req.consoleSessionId,
      suite,
      openPrivilege: privilege,
      openRequest: Buffer.from(payload),
      openResponse,
      outboundSeq: 1,
    };
    table.add(s);
    return openResponse;
  }

  rakp1(payload: Buffer, source: Source): Buffer | null {
    const r = decodeRakp1(payload);
    if (!r) return null;
    const session = this.deps.table.get(r.bmcSessionId);
    const s = session?.kind === 'rmcpplus' ? session : undefined;
    const fail = (status: number, consoleSessionId = s?.consoleSessionId ?? 0) =>
      encodeRakp2({ tag: r.tag, status, consoleSessionId });
    if (!s || s.source.address !== source.address) return fail(RMCPP_STATUS.INVALID_SESSION_ID, 0);
    if ('status' in r) return fail(r.status);
    const h = s.handshake;
    // Retransmitted RAKP1: answer with the RAKP2 already sent.
    if (h?.rakp1.equals(payload)) {
      s.lastActivity = this.deps.now();
      return h.rakp2;
    }
    if (s.state === 'active') return fail(RMCPP_STATUS.INVALID_SESSION_ID);
    const key = source.address;
    if (!this.deps.limiter.allowed(key)) {
      this.deps.onAuthFailure(
        source,
        r.username.toString('latin1'),
        'too many failed logins from this source',
      );
      return fail(RMCPP_STATUS.INSUFFICIENT_RESOURCES);
    }
    const requested = r.role & 0x0f;
    if (requested < 1 || requested > PRIV_ADMIN || (r.role & 0xe0) !== 0)
      return fail(RMCPP_STATUS.INVALID_ROLE);
    const account = findAccount(this.deps.accounts(), r.username);
    if (!account) {
      this.deps.limiter.fail(key);
      this.deps.onAuthFailure(source, r.username.toString('latin1'), 'unknown user name');
      this.#drop(s);
      return fail(RMCPP_STATUS.UNAUTHORIZED_NAME);
    }
    const limit = roleLimit(account.role);
    if (requested > limit) {
      // Refuse at once rather than granting a session that fails later at Set Session Privilege
      // Level: ipmitool then names the problem, FreeIPMI prints "privilege level cannot be
      // obtained", and pyghmi retries at OPERATOR by itself (it does so on 0x09).
      this.deps.onAuthFailure(source, account.username, 'requested privilege above the user limit');
      this.#drop(s);
      return fail((r.role & 0x10) !== 0 ? RMCPP_STATUS.INVALID_ROLE : RMCPP_STATUS.UNAUTHORIZED_ROLE);
    }
    if (requested > s.openPrivilege) return fail(RMCPP_STATUS.UNAUTHORIZED_ROLE);
    // Every RAKP2 sent counts as a failed attempt until RAKP3 proves the password: RAKP2 lets its
    // receiver test passwords offline, and a console that finds it wrong may just go away.
    this.deps.limiter.fail(key);
    const password = Buffer.from(account.password, 'utf8');
    const rc = randomBytes(16);
    const inputs = this.#inputs(s, r.rm, rc, r.role, r.username);
    const rakp2 = encodeRakp2({
      tag: r.tag,
      status: 0,
      consoleSessionId: s.consoleSessionId,
      rc,
      guid: inputs.guid,
      authCode: rakp2AuthCode(password, inputs),
    });
    s.handshake = {
      rm: r.rm,
      rc,
      role: r.role,
      usernameBytes: r.username,
      password,
      sik: sessionIntegrityKey(password, inputs),
      rakp1: Buffer.from(payload),
      rakp2,
      tag: r.tag,
    };
    s.username = account.username;
    s.maxPrivilege = Math.min(requested, limit, s.openPrivilege);
    s.state = 'rakp2';
    s.lastActivity = this.deps.now();
    return rakp2;
  }

  rakp3(payload: Buffer, source: Source): Buffer | null {
    const r = decodeRakp3(payload);
    if (!r) return null;
    const session = this.deps.table.get(r.bmcSessionId);
    const s = session?.kind === 'rmcpplus' ? session : undefined;
    if (!s || s.source.address !== source.address || !s.handshake) {
      return encodeRakp4({ tag: r.tag, status: RMCPP_STATUS.INVALID_SESSION_ID, consoleSessionId: 0 });
    }
    const h = s.handshake;
    // Retransmitted RAKP3 after success: the same RAKP4.
    if (s.state === 'active') {
      if (h.rakp3?.equals(payload) && h.rakp4) return h.rakp4;
      return encodeRakp4({
        tag: r.tag,
        status: RMCPP_STATUS.INVALID_SESSION_ID,
        consoleSessionId: s.consoleSessionId,
      });
    }
    if (r.status !== 0) {
      // The console rejected our RAKP2 (typically: it holds a different password).
      this.deps.onAuthFailure(
        source,
        s.username,
        `console aborted the handshake (status 0x${r.status.toString(16)})`,
      );
      this.#drop(s);
      return null;
    }
    const inputs = this.#inputs(s, h.rm, h.rc, h.role, h.usernameBytes);
    const expected = rakp3AuthCode(h.password, inputs);
    if (!constantTimeEqual(expected, r.authCode)) {
      this.deps.onAuthFailure(source, s.username, 'wrong password (RAKP3 auth code)');
      this.#drop(s);
      return encodeRakp4({
        tag: r.tag,
        status: RMCPP_STATUS.INVALID_INTEGRITY_CHECK,
        consoleSessionId: s.consoleSessionId,
      });
    }
    this.deps.limiter.refund(source.address);
    const { k1, k2 } = deriveKeys(s.suite.hash, h.sik);
    s.keys = {
      integrityHash: s.suite.integrityHash,
      authCodeLength: s.suite.authCodeLength,
      k1,
      aesKey: s.suite.encrypted ? Buffer.from(k2.subarray(0, 16)) : null,
    };
    s.inbound = new SequenceWindow(RMCPPLUS_WINDOW);
    h.rakp3 = Buffer.from(payload);
    h.rakp4 = encodeRakp4({
      tag: r.tag,
      status: 0,
      consoleSessionId: s.consoleSessionId,
      icv: rakp4Icv(h.sik, inputs),
    });
    s.state = 'active';
    s.privilege = Math.min(PRIV_USER, s.maxPrivilege);
    s.lastActivity = this.deps.now();
    this.deps.onSessionOpened(s);
    return h.rakp4;
  }

  #inputs(s: RmcpPlusSession, rm: Buffer, rc: Buffer, role: number, username: Buffer): RakpInputs {
    return {
      hash: s.suite.hash,
      consoleSessionId: s.consoleSessionId,
      bmcSessionId: s.id,
      rm,
      rc,
      guid: this.deps.guid(),
      role,
      username,
    };
  }

  #drop(s: RmcpPlusSession): void {
    this.deps.table.delete(s.id);
  }
}

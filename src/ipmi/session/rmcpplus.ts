import { createHmac, randomBytes } from 'node:crypto';
import { type AccountSource, type BmcAccount, validateAccount } from '../../machine/index.ts';
import { type LoginGuard, refusalReason } from '../../machine/login-limits.ts';
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
import { SequenceWindow } from './replay.ts';
import { PRIV_ADMIN, PRIV_USER, type RmcpPlusSession, roleLimit, type Source } from './session.ts';
import { SetupTable } from './setup.ts';
import type { SessionTable } from './table.ts';

/** Width of the RMCP+ inbound sequence window (32 below / 32 above the highest accepted). */
export const RMCPPLUS_WINDOW = 32;

/** Logins in progress (Open Session → RAKP 3) kept at most, all sources together. */
export const MAX_PENDING_LOGINS = 1024;
/** Logins in progress kept at most per source address (its oldest is dropped for a new one). */
export const MAX_PENDING_LOGINS_PER_SOURCE = 8;

export interface HandshakeDeps {
  readonly table: SessionTable;
  readonly accounts: AccountSource;
  readonly guard: LoginGuard;
  /** The BMC GUID sent in RAKP2 and hashed into RAKP2/RAKP4. */
  readonly guid: () => Buffer;
  /** A login attempt that failed or was refused (logged and counted by the server). */
  readonly onAuthFailure: (source: Source, username: string, reason: string) => void;
  readonly onSessionOpened: (s: RmcpPlusSession) => void;
  /** A login in progress that ended without RAKP 3 (expired or replaced): not a failed login. */
  readonly onAbandoned?: (s: RmcpPlusSession, reason: string) => void;
  /** IDs in use elsewhere (IPMI 1.5 challenges), never handed out here. */
  readonly idInUse?: (id: number) => boolean;
  readonly now: () => number;
  /** Logins in progress: how long (default 5 s) and how many (defaults above). */
  readonly setup?: { ttlMs?: number; max?: number; perSource?: number };
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
 * The key the failed-login budgets and trusted sources are kept under: the name bytes as sent, read
 * as latin1 (for an account IPMI can use, whose name is printable ASCII, that is its name).
 */
export function accountKey(name: Buffer): string {
  return name.toString('latin1');
}

/**
 * Stands in for the password of a user name the BMC does not know, so that the login goes on
 * exactly as for a known name (same RAKP 2, same work) and fails only at RAKP 3: user names cannot
 * be enumerated. Keyed with a secret of this BMC, so one name always gets the same stand-in.
 */
export function decoyKey(secret: Buffer, name: Buffer): Buffer {
  return createHmac('sha256', secret).update(name).digest().subarray(0, 20);
}

/**
 * RMCP+ session setup: Open Session, RAKP1 → RAKP2, RAKP3 → RAKP4. Repeated messages get the
 * cached answer (idempotent), so a console that retransmits never sees a state error.
 * Each method returns the reply payload (for session ID 0 framing), or null to stay silent.
 *
 * Sessions in setup live in their own bounded table (`SetupTable`: 8 per source address, 1024 in
 * all, 5 s each) and take one of the BMC's session slots only when RAKP 3 proves the password, so
 * a flood of Open Session requests cannot keep a console from logging in.
 */
export class RmcpPlusHandshake {
  readonly #pending: SetupTable<RmcpPlusSession>;
  readonly #secret = randomBytes(32);

  constructor(readonly deps: HandshakeDeps) {
    this.#pending = new SetupTable(
      {
        ttlMs: deps.setup?.ttlMs ?? 5_000,
        max: deps.setup?.max ?? MAX_PENDING_LOGINS,
        perSource: deps.setup?.perSource ?? MAX_PENDING_LOGINS_PER_SOURCE,
      },
      deps.now,
    );
  }

  /** Sessions in setup (Open Session sent, RAKP 3 not yet verified). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Whether `id` is a session in setup. */
  hasPending(id: number): boolean {
    return this.#pending.has(id);
  }

  /** Ends the setups that ran out of time. */
  expire(now = this.deps.now()): void {
    for (const s of this.#pending.expire(now)) this.deps.onAbandoned?.(s, 'setup timeout');
  }

  clear(): void {
    this.#pending.clear();
  }

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
    for (const s of this.#pending.fromSource(source.address)) {
      if (s.state === 'opened' && s.source.port === source.port && s.openRequest.equals(payload)) {
        if (this.#pending.get(s.id)) return s.openResponse;
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
    if (!table.hasRoom()) return refuse(RMCPP_STATUS.INSUFFICIENT_RESOURCES);
    const id = table.newId((n) => this.#pending.has(n) || (this.deps.idInUse?.(n) ?? false));
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
    for (const dropped of this.#pending.add(s)) this.deps.onAbandoned?.(dropped, 'replaced by a newer login');
    return openResponse;
  }

  rakp1(payload: Buffer, source: Source): Buffer | null {
    const r = decodeRakp1(payload);
    if (!r) return null;
    const pending = this.#pending.get(r.bmcSessionId);
    const active = pending ? undefined : this.deps.table.get(r.bmcSessionId);
    const s = pending ?? (active?.kind === 'rmcpplus' ? active : undefined);
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
    const requested = r.role & 0x0f;
    if (requested < 1 || requested > PRIV_ADMIN || (r.role & 0xe0) !== 0)
      return fail(RMCPP_STATUS.INVALID_ROLE);
    const name = r.username.toString('latin1');
    // The null user (no name) is disabled; that is no secret (Get Channel Auth Caps says so).
    if (r.username.length === 0) {
      this.#drop(s);
      return fail(RMCPP_STATUS.UNAUTHORIZED_NAME);
    }
    const key = accountKey(r.username);
    const refused = this.deps.guard.check(source.address, key);
    if (refused) {
      this.deps.onAuthFailure(source, name, refusalReason(refused.budget));
      this.#drop(s);
      return fail(RMCPP_STATUS.INSUFFICIENT_RESOURCES);
    }
    // An unknown name goes on like an Administrator account with a stand-in password: the same
    // RAKP 2, and the same RAKP 4 failure after RAKP 3.
    const account = findAccount(this.deps.accounts(), r.username);
    const limit = account ? roleLimit(account.role) : PRIV_ADMIN;
    if (requested > limit) {
      // Refuse at once rather than granting a session that fails later at Set Session Privilege
      // Level: ipmitool then names the problem, FreeIPMI prints "privilege level cannot be
      // obtained", and pyghmi retries at OPERATOR by itself (it does so on 0x09).
      this.deps.onAuthFailure(source, name, 'requested privilege above the user limit');
      this.#drop(s);
      return fail((r.role & 0x10) !== 0 ? RMCPP_STATUS.INVALID_ROLE : RMCPP_STATUS.UNAUTHORIZED_ROLE);
    }
    if (requested > s.openPrivilege) return fail(RMCPP_STATUS.UNAUTHORIZED_ROLE);
    const password = account ? Buffer.from(account.password, 'utf8') : decoyKey(this.#secret, r.username);
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
      known: account !== undefined,
      sik: sessionIntegrityKey(password, inputs),
      rakp1: Buffer.from(payload),
      rakp2,
      tag: r.tag,
    };
    s.username = account?.username ?? name;
    s.maxPrivilege = Math.min(requested, limit, s.openPrivilege);
    s.state = 'rakp2';
    s.lastActivity = this.deps.now();
    return rakp2;
  }

  rakp3(payload: Buffer, source: Source): Buffer | null {
    const r = decodeRakp3(payload);
    if (!r) return null;
    const pending = this.#pending.get(r.bmcSessionId);
    const active = pending ? undefined : this.deps.table.get(r.bmcSessionId);
    const s = pending ?? (active?.kind === 'rmcpplus' ? active : undefined);
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
    const { guard } = this.deps;
    const key = accountKey(h.usernameBytes);
    const reply = (status: number) =>
      encodeRakp4({ tag: r.tag, status, consoleSessionId: s.consoleSessionId });
    if (r.status !== 0) {
      // The console says our RAKP2 does not verify with its password (ipmitool sends 0x0F for a
      // wrong password): a failed proof like a wrong RAKP 3 auth code.
      this.#drop(s);
      guard.failed(source.address, key);
      this.deps.onAuthFailure(
        source,
        s.username,
        h.known
          ? `wrong password (the console rejected RAKP 2, status 0x${r.status.toString(16)})`
          : 'unknown user name',
      );
      return null;
    }
    // The budgets are checked again here: guesses cannot pile up between RAKP 1 and RAKP 3.
    const refused = guard.check(source.address, key);
    if (refused) {
      this.#drop(s);
      this.deps.onAuthFailure(source, s.username, refusalReason(refused.budget));
      return reply(RMCPP_STATUS.INSUFFICIENT_RESOURCES);
    }
    const inputs = this.#inputs(s, h.rm, h.rc, h.role, h.usernameBytes);
    const expected = rakp3AuthCode(h.password, inputs);
    const proven = constantTimeEqual(expected, r.authCode) && h.known;
    if (!proven) {
      this.#drop(s);
      guard.failed(source.address, key);
      this.deps.onAuthFailure(
        source,
        s.username,
        h.known ? 'wrong password (RAKP 3 auth code)' : 'unknown user name',
      );
      return reply(RMCPP_STATUS.INVALID_INTEGRITY_CHECK);
    }
    guard.succeeded(source.address, key);
    this.#drop(s);
    const { table } = this.deps;
    if (!table.hasRoom() || table.get(s.id)) {
      this.deps.onAbandoned?.(s, 'no free session slot at RAKP 3');
      return reply(RMCPP_STATUS.INSUFFICIENT_RESOURCES);
    }
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
    table.add(s);
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
    this.#pending.delete(s.id);
  }
}

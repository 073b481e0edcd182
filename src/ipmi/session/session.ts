import type { BmcAccount } from '../../machine/index.ts';
import type { SessionKeys } from '../crypto/packet.ts';
import type { CipherSuite } from '../crypto/suites.ts';
import type { SequenceWindow } from './replay.ts';

export const PRIV_CALLBACK = 1;
export const PRIV_USER = 2;
export const PRIV_OPERATOR = 3;
export const PRIV_ADMIN = 4;

/** The privilege limit of an account's role. */
export function roleLimit(role: BmcAccount['role']): number {
  return role === 'Administrator' ? PRIV_ADMIN : role === 'Operator' ? PRIV_OPERATOR : PRIV_USER;
}

export interface Source {
  readonly address: string;
  readonly port: number;
}

export function sourceKey(s: Source): string {
  return `${s.address}:${s.port}`;
}

/** What every session offers to command handlers (both IPMI 1.5 and RMCP+). */
export interface SessionCommon {
  /** The BMC session ID: the number consoles use to address this session. */
  readonly id: number;
  username: string;
  readonly source: Source;
  /** Highest privilege this session may take (negotiated with the user's limit). */
  maxPrivilege: number;
  /** Current privilege level (starts at USER). */
  privilege: number;
  lastActivity: number;
  /**
   * The last IPMI request and its reply (null while it runs). A console that times out resends the
   * same message (same rqSeq) in a new packet: it must get the same answer, not a second execution.
   */
  lastRequest?: { readonly message: Buffer; readonly at: number; response: Buffer | null };
  /** Called once when the session ends (Close Session, idle timeout, server close). */
  readonly closeListeners: Array<(reason: string) => void>;
}

/** An active IPMI 1.5 session. */
export interface Lan15Session extends SessionCommon {
  readonly kind: 'lan15';
  readonly authType: number;
  readonly password: Buffer;
  readonly inbound: SequenceWindow;
  /** Next sequence number the BMC sends. */
  outboundSeq: number;
  /** The activation challenge, to answer a retransmitted Activate Session idempotently. */
  readonly challenge: Buffer;
  readonly activation: { readonly inboundStart: number; readonly maxPrivilege: number };
  state: 'active';
}

/** An RMCP+ session, from Open Session through RAKP to active. */
export interface RmcpPlusSession extends SessionCommon {
  readonly kind: 'rmcpplus';
  state: 'opened' | 'rakp2' | 'active';
  readonly consoleSessionId: number;
  readonly suite: CipherSuite;
  /** The privilege granted in Open Session (channel maximum when 0 was requested). */
  readonly openPrivilege: number;
  readonly openRequest: Buffer;
  readonly openResponse: Buffer;
  createdAt: number;
  /** Set by RAKP1. */
  handshake?: {
    readonly rm: Buffer;
    readonly rc: Buffer;
    readonly role: number;
    readonly usernameBytes: Buffer;
    /** The account's password, or a stand-in for an unknown user name (see `decoyKey`). */
    readonly password: Buffer;
    /** False for an unknown user name: RAKP 3 then always fails. */
    readonly known: boolean;
    readonly sik: Buffer;
    readonly rakp1: Buffer;
    readonly rakp2: Buffer;
    readonly tag: number;
    rakp3?: Buffer;
    rakp4?: Buffer;
  };
  keys?: SessionKeys;
  inbound?: SequenceWindow;
  /** Next sequence number the BMC sends (starts at 1, skips 0). */
  outboundSeq: number;
}

export type Session = Lan15Session | RmcpPlusSession;

/** Advances a 32-bit sequence counter, skipping 0. */
export function nextSeq(n: number): number {
  const v = (n + 1) >>> 0;
  return v === 0 ? 1 : v;
}

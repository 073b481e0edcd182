import type { ActionContext, BmcAccount, Machine } from '../../machine/index.ts';
import type { LoginLimits } from '../../machine/login-limits.ts';
import type { IpmiRequest } from '../codec/message.ts';
import type { SessionCommon } from '../session/session.ts';
import type { BmcState } from './bmc-state.ts';

export const CC = {
  OK: 0x00,
  NODE_BUSY: 0xc0,
  INVALID_COMMAND: 0xc1,
  TIMEOUT: 0xc3,
  OUT_OF_SPACE: 0xc4,
  RESERVATION_INVALID: 0xc5,
  DATA_TRUNCATED: 0xc6,
  DATA_LENGTH_INVALID: 0xc7,
  DATA_LENGTH_EXCEEDED: 0xc8,
  PARAMETER_OUT_OF_RANGE: 0xc9,
  CANNOT_RETURN_BYTES: 0xca,
  NOT_PRESENT: 0xcb,
  INVALID_DATA_FIELD: 0xcc,
  RESPONSE_UNAVAILABLE: 0xce,
  INSUFFICIENT_PRIVILEGE: 0xd4,
  NOT_IN_PRESENT_STATE: 0xd5,
  UNSPECIFIED: 0xff,
} as const;

export const NETFN_CHASSIS = 0x00;
export const NETFN_SENSOR = 0x04;
export const NETFN_APP = 0x06;
export const NETFN_STORAGE = 0x0a;
export const NETFN_TRANSPORT = 0x0c;
export const NETFN_PICMG = 0x2c;

export interface CommandResult {
  readonly cc: number;
  readonly data?: Uint8Array;
  /** Runs after the response was sent (Close Session destroys the session's keys only then). */
  readonly after?: () => void;
}

/** What a command handler may see and use. */
export interface CommandContext {
  readonly machine: Machine;
  readonly bmc: BmcState;
  /** Null for session-less (pre-session) requests. */
  readonly session: SessionCommon | null;
  readonly accounts: () => readonly BmcAccount[];
  readonly allowAuthTypeNone: boolean;
  /** Audit context for Machine writes. */
  readonly action: ActionContext | undefined;
  /** Whether the request arrived in IPMI 2.0 (RMCP+) framing. */
  readonly rmcpPlus: boolean;
  /** Ends a session by BMC session ID after the reply; false when there is no such session. */
  readonly closeSession: (id: number) => boolean;
  /** Whether an active session has this BMC session ID. */
  readonly hasSession: (id: number) => boolean;
  /** Number of active sessions (Get Channel Info). */
  readonly activeSessions: () => number;
  /** The active sessions, by session handle (Get Session Info). */
  readonly sessions: () => readonly ActiveSession[];
  /** The most sessions that may be active at once (Get Session Info's slot count). */
  readonly sessionSlots: number;
  /** The failed-login policy in force (LAN parameter 26, bad password threshold). */
  readonly loginLimits: Readonly<Required<LoginLimits>>;
  /** Whether a handler for this RMCP+ payload type is registered (e.g. SOL = 1). */
  readonly hasPayload: (payloadType: number) => boolean;
  /** The UDP port the BMC listens on (SOL's Activate Payload reports it). */
  readonly port: () => number;
  /** Restarts this BMC's service (Cold/Warm Reset); absent where the host offers no reset. */
  readonly resetBmc?: () => void;
}

/** An active session as Get Session Info reports it. */
export interface ActiveSession {
  readonly handle: number;
  readonly session: SessionCommon;
  /** IPMI 2.0 / RMCP+ (else IPMI 1.5). */
  readonly rmcpPlus: boolean;
}

export type Handler = (req: IpmiRequest, ctx: CommandContext) => CommandResult | Promise<CommandResult>;

export interface CommandSpec {
  readonly netFn: number;
  readonly cmd: number;
  readonly name: string;
  /** Minimum session privilege (IPMI Appendix G); 0 = allowed before a session exists. */
  readonly privilege: number;
  readonly handler: Handler;
}

export function ok(data?: Uint8Array | number[]): CommandResult {
  return data === undefined
    ? { cc: CC.OK }
    : { cc: CC.OK, data: data instanceof Uint8Array ? data : Uint8Array.from(data) };
}

export function fail(cc: number): CommandResult {
  return { cc };
}

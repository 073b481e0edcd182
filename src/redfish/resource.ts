import type { ActionContext, BmcRole, Machine } from '../machine/index.ts';
import { fail } from './messages.ts';

/**
 * What a resource file declares: its URI template, which methods it answers and the Redfish
 * privilege each needs (DSP0266 privilege model: `Login` to read, `ConfigureComponents` to operate
 * the system, `ConfigureManager`/`ConfigureUsers` for the service itself, `ConfigureSelf` for one's
 * own session). The server does the rest (authentication, ETags, errors, query options).
 */
export type Privilege =
  | 'Login'
  | 'ConfigureManager'
  | 'ConfigureUsers'
  | 'ConfigureSelf'
  | 'ConfigureComponents';

export const ROLE_PRIVILEGES: Readonly<Record<BmcRole, readonly Privilege[]>> = {
  Administrator: ['Login', 'ConfigureManager', 'ConfigureUsers', 'ConfigureSelf', 'ConfigureComponents'],
  Operator: ['Login', 'ConfigureSelf', 'ConfigureComponents'],
  ReadOnly: ['Login', 'ConfigureSelf'],
};

export type Json = Record<string, unknown>;

/** One computer as this service presents it: its System, its Manager and its Chassis ids. */
export interface SystemEntry {
  readonly id: string;
  readonly managerId: string;
  readonly chassisId: string;
  readonly machine: Machine;
  /** Restarts this system's BMC service (Manager.Reset); absent where the host offers no reset. */
  readonly resetBmc?: () => void;
}

export interface Principal {
  readonly user: string;
  readonly role: BmcRole;
  readonly sessionId: string | null;
}

/** Service-wide state a resource may read (sessions, tasks, accounts, the system list). */
export interface ServiceState {
  readonly uuid: string;
  readonly sessionTimeoutSeconds: number;
  readonly maxSessions: number;
  /** The failed-login budgets in force (AccountService shows them). */
  readonly loginLimits: Readonly<Required<import('../machine/login-limits.ts').LoginLimits>>;
  readonly tls: boolean;
  systems(): readonly SystemEntry[];
  findSystem(id: string): SystemEntry | undefined;
  findByManager(id: string): SystemEntry | undefined;
  findByChassis(id: string): SystemEntry | undefined;
  readonly sessions: import('./sessions.ts').SessionStore;
  readonly tasks: import('./tasks.ts').TaskStore;
  readonly accounts: import('../machine/index.ts').AccountSource;
  /** Every password check (session login too) goes through it: budgets, log, metric. */
  readonly login: import('./login-guard.ts').RedfishLogin;
  /** The event service (subscriptions, SSE, delivery); see `events/`. */
  readonly events: import('./events/engine.ts').EventEngine;
}

export interface Ctx {
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly service: ServiceState;
  /** Null only for the resources readable without authentication. */
  readonly principal: Principal | null;
  /** Who is acting, for the Machine's audit trail. */
  readonly actor: ActionContext;
}

export interface Reply {
  readonly status: number;
  readonly body?: Json;
  readonly headers?: Record<string, string>;
}

export interface Write<B> {
  readonly privilege: Privilege | ((ctx: Ctx) => Privilege);
  /** Resolves with a reply, or undefined to answer with the resource as it now reads (200). */
  readonly run: (ctx: Ctx, body: B) => Promise<Reply | undefined>;
}

export interface ResourceDef {
  /** URI template with `{Param}` segments, exactly as the schema's `Redfish.Uris`. */
  readonly uri: string;
  /** False for the few URIs readable without login (service root, odata, $metadata). */
  readonly auth?: boolean;
  readonly get?: (ctx: Ctx) => Json;
  /** Privilege to read, when more than `Login` (e.g. someone else's account or session). */
  readonly getPrivilege?: Privilege | ((ctx: Ctx) => Privilege);
  /** PATCH: the body is a JSON object; If-Match is checked against the GET representation. */
  readonly patch?: Write<Json>;
  /** POST (actions, creation). `body` is undefined for an empty body. */
  readonly post?: Write<Json | undefined> & {
    /** POST without authentication (session login). */
    readonly anonymous?: boolean;
  };
  readonly delete?: Write<undefined>;
  /** A non-JSON representation (the CSDL `$metadata` document). */
  readonly raw?: (ctx: Ctx) => { contentType: string; body: string };
  /** A task monitor: GET answers with a status of its own (202 while running). */
  readonly monitor?: (ctx: Ctx) => Reply;
  /**
   * A streamed GET (the SSE event stream): checks `getPrivilege`, then hands over the response.
   * Throw a RedfishError before writing anything to refuse.
   */
  readonly stream?: (
    ctx: Ctx,
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
    search: string,
  ) => void;
}

// --- helpers every resource file uses -----------------------------------------------------------

export const ref = (id: string): { '@odata.id': string } => ({ '@odata.id': id });

export function systemOf(ctx: Ctx): SystemEntry {
  const id = ctx.params.ComputerSystemId ?? '';
  const s = ctx.service.findSystem(id);
  if (!s) throw fail(404, 'ResourceNotFound', ['ComputerSystem', id]);
  return s;
}

export function managerOf(ctx: Ctx): SystemEntry {
  const id = ctx.params.ManagerId ?? '';
  const s = ctx.service.findByManager(id);
  if (!s) throw fail(404, 'ResourceNotFound', ['Manager', id]);
  return s;
}

export function chassisOf(ctx: Ctx): SystemEntry {
  const id = ctx.params.ChassisId ?? '';
  const s = ctx.service.findByChassis(id);
  if (!s) throw fail(404, 'ResourceNotFound', ['Chassis', id]);
  return s;
}

export const systemUri = (s: SystemEntry): string => `/redfish/v1/Systems/${s.id}`;
export const managerUri = (s: SystemEntry): string => `/redfish/v1/Managers/${s.managerId}`;
export const chassisUri = (s: SystemEntry): string => `/redfish/v1/Chassis/${s.chassisId}`;

/** A collection body: `Members` and `Members@odata.count` (paging is applied by the server). */
export function collection(type: string, id: string, name: string, members: readonly string[]): Json {
  return {
    '@odata.id': id,
    '@odata.type': type,
    Name: name,
    'Members@odata.count': members.length,
    Members: members.map(ref),
  };
}

/** Resource `Status` for a machine's power state. */
export function statusFor(on: boolean, health: 'OK' | 'Warning' | 'Critical' = 'OK'): Json {
  return { State: on ? 'Enabled' : 'StandbyOffline', Health: health };
}

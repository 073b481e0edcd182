/**
 * BMC credentials for one BMC: from a Secret read (and watched) through the API, or given on the
 * command line. The protocol servers call `accounts()` on every authentication, so a rotated
 * password applies at once, without a restart, and they subscribe to it: when the password (or the
 * user name) changes, every Redfish and IPMI session (Serial over LAN included) opened with the old
 * one ends at that moment. A Secret that is missing or unusable yields no account (every login
 * fails) and a `problem` a person can act on; one that only IPMI cannot carry (a user name over 16
 * bytes, a password over 20) is served over Redfish and refused over IPMI, and the problem says so.
 * It never crashes the agent. Values are never logged.
 */

import type { KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { apiPath, KINDS } from '../kube/paths.ts';
import type { NamedObject } from '../kube/types.ts';
import {
  AccountList,
  type AccountSource,
  accountProblem,
  type BmcAccount,
  describeEnded,
  type SessionsEnded,
  validateAccount,
} from '../machine/accounts.ts';

export interface CredentialSource {
  readonly accounts: AccountSource;
  problem(): string | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface SecretObject extends NamedObject {
  data?: Record<string, string>;
}

function decode(secret: SecretObject, key: string): string | undefined {
  const v = secret.data?.[key];
  if (typeof v === 'string') return Buffer.from(v, 'base64').toString('utf8');
  // The API server folds stringData into data; tolerate a server (or test double) that does not.
  const plain = (secret.stringData as Record<string, unknown> | undefined)?.[key];
  return typeof plain === 'string' ? plain : undefined;
}

/**
 * What IPMI does with an account it cannot carry, appended to the problem: the account is still
 * served over Redfish.
 */
export const IPMI_REFUSES = 'IPMI refuses this account, Redfish serves it';

/**
 * The account of a credentials Secret. `ipmi` (default true): the BMC serves IPMI, so an account
 * beyond IPMI's limits is a problem (still returned: Redfish serves it).
 */
export function accountFromSecret(
  secret: SecretObject | undefined,
  where: string,
  options: { ipmi?: boolean } = {},
): { account: BmcAccount | null; problem: string | null } {
  if (!secret) return { account: null, problem: `Secret ${where} not found` };
  const username = decode(secret, 'username');
  const password = decode(secret, 'password');
  if (username === undefined) return { account: null, problem: `Secret ${where} has no key "username"` };
  if (password === undefined) return { account: null, problem: `Secret ${where} has no key "password"` };
  return checkedAccount(username, password, `Secret ${where}`, options.ipmi ?? true);
}

function checkedAccount(
  username: string,
  password: string,
  where: string,
  ipmi: boolean,
): { account: BmcAccount | null; problem: string | null } {
  const problem = accountProblem({ username, password });
  if (problem) return { account: null, problem: `${where}: ${problem}` };
  const account: BmcAccount = { username, password, role: 'Administrator' };
  const ipmiProblem = ipmi ? validateAccount(account) : null;
  return { account, problem: ipmiProblem ? `${where}: ${ipmiProblem}: ${IPMI_REFUSES}` : null };
}

/** What a change of credentials did, for the agent's log and Events. */
export interface CredentialsChange {
  /** False when every login is refused (no account at all). */
  readonly usable: boolean;
  /** User names whose sessions ended (their password or name changed, or they are gone). */
  readonly revoked: readonly string[];
  /** Sessions ended, per protocol. */
  readonly ended: readonly SessionsEnded[];
  /**
   * A sentence for the log and the Event when sessions ended, e.g. `credentials of "admin" changed:
   * ended 1 Redfish session and 1 IPMI session opened with the previous ones`; null otherwise.
   */
  readonly sessionsEnded: string | null;
}

const FIRST_SYNC_WAIT_MS = 10_000;

async function firstSync(informer: Informer<SecretObject>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    informer.start(),
    new Promise<void>((r) => {
      timer = setTimeout(r, FIRST_SYNC_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * What the agent keeps of a Secret: its identity and values. Not `managedFields`, nor kubectl's
 * last-applied annotation (a second copy of every value when the Secret was applied).
 */
function secretValues(s: SecretObject): SecretObject {
  const { name, namespace, resourceVersion } = s.metadata;
  return {
    metadata: { name, ...(namespace ? { namespace } : {}), ...(resourceVersion ? { resourceVersion } : {}) },
    ...(s.data ? { data: s.data } : {}),
    ...(s.stringData ? { stringData: s.stringData } : {}),
  };
}

interface SharedWatch {
  informer: Informer<SecretObject>;
  refs: number;
}

/**
 * One watch per Secret for the whole agent, however many BMCs use it (many BMCs of a namespace
 * often share one credentials Secret). Each watch is field-selected, so a Role limited to the
 * Secrets' names suffices. The watch stops with its last user.
 */
export class SecretWatches {
  readonly #client: KubeClient;
  readonly #watches = new Map<string, SharedWatch>();
  readonly #logger: { warn(o: object, m: string): void } | undefined;

  constructor(client: KubeClient, logger?: { warn(o: object, m: string): void }) {
    this.#client = client;
    this.#logger = logger;
  }

  /** How many Secrets are watched (for diagnostics and tests). */
  get size(): number {
    return this.#watches.size;
  }

  /**
   * Follows one Secret: `onChange` runs on every change of it. `start()` waits (bounded) for the
   * first read; `stop()` ends this use (the watch ends with its last user).
   */
  follow(
    namespace: string,
    name: string,
    onChange: () => void,
  ): { get(): SecretObject | undefined; start(): Promise<void>; stop(): Promise<void> } {
    const key = `${namespace}/${name}`;
    let w = this.#watches.get(key);
    if (!w) {
      w = {
        informer: new Informer<SecretObject>(this.#client, {
          path: apiPath(KINDS.Secret, { namespace }),
          fieldSelector: `metadata.name=${name}`,
          ...(this.#logger ? { logger: this.#logger } : {}),
          transform: secretValues,
        }),
        refs: 0,
      };
      this.#watches.set(key, w);
    }
    const shared = w;
    shared.refs++;
    const off = shared.informer.on(onChange);
    let stopped = false;
    return {
      get: () => shared.informer.get(namespace, name),
      start: () => firstSync(shared.informer),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        off();
        if (--shared.refs > 0) return;
        if (this.#watches.get(key) === shared) this.#watches.delete(key);
        await shared.informer.stop();
      },
    };
  }
}

/** The credentials of one BMC, from a watched Secret. */
export class SecretCredentials implements CredentialSource {
  readonly #secret: ReturnType<SecretWatches['follow']>;
  readonly #where: string;
  readonly #ipmi: boolean;
  readonly #list = new AccountList();
  #account: BmcAccount | null = null;
  #problem: string | null = 'credentials not loaded yet';
  readonly #onChange: (problem: string | null, change: CredentialsChange) => void;
  readonly #onError: (err: unknown) => void;

  /**
   * `ipmi`: whether the BMC serves IPMI (default true; its limits then apply). `onChange` runs once
   * per change of the account or of the problem, after the sessions of a changed account ended.
   */
  constructor(
    secrets: SecretWatches,
    namespace: string,
    name: string,
    options: {
      ipmi?: boolean;
      onChange?: (problem: string | null, change: CredentialsChange) => void;
      /** A protocol server failed to end its sessions (the others still did). */
      onError?: (err: unknown) => void;
    } = {},
  ) {
    this.#where = `${namespace}/${name}`;
    this.#ipmi = options.ipmi ?? true;
    this.#onChange = options.onChange ?? (() => {});
    this.#onError = options.onError ?? (() => {});
    this.#secret = secrets.follow(namespace, name, () => this.#refresh());
  }

  /** Read on every login; protocol servers subscribe to it to end the sessions a change revokes. */
  get accounts(): AccountSource {
    return this.#list.source;
  }

  problem(): string | null {
    return this.#problem;
  }

  #refresh(): void {
    const { account, problem } = accountFromSecret(this.#secret.get(), this.#where, { ipmi: this.#ipmi });
    const changed =
      problem !== this.#problem ||
      account?.username !== this.#account?.username ||
      account?.password !== this.#account?.password;
    this.#account = account;
    this.#problem = problem;
    // The new account first, then the old one's sessions end: nothing can log in with the old
    // password in between (all of this runs in one turn of the event loop).
    const { revoked, ended } = this.#list.set(account ? [account] : [], this.#onError);
    if (!changed) return;
    const total = describeEnded(ended);
    this.#onChange(problem, {
      usable: account !== null,
      revoked,
      ended,
      sessionsEnded: total
        ? `credentials of ${revoked.map((u) => JSON.stringify(u)).join(', ')} changed: ended ${total} opened with the previous ones`
        : null,
    });
  }

  /**
   * Waits (bounded) for the first read. If the Secret cannot be read yet (e.g. RBAC not yet in
   * place), the BMC starts refusing logins and picks the credentials up when the read succeeds.
   */
  async start(): Promise<void> {
    await this.#secret.start();
    this.#refresh();
  }

  async stop(): Promise<void> {
    await this.#secret.stop();
  }
}

/**
 * Credentials given on the command line (standalone mode). The CLI refuses values IPMI cannot
 * carry when IPMI is on; `ipmi: false` (IPMI off) accepts them for Redfish.
 */
export class StaticCredentials implements CredentialSource {
  readonly #problem: string | null;

  constructor(username: string, password: string, options: { ipmi?: boolean } = {}) {
    const { account, problem } = checkedAccount(username, password, 'credentials', options.ipmi ?? true);
    this.#problem = problem;
    // A list that never changes, but like a Secret's: an account only Redfish can use is refused
    // by IPMI (with the reason in its log) rather than making the IPMI server refuse to start.
    this.accounts = new AccountList(account ? [account] : []).source;
  }

  readonly accounts: AccountSource;

  problem(): string | null {
    return this.#problem;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** A TLS certificate and key from a kubernetes.io/tls Secret, watched. */
export class SecretTls {
  readonly #secret: ReturnType<SecretWatches['follow']>;
  #value: { cert: string; key: string } | null = null;
  readonly #onChange: () => void;

  constructor(secrets: SecretWatches, namespace: string, name: string, onChange: () => void) {
    this.#onChange = onChange;
    this.#secret = secrets.follow(namespace, name, () => {
      const before = JSON.stringify(this.#value);
      this.#read();
      if (JSON.stringify(this.#value) !== before) this.#onChange();
    });
  }

  #read(): void {
    const s = this.#secret.get();
    const cert = s && decode(s, 'tls.crt');
    const key = s && decode(s, 'tls.key');
    this.#value = cert && key ? { cert, key } : null;
  }

  get value(): { cert: string; key: string } | null {
    return this.#value;
  }

  async start(): Promise<void> {
    await this.#secret.start();
    this.#read();
  }

  async stop(): Promise<void> {
    await this.#secret.stop();
  }
}

/**
 * BMC credentials for one BMC: from a Secret read (and watched) through the API, or given on the
 * command line. The protocol servers call `accounts()` on every authentication, so a rotated
 * password applies at once, without a restart. A Secret that is missing or unusable yields no
 * account (every login fails) and a `problem` a person can act on; it never crashes the agent.
 * Values are never logged.
 */

import type { KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { type AccountSource, type BmcAccount, validateAccount } from '../machine/accounts.ts';

export interface CredentialSource {
  readonly accounts: AccountSource;
  problem(): string | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface SecretObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
  [k: string]: unknown;
}

function decode(secret: SecretObject, key: string): string | undefined {
  const v = secret.data?.[key];
  if (typeof v === 'string') return Buffer.from(v, 'base64').toString('utf8');
  // The API server folds stringData into data; tolerate a server (or test double) that does not.
  const plain = (secret.stringData as Record<string, unknown> | undefined)?.[key];
  return typeof plain === 'string' ? plain : undefined;
}

export function accountFromSecret(
  secret: SecretObject | undefined,
  where: string,
): { account: BmcAccount | null; problem: string | null } {
  if (!secret) return { account: null, problem: `Secret ${where} not found` };
  const username = decode(secret, 'username');
  const password = decode(secret, 'password');
  if (username === undefined) return { account: null, problem: `Secret ${where} has no key "username"` };
  if (password === undefined) return { account: null, problem: `Secret ${where} has no key "password"` };
  const problem = validateAccount({ username, password });
  if (problem) return { account: null, problem: `Secret ${where}: ${problem}` };
  return { account: { username, password, role: 'Administrator' }, problem: null };
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

/** Watches one Secret (a field-selected watch, so a Role limited to that name suffices). */
export class SecretCredentials implements CredentialSource {
  readonly #informer: Informer<SecretObject>;
  readonly #where: string;
  readonly #namespace: string;
  readonly #name: string;
  #account: BmcAccount | null = null;
  #problem: string | null = 'credentials not loaded yet';
  readonly #onChange: (problem: string | null) => void;

  constructor(
    client: KubeClient,
    namespace: string,
    name: string,
    options: {
      onChange?: (problem: string | null) => void;
      logger?: { warn(o: object, m: string): void };
    } = {},
  ) {
    this.#namespace = namespace;
    this.#name = name;
    this.#where = `${namespace}/${name}`;
    this.#onChange = options.onChange ?? (() => {});
    this.#informer = new Informer(client, {
      path: `/api/v1/namespaces/${namespace}/secrets`,
      fieldSelector: `metadata.name=${name}`,
      logger: options.logger,
    });
    this.#informer.on(() => this.#refresh());
  }

  readonly accounts: AccountSource = () => (this.#account ? [this.#account] : []);

  problem(): string | null {
    return this.#problem;
  }

  #refresh(): void {
    const { account, problem } = accountFromSecret(
      this.#informer.get(this.#namespace, this.#name),
      this.#where,
    );
    const changed =
      problem !== this.#problem ||
      account?.username !== this.#account?.username ||
      account?.password !== this.#account?.password;
    this.#account = account;
    this.#problem = problem;
    if (changed) this.#onChange(problem);
  }

  /**
   * Waits (bounded) for the first read. If the Secret cannot be read yet (e.g. RBAC not yet in
   * place), the BMC starts refusing logins and picks the credentials up when the read succeeds.
   */
  async start(): Promise<void> {
    await firstSync(this.#informer);
    this.#refresh();
  }

  async stop(): Promise<void> {
    await this.#informer.stop();
  }
}

/** Credentials given on the command line (standalone mode). */
export class StaticCredentials implements CredentialSource {
  readonly #account: BmcAccount | null;
  readonly #problem: string | null;

  constructor(username: string, password: string) {
    this.#problem = validateAccount({ username, password });
    this.#account = this.#problem ? null : { username, password, role: 'Administrator' };
  }

  readonly accounts: AccountSource = () => (this.#account ? [this.#account] : []);

  problem(): string | null {
    return this.#problem;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** A TLS certificate and key from a kubernetes.io/tls Secret, watched. */
export class SecretTls {
  readonly #informer: Informer<SecretObject>;
  readonly #namespace: string;
  readonly #name: string;
  #value: { cert: string; key: string } | null = null;
  readonly #onChange: () => void;

  constructor(
    client: KubeClient,
    namespace: string,
    name: string,
    onChange: () => void,
    logger?: { warn(o: object, m: string): void },
  ) {
    this.#namespace = namespace;
    this.#name = name;
    this.#onChange = onChange;
    this.#informer = new Informer(client, {
      path: `/api/v1/namespaces/${namespace}/secrets`,
      fieldSelector: `metadata.name=${name}`,
      logger,
    });
    this.#informer.on(() => {
      const before = JSON.stringify(this.#value);
      this.#read();
      if (JSON.stringify(this.#value) !== before) this.#onChange();
    });
  }

  #read(): void {
    const s = this.#informer.get(this.#namespace, this.#name);
    const cert = s && decode(s, 'tls.crt');
    const key = s && decode(s, 'tls.key');
    this.#value = cert && key ? { cert, key } : null;
  }

  get value(): { cert: string; key: string } | null {
    return this.#value;
  }

  async start(): Promise<void> {
    await firstSync(this.#informer);
    this.#read();
  }

  async stop(): Promise<void> {
    await this.#informer.stop();
  }
}

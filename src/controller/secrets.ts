/**
 * The Secrets the controller reads: only those a VirtualMachineBMC names, not every Secret of the
 * cluster with its data. It watches Secrets carrying LABEL_BMC_SECRET, and labels each named
 * Secret that lacks it (the API server's policy deploy/rbac/secret-label-policy.yaml lets it change
 * nothing else). Until the watch delivers a freshly labelled Secret, the copy it read is used.
 * A named Secret that does not exist yet is looked for again after a while: the watch cannot
 * announce an unlabelled Secret's creation.
 */
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { apiPath, KINDS } from '../kube/paths.ts';
import { effectiveSpec, type KObject } from './types.ts';

export const LABEL_BMC_SECRET = 'bmc.kubevirt.io/bmc-secret';
export const BMC_SECRET_SELECTOR = `${LABEL_BMC_SECRET}=true`;
/** How long a BMC whose Secret does not exist waits before the controller looks again. */
export const MISSING_SECRET_RECHECK_MS = 10_000;

/** The Secret names the BMCs of one namespace refer to (auth and TLS). */
export function namedSecrets(bmcs: readonly KObject[]): Set<string> {
  const names = new Set<string>();
  for (const b of bmcs) {
    const spec = effectiveSpec((b.spec ?? {}) as Parameters<typeof effectiveSpec>[0]);
    if (spec.secret) names.add(spec.secret);
    if (spec.tlsSecret) names.add(spec.tlsSecret);
  }
  return names;
}

export interface SecretLogger {
  warn(obj: object, msg: string): void;
}

export class NamedSecrets {
  readonly #client: KubeClient;
  readonly #log: SecretLogger | undefined;
  /** Secrets read and labelled, kept until the watch has them: `ns/name` → object. */
  readonly #read = new Map<string, KObject>();

  constructor(client: KubeClient, log?: SecretLogger) {
    this.#client = client;
    this.#log = log;
  }

  /** The watch delivered this Secret (or its deletion): the copy read before is no longer needed. */
  seen(o: KObject): void {
    this.#read.delete(`${o.metadata.namespace}/${o.metadata.name}`);
  }

  /** The copy read by `ensure`, for a Secret the watch has not delivered yet. */
  get(ns: string, name: string): KObject | undefined {
    return this.#read.get(`${ns}/${name}`);
  }

  /**
   * Makes sure every named Secret that exists is labelled, so the watch sees it. `cached` answers
   * from the watch. Returns the names that do not exist (yet).
   */
  async ensure(
    ns: string,
    names: Iterable<string>,
    cached: (ns: string, name: string) => KObject | undefined,
  ): Promise<string[]> {
    const missing: string[] = [];
    for (const name of names) {
      if (cached(ns, name) || this.#read.has(`${ns}/${name}`)) continue;
      const path = apiPath(KINDS.Secret, { namespace: ns, name });
      let secret: KObject;
      try {
        secret = await this.#client.request<KObject>('GET', path);
      } catch (err) {
        if (isNotFound(err)) {
          missing.push(name);
          continue;
        }
        throw err;
      }
      if (secret.metadata.labels?.[LABEL_BMC_SECRET] !== 'true') {
        try {
          secret = await this.#client.request<KObject>('PATCH', path, {
            contentType: 'application/merge-patch+json',
            body: { metadata: { labels: { [LABEL_BMC_SECRET]: 'true' } } },
          });
        } catch (err) {
          if (isNotFound(err)) {
            missing.push(name);
            continue;
          }
          // Without the label the watch would never see changes to it: say why, and retry later.
          this.#log?.warn(
            { namespace: ns, secret: name, err: (err as Error).message },
            `cannot label the Secret ${LABEL_BMC_SECRET}=true; the controller watches only labelled Secrets`,
          );
          throw err;
        }
      }
      this.#read.set(`${ns}/${name}`, secret);
    }
    return missing;
  }
}

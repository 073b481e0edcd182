/**
 * TokenRequest (`POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`): bound ServiceAccount
 * tokens shaped like kube-apiserver's (a JWT with the same claims, signed here with HMAC), valid
 * for the API audience until they expire or their ServiceAccount (by uid) is gone.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { invalid, notFound } from './errors.ts';
import type { Registry } from './registry.ts';
import type { Obj } from './store.ts';

/** The issuer, and the audience the API server accepts (kube-apiserver's --api-audiences default). */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

interface Issued {
  namespace: string;
  name: string;
  uid: string;
  jti: string;
  audiences: string[];
  expiresAt: number;
}

function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

function seconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class TokenIssuer {
  private readonly key = randomBytes(32);
  private readonly issued = new Map<string, Issued>();

  constructor(private readonly reg: Registry) {}

  /** The TokenRequest answer for a ServiceAccount (throws the upstream 404 and 422s). */
  request(namespace: string, name: string, body: Obj): Obj {
    const sa = this.reg.store.peek('/serviceaccounts', namespace, name);
    if (!sa) throw notFound('', 'serviceaccounts', name);
    const spec = body?.spec ?? {};
    const expirationSeconds = spec.expirationSeconds ?? 3600;
    if (typeof expirationSeconds !== 'number' || expirationSeconds < 600 || expirationSeconds > 2 ** 32) {
      throw invalid('authentication.k8s.io', 'TokenRequest', '', [
        {
          type: 'FieldValueInvalid',
          field: 'spec.expirationSeconds',
          detail: `Invalid value: ${JSON.stringify(expirationSeconds)}: ${
            Number(expirationSeconds) > 2 ** 32
              ? 'may not specify a duration larger than 2^32 seconds'
              : 'may not specify a duration less than 10 minutes'
          }`,
        },
      ]);
    }
    const audiences: string[] =
      Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences : [API_AUDIENCE];
    const now = Date.now();
    const iat = Math.floor(now / 1000);
    const exp = iat + expirationSeconds;
    const header = b64url({ alg: 'HS256', kid: 'kubevirtbmc-sim' });
    const jti = randomUUID();
    const payload = b64url({
      aud: audiences,
      exp,
      iat,
      iss: API_AUDIENCE,
      jti,
      'kubernetes.io': { namespace, serviceaccount: { name, uid: sa.metadata.uid } },
      nbf: iat,
      sub: `system:serviceaccount:${namespace}:${name}`,
    });
    const signature = createHmac('sha256', this.key).update(`${header}.${payload}`).digest('base64url');
    const token = `${header}.${payload}.${signature}`;
    this.issued.set(token, { namespace, name, uid: sa.metadata.uid, jti, audiences, expiresAt: exp * 1000 });
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: {
        name,
        namespace,
        uid: sa.metadata.uid,
        creationTimestamp: sa.metadata.creationTimestamp,
      },
      spec: { audiences, expirationSeconds, boundObjectRef: null },
      status: { token, expirationTimestamp: seconds(exp * 1000) },
    };
  }

  /** The ServiceAccount a token authenticates for the API, if it still does. */
  authenticate(
    token: string,
    audiences: readonly string[] = [API_AUDIENCE],
  ): { namespace: string; name: string; uid: string; jti: string; audiences: string[] } | undefined {
    const t = this.issued.get(token);
    if (!t) return undefined;
    if (Date.now() >= t.expiresAt) {
      this.issued.delete(token);
      return undefined;
    }
    const matching = t.audiences.filter((a) => audiences.includes(a));
    if (!matching.length) return undefined;
    const sa = this.reg.store.peek('/serviceaccounts', t.namespace, t.name);
    if (!sa || sa.metadata.uid !== t.uid) return undefined;
    return { namespace: t.namespace, name: t.name, uid: t.uid, jti: t.jti, audiences: matching };
  }
}

/** authentication.k8s.io/v1 as served here: SelfSubjectReview and TokenReview. */
export const AUTHENTICATION_GROUP = {
  group: 'authentication.k8s.io',
  version: 'v1',
  resources: [
    {
      name: 'selfsubjectreviews',
      singularName: 'selfsubjectreview',
      namespaced: false,
      kind: 'SelfSubjectReview',
      verbs: ['create'],
    },
    {
      name: 'tokenreviews',
      singularName: 'tokenreview',
      namespaced: false,
      kind: 'TokenReview',
      verbs: ['create'],
    },
  ],
};

import { KubeClient, KubeApiError as KubeRequestError } from '../../src/kube/client.ts';
import { KubeConfigAccess } from '../../src/kube/config.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

/**
 * `req(method, path, body)` → `{status, text, json}` against any API server, with the credentials
 * and CA of a kubeconfig (our own client underneath): what SimHttp does for the embedded cluster,
 * for the real one too.
 */
export class KubeHttp {
  readonly #client: KubeClient;
  constructor(kubeconfigPath: string, userAgent = 'kubevirtbmc-test') {
    this.#client = new KubeClient(KubeConfigAccess.load(kubeconfigPath), userAgent);
  }

  async req(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ status: number; text: string; json: Obj }> {
    try {
      const json = await this.#client.request<Obj>(method, path, {
        ...(body !== undefined ? { body, contentType } : {}),
      });
      return { status: 200, text: JSON.stringify(json), json: json ?? {} };
    } catch (err) {
      if (err instanceof KubeRequestError) {
        const json = { kind: 'Status', code: err.code, reason: err.reason, message: err.message };
        return { status: err.code, text: JSON.stringify(json), json };
      }
      throw err;
    }
  }

  close(): void {
    this.#client.close();
  }
}

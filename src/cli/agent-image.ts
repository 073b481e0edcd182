/**
 * Which image the controller gives agent pods. The agent is the same binary as the controller, so
 * unless told otherwise (--agent-image, $KUBEVIRTBMC_AGENT_IMAGE) it is the image the controller's
 * own Pod runs: whatever `kustomize edit set image`, a Helm value or a private mirror made of it,
 * agents follow without a second setting. The Downward API does not expose a container's image, so
 * the controller reads its Pod (named by $POD_NAME in $POD_NAMESPACE, which the Deployment sets;
 * deploy/controller/rbac.yaml grants `get` on pods in that namespace only). Outside a Pod, or when
 * that read fails, it is the published image of this version: package.json's config.image, tagged
 * with its version (the one place the image name is kept; docs/release.md).
 */
import { readFileSync } from 'node:fs';
import type { KubeAccess } from '../kube/config.ts';

interface PackageJson {
  version: string;
  config?: { image?: string };
}

/** The image this version is published as: `<config.image>:<version>` from package.json. */
export function packageImage(pkg?: PackageJson): string {
  const p =
    pkg ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageJson);
  const name = p.config?.image;
  if (!name) throw new Error('package.json has no config.image (the published image name)');
  return `${name}:${p.version}`;
}

interface PodLike {
  spec?: { containers?: Array<{ name?: string; image?: string }> };
}

/** The image of the container named `controller`, or of the Pod's only container. */
export function controllerImageOf(pod: PodLike): string | null {
  const containers = pod.spec?.containers ?? [];
  const c =
    containers.find((x) => x.name === 'controller') ?? (containers.length === 1 ? containers[0] : undefined);
  return c?.image || null;
}

export type AgentImageSource = 'flag' | 'env' | 'pod' | 'package';

export interface AgentImageChoice {
  image: string;
  source: AgentImageSource;
  /** Why the controller's own Pod could not say (then `source` is 'package'). */
  podError?: string;
}

interface PodReader {
  request<T>(method: string, path: string): Promise<T>;
}

/**
 * The agent image: the flag, else $KUBEVIRTBMC_AGENT_IMAGE, else the controller Pod's own image
 * (when $POD_NAME and $POD_NAMESPACE are set), else the published image of this version.
 */
export async function chooseAgentImage(opts: {
  flag?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Reads the controller's Pod; called only when $POD_NAME and $POD_NAMESPACE are set. */
  readPod: () => Promise<PodLike>;
  fallback?: string;
}): Promise<AgentImageChoice> {
  if (opts.flag) return { image: opts.flag, source: 'flag' };
  if (opts.env.KUBEVIRTBMC_AGENT_IMAGE) return { image: opts.env.KUBEVIRTBMC_AGENT_IMAGE, source: 'env' };
  const fallback = opts.fallback ?? packageImage();
  if (!opts.env.POD_NAME || !opts.env.POD_NAMESPACE) return { image: fallback, source: 'package' };
  try {
    const image = controllerImageOf(await opts.readPod());
    if (image) return { image, source: 'pod' };
    return { image: fallback, source: 'package', podError: 'the Pod has no container named controller' };
  } catch (err) {
    return { image: fallback, source: 'package', podError: (err as Error).message };
  }
}

/** Reads `$POD_NAMESPACE/$POD_NAME` with a short-lived client (two retries at most). */
export async function readOwnPod(kc: KubeAccess, env: NodeJS.ProcessEnv): Promise<PodLike> {
  const [{ KubeClient }, { apiPath, KINDS }] = await Promise.all([
    import('../kube/client.ts'),
    import('../kube/paths.ts'),
  ]);
  const client: PodReader & { close(): void } = new KubeClient(kc, 'kubevirtbmc-controller', {
    maxRetries: 2,
    maxRetryAfterMs: 2000,
  });
  try {
    return await client.request<PodLike>(
      'GET',
      apiPath(KINDS.Pod, { namespace: env.POD_NAMESPACE, name: env.POD_NAME }),
    );
  } finally {
    client.close();
  }
}

/**
 * Where to bind. In the embedded cluster every declared container port is mapped to a free
 * 127.0.0.1 port, passed as KUBEVIRTBMC_SIM_PORT_MAP = {"10623/UDP": 40001, ...}; elsewhere the
 * container port is used as is.
 */
export function mappedPort(
  port: number,
  protocol: 'UDP' | 'TCP',
  env: NodeJS.ProcessEnv = process.env,
): number {
  if (port === 0) return 0;
  const raw = env.KUBEVIRTBMC_SIM_PORT_MAP;
  if (!raw) return port;
  try {
    const map = JSON.parse(raw) as Record<string, number | string>;
    const v = map[`${port}/${protocol}`];
    return v === undefined ? port : Number(v);
  } catch {
    return port;
  }
}

/** Default bind address: the pod IP when running in a pod, else loopback. */
export function defaultAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.POD_IP || '127.0.0.1';
}

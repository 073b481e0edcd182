/** Redfish / HTTP load over keep-alive connections: N connections, one request in flight on each. */
import { type LoadResult, Recorder } from './common.ts';
import { HttpConn } from './http-conn.ts';

export interface HttpTarget {
  host: string;
  port: number;
  secure: boolean;
}

/**
 * GETs `paths` (round robin) on every connection for `seconds`; a reply other than 200 counts as an
 * error. `targets` may hold one endpoint or many (connections are spread over them).
 */
export async function httpLoad(
  name: string,
  targets: readonly HttpTarget[],
  paths: readonly string[],
  headers: string,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const rec = new Recorder();
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      const t = targets[i % targets.length]!;
      let conn = new HttpConn(t.host, t.port, t.secure);
      let n = i;
      while (Date.now() < end) {
        const t0 = Recorder.now();
        try {
          const r = await conn.request('GET', paths[n++ % paths.length]!, headers);
          if (r.status === 200) rec.add(t0);
          else rec.errors++;
        } catch {
          rec.errors++;
          conn.close();
          conn = new HttpConn(t.host, t.port, t.secure);
        }
      }
      conn.close();
    }),
  );
  return rec.result(name);
}

export function basicHeader(username: string, password: string): string {
  return `Authorization: Basic ${Buffer.from(`${username}:${password}`).toString('base64')}\r\n`;
}

/** Logs in (POST SessionService/Sessions); returns the token header and the session's URI. */
export async function login(
  t: HttpTarget,
  username: string,
  password: string,
): Promise<{ header: string; location: string | null }> {
  const c = new HttpConn(t.host, t.port, t.secure);
  try {
    const r = await c.request(
      'POST',
      '/redfish/v1/SessionService/Sessions',
      'Content-Type: application/json\r\n',
      JSON.stringify({ UserName: username, Password: password }),
    );
    const token = /\r\nx-auth-token:\s*(\S+)/i.exec(r.head)?.[1];
    if (r.status !== 201 || !token) throw new Error(`Redfish login failed: HTTP ${r.status}`);
    const location = /\r\nlocation:\s*(\S+)/i.exec(r.head)?.[1] ?? null;
    return { header: `X-Auth-Token: ${token}\r\n`, location };
  } finally {
    c.close();
  }
}

export async function logout(t: HttpTarget, header: string, location: string | null): Promise<void> {
  if (!location) return;
  const c = new HttpConn(t.host, t.port, t.secure);
  try {
    await c.request('DELETE', new URL(location, 'http://x').pathname, header);
  } catch {
    // best effort
  } finally {
    c.close();
  }
}

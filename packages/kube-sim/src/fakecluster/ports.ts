/** A port free on 127.0.0.1 right now (the OS picks it; the caller binds it soon after). */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export async function freePort(proto: 'TCP' | 'UDP' = 'TCP'): Promise<number> {
  if (proto === 'UDP') {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(p));
    });
  });
}

/**
 * Lowest and highest host port given to a pod's container port. Below Linux's ephemeral range
 * (32768 and up), so an outgoing connection never holds one, and no higher than 32767: FreeIPMI
 * (`ipmiconsole`, `ipmipower`, 1.6.10) takes the port in `--hostname=host:port` as a signed 16-bit
 * number and calls any higher port "hostname invalid".
 */
export const POD_HOST_PORT_MIN = 20000;
export const POD_HOST_PORT_MAX = 32767;

/** Ports this process handed out: two pods starting together never get the same one. */
const handedOut = new Set<string>();

/**
 * A random port in POD_HOST_PORT_MIN..POD_HOST_PORT_MAX free on 127.0.0.1 right now and not handed
 * out before by this process (bounded attempts).
 */
export async function freePodHostPort(proto: 'TCP' | 'UDP' = 'TCP'): Promise<number> {
  const span = POD_HOST_PORT_MAX - POD_HOST_PORT_MIN + 1;
  if (handedOut.size > span / 2) handedOut.clear();
  for (let i = 0; i < 200; i++) {
    const port = POD_HOST_PORT_MIN + Math.floor(Math.random() * span);
    const key = `${port}/${proto}`;
    if (handedOut.has(key) || !(await bindable(proto, port))) continue;
    handedOut.add(key);
    return port;
  }
  throw new Error(`no free ${proto} port in ${POD_HOST_PORT_MIN}..${POD_HOST_PORT_MAX} on 127.0.0.1`);
}

function bindable(proto: 'TCP' | 'UDP', port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (proto === 'UDP') {
      const s = createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(false);
      });
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
      return;
    }
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

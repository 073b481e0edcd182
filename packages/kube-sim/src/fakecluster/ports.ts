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

/**
 * A small HTTP CONNECT proxy (node:http), standing for a corporate proxy in front of a cluster: it
 * records every CONNECT (target, Proxy-Authorization), optionally demands credentials (407), can
 * route a target host elsewhere (as a proxy's own DNS would), and then relays bytes both ways. It
 * never sees inside the tunnel: the client speaks TLS to the API server through it.
 */
import http from 'node:http';
import net from 'node:net';

export interface ConnectProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** Every CONNECT received, in order. */
  readonly connects: Array<{ target: string; auth?: string; status: number }>;
  close(): Promise<void>;
}

export async function startConnectProxy(
  options: {
    /** target host → the address the proxy connects to instead */
    routes?: Record<string, string>;
    /** `user:password` the proxy demands (407 otherwise) */
    credentials?: string;
  } = {},
): Promise<ConnectProxy> {
  const connects: ConnectProxy['connects'] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(405, { Allow: 'CONNECT' });
    res.end();
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    const auth = req.headers['proxy-authorization'];
    const record = { target, ...(auth ? { auth } : {}), status: 0 };
    connects.push(record);
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => {});
    const expected = options.credentials
      ? `Basic ${Buffer.from(options.credentials).toString('base64')}`
      : undefined;
    if (expected && auth !== expected) {
      record.status = 407;
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    if (!m) {
      record.status = 400;
      client.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const host = options.routes?.[m[1]!] ?? m[1]!;
    const upstream = net.connect(Number(m[2]), host);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.once('connect', () => {
      record.status = 200;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => {
      if (record.status === 0) {
        record.status = 502;
        client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      } else client.destroy();
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connects,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * Test helpers of the Redfish event tests: a subscriber (an HTTP server on 127.0.0.1:0 that records
 * every event POSTed to it, and can be told to fail or hang), and a plain node:http SSE client.
 */
// biome-ignore lint/suspicious/noExplicitAny: Event payloads are read as JSON
export type EventPayload = Record<string, any>;

export interface Received {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: EventPayload;
}

export interface Subscriber {
  readonly url: string;
  readonly received: Received[];
  /** Every POST, including the failed ones. */
  attempts: number;
  /** `ok` answers 204; a number answers that status; `hang` never answers. */
  mode: 'ok' | 'hang' | number;
  close(): Promise<void>;
}

/** With `tls`, an HTTPS subscriber (e.g. a self-signed certificate from `redfish-tls.ts`). */
export async function startSubscriber(
  options: { tls?: { cert: string; key: string } } = {},
): Promise<Subscriber> {
  const hanging = new Set<http.ServerResponse>();
  const sub: Subscriber = {
    url: '',
    received: [],
    attempts: 0,
    mode: 'ok',
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      sub.attempts++;
      if (sub.mode === 'hang') {
        hanging.add(res);
        return;
      }
      if (sub.mode !== 'ok') {
        res.writeHead(sub.mode).end();
        return;
      }
      sub.received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as EventPayload,
      });
      res.writeHead(204).end();
    });
  };
  const server = options.tls ? https.createServer(options.tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  (sub as { url: string }).url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}/events`;
  return sub;
}

export interface SseMessage {
  readonly id: string | null;
  readonly data: EventPayload;
}

export interface SseClient {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly messages: SseMessage[];
  /** Comment lines seen (heartbeats). */
  readonly comments: string[];
  readonly ended: boolean;
  close(): void;
}

/** Opens `path` as an event stream with plain node:http; resolves once the status line arrived. */
export function openSse(
  port: number,
  path: string,
  auth: { username: string; password: string },
  headers: Record<string, string> = {},
): Promise<SseClient & { text?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        headers: {
          Accept: 'text/event-stream',
          Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`,
          ...headers,
        },
      },
      (res) => {
        const client = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          messages: [] as SseMessage[],
          comments: [] as string[],
          ended: false,
          text: undefined as string | undefined,
          close: () => req.destroy(),
        };
        if (client.status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            client.text = Buffer.concat(chunks).toString('utf8');
            client.ended = true;
            resolve(client);
          });
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (;;) {
            const end = buffer.indexOf('\n\n');
            if (end < 0) break;
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let id: string | null = null;
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) client.comments.push(line.slice(1).trim());
              else if (line.startsWith('id:')) id = line.slice(3).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length > 0)
              client.messages.push({ id, data: JSON.parse(data.join('\n')) as EventPayload });
          }
        });
        res.on('close', () => {
          client.ended = true;
        });
        resolve(client);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The MessageIds of a list of Event payloads, in order (one record per payload here). */
export function messageIds(payloads: readonly EventPayload[]): string[] {
  return payloads.flatMap((p) => (p.Events as EventPayload[]).map((e) => e.MessageId as string));
}

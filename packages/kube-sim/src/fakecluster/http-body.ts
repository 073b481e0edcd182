import type { IncomingMessage } from 'node:http';

/**
 * Reads a request body of at most `limit` bytes. A longer one ends the request and rejects with
 * `tooLarge()`, so each server answers it in its own shape (a Status 413, an admission 400…).
 */
export function readBody(req: IncomingMessage, limit: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(tooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

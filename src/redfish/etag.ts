import { createHash } from 'node:crypto';
import type { Json } from './resource.ts';

const renderCache = new Map<string, string>();

/**
 * JSON text of a resource with `@odata.etag` and the strong ETag derived from the content (so it
 * changes exactly when the representation does). Hashes are cached by content.
 */
export function render(body: Json): { json: string; etag: string } {
  const plain = JSON.stringify(body);
  if (!('@odata.id' in body)) return { json: plain, etag: etagOf(plain) };
  const etag = etagOf(plain);
  return { json: `{"@odata.etag":${JSON.stringify(etag)},${plain.slice(1)}`, etag };
}

function etagOf(plain: string): string {
  let etag = renderCache.get(plain);
  if (etag === undefined) {
    etag = `"${createHash('sha1').update(plain).digest('base64url').slice(0, 20)}"`;
    if (renderCache.size > 2048) renderCache.clear();
    renderCache.set(plain, etag);
  }
  return etag;
}

/** Strong comparison of an If-Match / If-None-Match list against the current ETag. */
export function etagListMatches(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  return value
    .split(',')
    .map((s) => s.trim())
    .some((t) => t === '*' || t === etag);
}

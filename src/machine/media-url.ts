import { InvalidArgumentError } from './errors.ts';

export interface ParsedMediaUrl {
  /** The URL without user info, safe to log and to show. */
  readonly redacted: string;
  readonly protocol: 'HTTP' | 'HTTPS';
  /** The last path segment, e.g. `alpine.iso`. */
  readonly imageName: string;
}

/**
 * Validates a virtual-media image URL: http or https only, a host, at most 2048 characters.
 * Credentials in the URL are accepted but stripped from what is returned, so they never reach a log.
 */
export function parseMediaUrl(image: string): ParsedMediaUrl {
  if (typeof image !== 'string' || image.length === 0) {
    throw new InvalidArgumentError('The image URL is empty.');
  }
  if (image.length > 2048) throw new InvalidArgumentError('The image URL is longer than 2048 characters.');
  let url: URL;
  try {
    url = new URL(image);
  } catch {
    throw new InvalidArgumentError('The image is not a valid URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(
      `The image URL scheme ${url.protocol.replace(/:$/, '')} is not supported; use http or https.`,
    );
  }
  if (!url.hostname) throw new InvalidArgumentError('The image URL has no host.');
  url.username = '';
  url.password = '';
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  const last = segments.at(-1);
  return {
    redacted: url.toString(),
    protocol: url.protocol === 'https:' ? 'HTTPS' : 'HTTP',
    imageName: last ? decodeURIComponent(last) : url.hostname,
  };
}

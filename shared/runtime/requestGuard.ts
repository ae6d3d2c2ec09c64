import type { IncomingHttpHeaders } from 'node:http';

/**
 * The local host listens on loopback, but a web page in the user's browser can still reach
 * loopback: by a cross-site POST (CSRF) or through a hostile DNS name that resolves to
 * 127.0.0.1 (DNS rebinding). Browsers always send `Origin` on such requests and the name in
 * `Host`; scripts and the CLI send neither a foreign Origin nor a foreign Host. So: the Host
 * must be a loopback name, and an Origin, when present, must be the host's own.
 */
const loopbackNames = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function rejectForeignRequest(
  headers: IncomingHttpHeaders,
  ownOrigin: string,
): string | undefined {
  const host = headers.host ?? '';
  const hostname = host.startsWith('[')
    ? host.slice(0, host.indexOf(']') + 1)
    : (host.split(':')[0] ?? '');
  if (!loopbackNames.has(hostname.toLowerCase())) return `Host ${host} is not a loopback name`;
  const origin = headers.origin;
  if (origin !== undefined && origin !== 'null') {
    const own = new URL(ownOrigin);
    const allowed = new Set([own.origin, own.origin.replace('127.0.0.1', 'localhost')]);
    if (!allowed.has(origin)) return `Origin ${origin} is not this host`;
  } else if (origin === 'null') {
    return 'Origin null is not this host';
  }
  const fetchSite = headers['sec-fetch-site'];
  if (fetchSite === 'cross-site') return 'cross-site requests are refused';
  return undefined;
}

import type { HttpRequest } from '../runtime/functionsApi.js';

/**
 * Who is calling.
 *
 * - In Azure (setting `BATON_AUTH=appservice`), App Service Authentication (Entra ID) stands in
 *   front of the app and puts the signed-in principal in `x-ms-client-principal-name` and, as
 *   base64 JSON claims, `x-ms-client-principal`; the platform strips both from what clients
 *   send, so there, and only there, they are trusted. `x-baton-user` is ignored.
 * - Locally (any other value; the default), those headers are never trusted (the local host
 *   also strips them): the local host authenticates each request itself (session cookie or
 *   host secret, see shared/runtime/localAccess.ts) and passes the user on as `x-baton-user`,
 *   which it removes from anonymous requests.
 *
 * Nobody authenticated is `anonymous`, who may read but owns nothing.
 */
export function callerOf(
  request: Pick<HttpRequest, 'headers'>,
  settings: Record<string, string | undefined> = process.env,
): string {
  if (settings.BATON_AUTH === 'appservice') return platformPrincipalOf(request) ?? 'anonymous';
  return request.headers.get('x-baton-user') || 'anonymous';
}

/** Claim types naming a user in App Service Authentication's principal, best first. */
const nameClaims = [
  'preferred_username',
  'upn',
  'email',
  'name',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
];

function platformPrincipalOf(request: Pick<HttpRequest, 'headers'>): string | undefined {
  const name = request.headers.get('x-ms-client-principal-name');
  if (name) return name;
  const encoded = request.headers.get('x-ms-client-principal');
  if (!encoded) return undefined;
  try {
    const principal = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as {
      claims?: Array<{ typ?: unknown; val?: unknown }>;
    };
    const claims = principal.claims ?? [];
    for (const type of nameClaims) {
      const value = claims.find((c) => c.typ === type)?.val;
      if (typeof value === 'string' && value !== '') return value;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

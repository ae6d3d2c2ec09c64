import { ownerPattern } from '../domain/datasets.js';
import { BatonError } from '../domain/errors.js';
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
 * Nobody authenticated is `anonymous`, who may read but owns nothing. A platform principal is
 * mapped to a Baton user name by {@link userNameOf} (Entra names such as `alice@x.org` do not
 * fit `user.<name>.`).
 */
export function callerOf(
  request: Pick<HttpRequest, 'headers'>,
  settings: Record<string, string | undefined> = process.env,
): string {
  if (settings.BATON_AUTH === 'appservice') {
    const principal = platformPrincipalOf(request);
    return principal === undefined ? 'anonymous' : userNameOf(principal, settings);
  }
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

// ---------------------------------------------------------------------------------------------
// Entra principal names → Baton user names

/**
 * How a signed-in principal's name becomes the user name that owns `user.<name>.` datasets and
 * tasks (lower-case letter, then up to 31 lower-case letters, digits, `_` or `-`):
 *
 * - `BATON_USER_NAMES`: explicit entries `principal=name;principal=name`, e.g.
 *   `alice@x.org=alice;bob.smith@x.org=bsmith` (principals compared case-insensitively). An
 *   entry always wins.
 * - `BATON_USER_NAME_FROM`: `principal` (the default: the name as the platform gives it; an
 *   Entra name with `@` then owns nothing) or `local-part` (the part before `@`, lower-cased),
 *   which needs `BATON_USER_DOMAINS` (comma-separated): only principals of those domains are
 *   mapped, so a guest `alice@elsewhere.org` never becomes the tenant's `alice`.
 *
 * A principal that no rule maps (or whose local part breaks the user-name rules, such as
 * `bob.smith`) keeps its full name: signed in, able to read, owning nothing until an entry
 * names it.
 */
export interface UserNameRules {
  from: 'principal' | 'local-part';
  domains: string[];
  names: Map<string, string>;
}

let cached: { key: string; rules: UserNameRules } | undefined;

/** The rules from the settings; `validation` naming the setting when one is malformed. */
export function parseUserNameRules(settings: Record<string, string | undefined>): UserNameRules {
  const fromText = settings.BATON_USER_NAME_FROM || 'principal';
  const domainsText = settings.BATON_USER_DOMAINS ?? '';
  const namesText = settings.BATON_USER_NAMES ?? '';
  const key = JSON.stringify([fromText, domainsText, namesText]);
  if (cached?.key === key) return cached.rules;
  const invalid = (setting: string, why: string): BatonError =>
    new BatonError('validation', `setting.${setting}: ${why}`, { field: `setting.${setting}` });
  if (fromText !== 'principal' && fromText !== 'local-part') {
    throw invalid('BATON_USER_NAME_FROM', 'must be principal or local-part');
  }
  const domains = domainsText
    .split(',')
    .map((d) => d.trim().toLowerCase())
    .filter((d) => d !== '');
  for (const domain of domains) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(domain)) {
      throw invalid('BATON_USER_DOMAINS', `${JSON.stringify(domain)} is not a domain name`);
    }
  }
  if (fromText === 'local-part' && domains.length === 0) {
    throw invalid(
      'BATON_USER_DOMAINS',
      'required when BATON_USER_NAME_FROM=local-part (the domains whose local parts are user names)',
    );
  }
  const names = new Map<string, string>();
  for (const entry of namesText.split(';').map((e) => e.trim())) {
    if (entry === '') continue;
    const at = entry.lastIndexOf('=');
    const principal = entry.slice(0, at).trim().toLowerCase();
    const name = entry.slice(at + 1).trim();
    if (at <= 0 || principal === '') {
      throw invalid('BATON_USER_NAMES', `${JSON.stringify(entry)} is not principal=name`);
    }
    if (!ownerPattern.test(name)) {
      throw invalid(
        'BATON_USER_NAMES',
        `${JSON.stringify(name)} is not a user name (a lower-case letter, then up to 31 lower-case letters, digits, _ or -)`,
      );
    }
    if (names.has(principal)) {
      throw invalid('BATON_USER_NAMES', `${JSON.stringify(principal)} is named twice`);
    }
    names.set(principal, name);
  }
  const rules: UserNameRules = { from: fromText, domains, names };
  cached = { key, rules };
  return rules;
}

/** The user name of a signed-in principal under the settings' rules (see {@link UserNameRules}). */
export function userNameOf(
  principal: string,
  settings: Record<string, string | undefined> = process.env,
): string {
  const rules = parseUserNameRules(settings);
  const explicit = rules.names.get(principal.trim().toLowerCase());
  if (explicit !== undefined) return explicit;
  if (rules.from === 'local-part') {
    const at = principal.lastIndexOf('@');
    const local = principal.slice(0, at).toLowerCase();
    const domain = principal.slice(at + 1).toLowerCase();
    if (
      at > 0 &&
      !local.includes('@') &&
      rules.domains.includes(domain) &&
      ownerPattern.test(local)
    ) {
      return local;
    }
  }
  // With names mapped, a principal that maps to nothing but already looks like a user name (a
  // bare "alice" from another provider) must not become the mapped alice: it owns nothing.
  const mapping = rules.from === 'local-part' || rules.names.size > 0;
  return mapping && ownerPattern.test(principal) ? `unmapped:${principal}` : principal;
}

/** Who starts runs for landed files (the beamline dispatcher). */
export const landingIdentity = 'baton-landing';

/** The identities the system acts as: runs they start belong to no person (runs.ts). */
export const systemIdentities: ReadonlySet<string> = new Set([landingIdentity]);

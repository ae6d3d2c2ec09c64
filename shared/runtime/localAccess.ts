import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import os from 'node:os';
import path from 'node:path';

/**
 * Who may use the local host. It listens on 127.0.0.1, but that still lets in a web page in the
 * user's browser and every other account on the machine, so each request names its user in one
 * of two ways, both unknowable to those:
 *
 * - the host's **secret** (256 bits, `<state>/host/secret`, mode 0600, or `BATON_LOCAL_SECRET`)
 *   as `Authorization: Bearer …`: the CLI and scripts of the user who owns the state folder;
 *   such a caller may name the user it acts as in `x-baton-user` (the CLI's `--user`);
 * - a **session cookie** (HttpOnly, SameSite=Strict) that the portal gets by redeeming a
 *   one-time sign-in token, printed by `baton up` in the portal's URL. A change made with the
 *   cookie must also carry `x-baton-portal` (a header a cross-site page cannot send without a
 *   CORS preflight, which this host never grants) on top of the Origin check of requestGuard.
 *
 * Anything else is anonymous: it may read, never change (401).
 */
export const sessionCookieName = 'baton_session';
export const portalHeader = 'x-baton-portal';
const tokenLifetimeMs = 15 * 60_000;

export interface LocalIdentity {
  user: string;
  via: 'secret' | 'session';
}

export const secretFile = (stateDir: string): string => path.join(stateDir, 'host', 'secret');

/** 256 random bits, URL-safe. */
export const randomSecret = (): string => randomBytes(32).toString('base64url');

/** The user a local sign-in names: `BATON_USER`, else the OS account. */
export function localUserOf(env: Record<string, string | undefined>): string {
  return env.BATON_USER || os.userInfo().username;
}

/**
 * The host's secret: `BATON_LOCAL_SECRET` when set, else the state folder's secret file, created
 * (0600) when absent or readable by others.
 */
export async function ensureLocalSecret(
  stateDir: string,
  env: Record<string, string | undefined>,
): Promise<string> {
  const existing = await readLocalSecret(stateDir, env);
  if (existing !== undefined) return existing;
  const file = secretFile(stateDir);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomSecret();
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, `${secret}\n`, { mode: 0o600 });
  await fs.chmod(temporary, 0o600);
  await fs.rename(temporary, file);
  return secret;
}

/** The secret a client on this machine presents (undefined: no host has made one yet). */
export async function readLocalSecret(
  stateDir: string,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  if (env.BATON_LOCAL_SECRET) return env.BATON_LOCAL_SECRET;
  const file = secretFile(stateDir);
  try {
    const stat = await fs.stat(file);
    // A secret others can read is no secret (POSIX only: Windows has no such mode bits).
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) return undefined;
    const secret = (await fs.readFile(file, 'utf8')).trim();
    return secret.length >= 32 ? secret : undefined;
  } catch {
    return undefined;
  }
}

const digest = (value: string): string => createHash('sha256').update(value).digest('hex');

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(digest(given));
  const b = Buffer.from(digest(expected));
  return timingSafeEqual(a, b);
}

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Sign-in tokens and sessions of one host process (in memory: a restarted host signs in anew). */
export class LocalAccess {
  /** sha256(token) → who it signs in and until when. */
  private readonly tokens = new Map<string, { user: string; expiresAt: number }>();
  /** sha256(session id) → user. */
  private readonly sessions = new Map<string, string>();

  constructor(
    private readonly secret: string,
    readonly localUser: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** A one-time sign-in token for `user` (default: the local user), valid 15 minutes. */
  issueToken(user: string = this.localUser): string {
    const token = randomSecret();
    this.tokens.set(digest(token), { user, expiresAt: this.now() + tokenLifetimeMs });
    return token;
  }

  /** Spends a token: a new session for its user, or undefined (unknown, used or expired). */
  redeemToken(token: string): { sessionId: string; user: string } | undefined {
    const key = digest(token);
    const entry = this.tokens.get(key);
    this.tokens.delete(key);
    if (entry === undefined || entry.expiresAt < this.now()) return undefined;
    const sessionId = randomSecret();
    this.sessions.set(digest(sessionId), entry.user);
    return { sessionId, user: entry.user };
  }

  endSession(headers: IncomingHttpHeaders): void {
    const id = cookieValue(headers.cookie, sessionCookieName);
    if (id !== undefined) this.sessions.delete(digest(id));
  }

  /** The authenticated caller of a request, or undefined (anonymous). */
  identify(headers: IncomingHttpHeaders): LocalIdentity | undefined {
    const authorization = headers.authorization ?? '';
    if (authorization.startsWith('Bearer ')) {
      if (!sameSecret(authorization.slice('Bearer '.length).trim(), this.secret)) return undefined;
      const named = headers['x-baton-user'];
      return {
        user: typeof named === 'string' && named !== '' ? named : this.localUser,
        via: 'secret',
      };
    }
    const id = cookieValue(headers.cookie, sessionCookieName);
    const user = id === undefined ? undefined : this.sessions.get(digest(id));
    return user === undefined ? undefined : { user, via: 'session' };
  }
}

/** The Set-Cookie value of a session (no Max-Age: it ends with the browser session). */
export function sessionCookie(sessionId: string): string {
  return `${sessionCookieName}=${sessionId}; Path=/; HttpOnly; SameSite=Strict`;
}

export const clearedSessionCookie = `${sessionCookieName}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The access decision for one request to an app route: the identity to pass on, or the refusal
 * (401: no one signed in to a change; 403: a cookie change without the portal's header).
 */
export function decideAccess(
  access: LocalAccess,
  method: string,
  headers: IncomingHttpHeaders,
): { identity: LocalIdentity | undefined } | { status: 401 | 403; message: string } {
  const identity = access.identify(headers);
  if (safeMethods.has(method)) return { identity };
  if (identity === undefined)
    return {
      status: 401,
      message:
        'sign in to change anything: open the URL `baton up` printed, or send the host secret as a bearer token',
    };
  if (identity.via === 'session' && headers[portalHeader] === undefined)
    return { status: 403, message: `a change made with the session cookie needs ${portalHeader}` };
  return { identity };
}

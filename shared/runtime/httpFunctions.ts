import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DurableEngine } from './durable/engine.js';
import { handleDurableWebhook, webhookPrefix } from './durable/webhookRoutes.js';
import { functionsByTrigger, type RegisteredFunction } from './functionRegistry.js';
import { HttpRequest, HttpResponse } from './functionsApi.js';
import { invocationContextFor, stringOption } from './invocation.js';
import type { Logger } from './logger.js';
import {
  clearedSessionCookie,
  decideAccess,
  sessionCookie,
  type LocalAccess,
} from './localAccess.js';
import { rejectForeignRequest } from './requestGuard.js';
import { compileRoute, matchRoute, type CompiledRoute } from './routeTemplate.js';

/**
 * Serves the app's HTTP-triggered functions exactly as the Functions host routes them (under
 * host.json's `extensions.http.routePrefix`), plus the Durable extension's client webhooks that
 * `df.getClient` talks to.
 */
interface HttpRoute {
  fn: RegisteredFunction;
  route: CompiledRoute;
  methods: string[];
}

const maxBodyBytes = 10 * 1024 * 1024;

export function createHttpDispatcher(options: {
  engine: DurableEngine;
  logger: Logger;
  baseUrl: () => string;
  inputs: () => Record<string, unknown>;
  routePrefix?: string;
  access: LocalAccess;
  /** Path prefix under which the host's own DurableClient reaches the webhooks without a bearer. */
  webhookKeyPrefix: string;
}) {
  const routePrefix = (options.routePrefix ?? 'api').replace(/^\/+|\/+$/g, '');
  const prefix = routePrefix === '' ? '/' : `/${routePrefix}/`;
  const routes: HttpRoute[] = functionsByTrigger('httpTrigger')
    .map((fn) => ({
      fn,
      route: compileRoute(stringOption(fn.trigger.route) || fn.name),
      methods: ((fn.trigger.methods as string[] | undefined) ?? ['GET', 'POST']).map((m) =>
        m.toUpperCase(),
      ),
    }))
    .sort((a, b) => b.route.specificity - a.route.specificity);

  return async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = requestUrl(req.url ?? '/', options.baseUrl());
    if (parsed === undefined) {
      req.resume();
      return send(res, 400, {
        error: { code: 'validation', message: 'url: not a request path', field: 'url' },
      });
    }
    const url = parsed;
    const method = (req.method ?? 'GET').toUpperCase();
    const refused = rejectForeignRequest(req.headers, options.baseUrl());
    if (refused) {
      options.logger.warn(`refused ${method} ${url.pathname}: ${refused}`);
      req.resume();
      return send(res, 403, { error: { code: 'forbidden', message: refused } });
    }
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      // The rest of the body is never read: the connection closes with the reply.
      return send(
        res,
        413,
        {
          error: {
            code: 'validation',
            message: `body: larger than ${maxBodyBytes} bytes`,
            field: 'body',
          },
        },
        { connection: 'close' },
      );
    }
    if (url.pathname.startsWith(options.webhookKeyPrefix + webhookPrefix)) {
      url.pathname = url.pathname.slice(options.webhookKeyPrefix.length);
      const reply = await handleDurableWebhook(options.engine, method, url, body.toString('utf8'));
      return send(res, reply.status, reply.body, reply.headers);
    }
    // Platform identity headers are Azure's to set, never a local caller's.
    for (const name of Object.keys(req.headers))
      if (name.startsWith('x-ms-client-principal')) delete req.headers[name];
    if (url.pathname === '/api/session') return session(options.access.identify(req.headers)?.user);
    const decision = decideAccess(options.access, method, req.headers);
    if ('status' in decision) {
      options.logger.warn(`refused ${method} ${url.pathname}: ${decision.message}`);
      return send(res, decision.status, {
        error: { code: 'forbidden', message: decision.message },
      });
    }
    const identity = decision.identity;
    if (identity === undefined) delete req.headers['x-baton-user'];
    else req.headers['x-baton-user'] = identity.user;
    if (url.pathname.startsWith(webhookPrefix)) {
      // Orchestration control from outside the host: the secret's holder only.
      if (identity?.via !== 'secret')
        return send(res, 401, {
          error: { code: 'forbidden', message: 'the durable webhooks need the host secret' },
        });
      const reply = await handleDurableWebhook(options.engine, method, url, body.toString('utf8'));
      return send(res, reply.status, reply.body, reply.headers);
    }
    if (!url.pathname.startsWith(prefix)) {
      return send(res, 404, { error: { code: 'not_found', message: `no route ${url.pathname}` } });
    }
    const path = url.pathname.slice(prefix.length);
    let methodMismatch = false;
    for (const candidate of routes) {
      const params = matchRoute(candidate.route, path);
      if (!params) continue;
      if (!candidate.methods.includes(method)) {
        methodMismatch = true;
        continue;
      }
      return invoke(candidate.fn, params);
    }
    return methodMismatch
      ? send(res, 405, methodNotAllowed(method, url.pathname))
      : send(res, 404, { error: { code: 'not_found', message: `no route ${url.pathname}` } });

    /** The portal's sign-in: a one-time token for a session cookie; DELETE signs out. */
    function session(user: string | undefined): void {
      if (method === 'GET') return send(res, 200, { user: user ?? null });
      if (method === 'DELETE') {
        options.access.endSession(req.headers);
        return send(res, 200, { user: null }, { 'set-cookie': clearedSessionCookie });
      }
      if (method !== 'POST') return send(res, 405, methodNotAllowed(method, url.pathname));
      let token: unknown;
      try {
        token = (JSON.parse(body.toString('utf8')) as { token?: unknown }).token;
      } catch {
        token = undefined;
      }
      const signedIn = typeof token === 'string' ? options.access.redeemToken(token) : undefined;
      if (signedIn === undefined)
        return send(res, 401, {
          error: { code: 'forbidden', message: 'this sign-in token is unknown, used or expired' },
        });
      return send(
        res,
        200,
        { user: signedIn.user },
        { 'set-cookie': sessionCookie(signedIn.sessionId) },
      );
    }

    async function invoke(fn: RegisteredFunction, params: Record<string, string>): Promise<void> {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const request = new HttpRequest({
        method,
        url: url.href,
        headers,
        params,
        ...(body.length > 0 ? { body: { bytes: body } } : {}),
      });
      const context = invocationContextFor(fn, options.logger, { inputs: options.inputs() });
      try {
        const raw = await fn.handler(request, context);
        const response =
          raw instanceof HttpResponse ? raw : new HttpResponse(raw ?? { status: 204 });
        const out = Buffer.from(await response.arrayBuffer());
        const outHeaders: Record<string, string> = {};
        response.headers.forEach((value, key) => (outHeaders[key] = value));
        res.writeHead(response.status ?? 200, outHeaders);
        res.end(out);
      } catch (error) {
        options.logger.error({ function: fn.name, err: error }, 'function failed');
        send(res, 500, {
          error: { code: 'internal', message: 'internal error; see the host log' },
        });
      }
    }
  };
}

/**
 * The request's URL on this host. The target is taken as a path even when it reads otherwise:
 * `new URL('/\\/x', base)` would take `x` for a host name (a backslash counts as a slash), and
 * an absolute-form target names another origin. Undefined when it is no path at all.
 */
function requestUrl(target: string, base: string): URL | undefined {
  if (!target.startsWith('/')) return undefined;
  try {
    const url = new URL(`${new URL(base).origin}${target}`);
    return url.origin === new URL(base).origin ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Node's HTTP parser refuses some requests before any handler sees them (headers or URL over
 * 16 KiB: 431; malformed HTTP: 400). Its default reply has no body; this one is the API's error
 * body naming what was wrong, and the connection closes (the rest of the request is unread).
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const [status, reason, field, message] = tooLarge
    ? [
        431,
        'Request Header Fields Too Large',
        'headers',
        'headers: the URL and headers exceed 16 KiB',
      ]
    : [400, 'Bad Request', 'request', 'request: not a well-formed HTTP request'];
  const body = JSON.stringify({ error: { code: 'validation', message, field } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** A 405 body naming the field at fault: the request's method. */
function methodNotAllowed(method: string, pathname: string) {
  return {
    error: {
      code: 'validation',
      message: `method: ${method.slice(0, 20)} is not allowed on ${pathname.slice(0, 200)}`,
      field: 'method',
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBodyBytes) throw new Error('too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * host.json's `extensions.http.routePrefix`, as the Functions host reads it: absent means `api`,
 * `""` means routes sit at the site root (how the portal is served at `/`).
 */
export function routePrefixOf(hostJson: string): string {
  const parsed = JSON.parse(hostJson) as { extensions?: { http?: { routePrefix?: unknown } } };
  const prefix = parsed.extensions?.http?.routePrefix;
  return typeof prefix === 'string' ? prefix : 'api';
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

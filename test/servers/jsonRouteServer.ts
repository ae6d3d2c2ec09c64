import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { listenOnLoopback } from './listenOnLoopback.js';

/**
 * The plumbing the beamline protocol servers share (Globus Transfer, SciCat, NERSC SFAPI,
 * Globus Compute): routes with `:param` segments, JSON or form bodies, a bearer-token check,
 * every request recorded, and fault injection — the next N matching requests answered with an
 * error status (before or after really handling them), held for a delay (a client timeout), or
 * answered 200 with a malformed body. Each server supplies its routes and its service's error
 * body shape, so what a client sees is what the real service documents.
 */
export interface RecordedRequest {
  method: string;
  /** The URL path, e.g. `/v0.10/task/abc`. */
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  /** Parsed JSON, or the fields of a form body; undefined when there is none. */
  body: unknown;
  headers: IncomingHttpHeaders;
}

export type RequestMatcher = (request: RecordedRequest) => boolean;

export type RouteHandler = (request: RecordedRequest) => unknown;

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** `/v0.10/task/:taskId`; a `:param` matches one URL-decoded segment. */
  pattern: string;
  handle: RouteHandler;
}

/** A handler's answer with a status other than 200. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** Thrown by a handler: answered with `status` and the server's error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface FailureOptions {
  when?: RequestMatcher;
  /** The service's error code for the body (default: the server's choice for the status). */
  code?: string;
  message?: string;
  /** A Retry-After header value (seconds). */
  retryAfter?: string;
  /** Handle the request first, then answer with the failure (a response lost on the way). */
  afterHandling?: boolean;
}

export interface JsonRouteServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: RecordedRequest[];
  failNext(count: number, status: number, options?: FailureOptions): void;
  delayNext(count: number, ms: number, when?: RequestMatcher): void;
  malformNext(count: number, body: string, when?: RequestMatcher): void;
  clearFaults(): void;
  close(): Promise<void>;
}

export interface JsonRouteServerOptions {
  routes: Route[];
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string;
  /** The service's error body for a status (code given or chosen by the server). */
  errorBody: (status: number, message: string, code: string | undefined) => unknown;
}

interface Fault {
  remaining: number;
  when: RequestMatcher | undefined;
}

export async function startJsonRouteServer(
  options: JsonRouteServerOptions,
): Promise<JsonRouteServer> {
  const requests: RecordedRequest[] = [];
  const failures: (Fault & { status: number; options: FailureOptions })[] = [];
  const delays: (Fault & { ms: number })[] = [];
  const malformed: (Fault & { body: string })[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const compiled = options.routes.map((route) => ({
    route,
    parts: route.pattern.split('/').filter((p) => p !== ''),
  }));

  function take<F extends Fault>(list: F[], request: RecordedRequest): F | undefined {
    const fault = list.find((f) => f.remaining > 0 && (f.when === undefined || f.when(request)));
    if (fault !== undefined) fault.remaining -= 1;
    return fault;
  }

  function match(
    method: string,
    pathname: string,
  ): { route: Route; params: Record<string, string> } | undefined {
    const segments = pathname.split('/').filter((p) => p !== '');
    for (const { route, parts } of compiled) {
      if (route.method !== method || parts.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const part = parts[i] ?? '';
        const segment = segments[i] ?? '';
        if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(segment);
        else ok = part === segment;
      }
      if (ok) return { route, params };
    }
    return undefined;
  }

  function send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  function sendError(
    res: ServerResponse,
    status: number,
    message: string,
    code?: string,
    headers?: Record<string, string>,
  ): void {
    send(res, status, options.errorBody(status, message, code), headers);
  }

  async function route(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const found = match(method, url.pathname);
    let body: unknown;
    let badBody = false;
    if (raw !== '') {
      const type = req.headers['content-type'] ?? '';
      if (type.includes('application/x-www-form-urlencoded')) {
        body = Object.fromEntries(new URLSearchParams(raw));
      } else {
        try {
          body = JSON.parse(raw) as unknown;
        } catch {
          badBody = true;
        }
      }
    }
    const request: RecordedRequest = {
      method,
      path: url.pathname,
      params: found?.params ?? {},
      query: Object.fromEntries(url.searchParams),
      body,
      headers: req.headers,
    };
    requests.push(request);
    const delay = take(delays, request);
    if (delay !== undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, delay.ms);
        timers.add(timer);
      });
      if (res.destroyed) return;
    }
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      return sendError(res, 401, 'missing or invalid bearer token');
    }
    const failure = take(failures, request);
    const failNow = (): void =>
      sendError(
        res,
        failure?.status ?? 500,
        failure?.options.message ?? 'injected failure',
        failure?.options.code,
        failure?.options.retryAfter === undefined
          ? {}
          : { 'retry-after': failure.options.retryAfter },
      );
    if (failure !== undefined && failure.options.afterHandling !== true) return failNow();
    const bad = take(malformed, request);
    if (bad !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(bad.body);
      return;
    }
    if (found === undefined) return sendError(res, 404, `no route for ${method} ${url.pathname}`);
    if (badBody) return sendError(res, 400, 'the request body is not valid JSON');
    try {
      const result = await found.route.handle(request);
      if (failure !== undefined) return failNow();
      if (result instanceof Reply) return send(res, result.status, result.body);
      return send(res, 200, result);
    } catch (error) {
      if (error instanceof ApiError) return sendError(res, error.status, error.message, error.code);
      return sendError(res, 500, String(error));
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      route(req, res, Buffer.concat(chunks).toString('utf8')).catch((error: unknown) =>
        sendError(res, 500, String(error)),
      );
    });
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext: (count, status, failure = {}) =>
      failures.push({ remaining: count, when: failure.when, status, options: failure }),
    delayNext: (count, ms, when) => delays.push({ remaining: count, when, ms }),
    malformNext: (count, body, when) => malformed.push({ remaining: count, when, body }),
    clearFaults: () => {
      failures.length = 0;
      delays.length = 0;
      malformed.length = 0;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import { request as httpRequest, Agent } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { functionsByTrigger } from '../../shared/runtime/functionRegistry.js';
import { LocalHost, type LocalHostOptions } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { stringOption } from '../../shared/runtime/invocation.js';

/**
 * One local host in the test's own process (about 100x faster to talk to than a `baton up`
 * child), on a fresh state folder, with raw HTTP helpers and the checks every hostile-request
 * loop applies to a reply. Shared by the e2e, browser and fuzz tests so the scaffolding exists
 * once.
 */
export interface InProcessHost {
  host: LocalHost;
  url: string;
  stateDir: string;
  /** Stops the host and removes its state folder. */
  stop(): Promise<void>;
}

export async function startInProcessHost(
  options: { prefix?: string } & Partial<Omit<LocalHostOptions, 'stateDir'>> = {},
): Promise<InProcessHost> {
  const { prefix = 'baton-host-', ...hostOptions } = options;
  const stateDir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const host = await LocalHost.start({
    port: 0,
    triggers: false,
    logger: createLogger({ level: 'silent' }),
    ...hostOptions,
    stateDir,
  });
  return {
    host,
    url: host.url,
    stateDir,
    stop: async () => {
      await host.stop();
      await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    },
  };
}

/** An HTTP function as registered: its name, route template, methods and route parameters. */
export interface HttpRouteInfo {
  name: string;
  route: string;
  methods: string[];
  /** Route parameter names (`{runId}`, `{*path}`, `{page?}` → runId, path, page). */
  params: string[];
}

const routeParam = /\{\*?([A-Za-z_][A-Za-z0-9_]*)(:[a-z]+)?\??\}/g;

/**
 * Every HTTP function the app registers (functions/index.ts, captured by the function
 * registry): the single list a route-by-route test iterates, so a new route cannot be missed.
 * The app must be loaded (a host started) first.
 */
export function registeredHttpRoutes(): HttpRouteInfo[] {
  return functionsByTrigger('httpTrigger').map((fn) => {
    const route = stringOption(fn.trigger.route) || fn.name;
    return {
      name: fn.name,
      route,
      methods: ((fn.trigger.methods as string[] | undefined) ?? ['GET', 'POST']).map((m) =>
        m.toUpperCase(),
      ),
      params: [...route.matchAll(routeParam)].map((m) => m[1] ?? ''),
    };
  });
}

/** The route with each parameter replaced by `valueOf(name)` (inserted as given: raw). */
export function fillRoute(route: string, valueOf: (param: string) => string): string {
  return route.replace(routeParam, (_, name: string) => valueOf(name));
}

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/**
 * A request sent as written: the path is not normalised (fetch() would resolve `..` before
 * sending), the body goes byte for byte (invalid UTF-8 included), headers are exactly these.
 */
export function rawRequest(
  baseUrl: string,
  request: {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: string | Uint8Array;
    /** A connection of its own (default: a kept-alive one, shared). */
    fresh?: boolean;
  },
): Promise<RawReply> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: request.path,
        method: request.method ?? 'GET',
        headers: request.headers ?? {},
        agent: request.fresh === true ? false : agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (request.body !== undefined) req.end(request.body);
    else req.end();
  });
}

/** What can be wrong with a reply to a hostile request (empty: nothing). */
export interface ReplyProblems {
  /** 5xx. */
  serverError: boolean;
  /** `    at fn (file:line:col)` frames, or an Error's `stack` text. */
  stackTrace: boolean;
  /** An absolute path of this machine (the repository, the state folder, node internals). */
  internalPath: boolean;
  /** A 4xx that is not `{error:{code,message}}`. */
  malformedError: boolean;
  /** A `validation` error without `error.field`, or whose message does not name that field. */
  unnamedField: boolean;
}

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const stackFrame = /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/m;

/**
 * Judges one reply. `privatePaths` are absolute folders that must never show (the state folder
 * of the host under test); the repository, node_modules and node's internals always count.
 */
export function replyProblems(reply: RawReply, privatePaths: string[] = []): ReplyProblems {
  const text = reply.body;
  const problems: ReplyProblems = {
    serverError: reply.status >= 500,
    stackTrace: stackFrame.test(text) || /\bat (async )?[\w.<>]+ \(file:\/\//.test(text),
    internalPath:
      [repoRoot, ...privatePaths].some((p) => text.includes(p)) ||
      /node:internal|\/node_modules\//.test(text),
    malformedError: false,
    unnamedField: false,
  };
  if (reply.status >= 400 && reply.status < 500) {
    const error = parseError(text);
    if (error === undefined) problems.malformedError = true;
    else if (error.code === 'validation') {
      problems.unnamedField =
        typeof error.field !== 'string' ||
        error.field === '' ||
        !error.message.includes(error.field);
    }
  }
  return problems;
}

export const anyProblem = (p: ReplyProblems): boolean =>
  p.serverError || p.stackTrace || p.internalPath || p.malformedError || p.unnamedField;

function parseError(text: string): { code: string; message: string; field?: unknown } | undefined {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const error = parsed.error;
    if (typeof error?.code !== 'string' || typeof error.message !== 'string') return undefined;
    return error as { code: string; message: string; field?: unknown };
  } catch {
    return undefined;
  }
}

import os from 'node:os';
import { BatonError, httpStatusOf, isBatonError } from '../domain/errors.js';
import { packageRoot } from '../runtime/packageRoot.js';
import type { HttpRequest, InvocationContext } from '../runtime/functionsApi.js';
import { runLog } from '../telemetry/runLog.js';

/**
 * Maps use-case results and errors to HTTP replies: `{error:{code,message,field?}}` with a 4xx
 * for the caller's mistakes; a fault of ours is logged in full and answered without details.
 */
export interface JsonReply {
  status: number;
  jsonBody?: unknown;
  body?: string;
  headers?: Record<string, string>;
}

export function errorReply(error: unknown, context: InvocationContext): JsonReply {
  if (isBatonError(error)) {
    if (httpStatusOf(error.code) >= 500) runLog(context).error(error);
    const body = error.toJSON();
    return {
      status: httpStatusOf(error.code),
      jsonBody: { error: { ...body, message: redactHostPaths(body.message) } },
    };
  }
  runLog(context).error(error);
  return {
    status: 500,
    jsonBody: { error: { code: 'internal', message: 'internal error; see the host log' } },
  };
}

/**
 * A message for a caller outside this machine: the host's own folders (the app's, the working
 * folder, the temporary and home folders, under which the state folder and databanks live) are
 * named by a label instead of their absolute path, which is nobody else's business.
 */
export function redactHostPaths(message: string): string {
  let out = message;
  for (const [root, label] of hostRoots()) {
    out = out.replace(rootPattern(root), (_, after: string) => `${label}${after}`);
  }
  return out;
}

let roots: Array<[string, string]> | undefined;

function hostRoots(): Array<[string, string]> {
  roots ??= (
    [
      [packageRoot(), '<app>'],
      [process.cwd(), '.'],
      [os.tmpdir(), '<tmp>'],
      [os.homedir(), '~'],
    ] as Array<[string, string]>
  )
    .filter(([root]) => root.length > 1)
    .sort(([a], [b]) => b.length - a.length);
  return roots;
}

/** `root` where a path starts: followed by a separator, a quote, a space or the end. */
function rootPattern(root: string): RegExp {
  const escaped = root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${escaped}([/\\\\'"\\s,;)]|$)`, 'g');
}

/** Wraps a handler so every thrown error becomes a proper reply. */
export function jsonHandler<A extends unknown[]>(
  handler: (request: HttpRequest, ...rest: [...A, InvocationContext]) => Promise<JsonReply>,
): (request: HttpRequest, ...rest: [...A, InvocationContext]) => Promise<JsonReply> {
  return async (request, ...rest) => {
    const context = rest[rest.length - 1] as InvocationContext;
    try {
      return await handler(request, ...rest);
    } catch (error) {
      return errorReply(error, context);
    }
  };
}

/** The request body as JSON; an empty body is `{}`. Bad JSON is the caller's mistake. */
export async function readJsonBody(request: HttpRequest): Promise<unknown> {
  const text = await request.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BatonError('validation', 'body: not valid JSON', { field: 'body' });
  }
}

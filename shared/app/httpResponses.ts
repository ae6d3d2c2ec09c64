import { BatonError, httpStatusOf, isBatonError } from '../domain/errors.js';
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
    return { status: httpStatusOf(error.code), jsonBody: { error: error.toJSON() } };
  }
  runLog(context).error(error);
  return {
    status: 500,
    jsonBody: { error: { code: 'internal', message: 'internal error; see the host log' } },
  };
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

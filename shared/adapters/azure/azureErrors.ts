import { setTimeout as sleep } from 'node:timers/promises';
import { BatonError, type ErrorCode } from '../../domain/errors.js';

/**
 * One translation of Azure SDK failures into Baton's error codes, shared by every Azure
 * adapter: 404/409/412 keep their meaning, other 4xx are the caller's mistake, 429/5xx and
 * network faults are `unavailable` (retryable). The service's request id travels in the
 * message so an operator can find the call in Azure's logs.
 */
export interface AzureErrorShape {
  statusCode?: number;
  code?: string | number;
  message?: string;
  request?: { requestId?: string };
  response?: { headers?: { get?(name: string): string | undefined } };
  headers?: Record<string, unknown>;
}

export function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as AzureErrorShape;
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

/**
 * A response header of a failed call. The core-rest-pipeline SDKs (storage, ARM) expose
 * `error.response.headers.get(name)`; the Cosmos SDK keeps a plain `error.headers` record. Both
 * are read here, so every adapter gets the same Retry-After handling and request ids.
 */
export function headerOf(error: unknown, name: string): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as AzureErrorShape;
  const fromResponse = e.response?.headers?.get?.(name);
  if (fromResponse !== undefined) return fromResponse;
  const record = e.headers;
  if (record === undefined || typeof record !== 'object') return undefined;
  const value = record[name.toLowerCase()] ?? record[name];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

export function requestIdOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const fromHeader = headerOf(error, 'x-ms-request-id') ?? headerOf(error, 'x-ms-activity-id');
  return fromHeader ?? (error as AzureErrorShape).request?.requestId;
}

/** Milliseconds from x-ms-retry-after-ms, or Retry-After in seconds, if the service sent one. */
export function retryAfterMsOf(error: unknown): number | undefined {
  const ms = Number(headerOf(error, 'x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const seconds = Number(headerOf(error, 'retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
]);

export function toBatonError(error: unknown, what: string): BatonError {
  if (error instanceof BatonError) return error;
  const status = statusOf(error);
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  const requestId = requestIdOf(error);
  const suffix = requestId ? ` (request id ${requestId})` : '';
  const code: ErrorCode =
    status === 404
      ? 'not_found'
      : status === 409
        ? 'conflict'
        : status === 412
          ? 'precondition_failed'
          : status === 401 || status === 403
            ? 'forbidden'
            : status !== undefined &&
                status >= 400 &&
                status < 500 &&
                status !== 408 &&
                status !== 429
              ? 'validation'
              : 'unavailable';
  const isNetwork =
    typeof error === 'object' &&
    error !== null &&
    networkCodes.has(String((error as AzureErrorShape).code));
  return new BatonError(
    code,
    `${what}: ${status ?? (isNetwork ? 'network' : 'error')} ${message ?? ''}`.trimEnd() + suffix,
    {
      cause: error,
      retryable: code === 'unavailable',
    },
  );
}

/**
 * Runs an SDK call, retrying throttling and transient faults with exponential backoff that
 * honours Retry-After, then translates whatever is left. The SDKs retry too; this covers the
 * cases they surface (and keeps the behaviour the same across SDKs).
 */
export interface CallAzureOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * A time limit per try, passed to the call as an AbortSignal for its SDK request: some SDKs
   * set none of their own (a hung connection would wait forever). A try that runs out is
   * `unavailable` and retried like a 503.
   */
  tryTimeoutMs?: number;
}

export async function callAzure<T>(
  what: string,
  call: (abortSignal: AbortSignal | undefined) => Promise<T>,
  options: CallAzureOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 4;
  let delay = options.baseDelayMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    const signal =
      options.tryTimeoutMs === undefined ? undefined : AbortSignal.timeout(options.tryTimeoutMs);
    try {
      return await call(signal);
    } catch (error) {
      const translated =
        signal?.aborted === true && !(error instanceof BatonError)
          ? new BatonError(
              'unavailable',
              `${what}: timed out after ${String(options.tryTimeoutMs)} ms`,
              { cause: error, retryable: true },
            )
          : toBatonError(error, what);
      if (translated.code !== 'unavailable' || attempt >= attempts) throw translated;
      const wait = Math.min(retryAfterMsOf(error) ?? delay, options.maxDelayMs ?? 10_000);
      await sleep(wait);
      delay *= 2;
    }
  }
}

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

export function requestIdOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as AzureErrorShape;
  const fromHeader =
    e.response?.headers?.get?.('x-ms-request-id') ?? e.response?.headers?.get?.('x-ms-activity-id');
  return fromHeader ?? e.request?.requestId;
}

/** Seconds from a Retry-After (or x-ms-retry-after-ms) header, if the service sent one. */
export function retryAfterMsOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const headers = (error as AzureErrorShape).response?.headers;
  const ms = Number(headers?.get?.('x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const seconds = Number(headers?.get?.('retry-after'));
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
export async function callAzure<T>(
  what: string,
  call: () => Promise<T>,
  options: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number } = {},
): Promise<T> {
  const attempts = options.attempts ?? 4;
  let delay = options.baseDelayMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const translated = toBatonError(error, what);
      if (translated.code !== 'unavailable' || attempt >= attempts) throw translated;
      const wait = Math.min(retryAfterMsOf(error) ?? delay, options.maxDelayMs ?? 10_000);
      await sleep(wait);
      delay *= 2;
    }
  }
}

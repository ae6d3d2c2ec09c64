import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { BatonError, isBatonError, type ErrorCode } from '../../domain/errors.js';

/**
 * One JSON-over-HTTP client for the beamline's remote services (Globus Transfer, Globus
 * Compute, SciCat, NERSC's Superfacility API), so they share one answer to "what does this
 * failure mean and should it be retried":
 * - every 2xx body is parsed with the caller's zod schema; a body that is not JSON or does
 *   not fit is `internal` (our code and the service disagree; retrying will not help);
 * - 400/422 and other 4xx are `validation`, 401/403 `forbidden`, 404 `not_found`, 409
 *   `conflict`, 412 `precondition_failed` (a service may refine this with `classifyError`);
 * - 408, 429, 5xx, timeouts (`AbortSignal.timeout`) and network faults are `unavailable`,
 *   retried with exponential backoff (honouring Retry-After) and then reported as
 *   `unavailable` "gave up after N attempts".
 *
 * The bearer token is held in a private field: it is sent as `Authorization: Bearer …` and
 * never appears in a message, a log line or `JSON.stringify(client)`.
 */
export interface RestClientOptions {
  /** Named in every error message, e.g. `Globus Transfer`. */
  service: string;
  /** Base URL; paths given to `request` are appended to it. */
  baseUrl: string;
  /** A bearer token value (read by the caller from its secret store; never logged). */
  token?: string;
  /** Per attempt, including reading the body (default 10 s). */
  timeoutMs?: number;
  /** Retries of 408/429/5xx, timeouts and network faults (default 4 attempts, 200 ms doubling). */
  retry?: RetryOptions;
  fetch?: typeof fetch;
  /**
   * Reads the service's error body: a detail for the message and, when the body says more than
   * the status (Globus `ClientError.NotFound`, say), the error code to use.
   */
  classifyError?: (status: number, body: unknown) => { detail?: string; code?: ErrorCode };
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface RestRequest<S extends z.ZodType> {
  /** Appended to the base URL (already encoded by the caller where it holds user values). */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as `application/x-www-form-urlencoded`. */
  form?: Record<string, string>;
  schema: S;
  /** Names the call in errors, e.g. `GET /task/{id}`; defaults to method and path. */
  what?: string;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: BatonError; retryAfterMs?: number };

export class RestClient {
  readonly service: string;
  readonly baseUrl: string;
  readonly #token: string | undefined;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly classifyError: RestClientOptions['classifyError'];

  constructor(options: RestClientOptions) {
    this.service = options.service;
    this.baseUrl = parseBaseUrl(options.baseUrl);
    if (options.token !== undefined && options.token === '') {
      throw new BatonError('validation', `${options.service}: the token is empty`, {
        field: 'token',
      });
    }
    this.#token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.attempts = Math.max(1, options.retry?.attempts ?? 4);
    this.baseDelayMs = options.retry?.baseDelayMs ?? 200;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 10_000;
    this.fetchImpl = options.fetch ?? fetch;
    this.classifyError = options.classifyError;
  }

  /** One API call with retries of transient failures. */
  async request<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    request: RestRequest<S>,
  ): Promise<z.output<S>> {
    let delay = this.baseDelayMs;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.once(method, request);
      if (outcome.ok) return outcome.value;
      const { error } = outcome;
      if (!(error.code === 'unavailable' && error.retryable)) throw error;
      if (attempt >= this.attempts) {
        throw new BatonError(
          'unavailable',
          `${error.message} (gave up after ${attempt} attempt${attempt === 1 ? '' : 's'})`,
          { cause: error.cause ?? error, retryable: true },
        );
      }
      await sleep(Math.min(outcome.retryAfterMs ?? delay, this.maxDelayMs));
      delay *= 2;
    }
  }

  private async once<S extends z.ZodType>(
    method: string,
    request: RestRequest<S>,
  ): Promise<Outcome<z.output<S>>> {
    const what = `${this.service} ${request.what ?? `${method} ${request.path}`}`;
    const url = new URL(`${this.baseUrl}${request.path}`);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    let body: string | undefined;
    if (request.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(request.json);
    } else if (request.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(request.form).toString();
    }
    const sent = await sendOnce({
      fetchImpl: this.fetchImpl,
      url,
      init: { method, headers, ...(body === undefined ? {} : { body }) },
      timeoutMs: this.timeoutMs,
      what,
      where: url.origin,
    });
    if (!sent.ok) return sent;
    const { status, text, retryAfter } = sent;
    let json: unknown;
    let jsonError: unknown;
    try {
      json = text.trim() === '' ? {} : (JSON.parse(text) as unknown);
    } catch (error) {
      jsonError = error;
    }
    if (status < 200 || status >= 300) {
      const failure = this.fromHttpError(what, status, json);
      const retryAfterMs = parseRetryAfter(retryAfter);
      return { ok: false, error: failure, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
    }
    if (jsonError !== undefined) {
      return {
        ok: false,
        error: new BatonError('internal', `${what}: the reply is not JSON`, { cause: jsonError }),
      };
    }
    const parsed = request.schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where =
        issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
      return {
        ok: false,
        error: new BatonError(
          'internal',
          `${what}: unexpected reply${where}: ${issue?.message ?? ''}`,
        ),
      };
    }
    return { ok: true, value: parsed.data };
  }

  private fromHttpError(what: string, status: number, body: unknown): BatonError {
    const refined = this.classifyError?.(status, body) ?? {};
    const code = refined.code ?? codeForStatus(status);
    const detail = refined.detail ?? genericDetail(body);
    return new BatonError(code, `${what}: HTTP ${status}${detail === '' ? '' : ` ${detail}`}`, {
      retryable: code === 'unavailable',
    });
  }
}

/** The status alone decides when the service's body does not. */
export function codeForStatus(status: number): ErrorCode {
  if (status === 408 || status === 429 || status >= 500) return 'unavailable';
  if (status === 401 || status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 412) return 'precondition_failed';
  return 'validation';
}

/** `message`, `detail`, `error.message` or `code` of a JSON error body (first 300 chars). */
function genericDetail(body: unknown): string {
  if (typeof body !== 'object' || body === null) return '';
  const record = body as Record<string, unknown>;
  const nested = record.error;
  const candidates = [
    record.code,
    record.message,
    record.detail,
    typeof nested === 'object' && nested !== null
      ? (nested as Record<string, unknown>).message
      : nested,
  ];
  return candidates
    .filter((c): c is string => typeof c === 'string' && c !== '')
    .join(' ')
    .slice(0, 300);
}

/** Rethrows anything that is not `not_found`; returns undefined for `not_found`. */
export async function unlessNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (isBatonError(error, 'not_found')) return undefined;
    throw error;
  }
}

/** A `Retry-After` header (seconds or an HTTP date) in milliseconds; undefined when absent or bad. */
export function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The short reason a `fetch` failed (the socket error code when there is one). */
/**
 * One HTTP exchange with a timeout: the status, body text and Retry-After, or a retryable
 * `unavailable` error saying whether the service did not answer in time or could not be
 * reached (`where`). Shared by the REST client and the MLflow adapter.
 */
export async function sendOnce(options: {
  fetchImpl: typeof fetch;
  url: URL;
  init: { method: string; headers: Record<string, string>; body?: string };
  timeoutMs: number;
  what: string;
  where: string;
}): Promise<
  | { ok: true; status: number; text: string; retryAfter: string | null }
  | { ok: false; error: BatonError }
> {
  try {
    const response = await options.fetchImpl(options.url, {
      ...options.init,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const retryAfter = response.headers.get('retry-after');
    return { ok: true, status: response.status, text: await response.text(), retryAfter };
  } catch (error) {
    const timedOut =
      error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    const detail = timedOut
      ? `no answer within ${options.timeoutMs} ms`
      : `cannot reach ${options.where}: ${networkDetail(error)}`;
    return {
      ok: false,
      error: new BatonError('unavailable', `${options.what}: ${detail}`, {
        cause: error,
        retryable: true,
      }),
    };
  }
}

export function networkDetail(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error ? error.message : String(error);
}

/** A service's base URL: http(s), no credentials in it (`credentialsGo` says where they go). */
export function parseBaseUrl(text: string, credentialsGo = 'in the token'): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BatonError('validation', `baseUrl: "${text}" is not a URL`, { field: 'baseUrl' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BatonError('validation', 'baseUrl: must be http or https', { field: 'baseUrl' });
  }
  if (url.username !== '' || url.password !== '') {
    throw new BatonError('validation', `baseUrl: put credentials ${credentialsGo}, not the URL`, {
      field: 'baseUrl',
    });
  }
  return url.toString().replace(/\/+$/, '');
}

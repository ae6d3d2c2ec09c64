/**
 * The closed set of error codes Baton uses everywhere: HTTP statuses, CLI exit codes and
 * adapter failures all map from these, so a caller can always tell whose fault a failure is.
 */
export const errorCodes = [
  'validation',
  'not_found',
  'conflict',
  'forbidden',
  'precondition_failed',
  'unavailable',
  'internal',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

const httpStatusByCode: Record<ErrorCode, number> = {
  validation: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  unavailable: 503,
  internal: 500,
};

/** User mistakes (exit 2, HTTP 4xx) versus faults of the system or its dependencies. */
export function isUserError(code: ErrorCode): boolean {
  return httpStatusByCode[code] < 500;
}

export function httpStatusOf(code: ErrorCode): number {
  return httpStatusByCode[code];
}

export interface BatonErrorOptions {
  /** Dotted path of the offending input field, e.g. `body.params.count` or `--count`. */
  field?: string;
  /** Whether retrying the same call may succeed (only meaningful for `unavailable`). */
  retryable?: boolean;
  cause?: unknown;
}

/** The one error class that crosses port boundaries. Adapters translate SDK errors into it. */
export class BatonError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: BatonErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BatonError';
    this.code = code;
    this.field = options.field;
    this.retryable = options.retryable ?? code === 'unavailable';
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function isBatonError(value: unknown, code?: ErrorCode): value is BatonError {
  return value instanceof BatonError && (code === undefined || value.code === code);
}

export const notFound = (what: string): BatonError =>
  new BatonError('not_found', `${what} not found`);
export const conflict = (what: string): BatonError =>
  new BatonError('conflict', `${what} already exists`);
export const preconditionFailed = (what: string): BatonError =>
  new BatonError('precondition_failed', `${what} was changed by someone else (etag mismatch)`);

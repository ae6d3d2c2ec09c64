import { isServiceBusError, type ServiceBusErrorCode } from '@azure/service-bus';
import { BatonError, type ErrorCode } from '../../domain/errors.js';
import { toBatonError } from './azureErrors.js';

/**
 * Service Bus failures carry a `code` string instead of an HTTP status, so the shared
 * `toBatonError` cannot read them; this table gives each code its Baton meaning first and leaves
 * everything else (network faults, statuses) to `toBatonError`.
 */
const meaningOf: Partial<Record<ServiceBusErrorCode, { code: ErrorCode; retryable?: boolean }>> = {
  // The lock expired, or the message was settled or moved: receive it again.
  MessageLockLost: { code: 'precondition_failed' },
  SessionLockLost: { code: 'precondition_failed' },
  MessagingEntityNotFound: { code: 'not_found' },
  MessageNotFound: { code: 'not_found' },
  MessagingEntityAlreadyExists: { code: 'conflict' },
  SessionCannotBeLocked: { code: 'conflict' },
  UnauthorizedAccess: { code: 'forbidden' },
  MessageSizeExceeded: { code: 'validation' },
  // An operator disabled the queue: the system's fault, and retrying soon will not help.
  MessagingEntityDisabled: { code: 'unavailable', retryable: false },
  QuotaExceeded: { code: 'unavailable' },
  ServiceBusy: { code: 'unavailable' },
  ServiceTimeout: { code: 'unavailable' },
  ServiceCommunicationProblem: { code: 'unavailable' },
};

/** The SDK throws a plain Error (no code) when a message it knows was already settled is settled again. */
const alreadySettled = /already settled/i;

export function toBusError(error: unknown, what: string): BatonError {
  if (error instanceof BatonError) return error;
  // The SDK's retry throws every attempt's error together; the last one is why it gave up.
  if (error instanceof AggregateError && error.errors.length > 0) {
    const attempts = error.errors.length;
    const last = toBusError(error.errors[attempts - 1], what);
    return new BatonError(last.code, `${last.message} (after ${attempts} attempts)`, {
      cause: error,
      retryable: last.retryable,
    });
  }
  const firstLine = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  if (isServiceBusError(error)) {
    const meaning = meaningOf[error.code] ?? {
      // GeneralError and codes this table does not know: the SDK says whether retrying helps.
      code: error.retryable ? ('unavailable' as const) : ('internal' as const),
    };
    return new BatonError(meaning.code, `${what}: ${error.code} ${firstLine}`.trimEnd(), {
      cause: error,
      retryable: meaning.retryable ?? meaning.code === 'unavailable',
    });
  }
  if (error instanceof Error && alreadySettled.test(error.message)) {
    return new BatonError('precondition_failed', `${what}: ${firstLine}`, { cause: error });
  }
  return toBatonError(error, what);
}

import rhea from 'rhea';
import type { InjectedError } from './faults.js';
import type { Settlement, SettleFailure } from './queueStore.js';

/**
 * Delivery outcomes in both directions: what a client's disposition means for the message
 * (see the SDK's `settleMessage`), and the outcome the broker settles with in return.
 */
export type Outcome = 'accepted' | 'rejected' | 'modified' | 'released';

interface OutcomeState {
  undeliverable_here?: boolean;
  message_annotations?: Record<string, unknown>;
  error?: { condition?: string; description?: string; info?: Record<string, unknown> };
}

/**
 * complete → accepted; abandon → modified (deliverable here); defer → modified (undeliverable
 * here); dead-letter → rejected with `com.microsoft:dead-letter` and the reason in `info`.
 */
export function settlementOf(outcome: Outcome, state: unknown): Settlement {
  const fields = (state ?? {}) as OutcomeState;
  switch (outcome) {
    case 'accepted':
      return { kind: 'complete' };
    case 'released':
      return { kind: 'abandon' };
    case 'modified': {
      const kind = fields.undeliverable_here ? 'defer' : 'abandon';
      return fields.message_annotations
        ? { kind, annotations: fields.message_annotations }
        : { kind };
    }
    case 'rejected': {
      const { DeadLetterReason, DeadLetterErrorDescription, ...properties } =
        fields.error?.info ?? {};
      const settlement: Settlement = { kind: 'deadLetter', properties };
      if (typeof DeadLetterReason === 'string') settlement.reason = DeadLetterReason;
      if (typeof DeadLetterErrorDescription === 'string') {
        settlement.description = DeadLetterErrorDescription;
      }
      // A plain AMQP reject (not the SDK's dead-letter) still dead-letters, with its condition.
      if (
        settlement.reason === undefined &&
        fields.error?.condition !== 'com.microsoft:dead-letter'
      ) {
        settlement.reason = fields.error?.condition ?? 'Rejected';
        if (fields.error?.description) settlement.description = fields.error.description;
      }
      return settlement;
    }
  }
}

/** rhea builds outcomes with these (present at runtime, missing from its typings). */
interface OutcomeFactory {
  accepted(): { described(): unknown };
  rejected(fields: { error: InjectedError }): { described(): unknown };
}

const factory = rhea.message as unknown as OutcomeFactory;

/**
 * The broker's answer to a settlement: always a final outcome (the SDK waits for it). Success is
 * `accepted` whatever the client asked for, since echoing `rejected` would make the SDK's
 * dead-letter call fail; a failure is `rejected` with the error the SDK translates.
 */
export function settledOutcome(failure: SettleFailure | undefined): unknown {
  return failure
    ? factory.rejected({ error: failure }).described()
    : factory.accepted().described();
}

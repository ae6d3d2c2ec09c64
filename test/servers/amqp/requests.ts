import rhea from 'rhea';
import type { Message } from 'rhea';
import { decodeMessage, encodeMessage, longValue, toDeliveredMessage } from './codec.js';
import { bytesToUuid } from './lockTokens.js';
import type { BrokerQueue, Settlement, SettleFailure, SubQueueKind } from './queueStore.js';

/**
 * The request/response side of the broker: `$cbs` put-token and the `<entity>/$management`
 * operations the SDK uses (renew-lock, update-disposition, peek, schedule). Requests and
 * answers are plain values; the broker does the link plumbing.
 */
export interface AmqpResponse {
  status: number;
  description?: string;
  /** An AMQP error condition the SDK translates (e.g. `com.microsoft:message-lock-lost`). */
  condition?: string;
  body?: unknown;
}

export const operations = {
  putToken: 'put-token',
  renewLock: 'com.microsoft:renew-lock',
  updateDisposition: 'com.microsoft:update-disposition',
  peekMessage: 'com.microsoft:peek-message',
  scheduleMessage: 'com.microsoft:schedule-message',
} as const;

export function operationOf(request: Message): string | undefined {
  const operation: unknown = request.application_properties?.operation;
  return typeof operation === 'string' ? operation : undefined;
}

/** Builds the reply message: both spellings of the status keys, since SDK code paths read either. */
export function toResponseMessage(request: Message, response: AmqpResponse): Message {
  const properties: Record<string, unknown> = {
    statusCode: response.status,
    'status-code': response.status,
    statusDescription: response.description ?? '',
    'status-description': response.description ?? '',
  };
  if (response.condition !== undefined) properties['error-condition'] = response.condition;
  const reply: Message = {
    correlation_id: request.message_id,
    application_properties: properties,
    body: response.body ?? null,
  };
  return reply;
}

/** `$cbs`: every token is accepted unless a fault says otherwise. */
export function handleCbsRequest(request: Message, refuse: boolean): AmqpResponse {
  if (operationOf(request) !== operations.putToken) {
    return {
      status: 400,
      description: 'unsupported $cbs operation',
      condition: 'amqp:not-implemented',
    };
  }
  if (refuse) {
    return {
      status: 401,
      description: 'InvalidSignature: the token has an invalid signature (fault injected).',
      condition: 'amqp:unauthorized-access',
    };
  }
  return { status: 202, description: 'Accepted' };
}

const lockTokensOf = (body: Record<string, unknown>): string[] => {
  const tokens = body['lock-tokens'];
  return Array.isArray(tokens)
    ? tokens.map((t) => (Buffer.isBuffer(t) ? bytesToUuid(t) : String(t)))
    : [];
};

const failed = (failure: SettleFailure): AmqpResponse => ({
  status: failure.condition === 'com.microsoft:message-lock-lost' ? 410 : 400,
  description: failure.description,
  condition: failure.condition,
});

export function handleManagementRequest(
  queue: BrokerQueue,
  kind: SubQueueKind,
  request: Message,
): AmqpResponse {
  const body = (
    typeof request.body === 'object' && request.body !== null ? request.body : {}
  ) as Record<string, unknown>;
  switch (operationOf(request)) {
    case operations.renewLock: {
      const expirations: Date[] = [];
      for (const token of lockTokensOf(body)) {
        const renewed = queue.renewLock(kind, token);
        if (typeof renewed !== 'number') return failed(renewed);
        expirations.push(new Date(renewed));
      }
      return { status: 200, body: { expirations } };
    }
    case operations.updateDisposition: {
      const settlement = settlementOf(body);
      if (settlement === undefined) {
        return {
          status: 400,
          description: 'unknown disposition-status',
          condition: 'amqp:invalid-field',
        };
      }
      for (const token of lockTokensOf(body)) {
        const failure = queue.settle(kind, token, settlement);
        if (failure) return failed(failure);
      }
      return { status: 200 };
    }
    case operations.peekMessage: {
      const from = longValue(body['from-sequence-number']) ?? 1;
      const count = Number(body['message-count'] ?? 1);
      const peeked = queue.peek(kind, from, count);
      if (peeked.length === 0) return { status: 204, description: 'No messages' };
      const messages = peeked.map((stored) => ({
        message: encodeMessage(toDeliveredMessage({ ...stored, lock: undefined })),
      }));
      return { status: 200, body: { messages } };
    }
    case operations.scheduleMessage: {
      const entries = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
      const payloads = entries.map((entry) => {
        const bytes = (entry as { message?: unknown }).message;
        if (!Buffer.isBuffer(bytes)) throw new Error('schedule-message entry without bytes');
        return decodeMessage(bytes);
      });
      const stored = queue.enqueue(payloads);
      return {
        status: 200,
        body: { 'sequence-numbers': stored.map((m) => rhea.types.wrap_long(m.seq)) },
      };
    }
    default:
      return {
        status: 501,
        description: `operation ${operationOf(request) ?? '(none)'} is not implemented by the test broker`,
        condition: 'amqp:not-implemented',
      };
  }
}

function settlementOf(body: Record<string, unknown>): Settlement | undefined {
  const properties = body['properties-to-modify'] as Record<string, unknown> | undefined;
  switch (body['disposition-status']) {
    case 'completed':
      return { kind: 'complete' };
    case 'abandoned':
      return properties ? { kind: 'abandon', annotations: properties } : { kind: 'abandon' };
    case 'defered':
      return properties ? { kind: 'defer', annotations: properties } : { kind: 'defer' };
    case 'suspended': {
      const settlement: Settlement = { kind: 'deadLetter' };
      if (typeof body['deadletter-reason'] === 'string')
        settlement.reason = body['deadletter-reason'];
      if (typeof body['deadletter-description'] === 'string') {
        settlement.description = body['deadletter-description'];
      }
      if (properties) settlement.properties = properties;
      return settlement;
    }
    default:
      return undefined;
  }
}

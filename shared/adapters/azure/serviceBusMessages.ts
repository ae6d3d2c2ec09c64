import type { ServiceBusMessage, ServiceBusReceivedMessage } from '@azure/service-bus';
import { BatonError } from '../../domain/errors.js';
import type { OutgoingMessage, ReceivedMessage } from '../../ports/bus.js';

/**
 * The two converters between Baton's Bus messages and the Service Bus SDK's: every rule about
 * what a message may carry lives in `toServiceBusMessage`, every rule about reading one back in
 * `fromServiceBusMessage`.
 */

/** Validates one outgoing message (the same rules as the local FileBus) and converts it. */
export function toServiceBusMessage(message: OutgoingMessage, index: number): ServiceBusMessage {
  const field = `messages[${index}]`;
  const fail = (what: string, why: string): never => {
    throw new BatonError('validation', `${field}.${what}: ${why}`, { field: `${field}.${what}` });
  };
  if (typeof message !== 'object' || message === null) {
    throw new BatonError('validation', `${field}: must be an object`, { field });
  }
  if (
    typeof message.messageId !== 'string' ||
    message.messageId === '' ||
    message.messageId.length > 128
  ) {
    fail('messageId', 'must be 1-128 characters (the Service Bus limit)');
  }
  const json = JSON.stringify(message.body);
  if (json === undefined) fail('body', 'must be JSON-serialisable');
  const converted: ServiceBusMessage = {
    messageId: message.messageId,
    // Normalised like the local bus (dates become strings, undefined members disappear); the
    // SDK then sends it as a data section of JSON bytes.
    body: JSON.parse(json) as unknown,
    contentType: 'application/json',
  };
  if (message.correlationId !== undefined) {
    if (typeof message.correlationId !== 'string') fail('correlationId', 'must be a string');
    converted.correlationId = message.correlationId;
  }
  if (message.scheduledEnqueueTime !== undefined) {
    const at = Date.parse(message.scheduledEnqueueTime);
    if (Number.isNaN(at)) fail('scheduledEnqueueTime', 'must be an ISO 8601 instant');
    converted.scheduledEnqueueTimeUtc = new Date(at);
  }
  return converted;
}

/**
 * Reads a received message back. Service Bus puts the number of *earlier* deliveries on the wire
 * (AMQP's delivery-count) and this SDK passes it through unchanged, so a first delivery reads 0;
 * the port counts the current delivery too, as the Service Bus docs and the local bus do.
 */
export function fromServiceBusMessage<T>(message: ServiceBusReceivedMessage): ReceivedMessage<T> {
  const received: ReceivedMessage<T> = {
    messageId: idText(message.messageId) ?? '',
    body: bodyOf(message.body) as T,
    deliveryCount: (message.deliveryCount ?? 0) + 1,
    lockToken: message.lockToken ?? '',
    enqueuedAt: (message.enqueuedTimeUtc ?? new Date()).toISOString(),
  };
  const correlationId = idText(message.correlationId);
  if (correlationId !== undefined) received.correlationId = correlationId;
  if (typeof message.deadLetterReason === 'string') {
    received.deadLetterReason = message.deadLetterReason;
  }
  if (typeof message.deadLetterErrorDescription === 'string') {
    received.deadLetterDescription = message.deadLetterErrorDescription;
  }
  return received;
}

/** Ids may be strings, numbers or bytes on the wire (other producers); Baton's are strings. */
function idText(id: unknown): string | undefined {
  if (typeof id === 'string') return id;
  if (typeof id === 'number') return String(id);
  if (id instanceof Uint8Array) return Buffer.from(id).toString('hex');
  return undefined;
}

/** The SDK parses JSON bodies; anything else arrives as bytes, which Baton reads as UTF-8 text. */
function bodyOf(body: unknown): unknown {
  return body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : body;
}

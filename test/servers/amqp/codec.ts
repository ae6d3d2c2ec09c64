import rhea from 'rhea';
import type { Message } from 'rhea';
import { uuidToBytes } from './lockTokens.js';
import { annotation, type StoredMessage } from './queueStore.js';

/** The message format of a Service Bus batch: one envelope whose data sections are whole messages. */
export const batchMessageFormat = 0x80013700;

/** What rhea hands to a receiver's `message` event: a decoded message, or raw bytes for other formats. */
export interface IncomingTransfer {
  message?: Message | Buffer;
  format?: number;
}

/** The messages one transfer carries: the message itself, or every message of a batch envelope. */
export function decodeTransfer(transfer: IncomingTransfer): Message[] {
  const { message } = transfer;
  if (message === undefined) return [];
  if (!Buffer.isBuffer(message)) return [message];
  if (transfer.format !== batchMessageFormat) {
    throw new Error(`unsupported message format ${transfer.format ?? 'none'}`);
  }
  const envelope = decodeMessage(message);
  const body = envelope.body as { typecode?: number; content?: unknown } | undefined;
  if (body?.typecode !== 0x75) throw new Error('a batch envelope must carry data sections');
  const sections = Array.isArray(body.content) ? (body.content as unknown[]) : [body.content];
  return sections.map((section) => {
    if (!Buffer.isBuffer(section)) throw new Error('a batch data section must be binary');
    return decodeMessage(section);
  });
}

/**
 * The message as a receiver gets it: the stored payload with the broker's annotations
 * (sequence number, enqueued time, lock) and the header's delivery count.
 */
export function toDeliveredMessage(stored: StoredMessage): Message {
  const annotations: Record<string, unknown> = {
    ...(stored.payload.message_annotations ?? {}),
    [annotation.sequenceNumber]: rhea.types.wrap_long(stored.seq),
    [annotation.enqueuedTime]: new Date(stored.enqueuedAt),
  };
  if (stored.lock) {
    annotations[annotation.lockedUntil] = new Date(stored.lock.until);
    annotations[annotation.lockToken] = rhea.types.wrap_uuid(uuidToBytes(stored.lock.token));
  }
  if (stored.deferred) annotations[annotation.messageState] = 1;
  else if (stored.availableAt > Date.now()) annotations[annotation.messageState] = 2;
  return {
    ...stored.payload,
    delivery_count: stored.deliveryCount,
    message_annotations: annotations,
  };
}

export function encodeMessage(message: Message): Buffer {
  return rhea.message.encode(message);
}

/** rhea's typings give `decode` a looser Message type than the one links use; the value is the same. */
export function decodeMessage(bytes: Buffer): Message {
  return rhea.message.decode(bytes) as unknown as Message;
}

/** AMQP longs arrive as numbers or as 8 big-endian bytes. */
export function longValue(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  return undefined;
}

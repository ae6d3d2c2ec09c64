import type { TokenCredential } from '@azure/identity';
import {
  ServiceBusClient,
  type DeadLetterOptions,
  type ServiceBusClientOptions,
  type ServiceBusMessage,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusSender,
} from '@azure/service-bus';
import { BatonError } from '../../domain/errors.js';
import type { Bus, OutgoingMessage, ReceiveOptions, ReceivedMessage } from '../../ports/bus.js';
import { azureCredential } from './credentials.js';
import { toBusError } from './serviceBusErrors.js';
import { fromServiceBusMessage, toServiceBusMessage } from './serviceBusMessages.js';

export interface ServiceBusQueuesOptions {
  client: ServiceBusClient;
  /** The only mode the port's semantics allow (complete/abandon/deadLetter need a lock). */
  receiveMode?: 'peekLock';
  /** Close the client in `close()`; set by `createServiceBusBus`, which created it. */
  ownsClient?: boolean;
}

type SubQueue = 'active' | 'deadLetter';

/** A message this bus received and has not settled yet: settled through the same receiver. */
interface HeldLock {
  queue: string;
  subQueue: SubQueue;
  receiver: ServiceBusReceiver;
  message: ServiceBusReceivedMessage;
  /** Epoch ms; after it (plus a grace period) the entry is dropped. */
  lockedUntil: number;
  settling: boolean;
}

/** Service Bus caps one peek-lock receive at 2047 messages; asking for fewer is always allowed. */
const maxMessagesPerReceive = 2047;
/** How long past its expiry a lock is remembered, so a late settle still reaches the broker. */
const lockMemoryGraceMs = 5 * 60_000;
const queueNamePattern = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9])?$/;

/**
 * Receivers of one queue (or its dead-letter queue). An SDK receiver serves one
 * `receiveMessages` call at a time, so concurrent receives each take an idle receiver or open
 * another link; receivers stay open until `close()` because settlement must go through the
 * receiver that received the message.
 */
class ReceiverPool {
  private readonly idle: ServiceBusReceiver[] = [];
  private readonly all = new Set<ServiceBusReceiver>();

  constructor(private readonly open: () => ServiceBusReceiver) {}

  acquire(): ServiceBusReceiver {
    const receiver = this.idle.pop() ?? this.open();
    this.all.add(receiver);
    return receiver;
  }

  release(receiver: ServiceBusReceiver): void {
    if (receiver.isClosed) this.all.delete(receiver);
    else this.idle.push(receiver);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.all].map((receiver) => receiver.close()));
    this.all.clear();
    this.idle.length = 0;
  }
}

/**
 * Baton's Bus over Azure Service Bus queues, through one `ServiceBusClient`. Senders are cached
 * per queue and receivers pooled per queue and sub-queue. A received message's `lockToken` is
 * the key to the SDK message object kept here, so `complete`/`abandon`/`deadLetter` settle
 * through the SAME receiver (the SDK requires it); a lock this bus does not hold, or one the
 * service reports lost, is `precondition_failed`.
 *
 * Queue settings (lock duration, max delivery count, duplicate detection) belong to the queue
 * in Service Bus, not to this client: infra/main.bicep sets them (PT1M locks, 10-minute
 * duplicate detection, maxDeliveryCount from its parameter). Locks are never renewed
 * automatically: a caller that needs longer than the lock duration gets the message again,
 * exactly as with the local bus.
 */
export class ServiceBusQueues implements Bus {
  private readonly client: ServiceBusClient;
  private readonly ownsClient: boolean;
  private readonly senders = new Map<string, ServiceBusSender>();
  private readonly receivers = new Map<string, ReceiverPool>();
  private readonly locks = new Map<string, HeldLock>();
  private closed = false;

  constructor(options: ServiceBusQueuesOptions) {
    if (options.receiveMode !== undefined && options.receiveMode !== 'peekLock') {
      throw new BatonError('validation', 'receiveMode: only peekLock is supported', {
        field: 'receiveMode',
      });
    }
    this.client = options.client;
    this.ownsClient = options.ownsClient ?? false;
  }

  /**
   * Sends in as few batches as fit the queue's message size limit. Not atomic across batches:
   * after a failure some messages may be in the queue, and retrying the whole call is safe
   * because Service Bus drops duplicates by `messageId` (with duplicate detection on).
   */
  async send(queue: string, messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    const name = checkQueueName(queue);
    if (!Array.isArray(messages)) {
      throw new BatonError('validation', 'messages: must be an array', { field: 'messages' });
    }
    const outgoing = messages.map(toServiceBusMessage);
    if (outgoing.length === 0) return;
    const sender = this.senderFor(name);
    try {
      await sendInBatches(sender, outgoing);
    } catch (error) {
      throw toBusError(error, `send to queue ${queue}`);
    }
  }

  receive<T = unknown>(queue: string, options: ReceiveOptions = {}): Promise<ReceivedMessage<T>[]> {
    return this.receiveFrom<T>(queue, 'active', options);
  }

  receiveDeadLetters<T = unknown>(
    queue: string,
    options: ReceiveOptions = {},
  ): Promise<ReceivedMessage<T>[]> {
    return this.receiveFrom<T>(queue, 'deadLetter', options);
  }

  async complete(queue: string, message: ReceivedMessage): Promise<void> {
    await this.settle(queue, message, 'complete', (held) =>
      held.receiver.completeMessage(held.message),
    );
  }

  async abandon(queue: string, message: ReceivedMessage): Promise<void> {
    await this.settle(queue, message, 'abandon', (held) =>
      held.receiver.abandonMessage(held.message),
    );
  }

  async deadLetter(
    queue: string,
    message: ReceivedMessage,
    reason: string,
    description?: string,
  ): Promise<void> {
    if (typeof reason !== 'string' || reason === '') {
      throw new BatonError('validation', 'reason: must be a non-empty string', { field: 'reason' });
    }
    await this.settle(queue, message, 'dead-letter', (held) => {
      if (held.subQueue === 'deadLetter') {
        throw new BatonError('validation', `message ${message.messageId} is already dead-lettered`);
      }
      // The SDK types the description as required but sends only what it is given; an empty
      // string instead would come back as a description nobody wrote.
      const options: Record<string, string> = { deadLetterReason: reason };
      if (description !== undefined) options.deadLetterErrorDescription = description;
      return held.receiver.deadLetterMessage(
        held.message,
        options as DeadLetterOptions & Record<string, string>,
      );
    });
  }

  /** Closes every link this bus opened (and the client, when the factory created it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pools = [...this.receivers.values()];
    const senders = [...this.senders.values()];
    this.receivers.clear();
    this.senders.clear();
    this.locks.clear();
    await Promise.allSettled([
      ...pools.map((pool) => pool.close()),
      ...senders.map((sender) => sender.close()),
    ]);
    if (this.ownsClient) await this.client.close();
  }

  private async receiveFrom<T>(
    queue: string,
    subQueue: SubQueue,
    options: ReceiveOptions,
  ): Promise<ReceivedMessage<T>[]> {
    this.assertOpen();
    const name = checkQueueName(queue);
    const { maxMessages, maxWaitMs } = checkReceiveOptions(options);
    const pool = this.poolFor(name, subQueue);
    const receiver = pool.acquire();
    let messages: ServiceBusReceivedMessage[];
    try {
      messages = await receiver.receiveMessages(maxMessages, { maxWaitTimeInMs: maxWaitMs });
    } catch (error) {
      throw toBusError(error, `receive from ${describe(queue, subQueue)}`);
    } finally {
      pool.release(receiver);
    }
    this.forgetExpiredLocks();
    const received: ReceivedMessage<T>[] = [];
    for (const message of messages) {
      if (!message.lockToken) continue;
      this.locks.set(message.lockToken, {
        queue: name,
        subQueue,
        receiver,
        message,
        lockedUntil: message.lockedUntilUtc?.getTime() ?? Date.now(),
        settling: false,
      });
      received.push(fromServiceBusMessage<T>(message));
    }
    return received;
  }

  /**
   * Settles through the receiver that holds the lock. A lost lock ends the entry; a transient
   * failure keeps it so the caller can retry the same settlement.
   */
  private async settle(
    queue: string,
    message: ReceivedMessage,
    what: string,
    action: (held: HeldLock) => Promise<void>,
  ): Promise<void> {
    this.assertOpen();
    const name = checkQueueName(queue);
    const token = typeof message?.lockToken === 'string' ? message.lockToken : '';
    const held = this.locks.get(token);
    const label = `${what} message ${String(message?.messageId)} on queue ${queue}`;
    if (!held || held.queue !== name) {
      throw new BatonError(
        'precondition_failed',
        `${label}: the lock was lost (expired, already settled, or not taken by this bus)`,
      );
    }
    if (held.settling) {
      throw new BatonError('precondition_failed', `${label}: a settlement is already in progress`);
    }
    held.settling = true;
    try {
      await action(held);
      this.locks.delete(token);
    } catch (error) {
      const translated = toBusError(error, label);
      if (translated.code === 'unavailable' || translated.code === 'validation') {
        held.settling = false;
      } else {
        this.locks.delete(token);
      }
      throw translated;
    }
  }

  private senderFor(queue: string): ServiceBusSender {
    let sender = this.senders.get(queue);
    if (!sender || sender.isClosed) {
      sender = this.client.createSender(queue);
      this.senders.set(queue, sender);
    }
    return sender;
  }

  private poolFor(queue: string, subQueue: SubQueue): ReceiverPool {
    const key = `${queue}\u0000${subQueue}`;
    let pool = this.receivers.get(key);
    if (!pool) {
      pool = new ReceiverPool(() =>
        this.client.createReceiver(queue, {
          receiveMode: 'peekLock',
          // The SDK renews locks of received messages for 5 minutes by default, even for
          // receiveMessages(); the port promises a fixed lock duration, so never renew.
          maxAutoLockRenewalDurationInMs: 0,
          ...(subQueue === 'deadLetter' ? { subQueueType: 'deadLetter' as const } : {}),
        }),
      );
      this.receivers.set(key, pool);
    }
    return pool;
  }

  /** Locks long expired can never be settled; forgetting them bounds the map. */
  private forgetExpiredLocks(): void {
    const horizon = Date.now() - lockMemoryGraceMs;
    for (const [token, held] of this.locks) {
      if (held.lockedUntil < horizon && !held.settling) this.locks.delete(token);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BatonError('internal', 'the Service Bus bus was closed');
  }
}

export interface ServiceBusBusSettings {
  /** `<namespace>.servicebus.windows.net` */
  fullyQualifiedNamespace: string;
  /** Defaults to the shared `DefaultAzureCredential` (managed identity in Azure). */
  credential?: TokenCredential;
  /**
   * Only where a setting names one explicitly (local emulators, break-glass): used instead of
   * the credential. It holds a key, so it is never logged or put in an error message.
   */
  connectionString?: string;
  clientOptions?: ServiceBusClientOptions;
}

/** The production wiring: one client for all queues, authenticated by Entra ID unless told otherwise. */
export function createServiceBusBus(settings: ServiceBusBusSettings): ServiceBusQueues {
  const { fullyQualifiedNamespace, credential, connectionString, clientOptions } = settings;
  if (connectionString === undefined && !fullyQualifiedNamespace) {
    throw new BatonError('validation', 'fullyQualifiedNamespace: required', {
      field: 'fullyQualifiedNamespace',
    });
  }
  let client: ServiceBusClient;
  try {
    client =
      connectionString !== undefined
        ? new ServiceBusClient(connectionString, clientOptions)
        : new ServiceBusClient(
            fullyQualifiedNamespace,
            credential ?? azureCredential(),
            clientOptions,
          );
  } catch {
    // The SDK's message may quote the connection string: keep only what we compose.
    throw new BatonError(
      'validation',
      connectionString !== undefined
        ? 'connectionString: not a valid Service Bus connection string'
        : `fullyQualifiedNamespace: ${fullyQualifiedNamespace} is not a valid namespace`,
      { field: connectionString !== undefined ? 'connectionString' : 'fullyQualifiedNamespace' },
    );
  }
  return new ServiceBusQueues({ client, ownsClient: true });
}

async function sendInBatches(
  sender: ServiceBusSender,
  messages: ServiceBusMessage[],
): Promise<void> {
  let batch = await sender.createMessageBatch();
  for (const [index, message] of messages.entries()) {
    if (batch.tryAddMessage(message)) continue;
    if (batch.count > 0) {
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      if (batch.tryAddMessage(message)) continue;
    }
    throw new BatonError(
      'validation',
      `messages[${index}]: larger than the queue's message size limit (${batch.maxSizeInBytes} bytes)`,
      { field: `messages[${index}]` },
    );
  }
  if (batch.count > 0) await sender.sendMessages(batch);
}

function checkQueueName(queue: string): string {
  if (typeof queue !== 'string' || !queueNamePattern.test(queue)) {
    throw new BatonError(
      'validation',
      'queue: must be 1-260 letters, digits, ".", "_", "-" or "/", starting and ending with a letter or digit',
      { field: 'queue' },
    );
  }
  // Service Bus entity names are case-insensitive: one cache entry per queue.
  return queue.toLowerCase();
}

function checkReceiveOptions(options: ReceiveOptions): { maxMessages: number; maxWaitMs: number } {
  const maxMessages = options.maxMessages ?? 1;
  if (!Number.isInteger(maxMessages) || maxMessages < 1) {
    throw new BatonError('validation', 'maxMessages: must be a positive integer', {
      field: 'maxMessages',
    });
  }
  const maxWaitMs = options.maxWaitMs ?? 0;
  if (typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0) || !Number.isFinite(maxWaitMs)) {
    throw new BatonError('validation', 'maxWaitMs: must be >= 0', { field: 'maxWaitMs' });
  }
  return { maxMessages: Math.min(maxMessages, maxMessagesPerReceive), maxWaitMs };
}

function describe(queue: string, subQueue: SubQueue): string {
  return subQueue === 'deadLetter' ? `the dead-letter queue of ${queue}` : `queue ${queue}`;
}

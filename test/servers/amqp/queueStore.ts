import { randomUUID } from 'node:crypto';
import type { Message } from 'rhea';
import { newLockToken } from './lockTokens.js';

/**
 * The broker's queues as plain in-memory state, with no AMQP in sight: sequence numbers, peek
 * locks, delivery counts, dead-lettering, duplicate detection and scheduled messages. The AMQP
 * layer (../amqpBroker.ts) asks it for the next message to deliver and tells it how deliveries
 * were settled; everything time-dependent is judged by the injected clock.
 */
export interface QueueSettings {
  lockDurationMs: number;
  /** Abandons and lock expiries after which a message moves to the dead-letter queue. */
  maxDeliveryCount: number;
  /** Duplicate detection by message id; off when undefined. */
  duplicateDetectionWindowMs: number | undefined;
}

/** Service Bus defaults: PT1M locks, 10 deliveries, no duplicate detection. */
export const defaultQueueSettings: QueueSettings = {
  lockDurationMs: 60_000,
  maxDeliveryCount: 10,
  duplicateDetectionWindowMs: undefined,
};

export type SubQueueKind = 'active' | 'deadLetter';

export const annotation = {
  sequenceNumber: 'x-opt-sequence-number',
  enqueuedTime: 'x-opt-enqueued-time',
  lockedUntil: 'x-opt-locked-until',
  lockToken: 'x-opt-lock-token',
  scheduledEnqueueTime: 'x-opt-scheduled-enqueue-time',
  messageState: 'x-opt-message-state',
} as const;

export interface MessageLock {
  token: string;
  /** Epoch ms */
  until: number;
}

export interface StoredMessage {
  readonly seq: number;
  readonly messageId: string;
  /** The message as the client sent it, plus what settlements modified (annotations, DLQ reason). */
  payload: Message;
  /** Epoch ms; a scheduled message counts as enqueued when it becomes available. */
  readonly enqueuedAt: number;
  /** Epoch ms; not delivered before. */
  readonly availableAt: number;
  /** Earlier deliveries that ended without completion (the AMQP header's `delivery-count`). */
  deliveryCount: number;
  lock: MessageLock | undefined;
  deferred: boolean;
}

export type Settlement =
  | { kind: 'complete' }
  | { kind: 'abandon'; annotations?: Record<string, unknown> }
  | { kind: 'defer'; annotations?: Record<string, unknown> }
  | {
      kind: 'deadLetter';
      reason?: string;
      description?: string;
      properties?: Record<string, unknown>;
    };

/** An AMQP error the broker answers with when a settlement or renewal cannot be done. */
export interface SettleFailure {
  condition: string;
  description: string;
}

export interface QueueSnapshot {
  /** Messages waiting in the active sub-queue, locked or not (scheduled and deferred excluded). */
  active: number;
  locked: number;
  scheduled: number;
  deferred: number;
  deadLettered: number;
}

class SubQueue {
  /** In sequence order (dead letters in the order they were moved). */
  readonly messages: StoredMessage[] = [];
  readonly locked = new Map<string, StoredMessage>();

  remove(message: StoredMessage): void {
    const index = this.messages.indexOf(message);
    if (index >= 0) this.messages.splice(index, 1);
    if (message.lock) this.locked.delete(message.lock.token);
  }

  unlock(message: StoredMessage): void {
    if (message.lock) this.locked.delete(message.lock.token);
    message.lock = undefined;
  }
}

const lockLost = (token: string): SettleFailure => ({
  condition: 'com.microsoft:message-lock-lost',
  description: `The lock supplied (${token}) is invalid: it expired, or the message was already settled or removed.`,
});

export class BrokerQueue {
  private readonly subs: Record<SubQueueKind, SubQueue> = {
    active: new SubQueue(),
    deadLetter: new SubQueue(),
  };
  private nextSeq = 1;
  /** messageId → epoch ms of its first send, while duplicate detection is on. */
  private readonly seen = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly settings: QueueSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores sent messages; drops duplicates inside the detection window. Returns what was stored. */
  enqueue(payloads: Message[]): StoredMessage[] {
    const now = this.now();
    const window = this.settings.duplicateDetectionWindowMs;
    if (window !== undefined) {
      for (const [id, at] of this.seen) if (now - at > window) this.seen.delete(id);
    }
    const stored: StoredMessage[] = [];
    for (const payload of payloads) {
      payload.message_id ??= randomUUID();
      const messageId = messageIdText(payload.message_id);
      if (window !== undefined) {
        if (this.seen.has(messageId)) continue;
        this.seen.set(messageId, now);
      }
      const scheduled = epochMsOf(payload.message_annotations?.[annotation.scheduledEnqueueTime]);
      const availableAt = scheduled !== undefined && scheduled > now ? scheduled : now;
      const message: StoredMessage = {
        seq: this.nextSeq++,
        messageId,
        payload,
        enqueuedAt: availableAt,
        availableAt,
        deliveryCount: 0,
        lock: undefined,
        deferred: false,
      };
      this.subs.active.messages.push(message);
      stored.push(message);
    }
    return stored;
  }

  /** Locks the first available message of the sub-queue, in sequence order. */
  lockNext(kind: SubQueueKind): StoredMessage | undefined {
    this.expireLocks();
    const now = this.now();
    const sub = this.subs[kind];
    const next = sub.messages.find((m) => !m.lock && !m.deferred && m.availableAt <= now);
    if (next === undefined) return undefined;
    next.lock = { token: newLockToken(), until: now + this.settings.lockDurationMs };
    sub.locked.set(next.lock.token, next);
    return next;
  }

  /** Whether a message could be locked right now (cheaper than lockNext when nobody can take it). */
  hasAvailable(kind: SubQueueKind): boolean {
    this.expireLocks();
    const now = this.now();
    return this.subs[kind].messages.some((m) => !m.lock && !m.deferred && m.availableAt <= now);
  }

  settle(kind: SubQueueKind, token: string, settlement: Settlement): SettleFailure | undefined {
    const message = this.heldLock(kind, token);
    if (message === undefined) return lockLost(token);
    const sub = this.subs[kind];
    switch (settlement.kind) {
      case 'complete':
        sub.remove(message);
        return undefined;
      case 'abandon':
        mergeAnnotations(message.payload, settlement.annotations);
        sub.unlock(message);
        this.countFailedDelivery(kind, message);
        return undefined;
      case 'defer':
        mergeAnnotations(message.payload, settlement.annotations);
        sub.unlock(message);
        message.deferred = true;
        return undefined;
      case 'deadLetter':
        if (kind === 'deadLetter') {
          return {
            condition: 'amqp:not-allowed',
            description: 'A message in the dead-letter queue cannot be dead-lettered again.',
          };
        }
        this.moveToDeadLetters(
          message,
          settlement.reason,
          settlement.description,
          settlement.properties,
        );
        return undefined;
    }
  }

  /** Extends a held lock by the queue's lock duration; returns the new expiry (epoch ms). */
  renewLock(kind: SubQueueKind, token: string): number | SettleFailure {
    const message = this.heldLock(kind, token);
    if (message?.lock === undefined) return lockLost(token);
    message.lock.until = this.now() + this.settings.lockDurationMs;
    return message.lock.until;
  }

  /** Messages from `fromSeq` on, without locking them (scheduled and deferred ones included). */
  peek(kind: SubQueueKind, fromSeq: number, count: number): StoredMessage[] {
    this.expireLocks();
    return this.subs[kind].messages.filter((m) => m.seq >= fromSeq).slice(0, count);
  }

  /** The next instant something changes by itself: a lock expires or a scheduled message is due. */
  nextDueAt(): number | undefined {
    const now = this.now();
    let due: number | undefined;
    for (const sub of Object.values(this.subs)) {
      for (const message of sub.messages) {
        const at = message.lock ? message.lock.until : message.availableAt;
        if (at > now && (due === undefined || at < due)) due = at;
      }
    }
    return due;
  }

  snapshot(): QueueSnapshot {
    this.expireLocks();
    const now = this.now();
    const active = this.subs.active.messages;
    return {
      active: active.filter((m) => !m.deferred && m.availableAt <= now).length,
      locked: active.filter((m) => m.lock).length + this.subs.deadLetter.locked.size,
      scheduled: active.filter((m) => m.availableAt > now).length,
      deferred: active.filter((m) => m.deferred).length,
      deadLettered: this.subs.deadLetter.messages.length,
    };
  }

  private heldLock(kind: SubQueueKind, token: string): StoredMessage | undefined {
    this.expireLocks();
    return this.subs[kind].locked.get(token);
  }

  /** Expired locks count as failed deliveries, exactly like abandons. */
  private expireLocks(): void {
    const now = this.now();
    for (const kind of ['active', 'deadLetter'] as const) {
      const sub = this.subs[kind];
      for (const message of [...sub.locked.values()]) {
        if (message.lock && message.lock.until <= now) {
          sub.unlock(message);
          this.countFailedDelivery(kind, message);
        }
      }
    }
  }

  private countFailedDelivery(kind: SubQueueKind, message: StoredMessage): void {
    message.deliveryCount += 1;
    if (kind === 'active' && message.deliveryCount >= this.settings.maxDeliveryCount) {
      this.moveToDeadLetters(
        message,
        'MaxDeliveryCountExceeded',
        `Message could not be consumed after ${this.settings.maxDeliveryCount} delivery attempts.`,
      );
    }
  }

  private moveToDeadLetters(
    message: StoredMessage,
    reason: string | undefined,
    description: string | undefined,
    properties?: Record<string, unknown>,
  ): void {
    this.subs.active.remove(message);
    message.lock = undefined;
    const applicationProperties: Record<string, unknown> = {
      ...(message.payload.application_properties ?? {}),
      ...withoutNullish(properties ?? {}),
    };
    if (reason != null) applicationProperties.DeadLetterReason = reason;
    if (description != null) applicationProperties.DeadLetterErrorDescription = description;
    message.payload.application_properties = applicationProperties;
    this.subs.deadLetter.messages.push(message);
  }
}

export function messageIdText(id: unknown): string {
  if (typeof id === 'string') return id;
  if (Buffer.isBuffer(id)) return id.toString('hex');
  return String(id);
}

function epochMsOf(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  return undefined;
}

function mergeAnnotations(
  payload: Message,
  annotations: Record<string, unknown> | undefined,
): void {
  if (annotations === undefined) return;
  payload.message_annotations = {
    ...(payload.message_annotations ?? {}),
    ...withoutNullish(annotations),
  };
}

function withoutNullish(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v != null));
}

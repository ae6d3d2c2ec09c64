/**
 * Queues with peek-lock delivery (Service Bus semantics). A message that is abandoned or whose
 * lock expires is redelivered with `deliveryCount + 1`; once it reaches the queue's
 * `maxDeliveryCount` it moves to the dead-letter queue instead. Sends are deduplicated by
 * `messageId`, which callers derive from runId + stepId + attempt.
 */
export interface OutgoingMessage<T = unknown> {
  messageId: string;
  body: T;
  /** Not delivered before this instant (ISO 8601). */
  scheduledEnqueueTime?: string;
  correlationId?: string;
}

export interface ReceivedMessage<T = unknown> {
  messageId: string;
  body: T;
  correlationId?: string;
  deliveryCount: number;
  lockToken: string;
  /** ISO 8601 */
  enqueuedAt: string;
  /** Present on dead-lettered messages. */
  deadLetterReason?: string;
  deadLetterDescription?: string;
}

export interface ReceiveOptions {
  maxMessages?: number;
  /** How long to wait for the first message when the queue is empty. */
  maxWaitMs?: number;
}

export interface Bus {
  send(queue: string, messages: OutgoingMessage[]): Promise<void>;
  receive<T = unknown>(queue: string, options?: ReceiveOptions): Promise<ReceivedMessage<T>[]>;
  /** Removes the message for good. `precondition_failed` when the lock was lost. */
  complete(queue: string, message: ReceivedMessage): Promise<void>;
  /** Releases the lock so the message is delivered again (or dead-lettered at the limit). */
  abandon(queue: string, message: ReceivedMessage): Promise<void>;
  deadLetter(
    queue: string,
    message: ReceivedMessage,
    reason: string,
    description?: string,
  ): Promise<void>;
  /** Reads (and locks) messages of the queue's dead-letter sub-queue. */
  receiveDeadLetters<T = unknown>(
    queue: string,
    options?: ReceiveOptions,
  ): Promise<ReceivedMessage<T>[]>;
}

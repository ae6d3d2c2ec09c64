import type { Bus } from '../ports/bus.js';
import { functionsByTrigger, type RegisteredFunction } from './functionRegistry.js';
import {
  invocationContextFor,
  logFieldsOfMessage,
  resolveAppSetting,
  stringOption,
} from './invocation.js';
import type { Logger } from './logger.js';

/**
 * Delivers queue messages to Service Bus-triggered functions with the trigger's semantics:
 * the handler gets the body, completion on success, abandon on failure (so the bus redelivers).
 * The delivery that reaches the max delivery count and fails is dead-lettered here, with
 * `MaxDeliveryCountExceeded` and the handler's error message as its description (Service Bus
 * dead-letters it on that abandon with a generic description), so the dead letter says why.
 * A queue name ending in `/$DeadLetterQueue` (as Azure's trigger takes it) reads that queue's
 * dead letters, their reason in `triggerMetadata.applicationProperties` as in Azure.
 * Each pump locks one message at a time, so no message waits with its lock ticking behind
 * another one's handler; a few pumps per queue give concurrency, as the host's
 * maxConcurrentCalls does.
 */
export const deadLetterQueueSuffix = '/$DeadLetterQueue';
const pumpsPerQueue = 4;
export function startBusTriggers(options: {
  bus: Bus;
  logger: Logger;
  env: Record<string, string | undefined>;
  inputs: () => Record<string, unknown>;
}): () => Promise<void> {
  let stopped = false;
  const loops: Promise<void>[] = [];
  const maxDeliveryCount = maxDeliveryCountOf(options.env);
  for (const fn of functionsByTrigger('serviceBusTrigger')) {
    const queue = resolveAppSetting(stringOption(fn.trigger.queueName), options.env);
    for (let i = 0; i < pumpsPerQueue; i++) loops.push(pump(fn, queue));
    options.logger.info(`queue ${queue} -> ${fn.name}`);
  }

  async function pump(fn: RegisteredFunction, queue: string): Promise<void> {
    const deadLetters = queue.endsWith(deadLetterQueueSuffix);
    const source = deadLetters ? queue.slice(0, -deadLetterQueueSuffix.length) : queue;
    while (!stopped) {
      try {
        const receiveOptions = { maxMessages: 1, maxWaitMs: 250 };
        const messages = deadLetters
          ? await options.bus.receiveDeadLetters(source, receiveOptions)
          : await options.bus.receive(source, receiveOptions);
        for (const message of messages) {
          const logFields = logFieldsOfMessage(message.body);
          const context = invocationContextFor(fn, options.logger, {
            inputs: options.inputs(),
            logFields,
            triggerMetadata: {
              messageId: message.messageId,
              deliveryCount: message.deliveryCount,
              enqueuedTimeUtc: message.enqueuedAt,
              ...(message.correlationId ? { correlationId: message.correlationId } : {}),
              ...(message.deadLetterReason === undefined
                ? {}
                : {
                    applicationProperties: {
                      DeadLetterReason: message.deadLetterReason,
                      DeadLetterErrorDescription: message.deadLetterDescription ?? '',
                    },
                  }),
            },
          });
          try {
            await fn.handler(message.body, context);
            await options.bus.complete(source, message);
          } catch (error) {
            options.logger.warn(
              { function: fn.name, ...logFields, err: error },
              `message ${message.messageId} failed (delivery ${message.deliveryCount})`,
            );
            if (!deadLetters && message.deliveryCount >= maxDeliveryCount) {
              const settled = await options.bus
                .deadLetter(
                  source,
                  message,
                  'MaxDeliveryCountExceeded',
                  failureDescription(fn, message, error),
                )
                .then(() => true)
                .catch(() => false);
              if (settled) continue;
            }
            await options.bus.abandon(source, message).catch(() => undefined);
          }
        }
      } catch (error) {
        options.logger.error({ function: fn.name, err: error }, `receiving from ${queue} failed`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  return async () => {
    stopped = true;
    await Promise.all(loops);
  };
}

function maxDeliveryCountOf(env: Record<string, string | undefined>): number {
  const value = Number(env.BATON_BUS_MAX_DELIVERY_COUNT ?? 5);
  return Number.isInteger(value) && value > 0 ? value : 5;
}

/** What the dead letter says: which function failed how often, and its error's message only. */
function failureDescription(
  fn: RegisteredFunction,
  message: { deliveryCount: number },
  error: unknown,
): string {
  const text = error instanceof Error ? error.message : String(error);
  return `${fn.name} failed on each of ${message.deliveryCount} deliveries; last: ${text}`.slice(
    0,
    1000,
  );
}

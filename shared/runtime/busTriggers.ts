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
 * the handler gets the body, completion on success, abandon on failure (so the bus redelivers
 * and dead-letters at its max delivery count). Each pump locks one message at a time, so no
 * message waits with its lock ticking behind another one's handler; a few pumps per queue
 * give concurrency, as the host's maxConcurrentCalls does.
 */
const pumpsPerQueue = 4;
export function startBusTriggers(options: {
  bus: Bus;
  logger: Logger;
  env: Record<string, string | undefined>;
  inputs: () => Record<string, unknown>;
}): () => Promise<void> {
  let stopped = false;
  const loops: Promise<void>[] = [];
  for (const fn of functionsByTrigger('serviceBusTrigger')) {
    const queue = resolveAppSetting(stringOption(fn.trigger.queueName), options.env);
    for (let i = 0; i < pumpsPerQueue; i++) loops.push(pump(fn, queue));
    options.logger.info(`queue ${queue} -> ${fn.name}`);
  }

  async function pump(fn: RegisteredFunction, queue: string): Promise<void> {
    while (!stopped) {
      try {
        const messages = await options.bus.receive(queue, { maxMessages: 1, maxWaitMs: 250 });
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
            },
          });
          try {
            await fn.handler(message.body, context);
            await options.bus.complete(queue, message);
          } catch (error) {
            options.logger.warn(
              { function: fn.name, ...logFields, err: error },
              `message ${message.messageId} failed (delivery ${message.deliveryCount})`,
            );
            await options.bus.abandon(queue, message).catch(() => undefined);
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

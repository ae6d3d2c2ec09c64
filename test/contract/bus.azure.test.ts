import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { createServiceBusBus } from '../../shared/adapters/azure/serviceBusBus.js';
import { AmqpBroker } from '../servers/amqpBroker.js';
import { runBusContract } from './bus.contract.js';

/**
 * The Bus contract against ServiceBusQueues, the real @azure/service-bus SDK and the in-process
 * AMQP broker. Queue settings belong to the queue in Service Bus, so the factory creates each
 * test's queues on the broker with the settings the contract asks for (duplicate detection on,
 * as the fixture promises); the broker honours lock durations below Service Bus's 5 s minimum,
 * which keeps expiry tests fast.
 */
let broker: Promise<AmqpBroker> | undefined;
after(async () => {
  if (broker) await (await broker).stop();
});

runBusContract(
  'ServiceBusQueues (SDK + AMQP broker)',
  async ({ maxDeliveryCount, lockDurationMs }) => {
    broker ??= AmqpBroker.start();
    const server = await broker;
    const suffix = randomUUID().slice(0, 8);
    const queue = `work-${suffix}`;
    const otherQueue = `other-${suffix}`;
    for (const name of [queue, otherQueue]) {
      server.createQueue(name, {
        maxDeliveryCount,
        lockDurationMs,
        duplicateDetectionWindowMs: 10 * 60_000,
      });
    }
    // The production factory, with the connection string as its explicit fallback.
    const bus = createServiceBusBus({
      fullyQualifiedNamespace: server.host,
      connectionString: server.connectionString,
      clientOptions: { retryOptions: { maxRetries: 2, retryDelayInMs: 50, timeoutInMs: 10_000 } },
    });
    return {
      bus,
      queue,
      otherQueue,
      lockDurationMs,
      cleanup: async () => {
        await bus.close();
        server.deleteQueue(queue);
        server.deleteQueue(otherQueue);
      },
    };
  },
);

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceBusClient } from '@azure/service-bus';
import {
  ServiceBusQueues,
  createServiceBusBus,
} from '../../shared/adapters/azure/serviceBusBus.js';
import { isBatonError, type BatonError, type ErrorCode } from '../../shared/domain/errors.js';
import type { ReceivedMessage } from '../../shared/ports/bus.js';
import type { QueueSettings } from '../servers/amqp/queueStore.js';
import { AmqpBroker } from '../servers/amqpBroker.js';

/**
 * ServiceBusQueues specifics the shared Bus contract cannot see: batching, reconnection after a
 * dropped connection, lock loss, dead-letter metadata, scheduling and error translation, all
 * through the real SDK against the in-process AMQP broker.
 */
let broker: AmqpBroker;
const buses: ServiceBusQueues[] = [];

before(async () => {
  broker = await AmqpBroker.start();
});

after(async () => {
  await Promise.all(buses.map((bus) => bus.close()));
  await broker.stop();
});

/** A bus on its own client (own connection), closed after the file. */
function newBus(): ServiceBusQueues {
  const client = new ServiceBusClient(broker.connectionString, {
    retryOptions: { maxRetries: 2, retryDelayInMs: 50, timeoutInMs: 5_000 },
  });
  const bus = new ServiceBusQueues({ client, ownsClient: true });
  buses.push(bus);
  return bus;
}

function newQueue(settings: Partial<QueueSettings> = {}): string {
  const name = `unit-${randomUUID().slice(0, 8)}`;
  broker.createQueue(name, { lockDurationMs: 5_000, ...settings });
  return name;
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<BatonError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return isBatonError(error, code);
  });
  return caught as BatonError;
}

/** Receives (and completes) until `count` messages arrived or the deadline passed. */
async function drain(
  bus: ServiceBusQueues,
  queue: string,
  count: number,
  timeoutMs = 5_000,
): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    const batch = await bus.receive(queue, { maxMessages: 200, maxWaitMs: 200 });
    for (const message of batch) {
      await bus.complete(queue, message);
      out.push(message);
    }
  }
  return out;
}

describe('ServiceBusQueues over the SDK and the AMQP broker', () => {
  it('sends 500 messages as batches (split by the size limit) that arrive complete and in order', async () => {
    const bus = newBus();
    const queue = newQueue();
    const filler = 'x'.repeat(1_000);
    const messages = Array.from({ length: 500 }, (_, i) => ({
      messageId: `m${String(i).padStart(3, '0')}`,
      body: { i, filler },
    }));
    const before = { ...broker.stats };
    await bus.send(queue, messages);
    const transfers = broker.stats.transfersIn - before.transfersIn;
    assert.equal(broker.stats.messagesIn - before.messagesIn, 500);
    // ~1 KB each against a 256 KiB limit: more than one batch, far fewer than 500 sends.
    assert.ok(transfers >= 2 && transfers <= 5, `${transfers} transfers`);
    const received = await drain(bus, queue, 500);
    assert.deepEqual(
      received.map((m) => m.messageId),
      messages.map((m) => m.messageId),
    );
    assert.deepEqual(received[499]?.body, { i: 499, filler });
    assert.deepEqual(broker.snapshot(queue), {
      active: 0,
      locked: 0,
      scheduled: 0,
      deferred: 0,
      deadLettered: 0,
    });
  });

  it('a message larger than the size limit is a validation error naming it', async () => {
    const bus = newBus();
    const queue = newQueue();
    const error = await rejectsWith(
      bus.send(queue, [
        { messageId: 'small', body: 1 },
        { messageId: 'huge', body: 'y'.repeat(300 * 1024) },
      ]),
      'validation',
    );
    assert.equal(error.field, 'messages[1]');
  });

  it('a connection dropped while messages are on the wire loses none: they come back after their lock', async () => {
    const bus = newBus();
    const queue = newQueue({ lockDurationMs: 800 });
    const ids = Array.from({ length: 20 }, (_, i) => `m${i}`);
    await bus.send(
      queue,
      ids.map((messageId) => ({ messageId, body: messageId })),
    );
    const connectionsBefore = broker.stats.connections;
    broker.faults.cutConnectionOnDelivery(3);
    const completed = new Set<string>();
    let transientErrors = 0;
    let redelivered = 0;
    const deadline = Date.now() + 10_000;
    while (completed.size < ids.length && Date.now() < deadline) {
      let batch: ReceivedMessage[];
      try {
        batch = await bus.receive(queue, { maxMessages: 5, maxWaitMs: 300 });
      } catch (error) {
        assert.ok(isBatonError(error, 'unavailable'), String(error));
        transientErrors += 1;
        continue;
      }
      for (const message of batch) {
        if (message.deliveryCount > 1) redelivered += 1;
        await bus.complete(queue, message);
        assert.ok(!completed.has(message.messageId), `${message.messageId} completed twice`);
        completed.add(message.messageId);
      }
    }
    assert.deepEqual([...completed].sort(), [...ids].sort());
    assert.ok(broker.stats.connections > connectionsBefore, 'the SDK reconnected');
    assert.ok(redelivered >= 1, 'the messages lost on the wire were delivered again');
    assert.ok(transientErrors <= 3, `${transientErrors} unavailable errors`);
    assert.equal(broker.snapshot(queue)?.active, 0);
  });

  it('messages received before a dropped connection are settled afterwards (via $management)', async () => {
    const bus = newBus();
    const queue = newQueue();
    await bus.send(queue, [
      { messageId: 'a', body: 'a' },
      { messageId: 'b', body: 'b' },
      { messageId: 'c', body: 'c' },
    ]);
    const received = await bus.receive(queue, { maxMessages: 3, maxWaitMs: 1_000 });
    assert.equal(received.length, 3);
    const requestsBefore = broker.stats.managementRequests;
    broker.dropConnections();
    await sleep(50);
    const [a, b, c] = received;
    assert.ok(a && b && c);
    await bus.complete(queue, a);
    await bus.abandon(queue, b);
    await bus.deadLetter(queue, c, 'Poison', 'after reconnect');
    assert.ok(broker.stats.managementRequests >= requestsBefore + 3, 'settled over $management');
    const again = await bus.receive(queue, { maxWaitMs: 2_000 });
    assert.deepEqual(
      again.map((m) => [m.messageId, m.deliveryCount]),
      [['b', 2]],
    );
    const [dead] = await bus.receiveDeadLetters(queue, { maxWaitMs: 2_000 });
    assert.equal(dead?.messageId, 'c');
    assert.equal(dead?.deadLetterDescription, 'after reconnect');
  });

  it('a lost lock is precondition_failed for every settlement, and locks are never renewed behind the caller', async () => {
    const bus = newBus();
    const queue = newQueue({ lockDurationMs: 300 });
    await bus.send(queue, [{ messageId: 'slow', body: 1 }]);
    const renewalsBefore = broker.stats.renewLocks;
    const [message] = await bus.receive(queue, { maxWaitMs: 1_000 });
    assert.ok(message);
    await sleep(450);
    const error = await rejectsWith(bus.complete(queue, message), 'precondition_failed');
    assert.match(error.message, /MessageLockLost/);
    assert.equal(error.retryable, false);
    await rejectsWith(bus.abandon(queue, message), 'precondition_failed');
    await rejectsWith(bus.deadLetter(queue, message, 'Late'), 'precondition_failed');
    assert.equal(broker.stats.renewLocks, renewalsBefore, 'no lock renewal');
    const [again] = await bus.receive(queue, { maxWaitMs: 1_000 });
    assert.equal(again?.deliveryCount, 2);
  });

  it('a lock this bus does not hold is precondition_failed without a round trip', async () => {
    const bus = newBus();
    const other = newBus();
    const queue = newQueue();
    const otherQueue = newQueue();
    await bus.send(queue, [{ messageId: 'm', body: 1 }]);
    const [message] = await bus.receive(queue, { maxWaitMs: 1_000 });
    assert.ok(message);
    await rejectsWith(other.complete(queue, message), 'precondition_failed');
    await rejectsWith(bus.complete(otherQueue, message), 'precondition_failed');
    await rejectsWith(
      bus.complete(queue, { ...message, lockToken: randomUUID() }),
      'precondition_failed',
    );
    await bus.complete(queue, message);
  });

  it('dead-lettering keeps the reason and description (and leaves the description out when not given)', async () => {
    const bus = newBus();
    const queue = newQueue();
    await bus.send(queue, [
      { messageId: 'bad', body: { runId: 'r1' }, correlationId: 'r1' },
      { messageId: 'worse', body: 'w' },
    ]);
    const [bad, worse] = await bus.receive(queue, { maxMessages: 2, maxWaitMs: 1_000 });
    assert.ok(bad && worse);
    await bus.deadLetter(queue, bad, 'InvalidBody', 'missing step id: "3" – ünïcode');
    await bus.deadLetter(queue, worse, 'Poison');
    const dead = await bus.receiveDeadLetters(queue, { maxMessages: 2, maxWaitMs: 1_000 });
    assert.deepEqual(
      dead.map((m) => ({
        id: m.messageId,
        body: m.body,
        correlationId: m.correlationId,
        reason: m.deadLetterReason,
        description: m.deadLetterDescription,
      })),
      [
        {
          id: 'bad',
          body: { runId: 'r1' },
          correlationId: 'r1',
          reason: 'InvalidBody',
          description: 'missing step id: "3" – ünïcode',
        },
        {
          id: 'worse',
          body: 'w',
          correlationId: undefined,
          reason: 'Poison',
          description: undefined,
        },
      ],
    );
    const [first] = dead;
    assert.ok(first);
    await rejectsWith(bus.deadLetter(queue, first, 'Again'), 'validation');
    await bus.complete(queue, first);
  });

  it('a scheduled message is not delivered before its time, even next to an immediate one in the same batch', async () => {
    const bus = newBus();
    const queue = newQueue();
    const at = Date.now() + 800;
    await bus.send(queue, [
      { messageId: 'later', body: 'l', scheduledEnqueueTime: new Date(at).toISOString() },
      { messageId: 'now', body: 'n' },
    ]);
    const early = await bus.receive(queue, { maxMessages: 2, maxWaitMs: 400 });
    assert.deepEqual(
      early.map((m) => m.messageId),
      ['now'],
    );
    assert.equal(broker.snapshot(queue)?.scheduled, 1);
    const [later] = await bus.receive(queue, { maxWaitMs: 3_000 });
    assert.equal(later?.messageId, 'later');
    assert.ok(Date.now() >= at - 20, `delivered ${at - Date.now()} ms early`);
    assert.ok(Date.parse(later.enqueuedAt) >= at - 20, 'enqueued when it became due');
  });

  it('translates Service Bus failures: missing queue → not_found, refused token → forbidden, busy → unavailable', async () => {
    const bus = newBus();
    const missing = `missing-${randomUUID().slice(0, 8)}`;
    await rejectsWith(bus.send(missing, [{ messageId: 'm', body: 1 }]), 'not_found');
    await rejectsWith(bus.receive(missing, { maxWaitMs: 100 }), 'not_found');

    const queue = newQueue();
    broker.faults.rejectSends(1);
    await bus.send(queue, [{ messageId: 'retried', body: 1 }]);
    broker.faults.rejectSends(10);
    const busy = await rejectsWith(
      bus.send(queue, [{ messageId: 'busy', body: 1 }]),
      'unavailable',
    );
    assert.equal(busy.retryable, true);
    broker.faults.reset();
    assert.deepEqual(
      (await drain(bus, queue, 1)).map((m) => m.messageId),
      ['retried'],
    );

    const fresh = newBus();
    broker.faults.refuseTokens = true;
    try {
      await rejectsWith(fresh.send(queue, [{ messageId: 'denied', body: 1 }]), 'forbidden');
    } finally {
      broker.faults.refuseTokens = false;
    }
  });

  it('validates its inputs before touching the network', async () => {
    const bus = newBus();
    const queue = newQueue();
    const field = async (promise: Promise<unknown>): Promise<string | undefined> =>
      (await rejectsWith(promise, 'validation')).field;
    assert.equal(await field(bus.send('bad name!', [])), 'queue');
    assert.equal(
      await field(bus.send(queue, [{ messageId: '', body: 1 }])),
      'messages[0].messageId',
    );
    assert.equal(
      await field(bus.send(queue, [{ messageId: 'x'.repeat(129), body: 1 }])),
      'messages[0].messageId',
    );
    assert.equal(
      await field(bus.send(queue, [{ messageId: 'm', body: () => 1 }])),
      'messages[0].body',
    );
    assert.equal(
      await field(bus.send(queue, [{ messageId: 'm', body: 1, scheduledEnqueueTime: 'soon' }])),
      'messages[0].scheduledEnqueueTime',
    );
    assert.equal(await field(bus.receive(queue, { maxMessages: 0 })), 'maxMessages');
    assert.equal(await field(bus.receive(queue, { maxWaitMs: -1 })), 'maxWaitMs');
    await bus.send(queue, [{ messageId: 'm', body: 1 }]);
    const [message] = await bus.receive(queue, { maxWaitMs: 1_000 });
    assert.ok(message);
    assert.equal(await field(bus.deadLetter(queue, message, '')), 'reason');
    await bus.complete(queue, message);
    await bus.send(queue, []);
  });

  it('createServiceBusBus: connection string as the explicit fallback; errors never quote it', async () => {
    const queue = newQueue();
    const bus = createServiceBusBus({
      fullyQualifiedNamespace: broker.host,
      connectionString: broker.connectionString,
    });
    buses.push(bus);
    await bus.send(queue, [{ messageId: 'via-factory', body: { ok: true } }]);
    const [message] = await bus.receive(queue, { maxWaitMs: 1_000 });
    assert.deepEqual(message?.body, { ok: true });

    const secret = 'Endpoint=nonsense;SharedAccessKey=s3cr3t-key';
    assert.throws(
      () => createServiceBusBus({ fullyQualifiedNamespace: 'x', connectionString: secret }),
      (error) => isBatonError(error, 'validation') && !error.message.includes('s3cr3t'),
    );
  });

  it('close() closes the links and the client it owns; the bus then refuses work', async () => {
    const bus = newBus();
    const queue = newQueue();
    await bus.send(queue, [{ messageId: 'm', body: 1 }]);
    await bus.close();
    await bus.close();
    await rejectsWith(bus.send(queue, [{ messageId: 'n', body: 1 }]), 'internal');
  });
});

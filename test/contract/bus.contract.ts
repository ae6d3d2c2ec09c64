import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isBatonError } from '../../shared/domain/errors.js';
import type { ErrorCode } from '../../shared/domain/errors.js';
import type { Bus, ReceivedMessage } from '../../shared/ports/bus.js';

/** Queue settings a test needs; a cloud factory provisions queues with them. */
export interface BusContractOptions {
  maxDeliveryCount: number;
  lockDurationMs: number;
}

export interface BusFixture {
  bus: Bus;
  /** Two empty queues with duplicate detection on and the requested settings. */
  queue: string;
  otherQueue: string;
  /** The lock duration actually in force (Service Bus cannot go below 5 s), so tests wait long enough. */
  lockDurationMs: number;
  cleanup: () => Promise<void>;
}

export type BusFactory = (options: BusContractOptions) => Promise<BusFixture>;

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode): Promise<void> =>
  assert.rejects(promise, (err) => isBatonError(err, code));

/** Receives until `count` messages arrived or `timeoutMs` passed (a broker may hand out fewer per call). */
async function receiveCount(
  bus: Bus,
  queue: string,
  count: number,
  timeoutMs = 2_000,
): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    out.push(...(await bus.receive(queue, { maxMessages: count - out.length, maxWaitMs: 100 })));
  }
  return out;
}

async function receiveOne(bus: Bus, queue: string, timeoutMs = 2_000): Promise<ReceivedMessage> {
  const [message] = await receiveCount(bus, queue, 1, timeoutMs);
  assert.ok(message, `expected a message on ${queue}`);
  return message;
}

async function receiveDeadLetter(bus: Bus, queue: string): Promise<ReceivedMessage> {
  const [message] = await bus.receiveDeadLetters(queue, { maxWaitMs: 2_000 });
  assert.ok(message, `expected a dead-lettered message on ${queue}`);
  return message;
}

/** The Bus behaviour every adapter must show (files today, Azure Service Bus later). */
export function runBusContract(name: string, makeAdapter: BusFactory): void {
  const withBus = async (
    fn: (fixture: BusFixture) => Promise<void>,
    options: Partial<BusContractOptions> = {},
  ): Promise<void> => {
    const fixture = await makeAdapter({ maxDeliveryCount: 10, lockDurationMs: 10_000, ...options });
    try {
      await fn(fixture);
    } finally {
      await fixture.cleanup();
    }
  };
  /**
   * Locks are long unless a test is about expiry, so a slow machine cannot expire a lock behind
   * a test's back; expiry tests ask for a short one and wait it out with `pastLock`.
   */
  const shortLock = { lockDurationMs: 400 };
  /** Long enough for any lock taken now to have expired. */
  const pastLock = (fixture: BusFixture): Promise<void> => sleep(fixture.lockDurationMs + 150);

  describe(`Bus contract: ${name}`, () => {
    it('delivers what was sent: id, body, correlation id, first delivery count, lock token', () =>
      withBus(async ({ bus, queue }) => {
        const before = Date.now();
        const body = { runId: 'r1', nested: { list: [1, 'two', null], flag: true } };
        await bus.send(queue, [{ messageId: 'm1', body, correlationId: 'r1' }]);
        const message = await receiveOne(bus, queue);
        assert.equal(message.messageId, 'm1');
        assert.deepEqual(message.body, body);
        assert.equal(message.correlationId, 'r1');
        assert.equal(message.deliveryCount, 1);
        assert.equal(typeof message.lockToken, 'string');
        assert.notEqual(message.lockToken, '');
        assert.equal(message.deadLetterReason, undefined);
        const enqueuedAt = Date.parse(message.enqueuedAt);
        assert.ok(
          enqueuedAt >= before - 2_000 && enqueuedAt <= Date.now() + 2_000,
          message.enqueuedAt,
        );
      }));

    it('an empty queue returns nothing, after waiting up to maxWaitMs', () =>
      withBus(async ({ bus, queue }) => {
        assert.deepEqual(await bus.receive(queue, { maxWaitMs: 0 }), []);
        const started = Date.now();
        assert.deepEqual(await bus.receive(queue, { maxWaitMs: 300 }), []);
        assert.ok(Date.now() - started >= 250, 'waited for a message');
      }));

    it('a waiting receive returns a message sent while it waits', () =>
      withBus(async ({ bus, queue }) => {
        const started = Date.now();
        const pending = bus.receive(queue, { maxWaitMs: 3_000 });
        await sleep(100);
        await bus.send(queue, [{ messageId: 'late', body: 1 }]);
        const received = await pending;
        assert.deepEqual(
          received.map((m) => m.messageId),
          ['late'],
        );
        assert.ok(Date.now() - started < 2_500, 'returned as soon as the message arrived');
      }));

    it('delivers in FIFO order across sends', () =>
      withBus(async ({ bus, queue }) => {
        await bus.send(
          queue,
          ['m1', 'm2', 'm3', 'm4', 'm5'].map((messageId) => ({ messageId, body: messageId })),
        );
        await bus.send(queue, [{ messageId: 'm6', body: 'm6' }]);
        await bus.send(queue, [{ messageId: 'm0', body: 'm0' }]);
        const received = await receiveCount(bus, queue, 7);
        assert.deepEqual(
          received.map((m) => m.messageId),
          ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm0'],
        );
      }));

    it('never returns more than maxMessages', () =>
      withBus(async ({ bus, queue }) => {
        await bus.send(
          queue,
          Array.from({ length: 5 }, (_, i) => ({ messageId: `m${i}`, body: i })),
        );
        await sleep(50);
        const batch = await bus.receive(queue, { maxMessages: 2, maxWaitMs: 1_000 });
        assert.ok(batch.length >= 1 && batch.length <= 2, `got ${batch.length}`);
        const rest = await receiveCount(bus, queue, 5 - batch.length);
        assert.equal(new Set([...batch, ...rest].map((m) => m.messageId)).size, 5);
      }));

    it('a locked message is not delivered again while its lock holds', () =>
      withBus(async ({ bus, queue }) => {
        await bus.send(queue, [{ messageId: 'only', body: null }]);
        await receiveOne(bus, queue);
        assert.deepEqual(await bus.receive(queue, { maxWaitMs: 100 }), []);
      }));

    it('complete removes the message for good; completing again is precondition_failed', () =>
      withBus(async (fixture) => {
        const { bus, queue } = fixture;
        await bus.send(queue, [{ messageId: 'm1', body: 1 }]);
        const message = await receiveOne(bus, queue);
        await bus.complete(queue, message);
        await rejectsWith(bus.complete(queue, message), 'precondition_failed');
        await pastLock(fixture);
        assert.deepEqual(await bus.receive(queue, { maxWaitMs: 100 }), []);
        assert.deepEqual(await bus.receiveDeadLetters(queue, { maxWaitMs: 0 }), []);
      }, shortLock));

    it('abandon makes the message available again with deliveryCount + 1 and a new lock', () =>
      withBus(async ({ bus, queue }) => {
        await bus.send(queue, [{ messageId: 'm1', body: { v: 1 } }]);
        const first = await receiveOne(bus, queue);
        await bus.abandon(queue, first);
        const second = await receiveOne(bus, queue);
        assert.equal(second.messageId, 'm1');
        assert.deepEqual(second.body, { v: 1 });
        assert.equal(second.deliveryCount, 2);
        assert.notEqual(second.lockToken, first.lockToken);
        await rejectsWith(bus.complete(queue, first), 'precondition_failed');
        await bus.complete(queue, second);
      }));

    it('an expired lock makes the message available again; the old lock is lost', () =>
      withBus(async (fixture) => {
        const { bus, queue } = fixture;
        await bus.send(queue, [{ messageId: 'm1', body: 'x' }]);
        const first = await receiveOne(bus, queue);
        await pastLock(fixture);
        const second = await receiveOne(bus, queue);
        assert.equal(second.messageId, 'm1');
        assert.equal(second.deliveryCount, 2);
        await rejectsWith(bus.complete(queue, first), 'precondition_failed');
        await bus.complete(queue, second);
        await rejectsWith(bus.abandon(queue, first), 'precondition_failed');
        await rejectsWith(bus.deadLetter(queue, first, 'Poison'), 'precondition_failed');
        assert.deepEqual(await bus.receive(queue, { maxWaitMs: 100 }), []);
      }, shortLock));

    it('settling after the lock expired is precondition_failed even if nobody took the message', () =>
      withBus(async (fixture) => {
        const { bus, queue } = fixture;
        await bus.send(queue, [{ messageId: 'm1', body: 'x' }]);
        const message = await receiveOne(bus, queue);
        await pastLock(fixture);
        await rejectsWith(bus.complete(queue, message), 'precondition_failed');
        const again = await receiveOne(bus, queue);
        assert.equal(again.deliveryCount, 2);
      }, shortLock));

    it('after maxDeliveryCount abandons the message moves to the DLQ with MaxDeliveryCountExceeded', () =>
      withBus(
        async ({ bus, queue }) => {
          await bus.send(queue, [{ messageId: 'poison', body: { p: 1 }, correlationId: 'c1' }]);
          for (let delivery = 1; delivery <= 3; delivery++) {
            const message = await receiveOne(bus, queue);
            assert.equal(message.deliveryCount, delivery);
            await bus.abandon(queue, message);
          }
          assert.deepEqual(await bus.receive(queue, { maxWaitMs: 200 }), []);
          const dead = await receiveDeadLetter(bus, queue);
          assert.equal(dead.messageId, 'poison');
          assert.deepEqual(dead.body, { p: 1 });
          assert.equal(dead.correlationId, 'c1');
          assert.equal(dead.deadLetterReason, 'MaxDeliveryCountExceeded');
          await bus.complete(queue, dead);
          assert.deepEqual(await bus.receiveDeadLetters(queue, { maxWaitMs: 100 }), []);
        },
        { maxDeliveryCount: 3 },
      ));

    it('expired locks count as deliveries towards maxDeliveryCount', () =>
      withBus(
        async (fixture) => {
          const { bus, queue } = fixture;
          await bus.send(queue, [{ messageId: 'slow', body: 0 }]);
          assert.equal((await receiveOne(bus, queue)).deliveryCount, 1);
          await pastLock(fixture);
          assert.equal((await receiveOne(bus, queue)).deliveryCount, 2);
          await pastLock(fixture);
          assert.deepEqual(await bus.receive(queue, { maxWaitMs: 200 }), []);
          assert.equal(
            (await receiveDeadLetter(bus, queue)).deadLetterReason,
            'MaxDeliveryCountExceeded',
          );
        },
        { maxDeliveryCount: 2, ...shortLock },
      ));

    it('deadLetter moves the message to the DLQ with the given reason and description', () =>
      withBus(async ({ bus, queue }) => {
        await bus.send(queue, [
          { messageId: 'bad', body: 'b' },
          { messageId: 'good', body: 'g' },
        ]);
        const bad = await receiveOne(bus, queue);
        assert.equal(bad.messageId, 'bad');
        await bus.deadLetter(queue, bad, 'InvalidBody', 'missing runId');
        await rejectsWith(bus.complete(queue, bad), 'precondition_failed');
        const next = await receiveOne(bus, queue);
        assert.equal(next.messageId, 'good');
        const dead = await receiveDeadLetter(bus, queue);
        assert.equal(dead.messageId, 'bad');
        assert.equal(dead.body, 'b');
        assert.equal(dead.deadLetterReason, 'InvalidBody');
        assert.equal(dead.deadLetterDescription, 'missing runId');
      }));

    it('dead letters are peek-locked too: abandoned ones come back, completed ones are gone', () =>
      withBus(async ({ bus, queue }) => {
        await bus.send(queue, [{ messageId: 'bad', body: 'b' }]);
        await bus.deadLetter(queue, await receiveOne(bus, queue), 'Why');
        const first = await receiveDeadLetter(bus, queue);
        assert.deepEqual(await bus.receiveDeadLetters(queue, { maxWaitMs: 100 }), [], 'locked');
        await bus.abandon(queue, first);
        const again = await receiveDeadLetter(bus, queue);
        assert.equal(again.messageId, 'bad');
        assert.equal(again.deadLetterReason, 'Why');
        await bus.complete(queue, again);
        assert.deepEqual(await bus.receiveDeadLetters(queue, { maxWaitMs: 100 }), []);
        assert.deepEqual(await bus.receive(queue, { maxWaitMs: 100 }), []);
      }));

    it('deduplicates sends by messageId, within a batch, across sends and after completion', () =>
      withBus(async ({ bus, queue }) => {
        await bus.send(queue, [
          { messageId: 'dup', body: 'first' },
          { messageId: 'dup', body: 'second' },
        ]);
        await bus.send(queue, [
          { messageId: 'dup', body: 'third' },
          { messageId: 'other', body: 'o' },
        ]);
        const received = await receiveCount(bus, queue, 3, 600);
        assert.deepEqual(
          received.map((m) => [m.messageId, m.body]),
          [
            ['dup', 'first'],
            ['other', 'o'],
          ],
        );
        for (const message of received) await bus.complete(queue, message);
        await bus.send(queue, [{ messageId: 'dup', body: 'replayed' }]);
        assert.deepEqual(await bus.receive(queue, { maxWaitMs: 300 }), []);
      }));

    it('does not deliver a scheduled message before its time, and delivers it after', () =>
      withBus(async ({ bus, queue }) => {
        const at = Date.now() + 700;
        await bus.send(queue, [
          { messageId: 'later', body: 'l', scheduledEnqueueTime: new Date(at).toISOString() },
        ]);
        await bus.send(queue, [{ messageId: 'now', body: 'n' }]);
        const first = await receiveOne(bus, queue);
        assert.equal(first.messageId, 'now');
        await bus.complete(queue, first);
        assert.deepEqual(await bus.receive(queue, { maxWaitMs: 200 }), []);
        const later = await receiveOne(bus, queue, 3_000);
        assert.equal(later.messageId, 'later');
        assert.ok(Date.now() >= at - 50, `delivered ${at - Date.now()} ms early`);
      }));

    it('queues are isolated from each other', () =>
      withBus(async ({ bus, queue, otherQueue }) => {
        await bus.send(queue, [{ messageId: 'm1', body: 'for queue' }]);
        await bus.send(otherQueue, [{ messageId: 'm1', body: 'for other' }]);
        assert.equal((await receiveOne(bus, otherQueue)).body, 'for other');
        assert.equal((await receiveOne(bus, queue)).body, 'for queue');
        assert.deepEqual(await bus.receive(otherQueue, { maxWaitMs: 100 }), []);
      }));

    it('concurrent receivers never get the same message', () =>
      withBus(async ({ bus, queue }) => {
        const ids = Array.from({ length: 30 }, (_, i) => `m${i}`);
        await bus.send(
          queue,
          ids.map((messageId) => ({ messageId, body: messageId })),
        );
        const receiver = async (): Promise<string[]> => {
          const got: string[] = [];
          for (;;) {
            const batch = await bus.receive(queue, { maxMessages: 3, maxWaitMs: 200 });
            if (batch.length === 0) return got;
            for (const message of batch) {
              got.push(message.messageId);
              await bus.complete(queue, message);
            }
          }
        };
        const all = (await Promise.all(Array.from({ length: 8 }, receiver))).flat();
        assert.equal(all.length, ids.length, 'each message delivered once');
        assert.deepEqual([...all].sort(), [...ids].sort());
      }));
  });
}

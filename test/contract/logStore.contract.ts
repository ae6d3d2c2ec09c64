import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBatonError } from '../../shared/domain/errors.js';
import type { ErrorCode } from '../../shared/domain/errors.js';
import type { LogLine, LogStore } from '../../shared/ports/logStore.js';

export interface LogStoreFixture {
  logs: LogStore;
  cleanup: () => Promise<void>;
}

/** Every call must yield an empty, isolated log store. */
export type LogStoreFactory = () => Promise<LogStoreFixture>;

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode): Promise<void> =>
  assert.rejects(promise, (err) => isBatonError(err, code));

const line = (message: string, level: LogLine['level'] = 'info'): LogLine => ({
  at: '2024-05-01T12:00:00.000Z',
  level,
  message,
});

/** The LogStore behaviour every adapter must show (files today, append blobs later). */
export function runLogStoreContract(name: string, makeAdapter: LogStoreFactory): void {
  const withLogs = async (fn: (logs: LogStore) => Promise<void>): Promise<void> => {
    const fixture = await makeAdapter();
    try {
      await fn(fixture.logs);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`LogStore contract: ${name}`, () => {
    it('reads back appended lines of a step in order, tagged with the step', () =>
      withLogs(async (logs) => {
        await logs.append('r1', 'fit', [line('starting', 'debug'), line('epoch 1')]);
        await logs.append('r1', 'fit', [
          line('careful', 'warn'),
          line('boom\nwith "quotes"', 'error'),
        ]);
        assert.deepEqual(await logs.read('r1', { step: 'fit' }), [
          { ...line('starting', 'debug'), step: 'fit' },
          { ...line('epoch 1'), step: 'fit' },
          { ...line('careful', 'warn'), step: 'fit' },
          { ...line('boom\nwith "quotes"', 'error'), step: 'fit' },
        ]);
      }));

    it('without a step, reads every step in steps() order; steps() lists each step once, sorted', () =>
      withLogs(async (logs) => {
        await logs.append('r1', 'train', [line('t1')]);
        await logs.append('r1', 'prepare', [line('p1'), line('p2')]);
        await logs.append('r1', 'train', [line('t2')]);
        assert.deepEqual(await logs.steps('r1'), ['prepare', 'train']);
        assert.deepEqual(
          (await logs.read('r1')).map((l) => `${l.step}:${l.message}`),
          ['prepare:p1', 'prepare:p2', 'train:t1', 'train:t2'],
        );
      }));

    it('tail returns only the last lines', () =>
      withLogs(async (logs) => {
        await logs.append('r1', 'a', [line('a1'), line('a2')]);
        await logs.append('r1', 'b', [line('b1'), line('b2'), line('b3')]);
        const messages = async (options: { step?: string; tail?: number }): Promise<string[]> =>
          (await logs.read('r1', options)).map((l) => l.message);
        assert.deepEqual(await messages({ step: 'b', tail: 2 }), ['b2', 'b3']);
        assert.deepEqual(await messages({ step: 'a', tail: 10 }), ['a1', 'a2']);
        assert.deepEqual(await messages({ tail: 3 }), ['b1', 'b2', 'b3']);
        assert.deepEqual(await messages({ tail: 4 }), ['a2', 'b1', 'b2', 'b3']);
        assert.deepEqual(await messages({ step: 'b', tail: 0 }), []);
      }));

    it('an unknown run or step has no lines and no steps', () =>
      withLogs(async (logs) => {
        assert.deepEqual(await logs.steps('nobody'), []);
        assert.deepEqual(await logs.read('nobody'), []);
        await logs.append('r1', 'fit', [line('x')]);
        assert.deepEqual(await logs.read('r1', { step: 'other' }), []);
      }));

    it('runs are isolated from each other', () =>
      withLogs(async (logs) => {
        await logs.append('r1', 'fit', [line('of r1')]);
        await logs.append('r2', 'fit', [line('of r2')]);
        assert.deepEqual(
          (await logs.read('r2')).map((l) => l.message),
          ['of r2'],
        );
      }));

    it('appending no lines is allowed and adds nothing', () =>
      withLogs(async (logs) => {
        await logs.append('r1', 'fit', [line('one')]);
        await logs.append('r1', 'fit', []);
        assert.equal((await logs.read('r1', { step: 'fit' })).length, 1);
      }));

    it("concurrent appends keep each call's lines together and lose none", () =>
      withLogs(async (logs) => {
        const calls = Array.from({ length: 20 }, (_, call) =>
          Array.from({ length: 5 }, (_, i) => line(`${call}:${i}:${'x'.repeat(200)}`)),
        );
        await Promise.all(calls.map((lines) => logs.append('r1', 'busy', lines)));
        const read = (await logs.read('r1', { step: 'busy' })).map((l) => l.message.split(':'));
        assert.equal(read.length, 100);
        for (let start = 0; start < read.length; start += 5) {
          const block = read.slice(start, start + 5);
          assert.deepEqual(
            block.map((parts) => parts[1]),
            ['0', '1', '2', '3', '4'],
            'lines of one call are contiguous and ordered',
          );
          assert.equal(new Set(block.map((parts) => parts[0])).size, 1);
        }
      }));

    it('run ids and step names that could escape their folder are validation errors', () =>
      withLogs(async (logs) => {
        for (const bad of ['', '..', '../x', 'a/b', 'a\\b', '/abs', 'a\0b']) {
          await rejectsWith(logs.append(bad, 'fit', [line('x')]), 'validation');
          await rejectsWith(logs.append('r1', bad, [line('x')]), 'validation');
          await rejectsWith(logs.read(bad), 'validation');
          await rejectsWith(logs.read('r1', { step: bad }), 'validation');
          await rejectsWith(logs.steps(bad), 'validation');
        }
        assert.deepEqual(await logs.steps('r1'), []);
      }));

    it('malformed lines are validation errors and nothing of the call is written', () =>
      withLogs(async (logs) => {
        const bad = {
          at: '2024-05-01T12:00:00.000Z',
          level: 'loud',
          message: 'x',
        } as unknown as LogLine;
        await rejectsWith(logs.append('r1', 'fit', [line('fine'), bad]), 'validation');
        assert.deepEqual(await logs.read('r1', { step: 'fit' }), []);
      }));
  });
}

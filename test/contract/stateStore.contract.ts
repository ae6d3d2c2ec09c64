import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBatonError } from '../../shared/domain/errors.js';
import type { ErrorCode } from '../../shared/domain/errors.js';
import type { StateStore, StoredDocument } from '../../shared/ports/stateStore.js';

export interface StateStoreFixture {
  store: StateStore;
  cleanup: () => Promise<void>;
}

/**
 * Every call must yield an empty, isolated store in which the collections `runs` and `jobs`
 * can be used (a cloud factory may provision containers or a fresh database per call).
 */
export type StateStoreFactory = () => Promise<StateStoreFixture>;

interface Run {
  status: string;
  n: number;
  owner?: { name: string };
}

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode): Promise<void> =>
  assert.rejects(promise, (err) => isBatonError(err, code));

/** The StateStore behaviour every adapter must show (local files today, Cosmos DB later). */
export function runStateStoreContract(name: string, makeAdapter: StateStoreFactory): void {
  const withStore = async (fn: (store: StateStore) => Promise<void>): Promise<void> => {
    const fixture = await makeAdapter();
    try {
      await fn(fixture.store);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`StateStore contract: ${name}`, () => {
    it('create returns the stored document with an etag, and read returns the same', () =>
      withStore(async (store) => {
        const created = await store.create<Run>('runs', {
          id: 'r1',
          pk: 'p1',
          body: { status: 'new', n: 1 },
        });
        assert.equal(created.id, 'r1');
        assert.equal(created.pk, 'p1');
        assert.deepEqual(created.body, { status: 'new', n: 1 });
        assert.equal(typeof created.etag, 'string');
        assert.notEqual(created.etag, '');
        assert.deepEqual(await store.read('runs', 'p1', 'r1'), created);
      }));

    it('read returns undefined for a missing document, partition or collection', () =>
      withStore(async (store) => {
        await store.create('runs', { id: 'r1', pk: 'p1', body: {} });
        assert.equal(await store.read('runs', 'p1', 'nope'), undefined);
        assert.equal(await store.read('runs', 'other', 'r1'), undefined);
        assert.equal(await store.read('jobs', 'p1', 'r1'), undefined);
      }));

    it('create of an existing id in the same partition fails with conflict and keeps the original', () =>
      withStore(async (store) => {
        const first = await store.create('runs', { id: 'r1', pk: 'p1', body: { v: 1 } });
        await rejectsWith(store.create('runs', { id: 'r1', pk: 'p1', body: { v: 2 } }), 'conflict');
        assert.deepEqual(await store.read('runs', 'p1', 'r1'), first);
      }));

    it('the same id may exist in another partition and in another collection', () =>
      withStore(async (store) => {
        await store.create('runs', { id: 'r1', pk: 'p1', body: { where: 'p1' } });
        await store.create('runs', { id: 'r1', pk: 'p2', body: { where: 'p2' } });
        await store.create('jobs', { id: 'r1', pk: 'p1', body: { where: 'jobs' } });
        assert.deepEqual((await store.read('runs', 'p2', 'r1'))?.body, { where: 'p2' });
        assert.deepEqual((await store.read('jobs', 'p1', 'r1'))?.body, { where: 'jobs' });
        assert.deepEqual((await store.read('runs', 'p1', 'r1'))?.body, { where: 'p1' });
      }));

    it('ids are case-sensitive and may hold dots, spaces and non-ASCII characters', () =>
      withStore(async (store) => {
        const ids = ['Run-1', 'run-1', 'a.b.c', 'with space', 'é✓', 'x_y=z'];
        for (const id of ids) await store.create('runs', { id, pk: 'P', body: { id } });
        for (const id of ids) assert.deepEqual((await store.read('runs', 'P', id))?.body, { id });
        assert.equal((await store.query('runs', { pk: 'P' })).length, ids.length);
      }));

    it('replace with the current etag stores the body under a new etag', () =>
      withStore(async (store) => {
        const created = await store.create<Run>('runs', {
          id: 'r1',
          pk: 'p1',
          body: { status: 'new', n: 1 },
        });
        const replaced = await store.replace<Run>(
          'runs',
          { id: 'r1', pk: 'p1', body: { status: 'done', n: 2 } },
          created.etag,
        );
        assert.notEqual(replaced.etag, created.etag);
        assert.deepEqual(replaced.body, { status: 'done', n: 2 });
        assert.deepEqual(await store.read('runs', 'p1', 'r1'), replaced);
      }));

    it('replace with a stale etag fails with precondition_failed and changes nothing', () =>
      withStore(async (store) => {
        const created = await store.create('runs', { id: 'r1', pk: 'p1', body: { v: 1 } });
        const second = await store.replace(
          'runs',
          { id: 'r1', pk: 'p1', body: { v: 2 } },
          created.etag,
        );
        await rejectsWith(
          store.replace('runs', { id: 'r1', pk: 'p1', body: { v: 3 } }, created.etag),
          'precondition_failed',
        );
        assert.deepEqual(await store.read('runs', 'p1', 'r1'), second);
      }));

    it('replace of a missing document fails with not_found and creates nothing', () =>
      withStore(async (store) => {
        await rejectsWith(
          store.replace('runs', { id: 'ghost', pk: 'p1', body: {} }, 'any-etag'),
          'not_found',
        );
        assert.equal(await store.read('runs', 'p1', 'ghost'), undefined);
      }));

    it('upsert creates, then overwrites regardless of etag, each time with a new etag', () =>
      withStore(async (store) => {
        const first = await store.upsert('runs', { id: 'r1', pk: 'p1', body: { v: 1 } });
        assert.deepEqual((await store.read('runs', 'p1', 'r1'))?.body, { v: 1 });
        const second = await store.upsert('runs', { id: 'r1', pk: 'p1', body: { v: 2 } });
        assert.notEqual(second.etag, first.etag);
        assert.deepEqual(await store.read('runs', 'p1', 'r1'), second);
        await rejectsWith(
          store.replace('runs', { id: 'r1', pk: 'p1', body: {} }, first.etag),
          'precondition_failed',
        );
      }));

    it('delete removes the document; deleting again fails with not_found', () =>
      withStore(async (store) => {
        await store.create('runs', { id: 'r1', pk: 'p1', body: {} });
        await store.delete('runs', 'p1', 'r1');
        assert.equal(await store.read('runs', 'p1', 'r1'), undefined);
        await rejectsWith(store.delete('runs', 'p1', 'r1'), 'not_found');
        await store.create('runs', { id: 'r1', pk: 'p1', body: { again: true } });
        assert.deepEqual((await store.read('runs', 'p1', 'r1'))?.body, { again: true });
      }));

    it('delete with a stale ifMatch fails with precondition_failed; with the current one it succeeds', () =>
      withStore(async (store) => {
        const first = await store.create('runs', { id: 'r1', pk: 'p1', body: { v: 1 } });
        const second = await store.upsert('runs', { id: 'r1', pk: 'p1', body: { v: 2 } });
        await rejectsWith(store.delete('runs', 'p1', 'r1', first.etag), 'precondition_failed');
        assert.deepEqual(await store.read('runs', 'p1', 'r1'), second);
        await store.delete('runs', 'p1', 'r1', second.etag);
        assert.equal(await store.read('runs', 'p1', 'r1'), undefined);
      }));

    it('returned documents are copies: mutating them does not change the store', () =>
      withStore(async (store) => {
        const body = { status: 'new', n: 1, owner: { name: 'ada' } };
        const created = await store.create<Run>('runs', { id: 'r1', pk: 'p1', body });
        body.owner.name = 'mutated-input';
        created.body.n = 99;
        const read = await store.read<Run>('runs', 'p1', 'r1');
        assert.deepEqual(read?.body, { status: 'new', n: 1, owner: { name: 'ada' } });
      }));

    it('empty collection, pk or id is a validation error', () =>
      withStore(async (store) => {
        await rejectsWith(store.create('', { id: 'r1', pk: 'p1', body: {} }), 'validation');
        await rejectsWith(store.create('runs', { id: '', pk: 'p1', body: {} }), 'validation');
        await rejectsWith(store.create('runs', { id: 'r1', pk: '', body: {} }), 'validation');
        await rejectsWith(store.read('runs', 'p1', ''), 'validation');
      }));

    describe('query', () => {
      const seed = async (store: StateStore): Promise<void> => {
        const rows: Array<[string, string, Run]> = [
          ['a', 'p1', { status: 'running', n: 3, owner: { name: 'ada' } }],
          ['b', 'p1', { status: 'done', n: 1, owner: { name: 'bob' } }],
          ['c', 'p2', { status: 'running', n: 2, owner: { name: 'ada' } }],
          ['d', 'p2', { status: 'failed', n: 5 }],
          ['e', 'p3', { status: 'done', n: 4, owner: { name: 'cy' } }],
        ];
        for (const [id, pk, body] of rows) await store.create('runs', { id, pk, body });
        await store.create('jobs', { id: 'x', pk: 'p1', body: { status: 'running', n: 0 } });
      };
      const ids = (docs: StoredDocument<unknown>[]): string[] => docs.map((d) => d.id);
      const sortedIds = (docs: StoredDocument<unknown>[]): string[] => ids(docs).sort();

      it('without arguments returns every document of the collection only', () =>
        withStore(async (store) => {
          await seed(store);
          assert.deepEqual(sortedIds(await store.query('runs')), ['a', 'b', 'c', 'd', 'e']);
          assert.deepEqual(ids(await store.query('jobs')), ['x']);
          assert.deepEqual(await store.query('unused'), []);
        }));

      it('filters by partition', () =>
        withStore(async (store) => {
          await seed(store);
          assert.deepEqual(sortedIds(await store.query('runs', { pk: 'p2' })), ['c', 'd']);
          assert.deepEqual(await store.query('runs', { pk: 'nobody' }), []);
        }));

      it('filters by equality, on dotted paths, and by a list of values (IN)', () =>
        withStore(async (store) => {
          await seed(store);
          assert.deepEqual(sortedIds(await store.query('runs', { where: { status: 'running' } })), [
            'a',
            'c',
          ]);
          assert.deepEqual(
            sortedIds(await store.query('runs', { where: { 'owner.name': 'ada' } })),
            ['a', 'c'],
          );
          assert.deepEqual(
            sortedIds(await store.query('runs', { where: { status: ['done', 'failed'] } })),
            ['b', 'd', 'e'],
          );
          assert.deepEqual(
            sortedIds(await store.query('runs', { where: { status: 'done', n: 4 } })),
            ['e'],
          );
          assert.deepEqual(
            sortedIds(await store.query('runs', { pk: 'p1', where: { status: 'running' } })),
            ['a'],
          );
          assert.deepEqual(
            await store.query('runs', { where: { n: '3' } }),
            [],
            'no type coercion',
          );
        }));

      it('orders by a field ascending and descending, and limits', () =>
        withStore(async (store) => {
          await seed(store);
          const asc = await store.query('runs', { orderBy: { field: 'n', direction: 'asc' } });
          assert.deepEqual(ids(asc), ['b', 'c', 'a', 'e', 'd']);
          const desc = await store.query('runs', {
            orderBy: { field: 'n', direction: 'desc' },
            limit: 2,
          });
          assert.deepEqual(ids(desc), ['d', 'e']);
          const byOwner = await store.query<Run>('runs', {
            orderBy: { field: 'owner.name', direction: 'desc' },
            limit: 1,
          });
          assert.deepEqual(ids(byOwner), ['e'], 'dotted orderBy');
          const filtered = await store.query('runs', {
            where: { status: 'done' },
            orderBy: { field: 'n', direction: 'desc' },
          });
          assert.deepEqual(ids(filtered), ['e', 'b']);
          assert.deepEqual(await store.query('runs', { limit: 0 }), []);
        }));

      it('returns full documents whose etags work for replace', () =>
        withStore(async (store) => {
          await seed(store);
          const [doc] = await store.query<Run>('runs', { where: { status: 'failed' } });
          assert.ok(doc);
          assert.deepEqual(doc, await store.read('runs', 'p2', 'd'));
          await store.replace(
            'runs',
            { id: doc.id, pk: doc.pk, body: { ...doc.body, status: 'retrying' } },
            doc.etag,
          );
          assert.deepEqual(ids(await store.query('runs', { where: { status: 'retrying' } })), [
            'd',
          ]);
        }));
    });

    describe('concurrency', () => {
      it('20 concurrent replaces with the same etag: exactly one wins, the rest get precondition_failed', () =>
        withStore(async (store) => {
          const created = await store.create('runs', { id: 'r1', pk: 'p1', body: { writer: -1 } });
          const results = await Promise.allSettled(
            Array.from({ length: 20 }, (_, writer) =>
              store.replace('runs', { id: 'r1', pk: 'p1', body: { writer } }, created.etag),
            ),
          );
          const winners = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
          const losers = results.flatMap((r) =>
            r.status === 'rejected' ? [r.reason as unknown] : [],
          );
          assert.equal(winners.length, 1);
          assert.equal(losers.length, 19);
          for (const err of losers)
            assert.ok(isBatonError(err, 'precondition_failed'), String(err));
          assert.deepEqual(await store.read('runs', 'p1', 'r1'), winners[0]);
        }));

      it('20 concurrent creates of one id: exactly one wins, the rest get conflict', () =>
        withStore(async (store) => {
          const results = await Promise.allSettled(
            Array.from({ length: 20 }, (_, writer) =>
              store.create('runs', { id: 'r1', pk: 'p1', body: { writer } }),
            ),
          );
          const winners = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
          const losers = results.flatMap((r) =>
            r.status === 'rejected' ? [r.reason as unknown] : [],
          );
          assert.equal(winners.length, 1);
          for (const err of losers) assert.ok(isBatonError(err, 'conflict'), String(err));
          assert.deepEqual(await store.read('runs', 'p1', 'r1'), winners[0]);
        }));

      it('a read-modify-write loop with etags loses no increment under contention', () =>
        withStore(async (store) => {
          await store.create('runs', { id: 'counter', pk: 'p1', body: { n: 0 } });
          const increment = async (): Promise<void> => {
            for (;;) {
              const doc = await store.read<{ n: number }>('runs', 'p1', 'counter');
              assert.ok(doc);
              try {
                await store.replace(
                  'runs',
                  { id: 'counter', pk: 'p1', body: { n: doc.body.n + 1 } },
                  doc.etag,
                );
                return;
              } catch (err) {
                if (!isBatonError(err, 'precondition_failed')) throw err;
              }
            }
          };
          await Promise.all(Array.from({ length: 10 }, increment));
          assert.deepEqual((await store.read('runs', 'p1', 'counter'))?.body, { n: 10 });
        }));
    });
  });
}

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CosmosClient } from '@azure/cosmos';
import {
  CosmosStateStore,
  ensureCosmosContainers,
} from '../../shared/adapters/azure/cosmosStateStore.js';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import {
  recordSlotSample,
  slotHistory,
  slotHistoryCollection,
} from '../../shared/app/slotHistory.js';
import { updateJob } from '../../shared/app/tasks.js';
import type { TaskDeps } from '../../shared/app/taskDeps.js';
import { isBatonError } from '../../shared/domain/errors.js';
import { taskJobsCollection, type TaskJobRecord } from '../../shared/domain/tasks.js';
import type { StateStore } from '../../shared/ports/stateStore.js';
import { recordTallies } from '../campaign/tally.js';
import { startCosmosEmulator, type CosmosEmulator } from '../servers/cosmosEmulator.js';

/**
 * Concurrency: 50 writers update one state document at once, through each state store adapter
 * (the file store, and Cosmos DB's through the real SDK against the emulator). The task job
 * document goes through the app's own update path (`updateJob`: etag-checked, re-read and
 * re-applied on a lost race), each writer closing one attempt; the slot history document
 * through the app's `recordSlotSample`, each writer appending one sample; a run document through
 * a read-modify-replace loop in this file (the app writes run documents once). Every writer's change must be in the final
 * document (lost updates: 0), and the conflicts the store reported are counted as retried.
 */
const writers = 50;

/** Counts the conflicts (stale etags) the store answers. */
function countingConflicts(inner: StateStore, counter: { conflicts: number }): StateStore {
  return new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === 'replace') {
        return async (...args: Parameters<StateStore['replace']>) => {
          try {
            return await target.replace(...args);
          } catch (error) {
            if (isBatonError(error, 'precondition_failed')) counter.conflicts++;
            throw error;
          }
        };
      }
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

function taskJob(task: string): TaskJobRecord {
  return {
    task,
    owner: 'alice',
    index: 0,
    key: 'j000000',
    item: { path: 'alice/configs/c0.json', name: 'c0.json' },
    state: 'running',
    attempt: 1,
    maxAttempts: writers + 1,
    gate: false,
    queuedAt: new Date(0).toISOString(),
    computeJobId: 't-concurrency-a1',
    attempts: [],
  };
}

/** A read-modify-replace loop on a run document (the app writes runs once; this is the store's etag check under contention). */
async function appendWithEtag(
  store: StateStore,
  collection: string,
  id: string,
  entry: string,
): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const doc = await store.read<{ entries: string[] }>(collection, id, id);
    if (!doc) throw new Error(`${collection}/${id} is gone`);
    try {
      await store.replace(
        collection,
        { id, pk: id, body: { entries: [...doc.body.entries, entry] } },
        doc.etag,
      );
      return;
    } catch (error) {
      if (!isBatonError(error, 'precondition_failed')) throw error;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * Math.min(attempt + 1, 10)));
    }
  }
  throw new Error(`${collection}/${id}: gave up`);
}

interface Outcome {
  document: string;
  lost: number;
  conflicts: number;
  failedWriters: string[];
}

async function hammer(name: string, make: () => Promise<StateStore>): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  // Task job: each writer closes an attempt through the app's updateJob.
  {
    const counter = { conflicts: 0 };
    const store = countingConflicts(await make(), counter);
    const task = `user.alice.concurrency-${randomUUID().slice(0, 8)}`;
    const created = await store.create(taskJobsCollection, {
      id: 'j000000',
      pk: task,
      body: taskJob(task),
    });
    const deps = { state: store } as unknown as TaskDeps;
    const settled = await Promise.allSettled(
      Array.from({ length: writers }, (_, w) =>
        updateJob(deps, created, (job) => ({
          ...job,
          attempt: job.attempt + 1,
          attempts: [
            ...job.attempts,
            {
              attempt: job.attempt,
              state: 'failed',
              computeJobId: job.computeJobId,
              finishedAt: new Date().toISOString(),
              message: `writer-${w}`,
            },
          ],
        })),
      ),
    );
    const final = await store.read<TaskJobRecord>(taskJobsCollection, task, 'j000000');
    const seen = new Set(final?.body.attempts.map((a) => a.message));
    const lost = Array.from({ length: writers }, (_, w) => `writer-${w}`).filter(
      (m) => !seen.has(m),
    );
    outcomes.push({
      document: `${name}: task job (updateJob)`,
      lost: lost.length,
      conflicts: counter.conflicts,
      failedWriters: settled
        .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
        .map((s) => String(s.reason)),
    });
    assert.equal(final?.body.attempt, writers + 1 - lost.length, `${name}: attempt counter`);
  }
  // Slot history: each writer appends its sample through the app's recordSlotSample.
  {
    const counter = { conflicts: 0 };
    const store = countingConflicts(await make(), counter);
    const clock = { now: () => new Date(Date.UTC(2026, 10, 28, 12, 30)) };
    const settled = await Promise.allSettled(
      Array.from({ length: writers }, (_, w) =>
        recordSlotSample({ state: store, clock }, [{ backend: `w${w}`, slots: 1, inUse: 0 }]),
      ),
    );
    const { samples } = await slotHistory({ state: store, clock }, { hours: 1 });
    const seen = new Set(samples.flatMap((sample) => sample.backends.map((b) => b.backend)));
    outcomes.push({
      document: `${name}: slot history (recordSlotSample)`,
      lost: Array.from({ length: writers }, (_, w) => `w${w}`).filter((b) => !seen.has(b)).length,
      conflicts: counter.conflicts,
      failedWriters: settled
        .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
        .map((s) => String(s.reason)),
    });
    assert.equal(samples.length, seen.size, `${name}: slot history has no duplicates`);
  }
  for (const collection of ['runs']) {
    const counter = { conflicts: 0 };
    const store = countingConflicts(await make(), counter);
    const id = `doc-${randomUUID().slice(0, 8)}`;
    await store.create(collection, { id, pk: id, body: { entries: [] as string[] } });
    const settled = await Promise.allSettled(
      Array.from({ length: writers }, (_, w) => appendWithEtag(store, collection, id, `w${w}`)),
    );
    const final = await store.read<{ entries: string[] }>(collection, id, id);
    const seen = new Set(final?.body.entries);
    outcomes.push({
      document: `${name}: ${collection}`,
      lost: Array.from({ length: writers }, (_, w) => `w${w}`).filter((e) => !seen.has(e)).length,
      conflicts: counter.conflicts,
      failedWriters: settled
        .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
        .map((s) => String(s.reason)),
    });
    assert.equal(final?.body.entries.length, seen.size, `${name}: ${collection} has no duplicates`);
  }
  return outcomes;
}

function report(outcomes: Outcome[]): void {
  recordTallies('concurrency', [
    { measure: 'documents hammered by 50 writers', count: outcomes.length },
    { measure: 'concurrent writes', count: outcomes.length * writers },
    { measure: 'lost updates', count: outcomes.reduce((n, o) => n + o.lost, 0), required: '= 0' },
    {
      measure: 'writers that gave up',
      count: outcomes.reduce((n, o) => n + o.failedWriters.length, 0),
      required: '= 0',
    },
    {
      measure: 'conflicts retried',
      count: outcomes.reduce((n, o) => n + o.conflicts, 0),
      required: '>= 1',
    },
  ]);
  for (const o of outcomes) {
    assert.deepEqual(o.failedWriters, [], `${o.document}: writers that gave up`);
    assert.equal(o.lost, 0, `${o.document}: lost updates`);
    assert.ok(o.conflicts > 0, `${o.document}: the writers did conflict`);
  }
}

describe('concurrency: 50 writers on one state document, per state store adapter', () => {
  let dir = '';
  let emulator: CosmosEmulator | undefined;
  let client: CosmosClient | undefined;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-concurrency-'));
    emulator = await startCosmosEmulator({ tls: false });
    client = new CosmosClient({
      endpoint: emulator.endpoint,
      key: emulator.key,
      ...emulator.clientOptions,
    });
  });
  after(async () => {
    client?.dispose();
    await emulator?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('file state store: no update lost', { timeout: 60_000 }, async () => {
    report(await hammer('file', async () => new FileStateStore({ root: path.join(dir, 'state') })));
  });

  it('Cosmos DB (SDK against the emulator): no update lost', { timeout: 60_000 }, async () => {
    const cosmos = client;
    assert.ok(cosmos);
    const databaseId = `concurrency-${randomUUID().slice(0, 8)}`;
    await ensureCosmosContainers(cosmos, databaseId, [
      taskJobsCollection,
      'runs',
      slotHistoryCollection,
    ]);
    report(
      await hammer('cosmos', async () => new CosmosStateStore({ client: cosmos, databaseId })),
    );
  });
});

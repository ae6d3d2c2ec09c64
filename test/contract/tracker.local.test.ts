import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import {
  StateStoreTracker,
  trackerCollections,
} from '../../shared/adapters/local/stateStoreTracker.js';
import { runTrackerContract } from './tracker.contract.js';

/** A fresh state folder per tracker; chunks of 4 points so the history spans several. */
async function makeTracker(): Promise<{
  tracker: StateStoreTracker;
  store: FileStateStore;
  cleanup: () => Promise<void>;
}> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-tracker-'));
  const store = new FileStateStore({ root });
  return {
    tracker: new StateStoreTracker({ store, metricChunkSize: 4 }),
    store,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

runTrackerContract('StateStoreTracker (FileStateStore)', makeTracker);

describe('StateStoreTracker: local specifics', () => {
  it('keeps history in chunks and adds nothing when a batch is sent again (a retry)', async () => {
    const { tracker, store, cleanup } = await makeTracker();
    try {
      const experimentId = await tracker.getOrCreateExperiment('e');
      const runId = await tracker.startRun({ experimentId });
      const batch = Array.from({ length: 10 }, (_, step) => ({
        key: 'loss',
        value: 1 / (step + 1),
        step,
        timestamp: 1000 + step,
      }));
      await tracker.logMetrics(runId, batch);
      await tracker.logMetrics(runId, batch.slice(8));
      const chunks = await store.query<{ points: unknown[] }>(trackerCollections.metrics, {
        pk: runId,
      });
      assert.deepEqual(
        chunks.map((c) => c.body.points.length),
        [4, 4, 2],
      );
      assert.equal((await tracker.getRun(runId)).metricHistory.loss?.length, 10);
    } finally {
      await cleanup();
    }
  });

  it('loses no update when many writers log to one run at once', async () => {
    const { tracker, cleanup } = await makeTracker();
    try {
      const experimentId = await tracker.getOrCreateExperiment('e');
      const sweep = await tracker.startRun({ experimentId });
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          Promise.all([
            tracker.logParams(sweep, { [`p${i}`]: i }),
            tracker.logMetrics(sweep, [{ key: 'best', value: i, step: i, timestamp: 1 }]),
            tracker.setTags(sweep, { [`t${i}`]: String(i) }),
          ]),
        ),
      );
      const run = await tracker.getRun(sweep);
      assert.equal(Object.keys(run.params).length, 8);
      assert.equal(Object.keys(run.tags).length, 8);
      assert.equal(run.metrics.best, 7);
      assert.equal(run.metricHistory.best?.length, 8);
    } finally {
      await cleanup();
    }
  });
});

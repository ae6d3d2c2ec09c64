import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bestTrialQuery } from '../../shared/domain/runFilter.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import type { RunSummary, Tracker } from '../../shared/ports/tracker.js';

export interface TrackerFixture {
  tracker: Tracker;
  cleanup: () => Promise<void>;
}

/** Every call must yield an empty, isolated tracker (a fresh folder, a fresh server...). */
export type TrackerFactory = () => Promise<TrackerFixture>;

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode): Promise<void> =>
  assert.rejects(promise, (err) => {
    assert.ok(isBatonError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });

const ids = (runs: RunSummary[]): string[] => runs.map((r) => r.runId);

/** Fixed instants, so ordering by time never depends on how fast the test runs. */
const t0 = Date.UTC(2025, 0, 1);

/** The Tracker behaviour every adapter must show (the state store locally, MLflow remotely). */
export function runTrackerContract(name: string, makeAdapter: TrackerFactory): void {
  const withTracker = async (fn: (tracker: Tracker) => Promise<void>): Promise<void> => {
    const fixture = await makeAdapter();
    try {
      await fn(fixture.tracker);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`Tracker contract: ${name}`, () => {
    it('getOrCreateExperiment is idempotent by name, also when callers race', () =>
      withTracker(async (tracker) => {
        assert.equal(await tracker.getExperimentByName('sweeps'), undefined);
        const raced = await Promise.all([
          tracker.getOrCreateExperiment('sweeps'),
          tracker.getOrCreateExperiment('sweeps'),
          tracker.getOrCreateExperiment('sweeps'),
        ]);
        assert.equal(new Set(raced).size, 1);
        const id = raced[0] ?? '';
        assert.equal(await tracker.getOrCreateExperiment('sweeps'), id);
        assert.deepEqual(await tracker.getExperimentByName('sweeps'), {
          experimentId: id,
          name: 'sweeps',
        });
        const other = await tracker.getOrCreateExperiment('Other experiment / v2');
        assert.notEqual(other, id);
        await rejectsWith(tracker.getOrCreateExperiment(''), 'validation');
      }));

    it('startRun starts a RUNNING run that getRun returns in full', () =>
      withTracker(async (tracker) => {
        const experimentId = await tracker.getOrCreateExperiment('e');
        const runId = await tracker.startRun({
          experimentId,
          name: 'baseline',
          tags: { team: 'ml', 'data set': 'v1' },
          startTime: t0,
        });
        const run = await tracker.getRun(runId);
        assert.equal(run.runId, runId);
        assert.equal(run.experimentId, experimentId);
        assert.equal(run.name, 'baseline');
        assert.equal(run.status, 'RUNNING');
        assert.equal(run.startTime, t0);
        assert.equal(run.endTime, undefined);
        assert.equal(run.parentRunId, undefined);
        assert.deepEqual(run.tags, { team: 'ml', 'data set': 'v1' });
        assert.deepEqual(run.params, {});
        assert.deepEqual(run.metrics, {});
        assert.deepEqual(run.metricHistory, {});
        assert.deepEqual(run.artifacts, []);
      }));

    it('startRun refuses an unknown experiment, a missing parent and bad input', () =>
      withTracker(async (tracker) => {
        const experimentId = await tracker.getOrCreateExperiment('e');
        await rejectsWith(tracker.startRun({ experimentId: '987654321' }), 'not_found');
        await rejectsWith(
          tracker.startRun({ experimentId, parentRunId: 'feedfacefeedfacefeedfacefeedface' }),
          'not_found',
        );
        await rejectsWith(
          tracker.startRun({ experimentId, tags: { 'bad:key': 'x' } }),
          'validation',
        );
        await rejectsWith(
          tracker.startRun({ experimentId, tags: { 'mlflow.user': 'x' } }),
          'validation',
        );
        await rejectsWith(tracker.startRun({ experimentId: '../etc' }), 'validation');
        await rejectsWith(tracker.getRun('feedfacefeedfacefeedfacefeedface'), 'not_found');
        await rejectsWith(tracker.getRun('no/such'), 'validation');
      }));

    it('nests trial runs under a sweep parent; a parent must be in the same experiment', () =>
      withTracker(async (tracker) => {
        const experimentId = await tracker.getOrCreateExperiment('hpo');
        const sweep = await tracker.startRun({ experimentId, name: 'sweep' });
        const trials = [];
        for (let i = 0; i < 3; i++) {
          trials.push(
            await tracker.startRun({ experimentId, name: `trial-${i}`, parentRunId: sweep }),
          );
        }
        const child = await tracker.getRun(trials[1] ?? '');
        assert.equal(child.parentRunId, sweep);
        assert.equal((await tracker.getRun(sweep)).parentRunId, undefined);
        const children = await tracker.searchRuns({
          experimentIds: [experimentId],
          filter: { parentRunId: sweep },
        });
        assert.deepEqual(ids(children).sort(), [...trials].sort());

        const elsewhere = await tracker.getOrCreateExperiment('elsewhere');
        await rejectsWith(
          tracker.startRun({ experimentId: elsewhere, parentRunId: sweep }),
          'validation',
        );
      }));

    it('params are write-once: the same value again is fine, another value is conflict', () =>
      withTracker(async (tracker) => {
        const runId = await tracker.startRun({
          experimentId: await tracker.getOrCreateExperiment('e'),
        });
        await tracker.logParams(runId, {
          lr: 0.01,
          layers: 3,
          'optimizer/name': 'adam',
          warm: true,
        });
        await tracker.logParams(runId, { lr: 0.01, 'optimizer/name': 'adam' });
        await tracker.logParams(runId, { batch: '64' });
        await rejectsWith(tracker.logParams(runId, { lr: 0.02 }), 'conflict');
        await rejectsWith(tracker.logParams(runId, { 'bad key!': 1 }), 'validation');
        await rejectsWith(tracker.logParams(runId, { x: 'y'.repeat(6001) }), 'validation');
        await rejectsWith(
          tracker.logParams('feedfacefeedfacefeedfacefeedface', { a: 1 }),
          'not_found',
        );
        assert.deepEqual((await tracker.getRun(runId)).params, {
          lr: '0.01',
          layers: '3',
          'optimizer/name': 'adam',
          warm: 'true',
          batch: '64',
        });
      }));

    it('metrics keep every step in their history; the latest is the highest step', () =>
      withTracker(async (tracker) => {
        const runId = await tracker.startRun({
          experimentId: await tracker.getOrCreateExperiment('e'),
        });
        const losses = [0.9, 0.7, 0.5, 0.45, 0.4, 0.38, 0.37, 0.35, 0.34, 0.3];
        await tracker.logMetrics(
          runId,
          losses
            .slice(0, 6)
            .map((value, step) => ({ key: 'loss', value, step, timestamp: t0 + step })),
        );
        await tracker.logMetrics(
          runId,
          losses
            .slice(6)
            .map((value, i) => ({ key: 'loss', value, step: i + 6, timestamp: t0 + i + 6 })),
        );
        await tracker.logMetrics(runId, [
          { key: 'val f1', value: 0.8, step: 9, timestamp: t0 + 100 },
          // An earlier step logged later does not become the latest value.
          { key: 'val f1', value: 0.6, step: 4, timestamp: t0 + 200 },
          { key: 'lr', value: 0.001, timestamp: t0 },
        ]);
        const run = await tracker.getRun(runId);
        assert.deepEqual(run.metrics, { loss: 0.3, 'val f1': 0.8, lr: 0.001 });
        assert.deepEqual(
          run.metricHistory.loss?.map((p) => [p.step, p.value, p.timestamp]),
          losses.map((value, step) => [step, value, t0 + step]),
        );
        assert.deepEqual(
          run.metricHistory['val f1']?.map((p) => [p.key, p.step, p.value]),
          [
            ['val f1', 4, 0.6],
            ['val f1', 9, 0.8],
          ],
        );
        assert.deepEqual(
          run.metricHistory.lr?.map((p) => p.step),
          [0],
        );
        await rejectsWith(
          tracker.logMetrics(runId, [{ key: 'x', value: Number.NaN }]),
          'validation',
        );
        await rejectsWith(
          tracker.logMetrics(runId, [{ key: 'x', value: 1, step: 1.5 }]),
          'validation',
        );
        await rejectsWith(
          tracker.logMetrics('feedfacefeedfacefeedfacefeedface', [{ key: 'x', value: 1 }]),
          'not_found',
        );
      }));

    it('setTags sets and overwrites user tags; reserved prefixes are refused', () =>
      withTracker(async (tracker) => {
        const runId = await tracker.startRun({
          experimentId: await tracker.getOrCreateExperiment('e'),
          tags: { stage: 'hpo' },
        });
        await tracker.setTags(runId, { stage: 'final', owner: 'ana', empty: '' });
        assert.deepEqual((await tracker.getRun(runId)).tags, {
          stage: 'final',
          owner: 'ana',
          empty: '',
        });
        await rejectsWith(tracker.setTags(runId, { 'baton.artifact.x': 'y' }), 'validation');
        await rejectsWith(tracker.setTags(runId, { '/abs': 'y' }), 'validation');
      }));

    it('artifacts are lake paths: one record per path, the latest kind wins, sorted by path', () =>
      withTracker(async (tracker) => {
        const runId = await tracker.startRun({
          experimentId: await tracker.getOrCreateExperiment('e'),
        });
        await tracker.logArtifact(runId, { path: 'runs/r1/model/model.onnx', kind: 'model' });
        await tracker.logArtifact(runId, { path: 'runs/r1/checkpoints/best.pt' });
        await tracker.logArtifact(runId, { path: 'runs/r1/model/model.onnx', kind: 'onnx' });
        assert.deepEqual((await tracker.getRun(runId)).artifacts, [
          { path: 'runs/r1/checkpoints/best.pt' },
          { path: 'runs/r1/model/model.onnx', kind: 'onnx' },
        ]);
        await rejectsWith(tracker.logArtifact(runId, { path: '../outside' }), 'validation');
        await rejectsWith(tracker.logArtifact(runId, { path: '/etc/passwd' }), 'validation');
        assert.deepEqual((await tracker.getRun(runId)).tags, {});
      }));

    it('endRun: RUNNING to an end status once; the same again is a no-op, another is conflict', () =>
      withTracker(async (tracker) => {
        const experimentId = await tracker.getOrCreateExperiment('e');
        const runId = await tracker.startRun({ experimentId, startTime: t0 });
        await tracker.endRun(runId, 'FINISHED', t0 + 5000);
        let run = await tracker.getRun(runId);
        assert.equal(run.status, 'FINISHED');
        assert.equal(run.endTime, t0 + 5000);
        await tracker.endRun(runId, 'FINISHED', t0 + 9000);
        run = await tracker.getRun(runId);
        assert.equal(run.endTime, t0 + 5000);
        await rejectsWith(tracker.endRun(runId, 'FAILED'), 'conflict');
        // Late metrics on an ended run stay allowed (MLflow allows them too).
        await tracker.logMetrics(runId, [{ key: 'test f1', value: 0.7, timestamp: t0 + 10_000 }]);

        const killed = await tracker.startRun({ experimentId });
        await tracker.endRun(killed, 'KILLED');
        const killedRun = await tracker.getRun(killed);
        assert.equal(killedRun.status, 'KILLED');
        assert.equal(typeof killedRun.endTime, 'number');
        await rejectsWith(tracker.endRun(killed, 'RUNNING' as unknown as 'FINISHED'), 'validation');
        await rejectsWith(
          tracker.endRun('feedfacefeedfacefeedfacefeedface', 'FAILED'),
          'not_found',
        );
      }));

    describe('searchRuns', () => {
      /** Five runs with distinct start times, metrics, params and tags, some missing. */
      async function seed(tracker: Tracker) {
        const experimentId = await tracker.getOrCreateExperiment('search');
        const specs: {
          name: string;
          f1: number | undefined;
          loss: number | undefined;
          lr: string | undefined;
          tags: Record<string, string>;
        }[] = [
          {
            name: 'a',
            f1: 0.91,
            loss: 0.2,
            lr: '0.1',
            tags: { model: 'bert', 'data set': "it's v2" },
          },
          { name: 'b', f1: 0.85, loss: 0.25, lr: '0.01', tags: { model: 'bert' } },
          { name: 'c', f1: 0.8, loss: 0.3, lr: '0.001', tags: { model: 'gpt' } },
          { name: 'd', f1: undefined, loss: 0.5, lr: '0.05', tags: { model: 'bert' } },
          { name: 'e', f1: 0.95, loss: undefined, lr: undefined, tags: { model: 'gpt' } },
        ];
        const runs: Record<string, string> = {};
        for (const [i, spec] of specs.entries()) {
          const runId = await tracker.startRun({
            experimentId,
            name: spec.name,
            tags: spec.tags,
            startTime: t0 + i * 1000,
          });
          runs[spec.name] = runId;
          const metrics = [];
          if (spec.f1 !== undefined) metrics.push({ key: 'f1', value: spec.f1, timestamp: t0 });
          if (spec.loss !== undefined)
            metrics.push({ key: 'val/loss', value: spec.loss, timestamp: t0 });
          await tracker.logMetrics(runId, metrics);
          if (spec.lr !== undefined) await tracker.logParams(runId, { lr: spec.lr });
        }
        await tracker.endRun(runs.a ?? '', 'FINISHED');
        await tracker.endRun(runs.b ?? '', 'FINISHED');
        await tracker.endRun(runs.c ?? '', 'FAILED');
        const name = (runId: string): string =>
          Object.entries(runs).find(([, id]) => id === runId)?.[0] ?? '?';
        return {
          experimentId,
          runs,
          names: (list: RunSummary[]) => list.map((r) => name(r.runId)),
        };
      }

      it('with no filter returns every run, newest start first, with latest metrics', () =>
        withTracker(async (tracker) => {
          const { experimentId, names } = await seed(tracker);
          const all = await tracker.searchRuns({ experimentIds: [experimentId] });
          assert.deepEqual(names(all), ['e', 'd', 'c', 'b', 'a']);
          const a = all.find((r) => r.name === 'a');
          assert.deepEqual(a?.metrics, { f1: 0.91, 'val/loss': 0.2 });
          assert.deepEqual(a?.params, { lr: '0.1' });
          assert.equal(a?.status, 'FINISHED');
        }));

      it('filters on metrics with every operator; a run without the metric never matches', () =>
        withTracker(async (tracker) => {
          const { experimentId, names } = await seed(tracker);
          const find = async (op: '>' | '>=' | '<' | '<=' | '=', value: number) =>
            names(
              await tracker.searchRuns({
                experimentIds: [experimentId],
                filter: { metrics: [{ key: 'f1', op, value }] },
                orderBy: { kind: 'attribute', key: 'run_name', direction: 'ASC' },
              }),
            );
          assert.deepEqual(await find('>', 0.85), ['a', 'e']);
          assert.deepEqual(await find('>=', 0.85), ['a', 'b', 'e']);
          assert.deepEqual(await find('<', 0.85), ['c']);
          assert.deepEqual(await find('<=', 0.85), ['b', 'c']);
          assert.deepEqual(await find('=', 0.8), ['c']);
          const both = await tracker.searchRuns({
            experimentIds: [experimentId],
            filter: {
              metrics: [
                { key: 'f1', op: '>', value: 0.8 },
                { key: 'val/loss', op: '<=', value: 0.25 },
              ],
            },
          });
          assert.deepEqual(names(both), ['b', 'a']);
        }));

      it('filters on tags, params and status together; values with quotes and keys with spaces', () =>
        withTracker(async (tracker) => {
          const { experimentId, names } = await seed(tracker);
          const search = async (filter: Parameters<Tracker['searchRuns']>[0]['filter']) =>
            names(await tracker.searchRuns({ experimentIds: [experimentId], filter }));
          assert.deepEqual(await search({ tags: { model: 'bert' } }), ['d', 'b', 'a']);
          assert.deepEqual(await search({ tags: { model: 'bert' }, status: 'FINISHED' }), [
            'b',
            'a',
          ]);
          assert.deepEqual(await search({ params: { lr: '0.01' } }), ['b']);
          assert.deepEqual(await search({ tags: { 'data set': "it's v2" } }), ['a']);
          assert.deepEqual(await search({ status: 'RUNNING' }), ['e', 'd']);
          assert.deepEqual(await search({ tags: { model: 'none' } }), []);
          await assert.rejects(
            tracker.searchRuns({
              experimentIds: [experimentId],
              filter: { metrics: [{ key: 'f1', op: '!=' as '=', value: 1 }] },
            }),
            (err) => isBatonError(err, 'validation'),
          );
        }));

      it('orders by a metric either way with missing values last, by param text, by start time', () =>
        withTracker(async (tracker) => {
          const { experimentId, names } = await seed(tracker);
          const order = async (orderBy: Parameters<Tracker['searchRuns']>[0]['orderBy']) =>
            names(await tracker.searchRuns({ experimentIds: [experimentId], orderBy }));
          assert.deepEqual(await order({ kind: 'metric', key: 'f1', direction: 'DESC' }), [
            'e',
            'a',
            'b',
            'c',
            'd',
          ]);
          assert.deepEqual(await order({ kind: 'metric', key: 'f1', direction: 'ASC' }), [
            'c',
            'b',
            'a',
            'e',
            'd',
          ]);
          assert.deepEqual(await order({ kind: 'metric', key: 'val/loss', direction: 'ASC' }), [
            'a',
            'b',
            'c',
            'd',
            'e',
          ]);
          // Params are text: '0.001' < '0.01' < '0.05' < '0.1'.
          assert.deepEqual(await order({ kind: 'param', key: 'lr', direction: 'ASC' }), [
            'c',
            'b',
            'd',
            'a',
            'e',
          ]);
          assert.deepEqual(
            await order({ kind: 'attribute', key: 'start_time', direction: 'ASC' }),
            ['a', 'b', 'c', 'd', 'e'],
          );
        }));

      it('maxResults keeps the first runs of the order; several experiments search together', () =>
        withTracker(async (tracker) => {
          const { experimentId, names } = await seed(tracker);
          const top2 = await tracker.searchRuns({
            experimentIds: [experimentId],
            orderBy: { kind: 'metric', key: 'f1', direction: 'DESC' },
            maxResults: 2,
          });
          assert.deepEqual(names(top2), ['e', 'a']);

          const other = await tracker.getOrCreateExperiment('other');
          const lone = await tracker.startRun({
            experimentId: other,
            startTime: t0 + 10_000,
            tags: { model: 'bert' },
          });
          const both = await tracker.searchRuns({
            experimentIds: [experimentId, other],
            filter: { tags: { model: 'bert' } },
          });
          assert.deepEqual(ids(both)[0], lone);
          assert.equal(both.length, 4);
          assert.equal(both[0]?.experimentId, other);
          assert.deepEqual(await tracker.searchRuns({ experimentIds: ['424242'] }), []);
          await rejectsWith(tracker.searchRuns({ experimentIds: [] }), 'validation');
          await rejectsWith(
            tracker.searchRuns({ experimentIds: [experimentId], maxResults: 0 }),
            'validation',
          );
        }));
    });

    it("finds a sweep's best trial through searchRuns: children only, by the objective", () =>
      withTracker(async (tracker) => {
        const experimentId = await tracker.getOrCreateExperiment('hpo');
        const sweep = await tracker.startRun({ experimentId, name: 'sweep', startTime: t0 });
        // The parent logs the best value so far itself; it must not win over its children.
        await tracker.logMetrics(sweep, [{ key: 'macro-f1', value: 0.99, timestamp: t0 }]);
        const scores = [0.71, 0.83, 0.78, 0.9];
        const trials: string[] = [];
        for (const [i, score] of scores.entries()) {
          const trial = await tracker.startRun({
            experimentId,
            name: `trial-${i}`,
            parentRunId: sweep,
            startTime: t0 + (i + 1) * 1000,
          });
          await tracker.logParams(trial, { lr: 10 ** -(i + 1) });
          await tracker.logMetrics(trial, [
            { key: 'macro-f1', value: score, step: 3, timestamp: t0 },
          ]);
          await tracker.endRun(trial, i === 3 ? 'FAILED' : 'FINISHED');
          trials.push(trial);
        }
        const unrelated = await tracker.startRun({ experimentId, startTime: t0 + 9000 });
        await tracker.logMetrics(unrelated, [{ key: 'macro-f1', value: 0.95, timestamp: t0 }]);
        await tracker.endRun(unrelated, 'FINISHED');

        const query = bestTrialQuery({ sweepRunId: sweep, metric: 'macro-f1', goal: 'maximize' });
        const [best] = await tracker.searchRuns({ experimentIds: [experimentId], ...query });
        assert.equal(best?.runId, trials[1]);
        assert.equal(best?.metrics['macro-f1'], 0.83);
        assert.equal(best?.params.lr, '0.01');

        const worst = await tracker.searchRuns({
          experimentIds: [experimentId],
          ...bestTrialQuery({ sweepRunId: sweep, metric: 'macro-f1', goal: 'minimize' }),
        });
        assert.deepEqual(ids(worst), [trials[0]]);
      }));
  });
}

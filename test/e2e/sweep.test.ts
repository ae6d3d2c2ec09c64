import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jobsCollection, type JobRecord } from '../../shared/app/jobs.js';
import type { SweepOutput } from '../../shared/orchestrations/sweepTypes.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { repoRoot, runToEnd } from '../helpers/hostProcess.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * The `sweep` pipeline on a live local host, over HTTP: trials of examples/ml/train.mjs run
 * as jobs through the job path, each recorded in the tracker as a child of the sweep's run;
 * the reported best is the best the tracker holds; a dry run; a bad search space.
 */
interface RunView {
  runId: string;
  status: string;
  error?: string;
  output: SweepOutput | null;
}
interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

const trainScript = path.join(repoRoot, 'examples', 'ml', 'train.mjs');

function sweepParams(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    experiment: 'sweep-e2e',
    space: {
      lr: { type: 'loguniform', low: 0.001, high: 1 },
      epochs: { type: 'int', low: 5, high: 30, step: 5 },
      l2: { type: 'choice', values: [0, 0.001, 0.1] },
    },
    objective: { metric: 'val_loss', direction: 'minimize' },
    budget: { maxTrials: 6 },
    parallelism: 2,
    sampler: { kind: 'random' },
    seed: 7,
    trial: { argv: ['node', trainScript], timeoutSeconds: 60 },
    ...extra,
  };
}

describe('sweeps on a live local host', () => {
  let stateDir: string;
  let host: LocalHost;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-sweep-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_JOB_WATCH_SCHEDULE: '* * * * * *' },
    });
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('stops a poor trial while it runs (live median pruning) and cancels its job', async () => {
    // Trials report `loss = x` every step (1, 2 and 1.5 complete: none is worse than the median
    // of those before it); x = 9 is far worse than the three completed before
    // it, and would run for 40 s unless the pruner's look (every second) stops it.
    const script = [
      "const { appendFileSync } = require('node:fs');",
      'const { x } = JSON.parse(process.env.BATON_PARAMS);',
      'const pause = x >= 9 ? 2000 : 20;',
      'let step = 0;',
      'const report = () => {',
      '  appendFileSync(process.env.BATON_METRICS_FILE, JSON.stringify({ step, loss: x }) + "\\n");',
      '  if (++step < 20) setTimeout(report, pause);',
      '};',
      'report();',
    ].join('\n');
    const view = await runToEnd<RunView>(
      host.url,
      {
        pipeline: 'sweep',
        params: {
          experiment: 'sweep-live-pruning',
          space: { x: { type: 'choice', values: [1, 2, 1.5, 9] } },
          objective: { metric: 'loss', direction: 'minimize' },
          budget: { maxTrials: 4 },
          parallelism: 1,
          sampler: { kind: 'grid' },
          pruner: { kind: 'median', warmupSteps: 1, minTrials: 2, checkSeconds: 1 },
          trial: { argv: ['node', '-e', script], timeoutSeconds: 120 },
        },
      },
      120_000,
    );
    assert.equal(view.status, 'completed', JSON.stringify(view));
    const output = view.output;
    assert.ok(output);
    assert.equal(output.completed, 3, JSON.stringify(output));
    assert.equal(output.pruned, 1);
    assert.deepEqual(output.best.params, { x: 1 });

    const { tracker } = host.services;
    const [pruned] = await tracker.searchRuns({
      experimentIds: [output.tracking.experimentId],
      filter: { parentRunId: output.tracking.sweepRunId, tags: { state: 'pruned' } },
    });
    assert.ok(pruned, 'the x = 9 trial is tracked as pruned');
    assert.equal(pruned.params.x, '9');
    assert.equal(pruned.status, 'KILLED');
    const record = await tracker.getRun(pruned.runId);
    const reported = record.metricHistory.loss?.length ?? 0;
    assert.ok(reported < 20, `stopped early: ${reported} of 20 steps reported`);
    // Its job was canceled on the backend, not left to finish.
    const jobs = (await host.services.state.query<JobRecord>(jobsCollection, { pk: view.runId }))
      .map((doc) => doc.body)
      .filter((job) => job.state === 'canceled');
    assert.equal(jobs.length, 1, 'one canceled trial job');
  });

  it('runs 6 random trials, 2 at a time, each a tracked child of the sweep; reports the best', async () => {
    const view = await runToEnd<RunView>(
      host.url,
      { pipeline: 'sweep', params: sweepParams() },
      120_000,
    );
    assert.equal(view.status, 'completed', JSON.stringify(view));
    const output = view.output;
    assert.ok(output);
    assert.equal(output.trials, 6);
    assert.equal(output.completed, 6, JSON.stringify(output));
    assert.equal(output.stoppedBy, 'maxTrials');
    assert.equal(output.dryRun, false);

    const { tracker } = host.services;
    const sweepRun = await tracker.getRun(output.tracking.sweepRunId);
    assert.equal(sweepRun.status, 'FINISHED');
    const children = await tracker.searchRuns({
      experimentIds: [output.tracking.experimentId],
      filter: { parentRunId: output.tracking.sweepRunId },
    });
    assert.equal(children.length, 6);
    assert.deepEqual(children.map((run) => Number(run.tags.trial)).sort(), [0, 1, 2, 3, 4, 5]);
    for (const child of children) {
      assert.equal(child.status, 'FINISHED');
      assert.deepEqual(Object.keys(child.params).sort(), ['epochs', 'l2', 'lr']);
      const record = await tracker.getRun(child.runId);
      const epochs = Number(child.params.epochs);
      assert.equal(record.metricHistory.val_loss?.length, epochs, 'one point per epoch');
      assert.ok(existsSync(path.join(stateDir, 'sweeps', view.runId, `trial-${child.tags.trial}`)));
    }
    const values = children.map((run) => run.metrics.val_loss as number);
    const min = Math.min(...values);
    assert.equal(output.best.value, min);
    const bestChild = children.find((run) => run.runId === output.best.trackerRunId);
    assert.equal(bestChild?.metrics.val_loss, min);
    assert.equal(Number(bestChild?.tags.trial), output.best.trial);
    assert.equal(bestChild?.params.lr, String(output.best.params.lr));
    // Hyper-parameters matter: the trials do not all land on the same loss.
    assert.ok(Math.max(...values) - min > 0.01, JSON.stringify(values));

    // Never more than `parallelism` trial jobs at once.
    const jobs = (await host.services.state.query<JobRecord>(jobsCollection, { pk: view.runId }))
      .map((doc) => doc.body)
      .filter((job) => job.launchedAt !== undefined && job.finishedAt !== undefined);
    assert.equal(jobs.length, 6);
    for (const job of jobs) {
      const overlapping = jobs.filter(
        (other) =>
          (other.launchedAt as string) <= (job.launchedAt as string) &&
          (other.finishedAt as string) > (job.launchedAt as string),
      );
      assert.ok(overlapping.length <= 2, `${overlapping.length} trials at once`);
    }
  });

  it('a dry run runs at most 2 trials and still finds a best', async () => {
    const view = await runToEnd<RunView>(
      host.url,
      { pipeline: 'sweep', params: sweepParams({ dryRun: true, parallelism: 4 }) },
      60_000,
    );
    assert.equal(view.status, 'completed', JSON.stringify(view));
    assert.ok(view.output);
    assert.ok(view.output.trials <= 2, JSON.stringify(view.output));
    assert.equal(view.output.dryRun, true);
    assert.ok(Number.isFinite(view.output.best.value));
  });

  it('refuses a bad search space with 400 naming the field', async () => {
    const response = await fetch(`${host.url}/api/runs`, {
      method: 'POST',
      headers: asUser('scientist'),
      body: JSON.stringify({
        pipeline: 'sweep',
        params: sweepParams({ space: { lr: { type: 'uniform', low: 1, high: 0.1 } } }),
      }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as ErrorBody;
    assert.equal(body.error.code, 'validation');
    assert.equal(body.error.field, 'params.space.lr.high');
    assert.match(body.error.message, /params\.space\.lr\.high/);
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MlLifecycleOutput } from '../../shared/orchestrations/mlLifecycleTypes.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { repoRoot, runToEnd } from '../helpers/hostProcess.js';

/**
 * The `ml` pipeline on a live local host, over HTTP: a 4-trial sweep of examples/ml/train.mjs,
 * final training with the best params, conversion of the checkpoint the training run recorded
 * in the tracker, a benchmark of the converted model; and a failing conversion that stops the
 * run before the benchmark, naming the step.
 */
interface RunView {
  runId: string;
  status: string;
  error?: string;
  output: MlLifecycleOutput | null;
}

const script = (name: string): string => path.join(repoRoot, 'examples', 'ml', name);

function mlParams(conversion: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    experiment: 'ml-e2e',
    sweep: {
      experiment: 'ml-e2e-sweeps',
      space: {
        lr: { type: 'loguniform', low: 0.01, high: 1 },
        epochs: { type: 'int', low: 5, high: 30, step: 5 },
      },
      objective: { metric: 'val_loss', direction: 'minimize' },
      budget: { maxTrials: 4 },
      parallelism: 2,
      sampler: { kind: 'random' },
      seed: 3,
      trial: { argv: ['node', script('train.mjs')], timeoutSeconds: 60 },
    },
    training: {
      argv: ['node', script('train.mjs')],
      timeoutSeconds: 60,
      params: { lr: 0.05, epochs: 10, l2: 0.001 },
      seed: 42,
    },
    conversion: { argv: ['node', script('convert.mjs')], timeoutSeconds: 60, ...conversion },
    benchmark: {
      argv: ['node', script('benchmark.mjs')],
      timeoutSeconds: 60,
      params: { rounds: 2, batches: 50 },
      metrics: ['latency_ms_p50', 'latency_ms_p95', 'throughput'],
    },
  };
}

describe('the ml pipeline on a live local host', () => {
  let stateDir: string;
  let host: LocalHost;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-ml-'));
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

  it('chains sweep, final training, conversion and benchmark, each tracked', async () => {
    const view = await runToEnd<RunView>(host.url, { pipeline: 'ml', params: mlParams() }, 120_000);
    assert.equal(view.status, 'completed', JSON.stringify(view));
    const output = view.output;
    assert.ok(output);
    const { tracker, lake } = host.services;

    // The best trial is the sweep's best in the tracker.
    const bestTrial = await tracker.getRun(output.best.trackerRunId);
    assert.equal(bestTrial.metrics.val_loss, output.best.value);

    // Training: best params over the training config, the fixed seed, the checkpoint recorded.
    const training = await tracker.getRun(output.training.trackerRunId);
    assert.equal(training.name, 'training');
    assert.equal(training.status, 'FINISHED');
    assert.equal(training.params.lr, String(output.best.params.lr));
    assert.equal(training.params.epochs, String(output.best.params.epochs));
    assert.equal(training.params.l2, '0.001', 'kept from the training config');
    assert.equal(training.params.seed, '42');
    assert.equal(training.tags.best_run, output.best.trackerRunId);
    assert.deepEqual(training.artifacts, [
      { path: output.training.checkpoint, kind: 'checkpoint' },
    ]);
    const checkpointBytes = await lake.read(output.training.checkpoint);
    const checkpoint = JSON.parse(checkpointBytes.toString('utf8')) as {
      params: { lr: number; epochs: number; seed: number };
    };
    assert.deepEqual(checkpoint.params, {
      lr: output.best.params.lr,
      epochs: output.best.params.epochs,
      l2: 0.001,
      seed: 42,
    });
    assert.equal(training.metricHistory.val_loss?.length, output.best.params.epochs);

    // Conversion: its input is the checkpoint the training run recorded, and it used that file.
    assert.equal(output.conversion.input, output.training.checkpoint);
    const conversion = await tracker.getRun(output.conversion.trackerRunId);
    assert.equal(conversion.status, 'FINISHED');
    assert.equal(conversion.params.input, output.training.checkpoint);
    assert.equal(conversion.tags.input_run, output.training.trackerRunId);
    assert.deepEqual(conversion.artifacts, [
      { path: output.conversion.output, kind: 'converted_model' },
    ]);
    const compact = JSON.parse((await lake.read(output.conversion.output)).toString('utf8')) as {
      format: string;
      source: { sha256: string };
    };
    assert.equal(compact.format, 'baton-logreg-q8');
    assert.equal(compact.source.sha256, createHash('sha256').update(checkpointBytes).digest('hex'));

    // Benchmark: the metrics in the output are the benchmark run's.
    const benchmark = await tracker.getRun(output.benchmark.trackerRunId);
    assert.equal(benchmark.status, 'FINISHED');
    assert.equal(benchmark.params.input, output.conversion.output);
    for (const key of ['latency_ms_p50', 'latency_ms_p95', 'throughput']) {
      const value: number | undefined = output.benchmark.metrics[key];
      assert.ok(value !== undefined && value > 0, `${key}: ${String(value)}`);
      assert.equal(benchmark.metrics[key], value);
      assert.equal(benchmark.metricHistory[key]?.length, 2, 'one point per round');
    }
    const localCopy = await readFile(
      path.join(stateDir, 'ml', view.runId, 'conversion', 'input', 'model.json'),
    );
    assert.deepEqual(localCopy, checkpointBytes);
  });

  it('a failing conversion stops the run before the benchmark and names the step', async () => {
    const view = await runToEnd<RunView>(
      host.url,
      { pipeline: 'ml', params: mlParams({ params: { fail: true } }) },
      120_000,
    );
    assert.equal(view.status, 'failed', JSON.stringify(view));
    assert.match(view.error ?? '', /ml step 'conversion' failed/);
    assert.match(view.error ?? '', /exit code 3/);

    const { tracker } = host.services;
    const experiment = await tracker.getExperimentByName('ml-e2e');
    assert.ok(experiment);
    const runs = await tracker.searchRuns({
      experimentIds: [experiment.experimentId],
      filter: { tags: { ml_run: view.runId } },
    });
    const byStep = new Map(runs.map((run) => [run.tags.step, run]));
    assert.equal(byStep.get('training')?.status, 'FINISHED');
    assert.equal(byStep.get('conversion')?.status, 'FAILED');
    assert.match(byStep.get('conversion')?.tags.message ?? '', /exit code 3/);
    assert.equal(byStep.has('benchmark'), false, 'the benchmark never started');
  });
});

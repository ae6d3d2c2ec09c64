import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SweepOutput } from '../../shared/orchestrations/sweepTypes.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { repoRoot, runCli, runToEnd } from '../helpers/hostProcess.js';
import { startMlflowServer, type MlflowServer } from '../servers/mlflowServer.js';

/**
 * A sweep tracked in MLflow: the host's tracker is the MLflow adapter (BATON_TRACKER=mlflow,
 * the bearer token from the variable BATON_MLFLOW_TOKEN_ENV names) talking to the local server
 * that follows MLflow's tracking REST API. The sweep's parent and trial runs land there, the
 * best trial is found through MLflow's own search (order by the objective), and `baton runs
 * find` reads the same runs back through the host.
 */
interface RunView {
  runId: string;
  status: string;
  error?: string;
  output: SweepOutput | null;
}

const trainScript = path.join(repoRoot, 'examples', 'ml', 'train.mjs');
const tokenVariable = 'BATON_E2E_MLFLOW_TOKEN';

describe('a sweep tracked in MLflow', () => {
  let stateDir: string;
  let host: LocalHost;
  let mlflow: MlflowServer;

  before(async () => {
    mlflow = await startMlflowServer({ token: 'mlflow-e2e-token', maxSearchPageSize: 3 });
    process.env[tokenVariable] = 'mlflow-e2e-token';
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-sweep-mlflow-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: {
        BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
        BATON_TRACKER: 'mlflow',
        BATON_MLFLOW_URL: mlflow.url,
        BATON_MLFLOW_TOKEN_ENV: tokenVariable,
      },
    });
  });
  after(async () => {
    await host.stop();
    await mlflow.close();
    delete process.env[tokenVariable];
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('records the sweep and its trials in MLflow and finds the best there', async () => {
    const view = await runToEnd<RunView>(
      host.url,
      {
        pipeline: 'sweep',
        params: {
          experiment: 'mlflow-sweep',
          space: {
            lr: { type: 'loguniform', low: 0.001, high: 1 },
            epochs: { type: 'int', low: 5, high: 20, step: 5 },
          },
          objective: { metric: 'val_loss', direction: 'minimize' },
          budget: { maxTrials: 5 },
          parallelism: 2,
          sampler: { kind: 'random' },
          seed: 11,
          trial: { argv: ['node', trainScript], timeoutSeconds: 60 },
        },
      },
      120_000,
    );
    assert.equal(view.status, 'completed', JSON.stringify(view));
    const output = view.output;
    assert.ok(output);
    assert.equal(output.completed, 5);

    // Every run went to the MLflow server, with the token; none to an endpoint it lacks.
    assert.deepEqual(mlflow.unknown, []);
    assert.ok(mlflow.requests.length > 0);
    assert.ok(
      mlflow.requests.every((r) => r.headers.authorization === 'Bearer mlflow-e2e-token'),
      'every request carries the bearer token',
    );
    const searches = mlflow.requests.filter((r) => r.endpoint === 'runs/search');
    assert.ok(
      searches.some(
        (r) =>
          JSON.stringify(r.body).includes('metrics.`val_loss` ASC') ||
          JSON.stringify(r.body).includes('metrics.val_loss ASC'),
      ),
      'the best trial is found by MLflow ordering the runs by the objective',
    );

    // The best reported is the best MLflow holds among the sweep's children.
    const { tracker } = host.services;
    const children = await tracker.searchRuns({
      experimentIds: [output.tracking.experimentId],
      filter: { parentRunId: output.tracking.sweepRunId },
    });
    assert.equal(children.length, 5);
    const values = children.map((run) => run.metrics.val_loss as number);
    assert.equal(output.best.value, Math.min(...values));
    const parent = await tracker.getRun(output.tracking.sweepRunId);
    assert.equal(parent.status, 'FINISHED');
    assert.equal(parent.tags.best_trial, String(output.best.trial));

    // The CLI finds the same runs through the host's tracking API.
    const found = await runCli([
      '--endpoint',
      host.url,
      '--json',
      'runs',
      'find',
      '--experiment',
      'mlflow-sweep',
      '--parent',
      output.tracking.sweepRunId,
      '--order-by',
      'metric.val_loss ASC',
      '--max',
      '2',
    ]);
    assert.equal(found.code, 0, found.stderr);
    const runs = JSON.parse(found.stdout) as Array<{
      runId: string;
      metrics: Record<string, number>;
    }>;
    assert.equal(runs.length, 2);
    assert.equal(runs[0]?.runId, output.best.trackerRunId);
  });
});

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { assetsRoot } from '../../shared/portal/staticAssets.js';

/**
 * The portal's pure browser modules, in node (no Chromium needed, so this always runs): the
 * model run grid pieced together from a run view and its children and jobs, and the slots read
 * from the Prometheus text.
 */
type Cell = { state: string; summary?: string; usage?: { cpuAvg: number; rssMaxMb: number } };
interface ModelGridModule {
  modelGrid: (
    run: { status: string; output?: unknown; error?: string; params?: unknown },
    live?: {
      children?: Array<{ instanceId: string; runtimeStatus: string; output?: unknown }>;
      jobs?: Array<{ jobId: string; stepId: string; attempt: number; state: string }>;
    },
  ) => { iterations: number[]; steps: string[]; cell: (i: number, s: string) => Cell };
}
interface MetricsTextModule {
  parseMetrics: (
    text: string,
  ) => Array<{ name: string; labels: Record<string, string>; value: number }>;
  slotsByBackend: (
    samples: ReturnType<MetricsTextModule['parseMetrics']>,
  ) => Array<{ backend: string; slots: number; inUse: number; free: number }>;
}
const load = async <T>(name: string): Promise<T> =>
  (await import(pathToFileURL(path.join(assetsRoot(), name)).href)) as T;

describe('portal modules', () => {
  it('builds a completed model run’s grid from its summaries, in step order', async () => {
    const { modelGrid } = await load<ModelGridModule>('modelGrid.mjs');
    const grid = modelGrid({
      status: 'completed',
      output: {
        iterations: 2,
        summaries: [
          'iteration 1 populationsim: done, 0.5 s, cpu avg 63 % max 70 %, rss max 12 MB; archives a.zip; cleaned 1',
          'iteration 1 activitysim: done, 1.5 s, cpu avg 2 % max 2 %, rss max 40 MB; archives b.zip; cleaned 1',
          'iteration 2 populationsim: no command selected for this iteration',
          'iteration 2 activitysim: done (recorded already)',
        ],
      },
    });
    assert.deepEqual(grid.iterations, [1, 2]);
    assert.deepEqual(grid.steps, ['populationsim', 'activitysim']);
    assert.equal(grid.cell(1, 'populationsim').state, 'completed');
    assert.deepEqual(grid.cell(1, 'populationsim').usage, {
      durationSeconds: 0.5,
      cpuAvg: 63,
      cpuMax: 70,
      rssMaxMb: 12,
    });
    assert.equal(grid.cell(2, 'populationsim').state, 'skipped');
    assert.equal(grid.cell(2, 'activitysim').state, 'completed');
    assert.equal(grid.cell(2, 'activitysim').usage, undefined);
  });

  it('marks the failed cell from the error, and cells whose jobs ended as ran', async () => {
    const { modelGrid } = await load<ModelGridModule>('modelGrid.mjs');
    const job = (stepId: string, state: string, attempt = 1) => ({
      jobId: `j-${stepId}-${attempt}`,
      stepId,
      attempt,
      state,
    });
    const grid = modelGrid(
      {
        status: 'failed',
        error:
          'step activitysim of iteration 2 failed at command 0: node run.mjs: exit code 3 (error dump: x)',
        params: { iterations: 3, steps: ['populationsim', 'activitysim'] },
      },
      {
        jobs: [
          job('i1-populationsim-c0', 'succeeded'),
          job('i1-activitysim-c0', 'succeeded'),
          job('i2-activitysim-c0', 'failed'),
        ],
      },
    );
    assert.deepEqual(grid.iterations, [1, 2, 3]);
    assert.equal(grid.cell(2, 'activitysim').state, 'failed');
    assert.equal(grid.cell(1, 'activitysim').state, 'ran');
    assert.equal(grid.cell(3, 'populationsim').state, 'pending');
  });

  it('shows a live run’s cells: finished iterations, running, queued and failed jobs', async () => {
    const { modelGrid } = await load<ModelGridModule>('modelGrid.mjs');
    const grid = modelGrid(
      { status: 'running', params: { iterations: 3 } },
      {
        children: [
          {
            instanceId: 'model-x-iter-1',
            runtimeStatus: 'Completed',
            output: { summaries: ['iteration 1 prep: done; archives none; cleaned 0'] },
          },
          { instanceId: 'model-x-iter-2', runtimeStatus: 'Running' },
          { instanceId: 'model-y-iter-3', runtimeStatus: 'Failed' },
        ],
        jobs: [
          { jobId: 'a', stepId: 'i1-prep-c0', attempt: 1, state: 'succeeded' },
          { jobId: 'b', stepId: 'i2-prep-c0', attempt: 1, state: 'failed' },
          { jobId: 'c', stepId: 'i2-prep-c0', attempt: 2, state: 'running' },
          { jobId: 'd', stepId: 'i2-solve-c0', attempt: 1, state: 'pending' },
          { jobId: 'f', stepId: 'i4-prep-c0', attempt: 1, state: 'succeeded' },
          { jobId: 'g', stepId: 'i4-solve-c0', attempt: 1, state: 'succeeded' },
          { jobId: 'h', stepId: 'i4-solve-c1', attempt: 1, state: 'running' },
          { jobId: 'e', stepId: 'i3-prep-c0', attempt: 1, state: 'timed_out' },
        ],
      },
    );
    assert.deepEqual(grid.steps, ['prep', 'solve']);
    assert.equal(grid.cell(1, 'prep').state, 'completed');
    assert.equal(grid.cell(2, 'prep').state, 'running', 'a retry runs after a failed attempt');
    assert.equal(grid.cell(2, 'solve').state, 'queued');
    assert.equal(grid.cell(3, 'prep').state, 'failed', 'its iteration failed after it');
    assert.equal(grid.cell(1, 'solve').state, 'pending');
    assert.equal(grid.cell(4, 'prep').state, 'completed', 'the next step started after it');
    assert.equal(grid.cell(4, 'solve').state, 'running', 'its second command runs');
  });

  it('reads slots per backend from the exposition text, escapes and all', async () => {
    const { parseMetrics, slotsByBackend } = await load<MetricsTextModule>('metricsText.mjs');
    const samples = parseMetrics(
      [
        '# HELP baton_backend_slots Slots.',
        '# TYPE baton_backend_slots gauge',
        'baton_backend_slots{backend="local"} 4',
        'baton_backend_slots{backend="aci"} 20',
        'baton_backend_slots_in_use{backend="local"} 3',
        'baton_backend_slots_in_use{backend="aci"} 0',
        'baton_runs{pipeline="say \\"hi\\"",status="completed"} 2',
        'not a sample',
        '',
      ].join('\n'),
    );
    assert.deepEqual(samples.find((s) => s.name === 'baton_runs')?.labels, {
      pipeline: 'say "hi"',
      status: 'completed',
    });
    assert.deepEqual(slotsByBackend(samples), [
      { backend: 'aci', slots: 20, inUse: 0, free: 20 },
      { backend: 'local', slots: 4, inUse: 3, free: 1 },
    ]);
  });
});

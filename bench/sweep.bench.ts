/**
 * A hyper-parameter sweep of trivial trials through the local host: one `sweep` run started
 * over HTTP, N trials (`--quick`: 40, else 500) 8 at a time, random sampler over one uniform
 * parameter, no pruner; each trial is `node -e` appending one metrics line
 * (`{"step":0,"loss":x}`) to `BATON_METRICS_FILE`. Reports trials per second from submit to the
 * run's end, the trial jobs' own run time (launch to end on the backend: mean, p95), and the
 * mean overhead per trial beyond it. `--json` prints the row as JSON. Exit code 1 only when the
 * sweep does not complete with N completed trials in time (30 min; `--quick`: 5 min).
 *
 * A sweep's trial jobs go straight to the launch-job queue, not through the task scheduler, so
 * `BATON_BACKEND_SLOTS` does not bound them: only `parallelism` does. The job watcher polls the
 * backend once a second (the finest NCRONTAB step), so each trial waits up to a second to be
 * seen ending, on top of its sub-orchestration's activities (prepare, launch, logs, record).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { jobsCollection, type JobRecord } from '../shared/app/jobs.js';
import type { RunView } from '../shared/domain/runView.js';
import type { SweepOutput } from '../shared/orchestrations/sweepTypes.js';
import { LocalHost } from '../shared/runtime/localHost.js';
import { readLocalSecret } from '../shared/runtime/localAccess.js';
import { createLogger } from '../shared/runtime/logger.js';
import { benchArgs, percentile, printJson, printTable } from './benchSupport.js';

const { quick, json, showProgress } = benchArgs('sweep.bench.ts');
const trials = quick ? 40 : 500;
const parallelism = 8;
const timeoutMs = (quick ? 5 : 30) * 60_000;

// One metrics line with the trial's x as its loss; parameters and the file come from the env.
const trialScript = [
  "const { appendFileSync } = require('node:fs');",
  'const { x } = JSON.parse(process.env.BATON_PARAMS);',
  'appendFileSync(process.env.BATON_METRICS_FILE, JSON.stringify({ step: 0, loss: x }) + "\\n");',
].join('\n');

const stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-sweep-'));
const host = await LocalHost.start({
  stateDir,
  port: 0,
  logger: createLogger({ level: 'silent' }),
  env: { BATON_JOB_WATCH_SCHEDULE: '* * * * * *' },
});
let failed = false;
try {
  // Changes need the host's secret, as the CLI sends it.
  const secret = await readLocalSecret(stateDir, process.env);
  const call = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${host.url}/api/${route}`, {
      method,
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${secret ?? ''}`,
        'x-baton-user': 'bench',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok)
      throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };

  const submitted = Date.now();
  const { runId } = await call<{ runId: string }>('POST', 'runs', {
    pipeline: 'sweep',
    params: {
      experiment: 'bench-sweep',
      space: { x: { type: 'uniform', low: 0, high: 1 } },
      objective: { metric: 'loss', direction: 'minimize' },
      budget: { maxTrials: trials },
      parallelism,
      sampler: { kind: 'random' },
      pruner: { kind: 'none' },
      seed: 1,
      trial: { argv: [process.execPath, '-e', trialScript], timeoutSeconds: 60 },
    },
  });

  // Until the run ends; its progress (custom status) on stderr every few seconds.
  const deadline = submitted + timeoutMs;
  let view: RunView;
  let shownAt = 0;
  for (;;) {
    view = await call<RunView>('GET', `runs/${runId}`);
    if (!['pending', 'running'].includes(view.status) || Date.now() >= deadline) break;
    if (showProgress && Date.now() - shownAt >= 3000) {
      const progress = (view.progress ?? {}) as { finished?: number; running?: number };
      const elapsed = ((Date.now() - submitted) / 1000).toFixed(0);
      process.stderr.write(
        `\r  sweep bench: ${progress.finished ?? 0}/${trials} trials finished, ${progress.running ?? 0} running (${elapsed} s)   `,
      );
      shownAt = Date.now();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (showProgress) process.stderr.write('\n');
  const ended = !['pending', 'running'].includes(view.status);
  // The run's own last update, not the poll that saw it: the poll interval is not sweep time.
  const totalMs = (ended ? Date.parse(view.updatedAt) : Date.now()) - submitted;

  const output = view.output as SweepOutput | null;
  const completed = output?.completed ?? 0;
  if (view.status !== 'completed' || completed !== trials) {
    failed = true;
    const why = ended ? '' : `timed out after ${timeoutMs / 1000} s: `;
    console.error(
      `${why}sweep ${runId} ${view.status}, ${completed} of ${trials} trials completed` +
        (view.error === undefined ? '' : `: ${view.error}`),
    );
  }

  // The trial jobs' own run time: from the backend's start to its end of each process.
  const jobs = (await host.services.state.query<JobRecord>(jobsCollection, { pk: runId }))
    .map((doc) => doc.body)
    .filter((job) => job.launchedAt !== undefined && job.finishedAt !== undefined);
  const succeeded = jobs.filter((job) => job.state === 'succeeded').length;
  if (succeeded !== trials) {
    failed = true;
    console.error(`${succeeded} of ${trials} trial jobs succeeded (${jobs.length} ended)`);
  }
  const runMs = jobs.map(
    (job) => Date.parse(job.finishedAt ?? '') - Date.parse(job.launchedAt ?? ''),
  );
  const meanRunMs = runMs.reduce((sum, ms) => sum + ms, 0) / Math.max(runMs.length, 1);
  // Each of the `parallelism` lanes is busy for the whole wall time, so a trial holds a lane
  // for wall × parallelism / N on average; what its job's own run time does not cover is overhead.
  const overheadMs = (totalMs * parallelism) / trials - meanRunMs;
  const row = {
    trials,
    parallelism,
    status: view.status,
    completed,
    totalSeconds: Number((totalMs / 1000).toFixed(1)),
    trialsPerSecond: Number(((completed * 1000) / Math.max(totalMs, 1)).toFixed(2)),
    meanTrialMs: Math.round(meanRunMs),
    p95TrialMs: percentile(runMs, 0.95),
    overheadPerTrialMs: Math.round(overheadMs),
  };
  if (json) printJson(row);
  else printTable('sweep throughput: trivial trials through the local host (process backend)', row);
} finally {
  await host.stop();
  await rm(stateDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

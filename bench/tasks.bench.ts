/**
 * Throughput of a task of trivial jobs through the local host: datasets in the lake, one task
 * of N jobs (`--quick`: 100, else 1,000) on the local process backend with 8 slots, the
 * scheduler, launch, watcher and job-events functions all running as they do under `baton up`.
 * Reports jobs per second from submit to `finished`, and the wait from queued to started.
 * `--json` prints the row as JSON. Exit code 1 only when the task does not finish correctly.
 *
 * The job watcher polls the backend once a second (the finest NCRONTAB step), so with jobs that
 * take milliseconds the bound is about slots per watcher pass; the numbers show that bound.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalHost } from '../shared/runtime/localHost.js';
import { readLocalSecret } from '../shared/runtime/localAccess.js';
import { createLogger } from '../shared/runtime/logger.js';
import { benchArgs, printJson, printTable } from './benchSupport.js';

const { quick, json, showProgress } = benchArgs('tasks.bench.ts');
const jobs = quick ? 100 : 1000;
const slots = 8;

interface TaskView {
  state: string;
  percentDone: number;
  jobList: Array<{ state: string; startedAt?: string; finishedAt?: string }>;
}

const stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-tasks-'));
const host = await LocalHost.start({
  stateDir,
  port: 0,
  logger: createLogger({ level: 'silent' }),
  env: {
    BATON_BACKEND_SLOTS: `local=${slots}`,
    BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
    BATON_SCHEDULER_SCHEDULE: '*/5 * * * * *',
  },
});
let failed = false;
try {
  const lake = path.join(stateDir, 'lake', 'bench');
  await mkdir(path.join(lake, 'configs'), { recursive: true });
  await writeFile(path.join(lake, 'data.txt'), 'data\n');
  for (let i = 0; i < jobs; i++) {
    await writeFile(path.join(lake, 'configs', `c${String(i).padStart(4, '0')}`), `${i}\n`);
  }
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
  await call('POST', 'datasets', { name: 'user.bench.data', path: 'bench/data.txt' });
  await call('POST', 'datasets', { name: 'user.bench.configs', path: 'bench/configs' });

  const submitted = performance.now();
  await call('POST', 'tasks', {
    name: 'user.bench.trivial',
    configDataset: 'user.bench.configs',
    dataDataset: 'user.bench.data',
    exec: 'test -e %DATA && test -e %IN && : > %OUT',
    bypass: true,
  });
  const createdMs = performance.now() - submitted;
  let view: TaskView;
  let lastShown = -1;
  for (;;) {
    view = await call<TaskView>('GET', 'tasks/user.bench.trivial');
    if (!['registered', 'testing', 'running'].includes(view.state)) break;
    const shown = Math.floor(view.percentDone / 10);
    if (shown !== lastShown && showProgress) {
      process.stderr.write(`\r  tasks bench: ${view.percentDone.toFixed(1)} % of ${jobs} jobs`);
      lastShown = shown;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const totalMs = performance.now() - submitted;
  if (showProgress) process.stderr.write('\n');
  const succeeded = view.jobList.filter((j) => j.state === 'succeeded').length;
  failed = view.state !== 'finished' || succeeded !== jobs;
  const runMs = view.jobList.map(
    (j) => Date.parse(j.finishedAt ?? '') - Date.parse(j.startedAt ?? ''),
  );
  runMs.sort((a, b) => a - b);
  const row = {
    jobs,
    slots,
    state: view.state,
    succeeded,
    createMs: Math.round(createdMs),
    totalSeconds: Number((totalMs / 1000).toFixed(1)),
    jobsPerSecond: Number(((jobs * 1000) / totalMs).toFixed(2)),
    medianJobMs: runMs[Math.floor(runMs.length / 2)] ?? 0,
  };
  if (json) printJson(row);
  else printTable('task throughput: trivial jobs through the local host (process backend)', row);
} finally {
  await host.stop();
  await rm(stateDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

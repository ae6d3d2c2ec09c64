import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { runCli } from '../helpers/hostProcess.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * Tasks end to end on an in-process local host with its timers and queues running: datasets in
 * the lake, a task of one job per config file through the test gate, jobs on the local process
 * backend in 3 slots, outputs and logs collected into the lake, policy retries, a broken gate,
 * retry, kill and delete. Everything goes through `/api/*` as alice.
 */
interface TaskJob {
  key: string;
  item: string;
  state: string;
  attempt: number;
  gate: boolean;
  exitCode?: number;
  outputPath?: string;
  logPath?: string;
  startedAt?: string;
  finishedAt?: string;
}
interface TaskView {
  name: string;
  state: string;
  jobs: number;
  gateSize: number;
  message?: string;
  byState: Record<string, number>;
  percentDone: number;
  history: Array<{ from: string; to: string; event: string }>;
  jobList: TaskJob[];
}
interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

const slots = 3;

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('tasks on a live local host', () => {
  let stateDir: string;
  let host: LocalHost;
  const lakePath = (rel: string): string => path.join(stateDir, 'lake', ...rel.split('/'));
  const lakeFile = async (rel: string, content: string): Promise<void> => {
    await mkdir(path.dirname(lakePath(rel)), { recursive: true });
    await writeFile(lakePath(rel), content);
  };

  async function call<T>(method: string, route: string, body?: unknown): Promise<[number, T]> {
    const response = await fetch(`${host.url}/api/${route}`, {
      method,
      headers: asUser('alice'),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return [response.status, (await response.json()) as T];
  }
  const show = async (name: string): Promise<TaskView> => {
    const [status, view] = await call<TaskView>('GET', `tasks/${name}`);
    assert.equal(status, 200);
    return view;
  };
  const settled = (name: string, timeoutMs = 60_000): Promise<TaskView> =>
    until(
      `${name} to settle`,
      async () => {
        const view = await show(name);
        return ['registered', 'testing', 'running'].includes(view.state) ? undefined : view;
      },
      timeoutMs,
    );

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-tasks-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: {
        BATON_BACKEND_SLOTS: `local=${slots}`,
        BATON_TASK_TEST_JOBS: '2',
        BATON_TASK_RETRY_BACKOFF_SECONDS: '0',
        BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
        BATON_SCHEDULER_SCHEDULE: '*/2 * * * * *',
      },
    });
    await lakeFile('alice/data/table.csv', 'x,y\n1,2\n');
    for (let i = 0; i < 8; i++) {
      await lakeFile(`alice/configs/c${i}.json`, JSON.stringify({ i }));
    }
    // A config file whose name would break out of an unquoted shell word: `$(touch pwned)`.
    await lakeFile('alice/hostile/$(touch pwned); echo x.json', '{"i": 99}');
    await lakeFile('alice/flaky/a.json', '{}');
    await lakeFile('alice/flaky/b.json', '{}');
    for (const [name, dataset] of [
      ['alice/data/table.csv', 'user.alice.data'],
      ['alice/configs', 'user.alice.configs'],
      ['alice/hostile', 'user.alice.hostile'],
      ['alice/flaky', 'user.alice.flaky'],
    ] as const) {
      const [status] = await call('POST', 'datasets', { name: dataset, path: name });
      assert.equal(status, 201);
    }
  });
  after(async () => {
    await host.stop();
    // Job supervisors outlive the host by design (a killed job's may still be writing its
    // status): retry while the folder is still changing under the removal.
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('runs the test gate, then every job in at most 3 slots, outputs and logs in the lake', async () => {
    const script =
      'cat "$BATON_IN" > /dev/null; mkdir %OUT && wc -l < %DATA > %OUT/lines.txt && sleep 0.3 && echo done-with-%IN';
    const [status, created] = await call<TaskView>('POST', 'tasks', {
      name: 'user.alice.scan',
      configDataset: 'user.alice.configs',
      dataDataset: 'user.alice.data',
      exec: script,
    });
    assert.equal(status, 201, JSON.stringify(created));
    assert.equal(created.state, 'registered');
    assert.equal(created.jobs, 8);
    assert.equal(created.gateSize, 2);

    const view = await settled('user.alice.scan');
    assert.equal(view.state, 'finished', JSON.stringify(view));
    assert.deepEqual(
      view.history.map((h) => h.to),
      ['testing', 'running', 'finished'],
    );
    assert.equal(view.percentDone, 100);
    for (const job of view.jobList) {
      assert.equal(job.state, 'succeeded');
      assert.ok(job.outputPath, `${job.key} has an output`);
      const lines = await readFile(lakePath(`${job.outputPath}/lines.txt`), 'utf8');
      assert.equal(lines.trim(), '2');
      const log = await readFile(lakePath(job.logPath ?? ''), 'utf8');
      assert.match(log, /done-with-\/.*\/in\/c\d\.json/);
    }
    // The gate's jobs ended before any other job started.
    const gateEnd = Math.max(
      ...view.jobList.filter((j) => j.gate).map((j) => Date.parse(j.finishedAt ?? '')),
    );
    for (const job of view.jobList.filter((j) => !j.gate)) {
      assert.ok(Date.parse(job.startedAt ?? '') >= gateEnd, `${job.key} started after the gate`);
    }
    // Never more than `slots` jobs at once: sweep the start/finish intervals.
    const points = view.jobList.flatMap((j) => [
      { at: Date.parse(j.startedAt ?? ''), delta: 1 },
      { at: Date.parse(j.finishedAt ?? ''), delta: -1 },
    ]);
    points.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let concurrent = 0;
    let peak = 0;
    for (const point of points) {
      concurrent += point.delta;
      peak = Math.max(peak, concurrent);
    }
    assert.ok(peak <= slots, `peak concurrency ${peak} ≤ ${slots}`);
    assert.ok(peak >= 2, `jobs ran in parallel (peak ${peak})`);
    // Each ended job was released on the backend once its log was saved.
    const left = (await readdir(path.join(stateDir, 'jobs'))).filter((d) => d.startsWith('t-'));
    assert.deepEqual(left, []);
  });

  it('passes a hostile file name to the job as one value, never as shell code', async () => {
    const [status, created] = await call<TaskView>('POST', 'tasks', {
      name: 'user.alice.hostile',
      configDataset: 'user.alice.hostile',
      dataDataset: 'user.alice.data',
      exec: 'test -s %DATA && printf "%s\\n" %IN > %OUT',
      bypass: true,
    });
    assert.equal(status, 201, JSON.stringify(created));
    const view = await settled('user.alice.hostile');
    assert.equal(view.state, 'finished', JSON.stringify(view));
    const [job] = view.jobList;
    const written = await readFile(lakePath(`${job?.outputPath ?? ''}/out`), 'utf8');
    assert.ok(written.trim().endsWith('/in/$(touch pwned); echo x.json'), written);
    const work = await readdir(stateDir, { recursive: true });
    assert.ok(!work.some((entry) => entry.endsWith('pwned')), 'nothing named pwned was created');
  });

  it('retries a failing job by policy, breaks the gate, and retry re-queues only failed jobs', async () => {
    // Fails unless a marker exists in the lake folder of the data; each attempt leaves a count.
    const marker = path.join(stateDir, 'flaky');
    const [status] = await call('POST', 'tasks', {
      name: 'user.alice.flaky',
      configDataset: 'user.alice.flaky',
      dataDataset: 'user.alice.data',
      exec: `test -e "${marker}.ok" && cat %DATA %IN > %OUT`,
      maxRetries: 1,
    });
    assert.equal(status, 201);
    const broken = await settled('user.alice.flaky');
    assert.equal(broken.state, 'broken', JSON.stringify(broken));
    assert.match(broken.message ?? '', /test gate failed/);
    const failed = broken.jobList.filter((j) => j.state === 'failed');
    assert.ok(failed.length >= 1);
    for (const job of failed) {
      assert.equal(job.attempt, 2, 'one policy retry (maxRetries 1) before giving up');
      assert.equal(job.exitCode, 1);
    }

    // The failing jobs' logs are at hand, over HTTP and from the CLI.
    const [logStatus, logs] = await call<Array<{ key: string; state: string; text: string }>>(
      'GET',
      'tasks/user.alice.flaky/logs',
    );
    assert.equal(logStatus, 200);
    assert.ok(
      logs.some((l) => l.state === 'failed'),
      JSON.stringify(logs),
    );
    const cli = await runCli([
      '--endpoint',
      host.url,
      '--user',
      'alice',
      'task',
      'logs',
      'user.alice.flaky',
      '--job',
      failed[0]?.key ?? '',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(
      cli.stdout,
      new RegExp(`==> ${failed[0]?.key ?? ''} \\S+ attempt 2 \\(failed, exit 1\\)`),
    );

    await writeFile(`${marker}.ok`, '');
    const [retryStatus, retried] = await call<{ state: string; requeued: number }>(
      'POST',
      'tasks/user.alice.flaky/retry',
    );
    assert.equal(retryStatus, 200, JSON.stringify(retried));
    assert.equal(retried.state, 'registered');
    assert.equal(retried.requeued, 2);
    const done = await settled('user.alice.flaky');
    assert.equal(done.state, 'finished', JSON.stringify(done));
    // Each job ran again under a new attempt number (ids never repeat).
    for (const job of done.jobList) {
      const before = broken.jobList.find((j) => j.key === job.key);
      assert.equal(job.attempt, (before?.attempt ?? 0) + 1);
    }
    const [again, error] = await call<ErrorBody>('POST', 'tasks/user.alice.flaky/retry');
    assert.equal(again, 409);
    assert.match(error.error.message, /is finished: every job succeeded, nothing to retry/);
  });

  it('kills running jobs on the backend, then deletes the task and its files', async () => {
    const [status] = await call('POST', 'tasks', {
      name: 'user.alice.slow',
      configDataset: 'user.alice.configs',
      dataDataset: 'user.alice.data',
      exec: 'sleep 30; cat %DATA %IN > %OUT',
      bypass: true,
    });
    assert.equal(status, 201);
    await until('three running jobs', async () => {
      const view = await show('user.alice.slow');
      return view.byState.running === slots ? view : undefined;
    });
    const [deleteEarly, deleteError] = await call<ErrorBody>('DELETE', 'tasks/user.alice.slow');
    assert.equal(deleteEarly, 409);
    assert.match(deleteError.error.message, /kill it first/);

    const [killStatus, killed] = await call<{ state: string; canceled: number }>(
      'POST',
      'tasks/user.alice.slow/kill',
    );
    assert.equal(killStatus, 200);
    assert.equal(killed.state, 'killed');
    assert.equal(killed.canceled, 8);
    const view = await show('user.alice.slow');
    assert.deepEqual([...new Set(view.jobList.map((j) => j.state))], ['canceled']);

    const [delStatus, deleted] = await call<{ filesRemoved: boolean }>(
      'DELETE',
      'tasks/user.alice.slow?removeFiles=true',
    );
    assert.equal(delStatus, 200);
    assert.equal(deleted.filesRemoved, true);
    const [gone] = await call('GET', 'tasks/user.alice.slow');
    assert.equal(gone, 404);
  });

  it('cancels a job past its timeout and counts it as not succeeded', async () => {
    const [status] = await call('POST', 'tasks', {
      name: 'user.alice.stuck',
      configDataset: 'user.alice.hostile',
      dataDataset: 'user.alice.data',
      exec: 'echo started; sleep 20; cat %DATA %IN > %OUT',
      timeoutSeconds: 1,
      maxRetries: 0,
      bypass: true,
    });
    assert.equal(status, 201);
    const view = await settled('user.alice.stuck');
    assert.equal(view.state, 'failed', JSON.stringify(view));
    assert.equal(view.jobList[0]?.state, 'timed_out');
    assert.match(view.message ?? '', /1 of 1 jobs did not succeed/);
    const [, logs] = await call<Array<{ state: string; text: string }>>(
      'GET',
      'tasks/user.alice.stuck/logs',
    );
    assert.equal(logs[0]?.state, 'timed_out');
    assert.match(logs[0]?.text ?? '', /started/);
  });

  it('refuses bad submissions with the field named, and tasks of other users', async () => {
    const base = {
      name: 'user.alice.bad',
      configDataset: 'user.alice.configs',
      dataDataset: 'user.alice.data',
      exec: 'run %DATA %IN %OUT',
    };
    const cases: Array<[unknown, number, string]> = [
      [{ ...base, exec: 'run %DATA %IN' }, 400, '%OUT is missing'],
      [{ ...base, name: 'user.bob.bad' }, 403, 'belong to bob'],
      [{ ...base, configDataset: 'user.alice.nope' }, 404, 'configDataset'],
      [{ ...base, backend: 'hpc' }, 400, 'backend'],
      [{ ...base, priority: 9 }, 400, 'priority'],
      [{ ...base, name: 'user.alice.scan' }, 409, 'already exists'],
    ];
    for (const [body, code, text] of cases) {
      const [status, reply] = await call<ErrorBody>('POST', 'tasks', body);
      assert.equal(status, code, JSON.stringify(reply));
      assert.ok(reply.error.message.includes(text), reply.error.message);
    }
  });
});

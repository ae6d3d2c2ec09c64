import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  api,
  killHard,
  startHostProcess,
  stopGracefully,
  type HostProcess,
} from '../helpers/hostProcess.js';

/**
 * Restart safety of tasks: `baton up` is SIGKILLed several times while a task's jobs run and
 * started again on the same state folder. Jobs that were running are re-attached (each job's
 * process started exactly once, as its own launch log shows), queued jobs stay queued and run
 * later, and the task finishes with every output.
 */
interface TaskView {
  state: string;
  byState: Record<string, number>;
  jobList: Array<{ key: string; state: string; attempt: number; outputPath?: string }>;
}

const jobs = 12;

describe('tasks across host kills (baton up as a child process)', () => {
  let stateDir = '';
  let host: HostProcess | undefined;
  after(async () => {
    if (host) await killHard(host);
    if (stateDir)
      await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it(
    'finishes a task whose host was killed mid-run, launching no job twice',
    { timeout: 180_000 },
    async () => {
      stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-task-kill-'));
      const env = {
        BATON_BACKEND_SLOTS: 'local=3',
        BATON_TASK_TEST_JOBS: '1',
        BATON_TASK_RETRY_BACKOFF_SECONDS: '0',
        BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
        BATON_SCHEDULER_SCHEDULE: '* * * * * *',
      };
      const lake = path.join(stateDir, 'lake', 'tester');
      await mkdir(path.join(lake, 'configs'), { recursive: true });
      await writeFile(path.join(lake, 'data.txt'), 'data\n');
      for (let i = 0; i < jobs; i++) {
        await writeFile(path.join(lake, 'configs', `c${String(i).padStart(2, '0')}.txt`), `${i}\n`);
      }
      host = await startHostProcess(stateDir, env);
      const firstUrl = host.url;
      for (const [name, lakePath] of [
        ['user.tester.data', 'tester/data.txt'],
        ['user.tester.configs', 'tester/configs'],
      ]) {
        const registered = await api<unknown>(`${firstUrl}/api/datasets`, 'POST', {
          name,
          path: lakePath,
        });
        assert.equal(registered.status, 201, JSON.stringify(registered.body));
      }
      const launches = path.join(stateDir, 'launches.log');
      const created = await api<unknown>(`${firstUrl}/api/tasks`, 'POST', {
        name: 'user.tester.restart',
        configDataset: 'user.tester.configs',
        dataDataset: 'user.tester.data',
        exec: `echo "$PWD" >> "${launches}"; sleep 1.5; cat %DATA %IN > %OUT`,
        maxRetries: 0,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));

      // Each kill lands while a job runs: wait for one (and a little into it), then kill.
      let killsWhileRunning = 0;
      for (const into of [300, 900, 600]) {
        const url = host.url;
        const deadline = Date.now() + 60_000;
        let running = 0;
        while (Date.now() < deadline && running === 0) {
          const view = await api<TaskView>(`${url}/api/tasks/user.tester.restart`);
          running = view.body.byState.running ?? 0;
          if (running === 0) await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, into));
        await killHard(host);
        if (running > 0) killsWhileRunning++;
        host = await startHostProcess(stateDir, env);
      }
      assert.equal(killsWhileRunning, 3, 'every kill landed while jobs ran');

      let view: TaskView | undefined;
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        view = (await api<TaskView>(`${host.url}/api/tasks/user.tester.restart`)).body;
        if (!['registered', 'testing', 'running'].includes(view.state)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(view?.state, 'finished', JSON.stringify(view));
      assert.equal(view?.jobList.length, jobs);
      for (const job of view?.jobList ?? []) {
        assert.equal(job.attempt, 1, `${job.key} needed no second attempt`);
        const out = await readFile(
          path.join(stateDir, 'lake', ...(job.outputPath ?? '').split('/'), 'out'),
          'utf8',
        );
        assert.equal(out, `data\n${Number(job.key.slice(1))}\n`);
      }
      // One line per job process: a job launched twice would have left two.
      const lines = (await readFile(launches, 'utf8')).split('\n').filter(Boolean);
      assert.equal(lines.length, jobs, lines.join('\n'));
      assert.equal(new Set(lines).size, jobs);

      assert.equal(await stopGracefully(host), 0);
      host = undefined;
    },
  );
});

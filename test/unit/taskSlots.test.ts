import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../shared/app/config.js';
import { registerDataset } from '../../shared/app/datasets.js';
import { createLocalServices } from '../../shared/app/services.js';
import { taskDepsOf, type TaskDeps } from '../../shared/app/taskDeps.js';
import { applyTaskJobEvent } from '../../shared/app/taskJobs.js';
import { runSchedulerTick } from '../../shared/app/taskScheduler.js';
import { createTask, getTask, jobsOf } from '../../shared/app/tasks.js';
import type { TaskJobRecord } from '../../shared/domain/tasks.js';

/**
 * Slot accounting of the scheduler with the real local state store and bus: completions that
 * arrive concurrently (and twice: the bus delivers at least once) free each slot exactly once,
 * so every tick fills exactly the freed slots; concurrent ticks never hand out a slot twice.
 * No job runs here: the tick's launch messages are left unread and completions are delivered
 * as `job-events` messages would be.
 */
const slots = 5;
const jobCount = 23;

describe('slot accounting under concurrent completions', () => {
  let stateDir: string;
  let deps: TaskDeps;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-slots-'));
    const services = createLocalServices(
      loadConfig({
        BATON_STATE_DIR: stateDir,
        BATON_BACKEND_SLOTS: `local=${slots}`,
        BATON_TASK_RETRY_BACKOFF_SECONDS: '0',
      }),
    );
    deps = { ...taskDepsOf(services), tickCoalesceMs: 1 };
    const lake = path.join(stateDir, 'lake', 'u');
    await mkdir(path.join(lake, 'configs'), { recursive: true });
    await writeFile(path.join(lake, 'data.txt'), 'd');
    for (let i = 0; i < jobCount; i++) await writeFile(path.join(lake, 'configs', `${i}`), `${i}`);
    await registerDataset(services, { name: 'user.u.data', path: 'u/data.txt' }, 'u');
    await registerDataset(services, { name: 'user.u.configs', path: 'u/configs' }, 'u');
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  const holding = (jobs: TaskJobRecord[]): TaskJobRecord[] =>
    jobs.filter((j) => j.state === 'assigned' || j.state === 'running');

  it('fills exactly the freed slots, tick after tick, until the task ends', async () => {
    await createTask(
      deps,
      {
        name: 'user.u.scan',
        configDataset: 'user.u.configs',
        dataDataset: 'user.u.data',
        exec: 'run %DATA %IN %OUT',
        bypass: true,
        maxRetries: 1,
      },
      'u',
    );
    // Three ticks at once: the lease lets one plan, the others step aside.
    const first = await Promise.all([1, 2, 3].map(() => runSchedulerTick(deps)));
    assert.equal(first.filter((t) => t.skipped).length, 2, JSON.stringify(first));
    assert.equal(
      first.reduce((sum, t) => sum + t.launched, 0),
      slots,
    );

    let launches = slots;
    let round = 0;
    let failuresInjected = 0;
    for (;;) {
      const jobs = await jobsOf(deps, 'user.u.scan');
      const held = holding(jobs);
      assert.ok(held.length <= slots, `round ${round}: ${held.length} jobs hold a slot`);
      if (held.length === 0) break;
      // Every holder ends at once, each event delivered twice; one per round fails (retried).
      await Promise.all(
        held.flatMap((job, i) => {
          const fails = i === 0 && job.attempt === 1 && round % 2 === 0;
          if (fails) failuresInjected++;
          const event = {
            task: job.task,
            key: job.key,
            computeJobId: job.computeJobId,
            state: fails ? 'failed' : 'succeeded',
            ...(fails ? { exitCode: 3 } : { exitCode: 0 }),
          };
          return [applyTaskJobEvent(deps, event), applyTaskJobEvent(deps, event)];
        }),
      );
      const after = await jobsOf(deps, 'user.u.scan');
      assert.equal(holding(after).length, 0, 'every slot freed');
      const waiting = after.filter((j) => j.state === 'queued').length;
      const tick = await runSchedulerTick(deps);
      assert.equal(tick.skipped, false);
      assert.equal(tick.launched, Math.min(slots, waiting), `round ${round}`);
      launches += tick.launched;
      round++;
    }
    const jobs = await jobsOf(deps, 'user.u.scan');
    assert.ok(failuresInjected >= 2);
    assert.equal(launches, jobCount + failuresInjected, 'each failure retried once, nothing twice');
    assert.ok(jobs.every((j) => j.state === 'succeeded'));
    for (const job of jobs) {
      assert.deepEqual(
        job.attempts.map((a) => a.attempt),
        Array.from({ length: job.attempt }, (_, i) => i + 1),
        `${job.key} recorded each attempt once`,
      );
    }
    assert.equal((await getTask(deps, 'user.u.scan')).state, 'finished');
  });
});

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
import {
  createTask,
  deleteTask,
  getTask,
  jobsOf,
  retryTask,
  updateJob,
} from '../../shared/app/tasks.js';
import { transitionJob } from '../../shared/domain/taskStates.js';
import { taskJobsCollection, type TaskJobRecord } from '../../shared/domain/tasks.js';

/**
 * Task operations interrupted halfway (a host crash between two writes) and finished by the
 * next call: a retry whose jobs were re-queued before the task moved still runs the test gate;
 * a task created again over the leftovers of an earlier one has exactly its own jobs.
 */
describe('task operations resumed after an interruption', () => {
  let stateDir: string;
  let deps: TaskDeps;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-task-recovery-'));
    const services = createLocalServices(
      loadConfig({
        BATON_STATE_DIR: stateDir,
        BATON_TASK_TEST_JOBS: '2',
        BATON_TASK_RETRY_BACKOFF_SECONDS: '0',
      }),
    );
    deps = { ...taskDepsOf(services), tickCoalesceMs: 1 };
    const lake = path.join(stateDir, 'lake', 'u');
    await mkdir(path.join(lake, 'configs'), { recursive: true });
    await writeFile(path.join(lake, 'data.txt'), 'd');
    for (let i = 0; i < 5; i++) await writeFile(path.join(lake, 'configs', `${i}`), `${i}`);
    await mkdir(path.join(lake, 'two'), { recursive: true });
    for (let i = 0; i < 2; i++) await writeFile(path.join(lake, 'two', `${i}`), `${i}`);
    await registerDataset(services, { name: 'user.u.data', path: 'u/data.txt' }, 'u');
    await registerDataset(services, { name: 'user.u.configs', path: 'u/configs' }, 'u');
    await registerDataset(services, { name: 'user.u.two', path: 'u/two' }, 'u');
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  const body = (name: string, configDataset = 'user.u.configs') => ({
    name,
    configDataset,
    dataDataset: 'user.u.data',
    exec: 'run %DATA %IN %OUT',
    maxRetries: 0,
  });

  it('runs the gate again when a retry stopped after re-queuing the jobs', async () => {
    await createTask(deps, body('user.u.gated'), 'u');
    await runSchedulerTick(deps); // registered -> testing, the 2 gate jobs assigned
    for (const job of (await jobsOf(deps, 'user.u.gated')).filter((j) => j.state === 'assigned')) {
      await applyTaskJobEvent(deps, {
        task: job.task,
        key: job.key,
        computeJobId: job.computeJobId,
        state: 'failed',
        exitCode: 1,
      });
    }
    await runSchedulerTick(deps);
    assert.equal((await getTask(deps, 'user.u.gated')).state, 'broken');

    // The interrupted retry: every job re-queued by hand, the task left broken.
    const docs = await deps.state.query<TaskJobRecord>(taskJobsCollection, { pk: 'user.u.gated' });
    for (const doc of docs) {
      await updateJob(deps, doc, (job) => ({
        ...transitionJob(job, { type: 'retry', by: 'user' }, job),
        gate: false,
      }));
    }
    const retried = await retryTask(deps, 'user.u.gated', 'u');
    assert.equal(retried.state, 'registered');
    assert.equal(retried.requeued, 5);
    await runSchedulerTick(deps);
    const view = await getTask(deps, 'user.u.gated');
    assert.equal(view.state, 'testing', 'the gate runs again');
    assert.equal(view.gateSize, 2);
    assert.deepEqual(
      view.jobList.filter((j) => j.gate).map((j) => j.key),
      ['j000000', 'j000001'],
    );
    assert.equal(
      view.jobList.filter((j) => j.state === 'assigned').length,
      2,
      'only gate jobs start',
    );
  });

  it('creates a task over the leftovers of a deleted one with exactly its own jobs', async () => {
    await createTask(deps, { ...body('user.u.again'), bypass: true }, 'u');
    const leftovers = await deps.state.query<TaskJobRecord>(taskJobsCollection, {
      pk: 'user.u.again',
    });
    await deleteTask(deps, 'user.u.again', 'u', { removeFiles: true });
    // A delete that stopped before removing the job documents.
    for (const doc of leftovers) {
      await deps.state.upsert(taskJobsCollection, { id: doc.id, pk: doc.pk, body: doc.body });
    }
    await createTask(deps, { ...body('user.u.again', 'user.u.two'), bypass: true }, 'u');
    const view = await getTask(deps, 'user.u.again');
    assert.equal(view.jobs, 2);
    assert.deepEqual(
      view.jobList.map((j) => j.key),
      ['j000000', 'j000001'],
    );
  });
});

import { z } from 'zod';
import { backoffAfterConflict, maxConflictRetries } from './conflictRetry.js';
import { assertOwner, ownerPattern, parseTaskName } from '../domain/datasets.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { buildJobCommand, parseExecTemplate } from '../domain/execTemplate.js';
import { fitsBackend } from '../domain/priority.js';
import {
  canTransitionJob,
  canTransitionTask,
  isJobEnded,
  taskProgress,
  transitionJob,
  transitionTask,
  type JobState,
  type TaskEvent,
  type TaskProgress,
} from '../domain/taskStates.js';
import {
  createTaskRequestSchema,
  gateSizeFor,
  taskComputeJobId,
  taskIncarnation,
  taskJobKey,
  taskJobsCollection,
  tasksCollection,
  type TaskJobRecord,
  type TaskRecord,
} from '../domain/tasks.js';
import { parseInput } from '../domain/validation.js';
import type { StoredDocument } from '../ports/stateStore.js';
import { getDataset, type DatasetView } from './datasets.js';
import { runLimited } from './runLimited.js';
import type { TaskDeps } from './taskDeps.js';
import { releaseComputeJob } from './jobs.js';
import { saveJobLog, stagedJobOf } from './taskJobs.js';
import { requestSchedulerTick } from './taskScheduler.js';

/**
 * Use cases behind `/api/tasks` and `baton task`: create a task of one job per config item,
 * list, show, delete, retry and kill. The scheduler (taskScheduler.ts) moves tasks through the
 * test gate and launches jobs; this module only records what users ask for, through the state
 * machine of domain/taskStates.ts, and asks for a tick.
 */

export interface TaskSummary {
  name: string;
  owner: string;
  state: TaskRecord['state'];
  backend: string;
  priority: number;
  jobs: number;
  byState: TaskProgress['byState'];
  percentDone: number;
  createdAt: string;
  updatedAt: string;
}

export interface TaskJobView {
  key: string;
  index: number;
  item: string;
  state: JobState;
  attempt: number;
  maxAttempts: number;
  gate: boolean;
  exitCode?: number;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  outputPath?: string;
  logPath?: string;
}

export interface TaskView extends TaskSummary {
  configDataset: string;
  dataDataset: string;
  exec: string;
  image?: string;
  cpu?: number;
  memoryGb?: number;
  timeoutSeconds: number;
  maxRetries: number;
  bypass: boolean;
  gateSize: number;
  message?: string;
  history: TaskRecord['history'];
  jobList: TaskJobView[];
}

export interface TaskDryRun {
  dryRun: true;
  task: TaskView;
  /** The first jobs' commands, with lake paths standing in for the staged copies. */
  sampleJobs: Array<{ key: string; item: string; argv: string[]; env: Record<string, string> }>;
}

export const listTasksQuerySchema = z.object({
  owner: z
    .string()
    .regex(ownerPattern, 'a lower-case letter, then up to 31 lower-case letters, digits, _ or -')
    .optional(),
});

/** Where a task's outputs and job logs go in the lake. */
export const taskLakeFolder = (name: string): string => `tasks/${name}`;
export const taskJobOutputPath = (name: string, key: string, attempt: number): string =>
  `${taskLakeFolder(name)}/outputs/${key}/attempt-${attempt}`;
export const taskJobLogPath = (name: string, key: string, attempt: number): string =>
  `${taskLakeFolder(name)}/logs/${key}.attempt-${attempt}.log`;

export async function createTask(
  deps: TaskDeps,
  body: unknown,
  caller: string,
): Promise<TaskView | TaskDryRun> {
  const request = parseInput(createTaskRequestSchema, body, 'body');
  parseTaskName(request.name, 'name');
  const { owner } = assertOwner(request.name, caller, 'task');
  const template = parseExecTemplate(request.exec);
  const backendName = request.backend ?? deps.compute.name;
  const backend = deps.backends.find((b) => b.name === backendName);
  if (backend === undefined) {
    throw new BatonError(
      'validation',
      `backend: ${backendName} has no slots (BATON_BACKEND_SLOTS declares ${deps.backends.map((b) => b.name).join(', ')})`,
      { field: 'backend' },
    );
  }
  if (backendName !== deps.compute.name || !deps.staging.supports(backendName)) {
    throw new BatonError(
      'precondition_failed',
      `backend: tasks cannot run on ${backendName} in this deployment (jobs run on ${deps.compute.name}${deps.staging.supports(deps.compute.name) ? '' : ', whose jobs cannot be given lake files yet'})`,
      { field: 'backend' },
    );
  }
  const needs = {
    ...(request.cpu === undefined ? {} : { cpu: request.cpu }),
    ...(request.memoryGb === undefined ? {} : { memoryGb: request.memoryGb }),
  };
  if (!fitsBackend(backend, needs)) {
    const field =
      request.cpu !== undefined && !fitsBackend(backend, { cpu: request.cpu }) ? 'cpu' : 'memoryGb';
    throw new BatonError(
      'validation',
      `${field}: a job's needs exceed what backend ${backend.name} has in total`,
      { field },
    );
  }
  const configDataset = await datasetFor(deps, request.configDataset, 'configDataset');
  const dataDataset = await datasetFor(deps, request.dataDataset, 'dataDataset');
  if (!dataDataset.present) {
    throw new BatonError(
      'validation',
      `dataDataset: ${dataDataset.name} points at ${dataDataset.path}, which is no longer in the lake`,
      { field: 'dataDataset' },
    );
  }
  if (configDataset.files.length === 0) {
    throw new BatonError(
      'validation',
      `configDataset: ${configDataset.name} has no files in the lake (${configDataset.path})`,
      { field: 'configDataset' },
    );
  }

  const existing = await deps.state.read<TaskRecord>(tasksCollection, owner, request.name);
  if (existing && existing.body.state !== 'deleted') {
    throw new BatonError('conflict', `task ${request.name} already exists`, { field: 'name' });
  }
  const leftovers = await deps.lake.list(taskLakeFolder(request.name), { recursive: false });
  if (leftovers.length > 0) {
    throw new BatonError(
      'conflict',
      `name: outputs of an earlier task ${request.name} remain in the lake at ${taskLakeFolder(request.name)}; delete them or choose another name`,
      { field: 'name' },
    );
  }

  const now = deps.clock.now().toISOString();
  const incarnation = taskIncarnation(request.name, now);
  const jobCount = configDataset.files.length;
  const gateSize = gateSizeFor(jobCount, deps.testJobs, request.bypass);
  const record: TaskRecord = {
    name: request.name,
    owner,
    state: 'registered',
    configDataset: configDataset.name,
    dataDataset: dataDataset.name,
    data: { path: dataDataset.path, kind: dataDataset.kind },
    exec: template.source,
    ...(request.image === undefined ? {} : { image: request.image }),
    backend: backendName,
    priority: request.priority,
    ...needs,
    timeoutSeconds: request.timeoutSeconds,
    maxRetries: request.maxRetries,
    bypass: request.bypass,
    gateSize,
    jobCount,
    incarnation,
    createdAt: now,
    createdBy: caller,
    updatedAt: now,
    history: [],
  };
  const jobs: TaskJobRecord[] = configDataset.files.map((file, index) => ({
    task: record.name,
    owner,
    index,
    key: taskJobKey(index),
    item: { path: file.path, name: file.name },
    state: 'queued',
    attempt: 1,
    maxAttempts: request.maxRetries + 1,
    gate: index < gateSize,
    queuedAt: now,
    computeJobId: taskComputeJobId(incarnation, index, 1),
    attempts: [],
  }));

  if (request.dryRun) {
    return {
      dryRun: true,
      task: viewOf(record, jobs),
      sampleJobs: jobs.slice(0, 3).map((job) => {
        const command = buildJobCommand(template, {
          data: dataDataset.path,
          in: job.item.path,
          out: `${taskJobOutputPath(record.name, job.key, 1)}/out`,
        });
        return { key: job.key, item: job.item.name, argv: command.argv, env: command.env };
      }),
    };
  }

  // Jobs first, the task document last: it is the commit point. A crash in between, or a
  // delete that stopped halfway, leaves job documents no task refers to: the next create of the
  // name overwrites them, and removes those beyond its own jobs.
  const keys = new Set(jobs.map((job) => job.key));
  const leftoverJobs = await deps.state.query<TaskJobRecord>(taskJobsCollection, {
    pk: record.name,
  });
  await runLimited(
    leftoverJobs.filter((doc) => !keys.has(doc.id)),
    16,
    (doc) => deps.state.delete(taskJobsCollection, record.name, doc.id).catch(() => undefined),
  );
  await runLimited(jobs, 16, (job) =>
    deps.state.upsert(taskJobsCollection, { id: job.key, pk: job.task, body: job }),
  );
  try {
    if (existing) {
      await deps.state.replace(
        tasksCollection,
        { id: record.name, pk: owner, body: record },
        existing.etag,
      );
    } else {
      await deps.state.create(tasksCollection, { id: record.name, pk: owner, body: record });
    }
  } catch (error) {
    if (isBatonError(error, 'conflict') || isBatonError(error, 'precondition_failed')) {
      throw new BatonError('conflict', `task ${request.name} already exists`, { field: 'name' });
    }
    throw error;
  }
  await requestSchedulerTick(deps, 'task created');
  return viewOf(record, jobs);
}

export async function listTasks(deps: TaskDeps, query: unknown): Promise<TaskSummary[]> {
  const q = parseInput(listTasksQuerySchema, query, 'query');
  const docs = await deps.state.query<TaskRecord>(tasksCollection, {
    ...(q.owner === undefined ? {} : { pk: q.owner }),
    orderBy: { field: 'name', direction: 'asc' },
  });
  const summaries: TaskSummary[] = [];
  for (const doc of docs) {
    if (doc.body.state === 'deleted') continue;
    summaries.push(summaryOf(doc.body, await jobsOf(deps, doc.body.name)));
  }
  return summaries;
}

export async function getTask(deps: TaskDeps, name: string): Promise<TaskView> {
  const doc = await readTask(deps, name);
  return viewOf(doc.body, await jobsOf(deps, name));
}

export async function deleteTask(
  deps: TaskDeps,
  name: string,
  caller: string,
  options: { removeFiles: boolean },
): Promise<{ name: string; deleted: true; filesRemoved: boolean }> {
  assertOwner(name, caller, 'task');
  const doc = await readTask(deps, name);
  if (doc.body.state === 'testing' || doc.body.state === 'running') {
    throw new BatonError(
      'conflict',
      `task ${name} is ${doc.body.state}: kill it first (baton task kill -t ${name})`,
      { field: 'task' },
    );
  }
  // The tombstone first, so a scheduler tick that read the task earlier launches nothing more.
  await moveTask(deps, doc, { type: 'delete' }, caller);
  const jobs = await deps.state.query<TaskJobRecord>(taskJobsCollection, { pk: name });
  await runLimited(jobs, 16, async (job) => {
    try {
      await deps.state.delete(taskJobsCollection, name, job.id);
    } catch (error) {
      if (!isBatonError(error, 'not_found')) throw error;
    }
  });
  await deps.staging.discardTask(doc.body.incarnation);
  const filesRemoved = options.removeFiles
    ? await deps.lake.delete(taskLakeFolder(name), { recursive: true })
    : false;
  return { name, deleted: true, filesRemoved };
}

/** Re-queues the failed, timed-out and canceled jobs; the test gate runs again on them. */
export async function retryTask(
  deps: TaskDeps,
  name: string,
  caller: string,
): Promise<{ name: string; state: TaskRecord['state']; requeued: number }> {
  assertOwner(name, caller, 'task');
  const doc = await readTask(deps, name);
  if (!canTransitionTask(doc.body.state, 'retry')) {
    throw new BatonError(
      'conflict',
      doc.body.state === 'finished'
        ? `task ${name} is finished: every job succeeded, nothing to retry`
        : `task ${name} is ${doc.body.state}: only a broken, failed or killed task can be retried`,
      { field: 'task' },
    );
  }
  const now = deps.clock.now().toISOString();
  const jobs = await deps.state.query<TaskJobRecord>(taskJobsCollection, { pk: name });
  // Jobs a settled task still has queued were re-queued by a retry interrupted before it moved
  // the task: they belong to this retry too, gate included.
  const retryable = jobs
    .filter(
      (job) =>
        job.body.state === 'queued' ||
        canTransitionJob(job.body, { type: 'retry', by: 'user' }, job.body),
    )
    .sort((a, b) => a.body.index - b.body.index);
  const gateSize = gateSizeFor(retryable.length, deps.testJobs, doc.body.bypass);
  // Jobs before the task, so a crash in between leaves a settled task whose jobs a second retry
  // finds queued already (and the scheduler launches nothing of a settled task).
  await runLimited(jobs, 16, async (job) => {
    const position = retryable.indexOf(job);
    const gate = position !== -1 && position < gateSize;
    if (position === -1 || job.body.state === 'queued') {
      if (job.body.gate !== gate) await updateJob(deps, job, (body) => ({ ...body, gate }));
      return;
    }
    await updateJob(deps, job, (body) => {
      if (!canTransitionJob(body, { type: 'retry', by: 'user' }, body)) return body;
      const next = transitionJob(body, { type: 'retry', by: 'user' }, body);
      return resetAttempt(
        { ...next, gate, maxAttempts: Math.max(body.maxAttempts, next.attempt) },
        doc.body.incarnation,
        now,
      );
    });
  });
  const moved = await moveTask(deps, doc, { type: 'retry' }, caller, {
    gateSize,
    message: undefined,
  });
  await requestSchedulerTick(deps, 'task retried');
  return { name, state: moved.state, requeued: retryable.length };
}

/** Stops the task: queued jobs are canceled, running ones canceled on their backend. */
export async function killTask(
  deps: TaskDeps,
  name: string,
  caller: string,
): Promise<{ name: string; state: TaskRecord['state']; canceled: number }> {
  assertOwner(name, caller, 'task');
  const doc = await readTask(deps, name);
  if (!canTransitionTask(doc.body.state, 'kill')) {
    throw new BatonError(
      'conflict',
      `task ${name} is ${doc.body.state}: nothing runs, nothing to kill`,
      { field: 'task' },
    );
  }
  // The task first, so the scheduler stops launching its jobs while they are canceled.
  const moved = await moveTask(deps, doc, { type: 'kill' }, caller);
  const canceled = await cancelActiveJobs(deps, moved, 'killed by ' + caller);
  return { name, state: moved.state, canceled };
}

/** Cancels every queued, assigned or running job of the task (kill, and a broken test gate). */
export async function cancelActiveJobs(
  deps: TaskDeps,
  task: TaskRecord,
  reason: string,
): Promise<number> {
  const jobs = await deps.state.query<TaskJobRecord>(taskJobsCollection, {
    pk: task.name,
    where: { state: ['queued', 'assigned', 'running'] },
  });
  let canceled = 0;
  await runLimited(jobs, 8, async (job) => {
    let logPath: string | undefined;
    if (job.body.state !== 'queued') {
      await deps.compute.cancel(job.body.computeJobId).catch((error: unknown) => {
        if (!isBatonError(error, 'not_found')) throw error;
      });
      // What the job printed until it was stopped is often why it was stopped: keep it.
      const target = taskJobLogPath(task.name, job.body.key, job.body.attempt);
      if (await saveJobLog(deps, job.body.computeJobId, target)) logPath = target;
      await releaseComputeJob(deps, job.body.computeJobId);
      await deps.staging.discard(stagedJobOf(task, job.body));
    }
    const now = deps.clock.now().toISOString();
    const saved = await updateJob(deps, job, (body) => {
      if (!canTransitionJob(body, { type: 'canceled' }, body)) return body;
      return endAttempt(transitionJob(body, { type: 'canceled' }, body), now, {
        message: reason,
        ...(logPath === undefined || body.attempt !== job.body.attempt ? {} : { logPath }),
      });
    });
    if (saved.state === 'canceled') canceled += 1;
  });
  return canceled;
}

// ---------------------------------------------------------------------------------------------
// Shared with the scheduler and the job handlers

export async function readTask(deps: TaskDeps, name: string): Promise<StoredDocument<TaskRecord>> {
  const { owner } = parseTaskName(name, 'task');
  const doc = await deps.state.read<TaskRecord>(tasksCollection, owner, name);
  if (!doc || doc.body.state === 'deleted') {
    throw new BatonError('not_found', `task ${name} not found`, { field: 'task' });
  }
  return doc;
}

/** Applies a task event through the state machine and saves it (etag-checked, re-read on a race). */
export async function moveTask(
  deps: TaskDeps,
  doc: StoredDocument<TaskRecord>,
  event: TaskEvent,
  by?: string,
  changes: Partial<Pick<TaskRecord, 'gateSize' | 'message'>> = {},
): Promise<TaskRecord> {
  let current = doc;
  for (let attempt = 0; attempt < maxConflictRetries; attempt++) {
    const before = current.body;
    const to = transitionTask(before.state, event);
    const at = deps.clock.now().toISOString();
    const next: TaskRecord = {
      ...before,
      ...changes,
      state: to,
      updatedAt: at,
      history: [
        ...before.history.slice(-99),
        { at, from: before.state, to, event: event.type, ...(by === undefined ? {} : { by }) },
      ],
    };
    if ('message' in changes && changes.message === undefined) delete next.message;
    try {
      const saved = await deps.state.replace(
        tasksCollection,
        { id: before.name, pk: before.owner, body: next },
        current.etag,
      );
      return saved.body;
    } catch (error) {
      if (!isBatonError(error, 'precondition_failed')) throw error;
      await backoffAfterConflict(attempt);
      const reread = await deps.state.read<TaskRecord>(tasksCollection, before.owner, before.name);
      if (!reread) throw new BatonError('not_found', `task ${before.name} not found`);
      current = reread;
    }
  }
  throw new BatonError('unavailable', `task ${doc.body.name}: too many concurrent updates`);
}

/**
 * Rewrites a job document with `change` applied to its latest version (etag-checked; a lost
 * race re-reads and applies the change again). Returns the saved (or unchanged) job.
 */
export async function updateJob(
  deps: TaskDeps,
  doc: StoredDocument<TaskJobRecord>,
  change: (job: TaskJobRecord) => TaskJobRecord,
): Promise<TaskJobRecord> {
  let current = doc;
  for (let attempt = 0; attempt < maxConflictRetries; attempt++) {
    const next = change(current.body);
    if (next === current.body) return current.body;
    try {
      const saved = await deps.state.replace(
        taskJobsCollection,
        { id: next.key, pk: next.task, body: next },
        current.etag,
      );
      return saved.body;
    } catch (error) {
      if (!isBatonError(error, 'precondition_failed')) throw error;
      await backoffAfterConflict(attempt);
      const reread = await deps.state.read<TaskJobRecord>(
        taskJobsCollection,
        current.body.task,
        current.body.key,
      );
      if (!reread) throw new BatonError('not_found', `job ${current.body.key} not found`);
      current = reread;
    }
  }
  throw new BatonError('unavailable', `job ${doc.body.key}: too many concurrent updates`);
}

/** The job with its current attempt closed: its outcome appended to `attempts`. */
export function endAttempt(
  job: TaskJobRecord,
  finishedAt: string,
  outcome: { exitCode?: number; message?: string; outputPath?: string; logPath?: string },
): TaskJobRecord {
  const next: TaskJobRecord = { ...job, finishedAt };
  if (outcome.exitCode !== undefined) next.exitCode = outcome.exitCode;
  if (outcome.message !== undefined) next.message = outcome.message.slice(0, 2000);
  next.attempts = [
    ...job.attempts.filter((a) => a.attempt !== job.attempt),
    {
      attempt: job.attempt,
      state: job.state,
      computeJobId: job.computeJobId,
      ...(job.assignedAt === undefined ? {} : { assignedAt: job.assignedAt }),
      ...(job.startedAt === undefined ? {} : { startedAt: job.startedAt }),
      finishedAt,
      ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
      ...(next.message === undefined ? {} : { message: next.message }),
      ...(outcome.outputPath === undefined ? {} : { outputPath: outcome.outputPath }),
      ...(outcome.logPath === undefined ? {} : { logPath: outcome.logPath }),
    },
  ];
  return next;
}

/** A re-queued job: fresh compute job id, age counted from now, per-attempt fields cleared. */
export function resetAttempt(
  job: TaskJobRecord,
  incarnation: string,
  queuedAt: string,
  notBefore?: string,
): TaskJobRecord {
  const {
    assignedAt: _a,
    startedAt: _s,
    finishedAt: _f,
    exitCode: _e,
    message: _m,
    notBefore: _n,
    collected: _c,
    ...rest
  } = job;
  return {
    ...rest,
    queuedAt,
    computeJobId: taskComputeJobId(incarnation, job.index, job.attempt),
    ...(notBefore === undefined ? {} : { notBefore }),
  };
}

export async function jobsOf(deps: TaskDeps, name: string): Promise<TaskJobRecord[]> {
  const docs = await deps.state.query<TaskJobRecord>(taskJobsCollection, { pk: name });
  return docs.map((doc) => doc.body).sort((a, b) => a.index - b.index);
}

function summaryOf(task: TaskRecord, jobs: readonly TaskJobRecord[]): TaskSummary {
  const progress = taskProgress(jobs);
  return {
    name: task.name,
    owner: task.owner,
    state: task.state,
    backend: task.backend,
    priority: task.priority,
    jobs: progress.total,
    byState: progress.byState,
    percentDone: progress.percentDone,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
  };
}

function viewOf(task: TaskRecord, jobs: readonly TaskJobRecord[]): TaskView {
  return {
    ...summaryOf(task, jobs),
    configDataset: task.configDataset,
    dataDataset: task.dataDataset,
    exec: task.exec,
    ...(task.image === undefined ? {} : { image: task.image }),
    ...(task.cpu === undefined ? {} : { cpu: task.cpu }),
    ...(task.memoryGb === undefined ? {} : { memoryGb: task.memoryGb }),
    timeoutSeconds: task.timeoutSeconds,
    maxRetries: task.maxRetries,
    bypass: task.bypass,
    gateSize: task.gateSize,
    ...(task.message === undefined ? {} : { message: task.message }),
    history: task.history,
    jobList: jobs.map(jobViewOf),
  };
}

function jobViewOf(job: TaskJobRecord): TaskJobView {
  const last = isJobEnded(job.state)
    ? job.attempts.find((a) => a.attempt === job.attempt)
    : undefined;
  return {
    key: job.key,
    index: job.index,
    item: job.item.name,
    state: job.state,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    gate: job.gate,
    ...(job.exitCode === undefined ? {} : { exitCode: job.exitCode }),
    ...(job.message === undefined ? {} : { message: job.message }),
    ...(job.startedAt === undefined ? {} : { startedAt: job.startedAt }),
    ...(job.finishedAt === undefined ? {} : { finishedAt: job.finishedAt }),
    ...(last?.outputPath === undefined ? {} : { outputPath: last.outputPath }),
    ...(last?.logPath === undefined ? {} : { logPath: last.logPath }),
  };
}

async function datasetFor(deps: TaskDeps, name: string, field: string): Promise<DatasetView> {
  try {
    return await getDataset(deps, name);
  } catch (error) {
    if (isBatonError(error, 'validation') || isBatonError(error, 'not_found')) {
      throw new BatonError(error.code, `${field}: ${error.message}`, { field });
    }
    throw error;
  }
}

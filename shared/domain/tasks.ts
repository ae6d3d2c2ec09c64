import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BatonError } from './errors.js';
import { defaultPriorityPolicy, type Backend } from './priority.js';
import type { JobState, TaskEvent, TaskState } from './taskStates.js';
import { holdsSlot, taskProgress, testGateVerdict } from './taskStates.js';

/**
 * Tasks (Orchestra's unit of submission): one job per item of a config dataset, all running the
 * owner's exec template against one data dataset. This module holds the records, the request
 * schema and the pure decisions about them; shared/app/tasks*.ts does the I/O.
 */

export const tasksCollection = 'tasks';
export const taskJobsCollection = 'taskJobs';

/** A task as stored: partition = owner, id = name. */
export interface TaskRecord {
  name: string;
  owner: string;
  state: TaskState;
  configDataset: string;
  dataDataset: string;
  /** The data dataset's lake path and kind when the task was created (what %DATA stages). */
  data: { path: string; kind: 'file' | 'folder' };
  exec: string;
  image?: string;
  backend: string;
  priority: number;
  cpu?: number;
  memoryGb?: number;
  timeoutSeconds: number;
  maxRetries: number;
  bypass: boolean;
  /** How many jobs the test gate runs (0 when bypassed). */
  gateSize: number;
  jobCount: number;
  /**
   * Distinguishes this task from an earlier one of the same name (deleted, then created again):
   * it goes into every compute job id, so a backend never mistakes a new job for an old one.
   */
  incarnation: string;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  /** Why the task is broken or failed, for `task show`. */
  message?: string;
  /** Every state change, oldest first. */
  history: TaskHistoryEntry[];
}

export interface TaskHistoryEntry {
  at: string;
  from: TaskState;
  to: TaskState;
  event: TaskEvent['type'];
  by?: string;
}

export interface TaskJobAttempt {
  attempt: number;
  state: JobState;
  computeJobId: string;
  assignedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  message?: string;
  /** Lake folder holding what the job wrote to %OUT (present once collected). */
  outputPath?: string;
  /** Lake file holding the job's stdout/stderr (present once collected). */
  logPath?: string;
}

/** One job of a task: partition = task name, id = key. */
export interface TaskJobRecord {
  task: string;
  owner: string;
  /** 0-based position of its config item; `key` is `j` + the index, zero-padded. */
  index: number;
  key: string;
  /** The config item: its lake path and name within the dataset. */
  item: { path: string; name: string };
  state: JobState;
  /** 1-based; the current attempt. */
  attempt: number;
  maxAttempts: number;
  /** One of the test gate's jobs. */
  gate: boolean;
  /** When this attempt was queued (the priority's age counts from here). */
  queuedAt: string;
  /** A policy retry waits until then (backoff). */
  notBefore?: string;
  /** The current attempt's compute job id. */
  computeJobId: string;
  assignedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  message?: string;
  /** A terminal state of the current attempt whose logs and outputs are being collected. */
  collected?: boolean;
  /** Finished attempts, oldest first. */
  attempts: TaskJobAttempt[];
}

const datasetNameField = z.string().min(1).max(300);

/** The body of `POST /api/tasks` (and of `baton task create`). */
export const createTaskRequestSchema = z
  .object({
    name: datasetNameField,
    configDataset: datasetNameField,
    dataDataset: datasetNameField,
    exec: z.string().min(1).max(4096),
    image: z.string().min(1).max(400).optional(),
    bypass: z.boolean().default(false),
    dryRun: z.boolean().default(false),
    priority: z
      .number()
      .int()
      .min(defaultPriorityPolicy.minTaskPriority)
      .max(defaultPriorityPolicy.maxTaskPriority)
      .default(0),
    cpu: z.number().positive().max(64).optional(),
    memoryGb: z.number().positive().max(512).optional(),
    timeoutSeconds: z
      .number()
      .int()
      .positive()
      .max(7 * 24 * 3600)
      .default(3600),
    maxRetries: z.number().int().min(0).max(20).default(2),
    backend: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/, 'a backend name')
      .optional(),
  })
  .strict();
export type CreateTaskRequest = z.infer<typeof createTaskRequestSchema>;

/** `j0000`…: sorts like the index for tasks of up to a million jobs. */
export function taskJobKey(index: number): string {
  if (!Number.isInteger(index) || index < 0) {
    throw new BatonError('internal', `job index must be a non-negative integer, got ${index}`);
  }
  return `j${String(index).padStart(6, '0')}`;
}

/** A short hash that tells two incarnations of the same task name apart. */
export function taskIncarnation(name: string, createdAt: string): string {
  return createHash('sha256').update(`${name}\n${createdAt}`).digest('hex').slice(0, 12);
}

/**
 * The compute job id of one attempt: `t-<incarnation>-<index>-a<attempt>` (≤ 63 characters of
 * `[a-z0-9-]`, as container group names need). Launching it twice starts it once.
 */
export function taskComputeJobId(incarnation: string, index: number, attempt: number): string {
  return `t-${incarnation}-${index}-a${attempt}`;
}

/**
 * Retry backoff: `base · 2^(attempt−1)` seconds, capped at ten minutes, so a crash-looping job
 * does not take a slot every tick. `attempt` is the attempt that failed.
 */
export function retryBackoffSeconds(attempt: number, baseSeconds: number): number {
  return Math.min(600, baseSeconds * 2 ** Math.max(0, attempt - 1));
}

/** The task's test gate: its first `gateSize` jobs (by index), or none when bypassed. */
export function gateSizeFor(jobCount: number, gateJobs: number, bypass: boolean): number {
  return bypass ? 0 : Math.min(jobCount, Math.max(1, gateJobs));
}

/**
 * Whether the scheduler may launch this job now: queued, its backoff over, and the task letting
 * it go (a testing task releases only its gate jobs; registered and settled tasks release none).
 */
export function isLaunchable(
  task: Pick<TaskRecord, 'state'>,
  job: Pick<TaskJobRecord, 'state' | 'gate' | 'notBefore'>,
  now: Date,
): boolean {
  if (job.state !== 'queued') return false;
  if (job.notBefore !== undefined && Date.parse(job.notBefore) > now.getTime()) return false;
  if (task.state === 'running') return true;
  return task.state === 'testing' && job.gate;
}

/**
 * The event a task's jobs call for, if any: the gate's verdict while testing, `allJobsDone` when
 * a running task has nothing active left. `registered` is handled by the scheduler (it starts or
 * skips the gate), settled tasks wait for a user.
 */
export function taskEventFromJobs(
  task: Pick<TaskRecord, 'state' | 'gateSize'>,
  jobs: readonly Pick<TaskJobRecord, 'state' | 'gate'>[],
): TaskEvent | undefined {
  if (task.state === 'testing') {
    const gateJobs = jobs.filter((job) => job.gate);
    if (gateJobs.length === 0) return { type: 'testFailed' };
    const verdict = testGateVerdict(gateJobs, {
      minSucceeded: gateJobs.length,
      maxFailed: 1,
    });
    if (verdict === 'passed') return { type: 'testPassed' };
    if (verdict === 'failed') return { type: 'testFailed' };
    return undefined;
  }
  if (task.state === 'running') {
    const progress = taskProgress(jobs);
    if (progress.allDone) return { type: 'allJobsDone', failedJobs: progress.notSucceeded };
  }
  return undefined;
}

/**
 * A job holding a slot past its timeout (plus a grace for the backend's own timeout to fire):
 * the scheduler cancels it and counts it as timed out.
 */
export function isOverdue(
  job: Pick<TaskJobRecord, 'state' | 'assignedAt' | 'startedAt'>,
  timeoutSeconds: number,
  now: Date,
  graceSeconds = 60,
): boolean {
  if (!holdsSlot(job.state)) return false;
  const since = job.startedAt ?? job.assignedAt;
  if (since === undefined) return false;
  return now.getTime() - Date.parse(since) > (timeoutSeconds + graceSeconds) * 1000;
}

const slotEntryPattern =
  /^([a-z][a-z0-9-]{0,31})=(\d{1,6})((?:,(?:cpu|memoryGb|gpu)=\d+(?:\.\d+)?)*)$/;

/**
 * The `BATON_BACKEND_SLOTS` setting: `name=slots[,cpu=N][,memoryGb=N][,gpu=N]`, entries
 * separated by `;`, e.g. `local=3;aci=20,cpu=40,memoryGb=160`. A declared resource caps the sum
 * of the running jobs' needs on that backend; an undeclared one is not limited.
 */
export function parseBackendSlots(text: string, field = 'setting.BATON_BACKEND_SLOTS'): Backend[] {
  const backends: Backend[] = [];
  for (const raw of text.split(';')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const match = slotEntryPattern.exec(entry);
    if (!match) {
      throw new BatonError(
        'validation',
        `${field}: ${JSON.stringify(entry)} is not name=slots[,cpu=N][,memoryGb=N][,gpu=N]`,
        { field },
      );
    }
    const [, name = '', slots = '0', extras = ''] = match;
    if (backends.some((b) => b.name === name)) {
      throw new BatonError('validation', `${field}: backend ${name} is declared twice`, { field });
    }
    const resources: Record<string, number> = {};
    for (const pair of extras.split(',').filter((p) => p !== '')) {
      const [kind = '', value = '0'] = pair.split('=');
      resources[kind] = Number(value);
    }
    backends.push({
      name,
      slots: Number(slots),
      ...(Object.keys(resources).length > 0 ? { resources } : {}),
    });
  }
  if (backends.length === 0) {
    throw new BatonError('validation', `${field}: declare at least one backend`, { field });
  }
  return backends;
}

import { BatonError } from './errors.js';

/**
 * The lifecycle of a task (one submission of many jobs, e.g. a parameter scan) and of each of its
 * jobs, as two explicit transition tables. Pure: events come in, the next state comes out, and an
 * event the table does not allow throws `conflict`, so two writers racing on one document cannot
 * silently move a task or job somewhere the lifecycle does not go.
 *
 * ```
 * task:  registered --testStarted--> testing --testPassed--> running --allJobsDone--> finished | failed
 *        registered --testSkipped--> running            testing --testFailed--> broken
 *        registered | testing | running --kill--> killed
 *        broken | failed | killed --retry--> registered          (the test gate runs again)
 *        registered | broken | finished | failed | killed --delete--> deleted
 *
 * job:   queued --slotAssigned--> assigned --started--> running --exited(0)--> succeeded
 *                                 assigned | running --exited(≠0)--> failed
 *                                 assigned | running --timedOut--> timed_out
 *        queued | assigned | running --canceled--> canceled
 *        failed | timed_out | canceled --retry--> queued (attempt + 1)
 * ```
 *
 * Decisions, and why:
 * - **`finished` vs `failed`.** A task whose jobs all ended is `finished` only when every job
 *   succeeded, and `failed` when at least one did not (after its retries). Users, the CLI's exit
 *   code and mail notifications need that answer without counting jobs; Orchestra called the
 *   second case `finalized`, which nobody could tell apart from `done`.
 * - **`deleted` is a state** (a tombstone), not the absence of a document: deletion stops
 *   nothing by itself, so it is only allowed once no job of the task holds a slot (from
 *   `registered` and the settled states). Kill a `testing` or `running` task first: one path
 *   (`kill` → jobs `canceled`) releases slots. A scheduler tick that read the task before the
 *   delete then sees a tombstone, not a missing document it might re-create.
 * - **`retry` of a task goes back to `registered`**: only failed, timed-out and canceled jobs are
 *   re-queued, and they are exactly the ones that went wrong, so the test gate runs again on them
 *   before the task's other jobs are let loose (unless the caller skips the gate, as for a new
 *   task). Retrying a `finished` task is illegal: nothing is left to retry.
 * - **A job may end straight from `assigned`** (`exited`, `timedOut`, `canceled`): the backend's
 *   end report can overtake the `started` report on the bus, and a container that never starts
 *   is timed out. The slot is released all the same (see {@link freesSlot}).
 * - **Job retries**: `failed` and `timed_out` jobs are retried by policy while
 *   `attempt < maxAttempts`; a `canceled` job is never retried by policy (someone wanted it
 *   stopped), only by a user. A user retry is always allowed from those three states and grants
 *   one attempt. The attempt number only grows, so idempotency keys derived from
 *   runId + stepId + attempt never repeat. Apply a policy retry in the same update that records
 *   the failure, so a job at rest in `failed` is final and `allJobsDone` is not fired early.
 */

// ---------------------------------------------------------------------------------------------
// Tables

/** For each state, the events it accepts and the states each may lead to (guards pick one). */
export type TransitionTable<S extends string, E extends string> = {
  readonly [K in S]: { readonly [V in E]?: readonly S[] };
};

export const taskStates = [
  'registered',
  'testing',
  'running',
  'broken',
  'finished',
  'failed',
  'killed',
  'deleted',
] as const;
export type TaskState = (typeof taskStates)[number];

export type TaskEvent =
  /** The test gate's first jobs were queued. */
  | { readonly type: 'testStarted' }
  /** The user asked to skip the test gate (Orchestra's `--bypass`). */
  | { readonly type: 'testSkipped' }
  | { readonly type: 'testPassed' }
  | { readonly type: 'testFailed' }
  /** No job is queued, assigned or running; `failedJobs` did not succeed (see taskProgress). */
  | { readonly type: 'allJobsDone'; readonly failedJobs: number }
  | { readonly type: 'kill' }
  | { readonly type: 'retry' }
  | { readonly type: 'delete' };
export type TaskEventType = TaskEvent['type'];

export const taskEventTypes = [
  'testStarted',
  'testSkipped',
  'testPassed',
  'testFailed',
  'allJobsDone',
  'kill',
  'retry',
  'delete',
] as const satisfies readonly TaskEventType[];

export const taskTransitions = {
  registered: {
    testStarted: ['testing'],
    testSkipped: ['running'],
    kill: ['killed'],
    delete: ['deleted'],
  },
  testing: { testPassed: ['running'], testFailed: ['broken'], kill: ['killed'] },
  running: { allJobsDone: ['finished', 'failed'], kill: ['killed'] },
  broken: { retry: ['registered'], delete: ['deleted'] },
  finished: { delete: ['deleted'] },
  failed: { retry: ['registered'], delete: ['deleted'] },
  killed: { retry: ['registered'], delete: ['deleted'] },
  deleted: {},
} as const satisfies TransitionTable<TaskState, TaskEventType>;

export const jobStates = [
  'queued',
  'assigned',
  'running',
  'succeeded',
  'failed',
  'canceled',
  'timed_out',
] as const;
export type JobState = (typeof jobStates)[number];

export type JobEvent =
  /** The scheduler sent the launch: from here the job holds a slot. */
  | { readonly type: 'slotAssigned' }
  | { readonly type: 'started' }
  | { readonly type: 'exited'; readonly code: number }
  | { readonly type: 'timedOut' }
  | { readonly type: 'canceled' }
  /** `policy`: the automatic retry of a failure; `user`: someone retried the task. */
  | { readonly type: 'retry'; readonly by: 'policy' | 'user' };
export type JobEventType = JobEvent['type'];

export const jobEventTypes = [
  'slotAssigned',
  'started',
  'exited',
  'timedOut',
  'canceled',
  'retry',
] as const satisfies readonly JobEventType[];

export const jobTransitions = {
  queued: { slotAssigned: ['assigned'], canceled: ['canceled'] },
  assigned: {
    started: ['running'],
    exited: ['succeeded', 'failed'],
    timedOut: ['timed_out'],
    canceled: ['canceled'],
  },
  running: { exited: ['succeeded', 'failed'], timedOut: ['timed_out'], canceled: ['canceled'] },
  succeeded: {},
  failed: { retry: ['queued'] },
  timed_out: { retry: ['queued'] },
  canceled: { retry: ['queued'] },
} as const satisfies TransitionTable<JobState, JobEventType>;

// ---------------------------------------------------------------------------------------------
// Tasks

/**
 * The task's next state. Throws `conflict` when the table has no such transition (the message
 * names the allowed events) and `validation` when the event's data is malformed.
 */
export function transitionTask(state: TaskState, event: TaskEvent): TaskState {
  const targets = tableTargets(taskTransitions, state, event.type);
  if (targets === undefined) throw illegal('task', state, event.type, taskTransitions[state]);
  if (event.type !== 'allJobsDone') return only(targets);
  if (!Number.isInteger(event.failedJobs) || event.failedJobs < 0) {
    throw new BatonError(
      'validation',
      `allJobsDone.failedJobs: must be a non-negative integer, got ${String(event.failedJobs)}`,
      { field: 'failedJobs' },
    );
  }
  return event.failedJobs === 0 ? 'finished' : 'failed';
}

/** Whether the table lets `state` take an event of this type (guards aside). */
export function canTransitionTask(state: TaskState, type: TaskEventType): boolean {
  return tableTargets(taskTransitions, state, type) !== undefined;
}

/** States from which a task never moves on its own: only a user event (retry, delete) moves it. */
export function isSettledTaskState(state: TaskState): boolean {
  return !(state === 'registered' || state === 'testing' || state === 'running');
}

// ---------------------------------------------------------------------------------------------
// Jobs

export interface JobSnapshot {
  readonly state: JobState;
  /** 1-based; part of every side effect's idempotency key, so it only ever grows. */
  readonly attempt: number;
}

export interface JobTransitionContext {
  /** Attempts the retry policy allows in total (1 = no automatic retry). */
  readonly maxAttempts: number;
}

/**
 * The job after `event`: a copy of `job` (other fields kept) with the new state, and the attempt
 * incremented on a retry. Throws `conflict` for a transition the table does not allow or a retry
 * its guard refuses (attempts used up, a policy retry of a canceled job), `validation` for
 * malformed input.
 */
export function transitionJob<J extends JobSnapshot>(
  job: J,
  event: JobEvent,
  context: JobTransitionContext,
): J {
  const next = nextJob(job, event, context);
  if (typeof next === 'string') throw new BatonError('conflict', next);
  return { ...job, state: next.state, attempt: next.attempt };
}

/** Whether {@link transitionJob} would accept the event (for redelivered or racing events). */
export function canTransitionJob(
  job: JobSnapshot,
  event: JobEvent,
  context: JobTransitionContext,
): boolean {
  return typeof nextJob(job, event, context) !== 'string';
}

function nextJob(
  job: JobSnapshot,
  event: JobEvent,
  context: JobTransitionContext,
): JobSnapshot | string {
  checkPositiveInteger(job.attempt, 'attempt');
  checkPositiveInteger(context.maxAttempts, 'maxAttempts');
  const { state, attempt } = job;
  const targets = tableTargets(jobTransitions, state, event.type);
  if (targets === undefined) return illegalMessage('job', state, event.type, jobTransitions[state]);
  switch (event.type) {
    case 'exited':
      if (!Number.isInteger(event.code)) {
        throw new BatonError(
          'validation',
          `exited.code: must be an integer, got ${String(event.code)}`,
          {
            field: 'code',
          },
        );
      }
      return { state: event.code === 0 ? 'succeeded' : 'failed', attempt };
    case 'retry':
      if (event.by === 'policy' && state === 'canceled') {
        return `illegal transition: job canceled --retry--> queued (a canceled job is retried by a user, not by policy)`;
      }
      if (event.by === 'policy' && attempt >= context.maxAttempts) {
        return `illegal transition: job ${state} --retry--> queued (attempts used up: ${attempt} of ${context.maxAttempts})`;
      }
      return { state: 'queued', attempt: attempt + 1 };
    default:
      return { state: only(targets), attempt };
  }
}

/** A job in these states holds one slot of its backend. */
export function holdsSlot(state: JobState): boolean {
  return state === 'assigned' || state === 'running';
}

/** Whether `from → to` takes a slot: exactly the `slotAssigned` transition. */
export function takesSlot(from: JobState, to: JobState): boolean {
  return !holdsSlot(from) && holdsSlot(to);
}

/**
 * Whether `from → to` releases the job's slot: leaving `assigned`/`running` for any state that
 * holds none (an end, or a re-queue). Every path through the table crosses that boundary once
 * per `slotAssigned`, so a caller that releases on this answer releases each slot exactly once.
 */
export function freesSlot(from: JobState, to: JobState): boolean {
  return holdsSlot(from) && !holdsSlot(to);
}

/** A job in these states is not waiting for or using compute (it may still be retried). */
export function isJobEnded(state: JobState): boolean {
  return (
    state === 'succeeded' || state === 'failed' || state === 'canceled' || state === 'timed_out'
  );
}

// ---------------------------------------------------------------------------------------------
// Progress

export interface TaskProgress {
  readonly total: number;
  readonly byState: Readonly<Record<JobState, number>>;
  /** Queued, assigned or running. */
  readonly active: number;
  readonly succeeded: number;
  /** Ended without success: failed, timed out or canceled. Feeds `allJobsDone.failedJobs`. */
  readonly notSucceeded: number;
  /**
   * Ended jobs in percent, rounded down to one decimal so it reads 100 only when every job has
   * ended. An empty task is 100 % done.
   */
  readonly percentDone: number;
  /** No job is active: the moment to send `allJobsDone`. */
  readonly allDone: boolean;
}

export function taskProgress(jobs: readonly { readonly state: JobState }[]): TaskProgress {
  const byState: Record<JobState, number> = {
    queued: 0,
    assigned: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    canceled: 0,
    timed_out: 0,
  };
  for (const job of jobs) byState[job.state] += 1;
  const total = jobs.length;
  const active = byState.queued + byState.assigned + byState.running;
  const ended = total - active;
  return {
    total,
    byState,
    active,
    succeeded: byState.succeeded,
    notSucceeded: byState.failed + byState.canceled + byState.timed_out,
    percentDone: total === 0 ? 100 : Math.floor((ended * 1000) / total) / 10,
    allDone: active === 0,
  };
}

export interface TestGateRule {
  /** Successes that pass the gate (capped at the number of gate jobs). */
  readonly minSucceeded: number;
  /** Jobs ended without success that break the task. */
  readonly maxFailed: number;
}

/**
 * The verdict on a task's test gate from its gate jobs: `failed` → send `testFailed`, `passed` →
 * `testPassed`, `pending` → wait. Thresholds are reached, not hit: Orchestra compared counts with
 * `==`, so a tick that saw two failures at once (one past the threshold) left the task testing
 * forever. Failure wins a tie (a task with failing jobs is not let loose), and a gate whose jobs
 * all ended without reaching `minSucceeded` has failed, never stays pending.
 */
export function testGateVerdict(
  gateJobs: readonly { readonly state: JobState }[],
  rule: TestGateRule,
): 'passed' | 'failed' | 'pending' {
  checkPositiveInteger(rule.minSucceeded, 'minSucceeded');
  checkPositiveInteger(rule.maxFailed, 'maxFailed');
  const progress = taskProgress(gateJobs);
  if (progress.total === 0) {
    throw new BatonError('validation', 'a test gate needs at least one job', { field: 'gateJobs' });
  }
  if (progress.notSucceeded >= rule.maxFailed) return 'failed';
  if (progress.succeeded >= Math.min(rule.minSucceeded, progress.total)) return 'passed';
  return progress.allDone ? 'failed' : 'pending';
}

// ---------------------------------------------------------------------------------------------
// Helpers

function tableTargets<S extends string, E extends string>(
  table: TransitionTable<S, E>,
  state: S,
  type: E,
): readonly S[] | undefined {
  const row: { readonly [V in E]?: readonly S[] } | undefined = table[state];
  if (row === undefined) {
    throw new BatonError('validation', `unknown state ${JSON.stringify(state)}`, {
      field: 'state',
    });
  }
  return Object.hasOwn(row, type) ? row[type] : undefined;
}

function only<S>(targets: readonly S[]): S {
  const [target] = targets;
  if (target === undefined || targets.length !== 1) {
    throw new BatonError('internal', 'transition table entry without a single target');
  }
  return target;
}

function illegalMessage(
  what: 'task' | 'job',
  state: string,
  type: string,
  row: Readonly<Record<string, unknown>>,
): string {
  const allowed = Object.keys(row);
  const hint = allowed.length === 0 ? 'no event leaves it' : `allowed: ${allowed.join(', ')}`;
  return `illegal transition: ${what} ${state} --${type}--> (not in the table; ${hint})`;
}

function illegal(
  what: 'task' | 'job',
  state: string,
  type: string,
  row: Readonly<Record<string, unknown>>,
): BatonError {
  return new BatonError('conflict', illegalMessage(what, state, type, row));
}

function checkPositiveInteger(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new BatonError('validation', `${field}: must be a positive integer, got ${value}`, {
      field,
    });
  }
}

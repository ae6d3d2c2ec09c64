import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  canTransitionJob,
  canTransitionTask,
  freesSlot,
  holdsSlot,
  isJobEnded,
  isSettledTaskState,
  jobEventTypes,
  jobStates,
  jobTransitions,
  takesSlot,
  taskEventTypes,
  taskProgress,
  taskStates,
  taskTransitions,
  testGateVerdict,
  transitionJob,
  transitionTask,
  type JobEvent,
  type JobEventType,
  type JobSnapshot,
  type JobState,
  type TaskEvent,
  type TaskEventType,
  type TaskState,
} from '../../shared/domain/taskStates.js';
import { expectBatonError } from './batonErrorAssert.js';

/** The events of a type that the tests send (data-dependent events in each of their variants). */
function taskEventsOf(type: TaskEventType): TaskEvent[] {
  return type === 'allJobsDone'
    ? [
        { type, failedJobs: 0 },
        { type, failedJobs: 3 },
      ]
    : [{ type }];
}

function jobEventsOf(type: JobEventType): JobEvent[] {
  switch (type) {
    case 'exited':
      return [
        { type, code: 0 },
        { type, code: 1 },
        { type, code: 137 },
      ];
    case 'retry':
      return [
        { type, by: 'policy' },
        { type, by: 'user' },
      ];
    default:
      return [{ type }];
  }
}

function tableRow<S extends string, E extends string>(
  table: { readonly [K in S]: { readonly [V in E]?: readonly S[] } },
  state: S,
): Partial<Record<E, readonly S[]>> {
  return table[state];
}

const taskEventArb: fc.Arbitrary<TaskEvent> = fc.oneof(
  fc.constantFrom(...taskEventTypes.filter((t) => t !== 'allJobsDone')).map((type) => ({ type })),
  fc.nat({ max: 50 }).map((failedJobs) => ({ type: 'allJobsDone' as const, failedJobs })),
);

const jobEventArb: fc.Arbitrary<JobEvent> = fc.oneof(
  fc
    .constantFrom('slotAssigned', 'started', 'timedOut', 'canceled' as const)
    .map((type) => ({ type })),
  fc.integer({ min: -1, max: 255 }).map((code) => ({ type: 'exited' as const, code })),
  fc.constantFrom('policy', 'user' as const).map((by) => ({ type: 'retry' as const, by })),
);

/** Weighted toward the events that move a job through its lifecycle, so slots change hands. */
const lifecycleEventArb: fc.Arbitrary<JobEvent> = fc.oneof(
  { arbitrary: fc.constant<JobEvent>({ type: 'slotAssigned' }), weight: 3 },
  { arbitrary: fc.constant<JobEvent>({ type: 'started' }), weight: 2 },
  { arbitrary: jobEventArb, weight: 5 },
);

describe('task transitions', () => {
  it('takes every transition in the table to one of its targets', () => {
    let checked = 0;
    for (const state of taskStates) {
      const row = tableRow(taskTransitions, state);
      for (const type of taskEventTypes) {
        const targets = row[type];
        if (targets === undefined) continue;
        for (const event of taskEventsOf(type)) {
          const next = transitionTask(state, event);
          assert.ok(
            targets.includes(next),
            `${state} --${type}--> ${next} not in ${targets.join()}`,
          );
          checked += 1;
        }
      }
    }
    // 16 table entries; allJobsDone is sent in two variants.
    assert.equal(checked, 17);
  });

  it('follows the documented lifecycle', () => {
    const run = (start: TaskState, ...events: TaskEvent[]): TaskState =>
      events.reduce(transitionTask, start);
    assert.equal(
      run(
        'registered',
        { type: 'testStarted' },
        { type: 'testPassed' },
        { type: 'allJobsDone', failedJobs: 0 },
      ),
      'finished',
    );
    assert.equal(
      run('registered', { type: 'testSkipped' }, { type: 'allJobsDone', failedJobs: 2 }),
      'failed',
    );
    assert.equal(run('registered', { type: 'testStarted' }, { type: 'testFailed' }), 'broken');
    for (const start of ['broken', 'failed', 'killed'] as const) {
      assert.equal(run(start, { type: 'retry' }), 'registered', `${start} retries via the gate`);
    }
    for (const start of ['registered', 'testing', 'running'] as const) {
      assert.equal(run(start, { type: 'kill' }), 'killed');
    }
    for (const start of ['registered', 'broken', 'finished', 'failed', 'killed'] as const) {
      assert.equal(run(start, { type: 'delete' }), 'deleted');
    }
  });

  it('rejects every event the table does not list, with conflict and a message naming both', () => {
    let rejected = 0;
    for (const state of taskStates) {
      for (const type of taskEventTypes) {
        if (tableRow(taskTransitions, state)[type] !== undefined) continue;
        for (const event of taskEventsOf(type)) {
          const error = expectBatonError(() => transitionTask(state, event), 'conflict');
          assert.match(
            error.message,
            new RegExp(`^illegal transition: task ${state} --${type}-->`),
          );
          rejected += 1;
        }
        assert.equal(canTransitionTask(state, type), false);
      }
    }
    // 8 states × 8 event types = 64 pairs, 16 legal; allJobsDone (illegal in 7) sent two ways.
    assert.equal(rejected, 64 - 16 + 7);
  });

  it('property: an event either follows the table or throws conflict', () => {
    fc.assert(
      fc.property(fc.constantFrom(...taskStates), taskEventArb, (state, event) => {
        const targets = tableRow(taskTransitions, state)[event.type];
        if (targets === undefined) {
          expectBatonError(() => transitionTask(state, event), 'conflict');
        } else {
          assert.ok(targets.includes(transitionTask(state, event)));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never deletes a task whose jobs may hold slots, nor leaves deleted', () => {
    for (const state of ['testing', 'running'] as const) {
      const error = expectBatonError(() => transitionTask(state, { type: 'delete' }), 'conflict');
      assert.match(error.message, /allowed: .*kill/);
    }
    for (const type of taskEventTypes) assert.equal(canTransitionTask('deleted', type), false);
    assert.match(
      expectBatonError(() => transitionTask('deleted', { type: 'retry' }), 'conflict').message,
      /no event leaves it/,
    );
    expectBatonError(() => transitionTask('finished', { type: 'retry' }), 'conflict');
  });

  it('reads allJobsDone: finished only when every job succeeded; rejects a malformed count', () => {
    assert.equal(transitionTask('running', { type: 'allJobsDone', failedJobs: 0 }), 'finished');
    assert.equal(transitionTask('running', { type: 'allJobsDone', failedJobs: 1 }), 'failed');
    for (const failedJobs of [-1, 1.5, Number.NaN]) {
      expectBatonError(
        () => transitionTask('running', { type: 'allJobsDone', failedJobs }),
        'validation',
      );
    }
  });

  it('settled states are exactly those no job event moves the task out of', () => {
    for (const state of taskStates) {
      const automatic = (['testPassed', 'testFailed', 'allJobsDone'] as const).some((t) =>
        canTransitionTask(state, t),
      );
      const active = state === 'registered' || state === 'testing' || state === 'running';
      assert.equal(isSettledTaskState(state), !active, state);
      if (automatic) assert.equal(isSettledTaskState(state), false, state);
    }
  });

  it('rejects a state that is not in the table (a corrupt document) with validation', () => {
    expectBatonError(() => transitionTask('done' as TaskState, { type: 'kill' }), 'validation');
  });
});

describe('job transitions', () => {
  const context = { maxAttempts: 3 };

  it('takes every transition in the table, incrementing the attempt only on retry', () => {
    let checked = 0;
    for (const state of jobStates) {
      const row = tableRow(jobTransitions, state);
      for (const type of jobEventTypes) {
        const targets = row[type];
        if (targets === undefined) continue;
        for (const event of jobEventsOf(type)) {
          if (event.type === 'retry' && event.by === 'policy' && state === 'canceled') continue;
          const job = { state, attempt: 1 };
          const next = transitionJob(job, event, context);
          assert.ok(targets.includes(next.state), `${state} --${type}--> ${next.state}`);
          assert.equal(next.attempt, type === 'retry' ? 2 : 1);
          checked += 1;
        }
      }
    }
    // 12 table entries; exited is sent 3 ways, retry 2 ways (a policy retry of canceled is guarded).
    assert.equal(checked, 18);
  });

  it('maps exit codes: 0 succeeded, anything else failed', () => {
    assert.equal(
      transitionJob({ state: 'running', attempt: 1 }, { type: 'exited', code: 0 }, context).state,
      'succeeded',
    );
    for (const code of [1, 2, 137, -1]) {
      assert.equal(
        transitionJob({ state: 'running', attempt: 1 }, { type: 'exited', code }, context).state,
        'failed',
      );
    }
    expectBatonError(
      () => transitionJob({ state: 'running', attempt: 1 }, { type: 'exited', code: 0.5 }, context),
      'validation',
    );
  });

  it('may end straight from assigned (end report overtaking the start report)', () => {
    const job: JobSnapshot = { state: 'assigned', attempt: 1 };
    assert.equal(transitionJob(job, { type: 'exited', code: 0 }, context).state, 'succeeded');
    assert.equal(transitionJob(job, { type: 'timedOut' }, context).state, 'timed_out');
    assert.equal(transitionJob(job, { type: 'canceled' }, context).state, 'canceled');
  });

  it('retries by policy while attempts remain, never a canceled job; a user may always retry', () => {
    const policy = { type: 'retry', by: 'policy' } as const;
    const user = { type: 'retry', by: 'user' } as const;
    assert.deepEqual(transitionJob({ state: 'failed', attempt: 2 }, policy, context), {
      state: 'queued',
      attempt: 3,
    });
    assert.deepEqual(transitionJob({ state: 'timed_out', attempt: 1 }, policy, context), {
      state: 'queued',
      attempt: 2,
    });
    const usedUp = expectBatonError(
      () => transitionJob({ state: 'failed', attempt: 3 }, policy, context),
      'conflict',
    );
    assert.match(usedUp.message, /attempts used up: 3 of 3/);
    assert.match(
      expectBatonError(
        () => transitionJob({ state: 'canceled', attempt: 1 }, policy, context),
        'conflict',
      ).message,
      /retried by a user/,
    );
    for (const state of ['failed', 'timed_out', 'canceled'] as const) {
      assert.deepEqual(transitionJob({ state, attempt: 7 }, user, context), {
        state: 'queued',
        attempt: 8,
      });
    }
    expectBatonError(
      () => transitionJob({ state: 'succeeded', attempt: 1 }, user, context),
      'conflict',
    );
    expectBatonError(
      () => transitionJob({ state: 'running', attempt: 1 }, user, context),
      'conflict',
    );
  });

  it('returns a copy with the caller’s other fields kept and never mutates its input', () => {
    const job = Object.freeze({
      state: 'queued',
      attempt: 1,
      jobId: 'j-1',
      owner: 'ana',
    });
    const next = transitionJob(job, { type: 'slotAssigned' }, context);
    assert.deepEqual(next, { state: 'assigned', attempt: 1, jobId: 'j-1', owner: 'ana' });
    assert.equal(job.state, 'queued');
  });

  it('rejects every event the table does not list, with conflict', () => {
    let rejected = 0;
    for (const state of jobStates) {
      for (const type of jobEventTypes) {
        if (tableRow(jobTransitions, state)[type] !== undefined) continue;
        for (const event of jobEventsOf(type)) {
          const error = expectBatonError(
            () => transitionJob({ state, attempt: 1 }, event, context),
            'conflict',
          );
          assert.match(error.message, new RegExp(`^illegal transition: job ${state} --${type}-->`));
          assert.equal(canTransitionJob({ state, attempt: 1 }, event, context), false);
          rejected += 1;
        }
      }
    }
    // 42 pairs − 12 legal = 30; exited (illegal in 5 states) sent 3 ways, retry (in 4) 2 ways.
    assert.equal(rejected, 30 + 5 * 2 + 4);
  });

  it('property: any event not in the table throws conflict; canTransitionJob agrees', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...jobStates),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        jobEventArb,
        (state, attempt, maxAttempts, event) => {
          const job = { state, attempt };
          const ctx = { maxAttempts };
          const allowed = canTransitionJob(job, event, ctx);
          if (tableRow(jobTransitions, state)[event.type] === undefined)
            assert.equal(allowed, false);
          if (allowed) {
            const next = transitionJob(job, event, ctx);
            assert.ok(tableRow(jobTransitions, state)[event.type]?.includes(next.state));
            assert.ok(next.attempt === attempt || next.attempt === attempt + 1);
          } else {
            expectBatonError(() => transitionJob(job, event, ctx), 'conflict');
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('rejects malformed attempts and maxAttempts with validation', () => {
    for (const attempt of [0, -1, 1.5, Number.NaN]) {
      expectBatonError(
        () => transitionJob({ state: 'queued', attempt }, { type: 'slotAssigned' }, context),
        'validation',
      );
    }
    expectBatonError(
      () =>
        transitionJob({ state: 'queued', attempt: 1 }, { type: 'canceled' }, { maxAttempts: 0 }),
      'validation',
    );
  });
});

describe('slots', () => {
  it('holds a slot exactly in assigned and running', () => {
    assert.deepEqual(jobStates.filter(holdsSlot), ['assigned', 'running'] satisfies JobState[]);
  });

  it('every legal transition takes or frees a slot exactly when it crosses the boundary', () => {
    for (const state of jobStates) {
      for (const type of jobEventTypes) {
        for (const to of tableRow(jobTransitions, state)[type] ?? []) {
          const crossesOut = holdsSlot(state) && !holdsSlot(to);
          const crossesIn = !holdsSlot(state) && holdsSlot(to);
          assert.equal(freesSlot(state, to), crossesOut, `${state} → ${to}`);
          assert.equal(takesSlot(state, to), crossesIn, `${state} → ${to}`);
          if (crossesIn) assert.equal(type, 'slotAssigned', 'only slotAssigned takes a slot');
          if (crossesOut) assert.ok(isJobEnded(to), 'a slot is freed by ending the attempt');
        }
      }
    }
  });

  it('property: over any event sequence each slot taken is freed exactly once', () => {
    let freedInAllRuns = 0;
    let runsFreeingTwice = 0;
    fc.assert(
      fc.property(
        fc.array(lifecycleEventArb, { minLength: 5, maxLength: 80 }),
        fc.integer({ min: 1, max: 4 }),
        (events, maxAttempts) => {
          let job: JobSnapshot = { state: 'queued', attempt: 1 };
          let taken = 0;
          let freed = 0;
          const freedByAttempt = new Map<number, number>();
          for (const event of events) {
            if (!canTransitionJob(job, event, { maxAttempts })) {
              // An illegal event (a redelivery, a race) throws and changes nothing.
              expectBatonError(() => transitionJob(job, event, { maxAttempts }), 'conflict');
              continue;
            }
            const next = transitionJob(job, event, { maxAttempts });
            if (takesSlot(job.state, next.state)) taken += 1;
            if (freesSlot(job.state, next.state)) {
              freed += 1;
              freedByAttempt.set(job.attempt, (freedByAttempt.get(job.attempt) ?? 0) + 1);
            }
            assert.ok(
              freed <= taken && taken <= freed + 1,
              'never freed before taken, never two held',
            );
            assert.equal(taken - freed, holdsSlot(next.state) ? 1 : 0);
            job = next;
          }
          for (const count of freedByAttempt.values())
            assert.equal(count, 1, 'one free per attempt');
          if (isJobEnded(job.state) || job.state === 'queued') assert.equal(taken, freed);
          freedInAllRuns += freed;
          if (freedByAttempt.size >= 2) runsFreeingTwice += 1;
        },
      ),
      { numRuns: 1000 },
    );
    // Not vacuous: slots are released, and released again by later attempts after a retry.
    assert.ok(freedInAllRuns > 500, `slot releases: ${freedInAllRuns}`);
    assert.ok(runsFreeingTwice > 50, `runs releasing in two attempts: ${runsFreeingTwice}`);
  });
});

describe('taskProgress', () => {
  const jobs = (...states: JobState[]): { state: JobState }[] => states.map((state) => ({ state }));

  it('counts by state, active and not-succeeded jobs', () => {
    const progress = taskProgress(
      jobs(
        'queued',
        'assigned',
        'running',
        'succeeded',
        'succeeded',
        'failed',
        'timed_out',
        'canceled',
      ),
    );
    assert.deepEqual(progress.byState, {
      queued: 1,
      assigned: 1,
      running: 1,
      succeeded: 2,
      failed: 1,
      canceled: 1,
      timed_out: 1,
    });
    assert.equal(progress.total, 8);
    assert.equal(progress.active, 3);
    assert.equal(progress.succeeded, 2);
    assert.equal(progress.notSucceeded, 3);
    assert.equal(progress.percentDone, 62.5);
    assert.equal(progress.allDone, false);
  });

  it('reads 100 % only when every job has ended; an empty task is done', () => {
    const many = jobs(...Array<JobState>(1999).fill('succeeded'), 'running');
    assert.equal(taskProgress(many).percentDone, 99.9);
    assert.equal(taskProgress(jobs('failed', 'succeeded')).percentDone, 100);
    assert.deepEqual(
      { percentDone: taskProgress([]).percentDone, allDone: taskProgress([]).allDone },
      { percentDone: 100, allDone: true },
    );
  });

  it('property: counts add up; percent in [0, 100], 100 exactly when all are done', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...jobStates), { maxLength: 300 }), (states) => {
        const progress = taskProgress(jobs(...states));
        const sum = Object.values(progress.byState).reduce((a, b) => a + b, 0);
        assert.equal(sum, states.length);
        assert.equal(progress.active + progress.succeeded + progress.notSucceeded, states.length);
        assert.ok(progress.percentDone >= 0 && progress.percentDone <= 100);
        assert.equal(progress.percentDone === 100, progress.allDone);
      }),
      { numRuns: 300 },
    );
  });

  it('feeds allJobsDone: the task ends finished or failed by its jobs', () => {
    const done = taskProgress(jobs('succeeded', 'timed_out'));
    assert.ok(done.allDone);
    assert.equal(
      transitionTask('running', { type: 'allJobsDone', failedJobs: done.notSucceeded }),
      'failed',
    );
  });
});

describe('testGateVerdict', () => {
  const gate = (...states: JobState[]): { state: JobState }[] => states.map((state) => ({ state }));
  const rule = { minSucceeded: 2, maxFailed: 1 };

  it('passes, fails or waits', () => {
    assert.equal(testGateVerdict(gate('succeeded', 'succeeded', 'running'), rule), 'passed');
    assert.equal(testGateVerdict(gate('succeeded', 'running', 'queued'), rule), 'pending');
    assert.equal(testGateVerdict(gate('failed', 'running', 'running'), rule), 'failed');
  });

  it('regression (Orchestra compared counts with ==): thresholds passed in one tick still decide', () => {
    // Two failures seen at once with maxFailed = 1: Orchestra's `== MAX_FAILED_JOBS` stayed testing.
    assert.equal(testGateVerdict(gate('failed', 'timed_out', 'running'), rule), 'failed');
    // Three successes seen at once with minSucceeded = 2.
    assert.equal(
      testGateVerdict(gate('succeeded', 'succeeded', 'succeeded'), {
        minSucceeded: 2,
        maxFailed: 3,
      }),
      'passed',
    );
  });

  it('failure wins a tie; a gate that ended without enough successes fails, never hangs', () => {
    assert.equal(testGateVerdict(gate('succeeded', 'succeeded', 'failed'), rule), 'failed');
    assert.equal(
      testGateVerdict(gate('succeeded', 'canceled', 'failed'), { minSucceeded: 3, maxFailed: 5 }),
      'failed',
    );
  });

  it('a task smaller than the gate passes when all its jobs succeed', () => {
    assert.equal(testGateVerdict(gate('succeeded'), { minSucceeded: 10, maxFailed: 1 }), 'passed');
  });

  it('property: a gate with no active job is never pending', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('succeeded', 'failed', 'canceled', 'timed_out' as const), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 10 }),
        (states, minSucceeded, maxFailed) => {
          assert.notEqual(testGateVerdict(gate(...states), { minSucceeded, maxFailed }), 'pending');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects an empty gate and malformed thresholds', () => {
    expectBatonError(() => testGateVerdict([], rule), 'validation');
    expectBatonError(() => testGateVerdict(gate('queued'), { minSucceeded: 0, maxFailed: 1 }));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobIdPattern } from '../../shared/domain/jobIds.js';
import type { JobState } from '../../shared/domain/taskStates.js';
import {
  createTaskRequestSchema,
  gateSizeFor,
  isLaunchable,
  isOverdue,
  parseBackendSlots,
  retryBackoffSeconds,
  taskComputeJobId,
  taskEventFromJobs,
  taskIncarnation,
  taskJobKey,
} from '../../shared/domain/tasks.js';
import { expectBatonError } from './batonErrorAssert.js';

describe('backend slots setting', () => {
  it('parses slots and declared resources per backend', () => {
    assert.deepEqual(parseBackendSlots('local=3'), [{ name: 'local', slots: 3 }]);
    assert.deepEqual(parseBackendSlots('local=3; aci=20,cpu=40,memoryGb=160.5;hpc=0,gpu=8'), [
      { name: 'local', slots: 3 },
      { name: 'aci', slots: 20, resources: { cpu: 40, memoryGb: 160.5 } },
      { name: 'hpc', slots: 0, resources: { gpu: 8 } },
    ]);
  });

  it('names the setting and the bad entry', () => {
    for (const bad of ['', 'local', 'local=x', 'Local=3', 'local=3,disk=5', 'a=1;a=2', 'a=-1']) {
      const error = expectBatonError(() => parseBackendSlots(bad));
      assert.match(error.message, /BATON_BACKEND_SLOTS/);
    }
  });
});

describe('task job identities', () => {
  it('gives keys that sort like indexes and compute ids a container group accepts', () => {
    assert.equal(taskJobKey(0), 'j000000');
    assert.equal(taskJobKey(12345), 'j012345');
    assert.ok(taskJobKey(9) < taskJobKey(10));
    const incarnation = taskIncarnation(`user.${'a'.repeat(32)}.${'x'.repeat(200)}`, '2026-01-01');
    const id = taskComputeJobId(incarnation, 999_999, 21);
    assert.match(id, jobIdPattern);
    assert.ok(id.length <= 63);
  });

  it('tells incarnations of one name apart, and repeats for the same creation', () => {
    const a = taskIncarnation('user.a.t', '2026-01-01T00:00:00.000Z');
    assert.equal(a, taskIncarnation('user.a.t', '2026-01-01T00:00:00.000Z'));
    assert.notEqual(a, taskIncarnation('user.a.t', '2026-01-01T00:00:00.001Z'));
    assert.notEqual(taskComputeJobId(a, 1, 1), taskComputeJobId(a, 1, 2));
  });
});

describe('retry backoff and the gate size', () => {
  it('doubles per attempt and caps at ten minutes', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 10].map((a) => retryBackoffSeconds(a, 30)),
      [30, 60, 120, 240, 600],
    );
    assert.equal(retryBackoffSeconds(5, 0), 0);
  });

  it('gates the first jobs unless bypassed, never more than the task has', () => {
    assert.equal(gateSizeFor(100, 10, false), 10);
    assert.equal(gateSizeFor(3, 10, false), 3);
    assert.equal(gateSizeFor(100, 10, true), 0);
  });
});

describe('which jobs the scheduler may launch', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  const queued = { state: 'queued' as const, gate: false };
  it('releases every queued job of a running task, only gate jobs of a testing one', () => {
    assert.equal(isLaunchable({ state: 'running' }, queued, now), true);
    assert.equal(isLaunchable({ state: 'testing' }, queued, now), false);
    assert.equal(isLaunchable({ state: 'testing' }, { ...queued, gate: true }, now), true);
    for (const state of ['registered', 'broken', 'killed', 'failed', 'deleted'] as const) {
      assert.equal(isLaunchable({ state }, { ...queued, gate: true }, now), false, state);
    }
  });

  it('holds a retry back until its backoff is over, and never launches a non-queued job', () => {
    const later = { ...queued, notBefore: '2026-01-01T12:00:01Z' };
    assert.equal(isLaunchable({ state: 'running' }, later, now), false);
    assert.equal(isLaunchable({ state: 'running' }, later, new Date('2026-01-01T12:00:01Z')), true);
    assert.equal(isLaunchable({ state: 'running' }, { state: 'failed', gate: false }, now), false);
  });
});

describe('task events from its jobs', () => {
  /** `failed!` is a gate job in state failed. */
  const jobs = (...states: string[]): Array<{ state: JobState; gate: boolean }> =>
    states.map((s) => ({ state: s.replace('!', '') as JobState, gate: s.endsWith('!') }));

  it('passes the gate when every gate job succeeded, fails it on the first final failure', () => {
    const testing = { state: 'testing' as const, gateSize: 2 };
    assert.deepEqual(taskEventFromJobs(testing, jobs('succeeded!', 'succeeded!', 'queued')), {
      type: 'testPassed',
    });
    assert.equal(taskEventFromJobs(testing, jobs('succeeded!', 'running!', 'queued')), undefined);
    assert.deepEqual(taskEventFromJobs(testing, jobs('failed!', 'running!', 'queued')), {
      type: 'testFailed',
    });
    assert.deepEqual(taskEventFromJobs(testing, jobs('timed_out!', 'succeeded!')), {
      type: 'testFailed',
    });
  });

  it('ends a running task when nothing is active, counting what did not succeed', () => {
    const running = { state: 'running' as const, gateSize: 0 };
    assert.equal(taskEventFromJobs(running, jobs('succeeded', 'queued')), undefined);
    assert.deepEqual(taskEventFromJobs(running, jobs('succeeded', 'succeeded')), {
      type: 'allJobsDone',
      failedJobs: 0,
    });
    assert.deepEqual(taskEventFromJobs(running, jobs('succeeded', 'failed', 'canceled')), {
      type: 'allJobsDone',
      failedJobs: 2,
    });
    assert.equal(taskEventFromJobs({ state: 'broken', gateSize: 1 }, jobs('failed!')), undefined);
  });
});

describe('overdue jobs', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  it('counts from the start (or the assignment) plus a grace', () => {
    const job = { state: 'running' as const, startedAt: '2026-01-01T11:58:00Z' };
    assert.equal(isOverdue(job, 60, now, 60), false); // exactly at timeout + grace
    assert.equal(isOverdue(job, 59, now, 60), true);
    assert.equal(
      isOverdue({ state: 'assigned', assignedAt: '2026-01-01T11:00:00Z' }, 60, now),
      true,
    );
    assert.equal(isOverdue({ state: 'queued' }, 1, now), false);
  });
});

describe('the create request', () => {
  it('fills defaults and refuses unknown fields and out-of-range numbers', () => {
    const parsed = createTaskRequestSchema.parse({
      name: 'user.a.t',
      configDataset: 'user.a.c',
      dataDataset: 'user.a.d',
      exec: 'x %DATA %IN %OUT',
    });
    assert.equal(parsed.priority, 0);
    assert.equal(parsed.maxRetries, 2);
    assert.equal(parsed.bypass, false);
    for (const bad of [{ priority: 6 }, { maxRetries: -1 }, { timeoutSeconds: 0 }, { extra: 1 }]) {
      assert.equal(
        createTaskRequestSchema.safeParse({ ...parsed, ...bad }).success,
        false,
        JSON.stringify(bad),
      );
    }
  });
});

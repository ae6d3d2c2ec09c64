import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { toRunStatus, toRunView, toSteps, type RunStatus } from '../../shared/domain/runView.js';
import type {
  InstanceStatus,
  RuntimeStatus,
  WorkItemRecord,
} from '../../shared/ports/orchestrationClient.js';

const t = (seconds: number): string =>
  new Date(Date.UTC(2024, 0, 1, 12, 0, 0) + seconds * 1000).toISOString();

describe('toRunStatus', () => {
  const expected: Record<RuntimeStatus, RunStatus> = {
    Pending: 'pending',
    Running: 'running',
    ContinuedAsNew: 'running',
    Suspended: 'running',
    Completed: 'completed',
    Failed: 'failed',
    Canceled: 'canceled',
    Terminated: 'canceled',
  };
  for (const [runtime, status] of Object.entries(expected) as Array<[RuntimeStatus, RunStatus]>) {
    it(`${runtime} -> ${status}`, () => assert.equal(toRunStatus(runtime), status));
  }
});

describe('toSteps: examples', () => {
  it('returns no steps for an empty history', () => {
    assert.deepEqual(toSteps([]), []);
  });

  it('groups retries under the first attempt, skips backoff timers, computes durations', () => {
    const history: WorkItemRecord[] = [
      {
        kind: 'activity',
        name: 'fetch',
        taskId: 0,
        status: 'failed',
        scheduledAt: t(0),
        finishedAt: t(1.5),
        error: 'boom',
      },
      {
        kind: 'timer',
        name: 'timer',
        taskId: 1,
        status: 'completed',
        scheduledAt: t(1.5),
        finishedAt: t(3.5),
        retryOf: 0,
      },
      {
        kind: 'activity',
        name: 'fetch',
        taskId: 2,
        status: 'failed',
        scheduledAt: t(3.5),
        finishedAt: t(4),
        error: 'boom again',
        retryOf: 0,
      },
      {
        kind: 'timer',
        name: 'timer',
        taskId: 3,
        status: 'completed',
        scheduledAt: t(4),
        finishedAt: t(8),
        retryOf: 0,
      },
      {
        kind: 'activity',
        name: 'fetch',
        taskId: 4,
        status: 'completed',
        scheduledAt: t(8),
        finishedAt: t(10),
        retryOf: 0,
      },
      {
        kind: 'timer',
        name: 'timer',
        taskId: 5,
        status: 'completed',
        scheduledAt: t(10),
        finishedAt: t(70),
      },
      {
        kind: 'subOrchestration',
        name: 'child',
        taskId: 6,
        status: 'scheduled',
        scheduledAt: t(70),
        instanceId: 'run-1:6',
      },
    ];
    assert.deepEqual(toSteps(history), [
      {
        name: 'fetch',
        kind: 'activity',
        taskId: 0,
        status: 'completed',
        attempts: [
          {
            attempt: 1,
            status: 'failed',
            startedAt: t(0),
            finishedAt: t(1.5),
            durationMs: 1500,
            error: 'boom',
          },
          {
            attempt: 2,
            status: 'failed',
            startedAt: t(3.5),
            finishedAt: t(4),
            durationMs: 500,
            error: 'boom again',
          },
          { attempt: 3, status: 'completed', startedAt: t(8), finishedAt: t(10), durationMs: 2000 },
        ],
      },
      // A durable timer the orchestration asked for is a step; only retry backoff timers are not.
      {
        name: 'timer',
        kind: 'timer',
        taskId: 5,
        status: 'completed',
        attempts: [
          {
            attempt: 1,
            status: 'completed',
            startedAt: t(10),
            finishedAt: t(70),
            durationMs: 60_000,
          },
        ],
      },
      {
        name: 'child',
        kind: 'subOrchestration',
        taskId: 6,
        status: 'scheduled',
        instanceId: 'run-1:6',
        attempts: [{ attempt: 1, status: 'scheduled', startedAt: t(70) }],
      },
    ]);
  });

  it('a step failing on its last retry is failed', () => {
    const steps = toSteps([
      { kind: 'activity', name: 'a', taskId: 0, status: 'failed', error: 'x' },
      { kind: 'activity', name: 'a', taskId: 2, status: 'failed', error: 'y', retryOf: 0 },
    ]);
    assert.equal(steps.length, 1);
    assert.equal(steps[0]?.status, 'failed');
    assert.deepEqual(
      steps[0]?.attempts.map((a) => a.error),
      ['x', 'y'],
    );
  });

  it('omits durationMs unless both timestamps are known', () => {
    const steps = toSteps([
      { kind: 'activity', name: 'a', status: 'scheduled', scheduledAt: t(0) },
      { kind: 'activity', name: 'b', status: 'completed', finishedAt: t(5) },
      { kind: 'event', name: 'approval', status: 'completed' },
    ]);
    for (const s of steps) assert.equal(s.attempts[0]?.durationMs, undefined, s.name);
    assert.deepEqual(
      steps.map((s) => [s.name, s.kind, s.taskId]),
      [
        ['a', 'activity', undefined],
        ['b', 'activity', undefined],
        ['approval', 'event', undefined],
      ],
    );
  });

  it('does not drop a retry whose first attempt is missing from the history', () => {
    const steps = toSteps([
      { kind: 'activity', name: 'a', taskId: 4, status: 'completed', retryOf: 0 },
    ]);
    assert.equal(steps.length, 1);
    assert.equal(steps[0]?.name, 'a');
  });
});

interface Group {
  name: string;
  kind: 'activity' | 'subOrchestration';
  statuses: Array<'completed' | 'failed'>;
  durationsMs: number[];
}

const group = fc
  .record({
    name: fc.stringMatching(/^[a-z]{1,6}$/),
    kind: fc.constantFrom('activity' as const, 'subOrchestration' as const),
    statuses: fc.array(fc.constantFrom('completed' as const, 'failed' as const), {
      minLength: 1,
      maxLength: 5,
    }),
  })
  .chain((g) =>
    fc
      .array(fc.integer({ min: 0, max: 3_600_000 }), {
        minLength: g.statuses.length,
        maxLength: g.statuses.length,
      })
      .map((durationsMs): Group => ({ ...g, durationsMs })),
  );

/**
 * Builds a history: every group's first attempt in order, then the retries (each preceded by its
 * backoff timer) interleaved across groups as `picks` dictates, keeping each group's own order.
 */
function buildHistory(
  groups: Group[],
  picks: number[],
): { history: WorkItemRecord[]; firstIds: number[] } {
  const history: WorkItemRecord[] = [];
  let nextId = 0;
  let clock = Date.UTC(2024, 0, 1);
  const item = (g: Group, i: number, retryOf?: number): WorkItemRecord => {
    const scheduledAt = new Date(clock).toISOString();
    clock += g.durationsMs[i] ?? 0;
    const rec: WorkItemRecord = {
      kind: g.kind,
      name: g.name,
      taskId: nextId++,
      status: g.statuses[i] ?? 'completed',
      scheduledAt,
      finishedAt: new Date(clock).toISOString(),
    };
    if (rec.status === 'failed') rec.error = `${g.name} failed #${i + 1}`;
    if (retryOf !== undefined) rec.retryOf = retryOf;
    return rec;
  };
  const firstIds = groups.map((g) => {
    const rec = item(g, 0);
    history.push(rec);
    return rec.taskId as number;
  });
  const next = groups.map(() => 1);
  let pending = groups.reduce((n, g) => n + g.statuses.length - 1, 0);
  let p = 0;
  while (pending > 0) {
    const candidates = groups
      .map((g, gi) => gi)
      .filter((gi) => (next[gi] ?? 0) < (groups[gi]?.statuses.length ?? 0));
    const gi = candidates[
      (picks[p++ % Math.max(1, picks.length)] ?? 0) % candidates.length
    ] as number;
    const g = groups[gi] as Group;
    const first = firstIds[gi] as number;
    history.push({
      kind: 'timer',
      name: 'timer',
      taskId: nextId++,
      status: 'completed',
      retryOf: first,
    });
    history.push(item(g, next[gi] ?? 1, first));
    next[gi] = (next[gi] ?? 1) + 1;
    pending--;
  }
  return { history, firstIds };
}

describe('toSteps: properties', () => {
  it('one step per first attempt, attempts numbered 1..n in order, status of the last attempt', () => {
    fc.assert(
      fc.property(
        fc.array(group, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (groups, picks) => {
          const { history, firstIds } = buildHistory(groups, picks);
          const steps = toSteps(history);
          assert.equal(steps.length, groups.length);
          steps.forEach((step, gi) => {
            const g = groups[gi] as Group;
            assert.equal(step.name, g.name);
            assert.equal(step.kind, g.kind);
            assert.equal(step.taskId, firstIds[gi]);
            assert.deepEqual(
              step.attempts.map((a) => a.attempt),
              g.statuses.map((_, i) => i + 1),
            );
            assert.deepEqual(
              step.attempts.map((a) => a.status),
              g.statuses,
            );
            assert.deepEqual(
              step.attempts.map((a) => a.durationMs),
              g.durationsMs,
            );
            assert.equal(step.status, g.statuses[g.statuses.length - 1]);
            for (const a of step.attempts)
              assert.equal(a.error !== undefined, a.status === 'failed');
          });
          // No backoff timer surfaces as a step.
          assert.ok(steps.every((s) => s.kind !== 'timer'));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('toRunView', () => {
  const record = {
    runId: 'etl-20240101T000000-abcdef',
    pipeline: 'etl',
    params: { n: 1 },
    createdAt: t(0),
  };
  const status = (over: Partial<InstanceStatus>): InstanceStatus => ({
    instanceId: record.runId,
    name: 'etl',
    runtimeStatus: 'Running',
    input: record.params,
    output: null,
    customStatus: null,
    createdTime: t(0),
    lastUpdatedTime: t(30),
    ...over,
  });

  it('without an instance status the run is pending with nothing to show', () => {
    const view = toRunView(record, undefined);
    assert.deepEqual(view, {
      runId: record.runId,
      pipeline: 'etl',
      status: 'pending',
      createdAt: t(0),
      updatedAt: t(0),
      params: { n: 1 },
      output: null,
      progress: null,
    });
  });

  it('a completed run exposes its output and progress', () => {
    const view = toRunView(
      record,
      status({ runtimeStatus: 'Completed', output: { rows: 10 }, customStatus: { pct: 100 } }),
    );
    assert.equal(view.status, 'completed');
    assert.deepEqual(view.output, { rows: 10 });
    assert.deepEqual(view.progress, { pct: 100 });
    assert.equal(view.updatedAt, t(30));
    assert.equal(view.error, undefined);
    assert.equal('steps' in view, false);
  });

  it('a running run shows no output even if the status carries one', () => {
    const view = toRunView(
      record,
      status({ runtimeStatus: 'Running', output: 'partial', customStatus: undefined }),
    );
    assert.equal(view.status, 'running');
    assert.equal(view.output, null);
    assert.equal(view.progress, null);
  });

  it('a failed run maps its output to error, not output', () => {
    const view = toRunView(
      record,
      status({ runtimeStatus: 'Failed', output: 'activity fetch failed: boom' }),
    );
    assert.equal(view.status, 'failed');
    assert.equal(view.error, 'activity fetch failed: boom');
    assert.equal(view.output, null);
    assert.equal(
      toRunView(record, status({ runtimeStatus: 'Failed', output: undefined })).error,
      'failed',
    );
  });

  it('a failure output that is not a string is readable, not "[object Object]"', () => {
    const output = { message: 'boom', step: 'fetch' };
    const error = toRunView(record, status({ runtimeStatus: 'Failed', output })).error ?? '';
    assert.ok(!error.includes('[object Object]'), error);
    assert.deepEqual(JSON.parse(error), output);
  });

  it('a terminated run is canceled and carries the reason as error', () => {
    const view = toRunView(
      record,
      status({ runtimeStatus: 'Terminated', output: 'stopped by alice' }),
    );
    assert.equal(view.status, 'canceled');
    assert.equal(view.error, 'stopped by alice');
  });

  it('folds the history into steps when present', () => {
    const history: WorkItemRecord[] = [
      { kind: 'activity', name: 'a', taskId: 0, status: 'failed', error: 'x' },
      { kind: 'activity', name: 'a', taskId: 2, status: 'completed', retryOf: 0 },
    ];
    const view = toRunView(record, status({ history }));
    assert.deepEqual(view.steps, toSteps(history));
    assert.equal(view.steps?.[0]?.attempts.length, 2);
  });
});

describe('toRunView: timers of a finished run', () => {
  it('shows a timer the finished run no longer waits for as canceled, and a pending run’s as scheduled', () => {
    const history = [
      {
        kind: 'activity' as const,
        name: 'requestJobLaunch',
        taskId: 0,
        status: 'completed' as const,
      },
      { kind: 'timer' as const, name: 'timer', taskId: 1, status: 'scheduled' as const },
    ];
    const record = {
      runId: 'r',
      pipeline: 'command',
      params: {},
      createdAt: '2024-01-01T00:00:00.000Z',
    };
    const base = {
      instanceId: 'r',
      name: 'runCommand',
      input: null,
      output: null,
      customStatus: null,
      createdTime: record.createdAt,
      lastUpdatedTime: record.createdAt,
      history,
    };
    const done = toRunView(record, { ...base, runtimeStatus: 'Completed' });
    assert.equal(done.steps?.[1]?.status, 'canceled');
    const running = toRunView(record, { ...base, runtimeStatus: 'Running' });
    assert.equal(running.steps?.[1]?.status, 'scheduled');
  });
});

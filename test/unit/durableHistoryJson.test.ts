import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  fromDurableHistoryJson,
  toDurableHistoryJson,
} from '../../shared/adapters/durable/durableHistoryJson.js';
import type { WorkItemRecord } from '../../shared/ports/orchestrationClient.js';

const isoDate = fc
  .date({
    min: new Date('2000-01-01T00:00:00Z'),
    max: new Date('2100-01-01T00:00:00Z'),
    noInvalidDate: true,
  })
  .map((d) => d.toISOString());
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.option(arb, { nil: undefined });

/**
 * Records in the shape the format can carry: timers are named 'timer' and never fail, events
 * are always completed (EventRaised has no other state), only failed work has an error, and
 * only finished work has finishedAt.
 */
const record: fc.Arbitrary<WorkItemRecord> = fc
  .record({
    kindStatus: fc.constantFrom<[WorkItemRecord['kind'], WorkItemRecord['status']]>(
      ['activity', 'scheduled'],
      ['activity', 'completed'],
      ['activity', 'failed'],
      ['subOrchestration', 'scheduled'],
      ['subOrchestration', 'completed'],
      ['subOrchestration', 'failed'],
      ['timer', 'scheduled'],
      ['timer', 'completed'],
      ['event', 'completed'],
    ),
    name: fc.string({ maxLength: 12 }),
    taskId: optional(fc.nat({ max: 10_000 })),
    scheduledAt: optional(isoDate),
    finishedAt: optional(isoDate),
    error: fc.string({ minLength: 0, maxLength: 20 }),
    instanceId: optional(fc.stringMatching(/^[a-z0-9:-]{1,20}$/)),
    retryOf: optional(fc.nat({ max: 10_000 })),
  })
  .map(
    ({
      kindStatus: [kind, status],
      name,
      taskId,
      scheduledAt,
      finishedAt,
      error,
      instanceId,
      retryOf,
    }) => {
      const r: WorkItemRecord = { kind, status, name: kind === 'timer' ? 'timer' : name };
      if (taskId !== undefined) r.taskId = taskId;
      if (scheduledAt !== undefined) r.scheduledAt = scheduledAt;
      if (finishedAt !== undefined && status !== 'scheduled') r.finishedAt = finishedAt;
      if (status === 'failed') r.error = error;
      if (instanceId !== undefined) r.instanceId = instanceId;
      if (retryOf !== undefined) r.retryOf = retryOf;
      return r;
    },
  );

/** Any record the type allows, including ones the format cannot represent exactly. */
const anyRecord: fc.Arbitrary<WorkItemRecord> = fc.record(
  {
    kind: fc.constantFrom(
      'activity' as const,
      'subOrchestration' as const,
      'timer' as const,
      'event' as const,
    ),
    name: fc.string({ maxLength: 8 }),
    status: fc.constantFrom('scheduled' as const, 'completed' as const, 'failed' as const),
    taskId: fc.nat({ max: 100 }),
    scheduledAt: isoDate,
    finishedAt: isoDate,
    error: fc.string({ maxLength: 8 }),
    instanceId: fc.string({ maxLength: 8 }),
    retryOf: fc.nat({ max: 100 }),
  },
  { requiredKeys: ['kind', 'name', 'status'] },
);

describe('durable history JSON: round trip', () => {
  it('property: fromDurableHistoryJson(toDurableHistoryJson(records)) gives the records back', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), (records) => {
        assert.deepEqual(fromDurableHistoryJson(toDurableHistoryJson(records)), records);
      }),
      { numRuns: 200 },
    );
  });

  it('property: the round trip survives JSON text (as over HTTP)', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), (records) => {
        const text = JSON.stringify(toDurableHistoryJson(records));
        assert.deepEqual(fromDurableHistoryJson(JSON.parse(text)), records);
      }),
      { numRuns: 200 },
    );
  });

  it('property: for any record list, one round trip reaches a fixed point and keeps kind and order', () => {
    fc.assert(
      fc.property(fc.array(anyRecord, { maxLength: 10 }), (records) => {
        const once = fromDurableHistoryJson(toDurableHistoryJson(records));
        assert.deepEqual(
          once.map((r) => r.kind),
          records.map((r) => r.kind),
        );
        assert.deepEqual(fromDurableHistoryJson(toDurableHistoryJson(once)), once);
      }),
      { numRuns: 200 },
    );
  });
});

describe('durable history JSON: reading the status API format', () => {
  it('reads Azure-shaped entries and ignores unknown fields', () => {
    const records = fromDurableHistoryJson([
      {
        EventType: 'ExecutionStarted',
        FunctionName: 'etl',
        Timestamp: '2024-01-01T00:00:00Z',
        Correlation: null,
      },
      {
        EventType: 'TaskCompleted',
        FunctionName: 'fetch',
        Result: { rows: 3 },
        ScheduledTime: '2024-01-01T00:00:01Z',
        Timestamp: '2024-01-01T00:00:04Z',
        TaskScheduledId: 0,
      },
      {
        EventType: 'TaskFailed',
        FunctionName: 'load',
        Reason: 'disk full',
        Details: 'stack...',
        TaskScheduledId: 1,
      },
      { EventType: 'TaskFailed', FunctionName: 'load', Details: 'only details' },
      { EventType: 'SubOrchestrationInstanceFailed', FunctionName: 'child' },
      {
        EventType: 'TimerFired',
        FireAt: '2024-01-01T00:10:00Z',
        Timestamp: '2024-01-01T00:10:00Z',
      },
      { EventType: 'EventRaised', Name: 'approval', Timestamp: '2024-01-01T01:00:00Z' },
      { EventType: 'ExecutionCompleted', OrchestrationStatus: 'Completed' },
    ]);
    assert.deepEqual(records, [
      {
        kind: 'activity',
        name: 'fetch',
        status: 'completed',
        taskId: 0,
        scheduledAt: '2024-01-01T00:00:01Z',
        finishedAt: '2024-01-01T00:00:04Z',
      },
      { kind: 'activity', name: 'load', status: 'failed', taskId: 1, error: 'disk full' },
      { kind: 'activity', name: 'load', status: 'failed', error: 'only details' },
      { kind: 'subOrchestration', name: 'child', status: 'failed', error: 'failed' },
      { kind: 'timer', name: 'timer', status: 'completed', finishedAt: '2024-01-01T00:10:00Z' },
      { kind: 'event', name: 'approval', status: 'completed', finishedAt: '2024-01-01T01:00:00Z' },
    ]);
  });

  it('a scheduled entry takes its Timestamp as scheduledAt', () => {
    assert.deepEqual(
      fromDurableHistoryJson([
        {
          EventType: 'TaskScheduled',
          Name: 'fetch',
          Timestamp: '2024-01-01T00:00:00Z',
          TaskScheduledId: 2,
        },
      ]),
      [
        {
          kind: 'activity',
          name: 'fetch',
          status: 'scheduled',
          taskId: 2,
          scheduledAt: '2024-01-01T00:00:00Z',
        },
      ],
    );
  });

  it('property: unknown EventTypes are ignored wherever they appear', () => {
    const unknown = fc
      .constantFrom(
        'ExecutionStarted',
        'OrchestratorStarted',
        'OrchestratorCompleted',
        'ExecutionCompleted',
        'GenericEvent',
        'SomethingNew',
      )
      .map((EventType) => ({ EventType, FunctionName: 'noise', TaskScheduledId: 99 }));
    fc.assert(
      fc.property(
        fc.array(record, { maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), unknown), { maxLength: 6 }),
        (records, noise) => {
          const entries: unknown[] = [...toDurableHistoryJson(records)];
          for (const [at, entry] of noise) entries.splice(at % (entries.length + 1), 0, entry);
          assert.deepEqual(fromDurableHistoryJson(entries), records);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('malformed input gives an empty list', () => {
    const malformed: unknown[] = [
      undefined,
      null,
      'history',
      42,
      { EventType: 'TaskCompleted' },
      [null],
      [{}],
      [{ EventType: 5 }],
      [{ EventType: 'TaskCompleted', TaskScheduledId: 'zero' }],
      [{ EventType: 'TaskCompleted', FunctionName: 7 }],
    ];
    for (const input of malformed)
      assert.deepEqual(fromDurableHistoryJson(input), [], JSON.stringify(input));
  });

  it('writes the names the status API uses', () => {
    const entries = toDurableHistoryJson([
      { kind: 'activity', name: 'fetch', status: 'scheduled' },
      { kind: 'activity', name: 'fetch', status: 'completed' },
      { kind: 'activity', name: 'fetch', status: 'failed', error: 'x' },
      { kind: 'subOrchestration', name: 'child', status: 'completed', instanceId: 'r:1' },
      { kind: 'timer', name: 'timer', status: 'scheduled' },
      { kind: 'timer', name: 'timer', status: 'completed' },
      { kind: 'event', name: 'approval', status: 'completed' },
    ]);
    assert.deepEqual(
      entries.map((e) => e.EventType),
      [
        'TaskScheduled',
        'TaskCompleted',
        'TaskFailed',
        'SubOrchestrationInstanceCompleted',
        'TimerCreated',
        'TimerFired',
        'EventRaised',
      ],
    );
    assert.equal(entries[2]?.Reason, 'x');
    assert.equal(entries[3]?.InstanceId, 'r:1');
    assert.equal(entries[6]?.Name, 'approval');
    assert.equal(entries[4]?.FunctionName, undefined);
  });
});

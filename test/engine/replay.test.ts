import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as df from 'durable-functions';
import { fixtureRecordings, fx, type CountInput } from './fixtures/orchestrators.js';
import {
  listStoredHistories,
  orchestratorEpisodes,
  replayHistory,
  type StoredHistory,
} from './fixtures/storedHistories.js';
import {
  EventType,
  fromJsonText,
  isScheduling,
  toJsonText,
  type HistoryEvent,
} from '../../shared/runtime/durable/historyEvents.js';
import type { EpisodeRecord } from '../../shared/runtime/durable/instanceStore.js';
import {
  retryDelayMs,
  runEpisode,
  type EpisodeResult,
  type OrchestrationHandler,
  type ScheduledWork,
} from '../../shared/runtime/durable/replay.js';
import { registryLookup } from '../../shared/runtime/functionLookup.js';
import { functionsByTrigger } from '../../shared/runtime/functionRegistry.js';

/**
 * Replays the stored histories of test/histories through the real durable-functions handler
 * (no engine, no storage) and checks that today's orchestrator code makes exactly the decisions
 * recorded in them, and that histories it cannot have produced are rejected as
 * non-deterministic. See test/histories/README.md for how to re-record.
 */

const orchestratorNames = (): string[] =>
  functionsByTrigger('orchestrationTrigger').map((f) => f.name);
const fixtureOrchestrators = new Set(orchestratorNames());
await import('../../functions/index.js');
const appOrchestrators = orchestratorNames().filter((name) => !fixtureOrchestrators.has(name));

/** fx_sequence as if someone had deleted its last step. */
const oneStepShort = 'replay_sequenceOneStepShort';
df.app.orchestration(oneStepShort, function* (ctx) {
  const { n } = ctx.df.getInput<CountInput>();
  let x = 0;
  for (let i = 0; i < n - 1; i++) x = (yield ctx.df.callActivity(fx.increment, x)) as number;
  return x;
});

const stored = listStoredHistories();
const byName = (name: string): StoredHistory => {
  const found = stored.find((s) => s.name === name);
  assert.ok(found, `test/histories/${name}.json exists`);
  return found;
};

function handlerOf(name: string): OrchestrationHandler {
  const handler = registryLookup.orchestrator(name);
  assert.ok(handler, `orchestrator ${name} is registered`);
  return handler;
}

interface Replay {
  history: readonly HistoryEvent[];
  newEvents?: readonly HistoryEvent[];
  now?: Date;
  /** Replays against another orchestrator's code than the one that recorded the history. */
  orchestrator?: string;
}

function replay(s: StoredHistory, r: Replay): Promise<EpisodeResult> {
  const name = r.orchestrator ?? s.orchestrator;
  const last = s.episodes[s.episodes.length - 1];
  return runEpisode(handlerOf(name), {
    instanceId: s.instanceId,
    functionName: name,
    input: s.input,
    history: r.history,
    newEvents: r.newEvents ?? [],
    now: r.now ?? new Date(Date.parse(last?.at ?? '2000-01-01T00:00:00Z') + 1000),
  });
}

/**
 * Scheduled work in one comparable shape, from either side: what the engine writes for a
 * ScheduledWork (engine.ts `toSchedulingEvent`, restated here as the test's oracle) and what a
 * stored scheduling event says.
 */
interface Decision {
  kind: ScheduledWork['kind'];
  taskId: number;
  name?: string;
  input?: unknown;
  instanceId?: string;
  fireAt?: string;
  retryOf?: number;
}

function decisionOfEvent(e: HistoryEvent): Decision {
  const retryOf = e.RetryOf === undefined ? {} : { retryOf: e.RetryOf };
  switch (e.EventType) {
    case EventType.TaskScheduled:
      return {
        kind: 'activity',
        taskId: e.EventId,
        name: e.Name ?? '',
        input: fromJsonText(e.Input),
        ...retryOf,
      };
    case EventType.SubOrchestrationInstanceCreated:
      return {
        kind: 'subOrchestration',
        taskId: e.EventId,
        name: e.Name ?? '',
        input: fromJsonText(e.Input),
        instanceId: e.InstanceId ?? '',
        ...retryOf,
      };
    case EventType.TimerCreated:
      return e.RetryOf === undefined
        ? { kind: 'timer', taskId: e.EventId, fireAt: e.FireAt ?? '' }
        : { kind: 'retryTimer', taskId: e.EventId, fireAt: e.FireAt ?? '', retryOf: e.RetryOf };
    default:
      throw new Error(`event type ${e.EventType} schedules nothing`);
  }
}

function decisionOfWork(w: ScheduledWork, instanceId: string, now: Date): Decision {
  const retryOf = w.kind !== 'retryTimer' && w.retryOf !== undefined ? { retryOf: w.retryOf } : {};
  switch (w.kind) {
    case 'activity':
      return {
        kind: w.kind,
        taskId: w.taskId,
        name: w.name,
        input: fromJsonText(toJsonText(w.input)),
        ...retryOf,
      };
    case 'subOrchestration':
      return {
        kind: w.kind,
        taskId: w.taskId,
        name: w.name,
        input: fromJsonText(toJsonText(w.input)),
        instanceId: w.instanceId ?? `${instanceId}:${w.taskId}`,
        ...retryOf,
      };
    case 'timer':
      return { kind: w.kind, taskId: w.taskId, fireAt: w.fireAt };
    case 'retryTimer':
      return {
        kind: w.kind,
        taskId: w.taskId,
        fireAt: new Date(now.getTime() + retryDelayMs(w.retry, w.failures)).toISOString(),
        retryOf: w.retryOf,
      };
  }
}

/** An episode split into what came in (replay input) and what the orchestrator decided. */
function splitEpisode(episode: EpisodeRecord): {
  now: Date;
  inbound: HistoryEvent[];
  scheduled: HistoryEvent[];
} {
  const [started, ...rest] = episode.events;
  assert.equal(
    started?.EventType,
    EventType.OrchestratorStarted,
    `episode ${episode.seq} starts with OrchestratorStarted`,
  );
  const isOutcome = (e: HistoryEvent): boolean =>
    e.EventType === EventType.ExecutionCompleted || e.EventType === EventType.ExecutionFailed;
  return {
    now: new Date(started.Timestamp),
    inbound: rest.filter((e) => !isScheduling(e) && !isOutcome(e)),
    scheduled: rest.filter(isScheduling),
  };
}

/** A copy of the history with one event replaced. */
function mutate(
  s: StoredHistory,
  pick: (e: HistoryEvent) => boolean,
  change: (e: HistoryEvent) => HistoryEvent,
): HistoryEvent[] {
  const history = structuredClone(replayHistory(s));
  const at = history.findIndex(pick);
  assert.ok(at >= 0, `${s.name} has the event to mutate`);
  history[at] = change(history[at] as HistoryEvent);
  return history;
}

/** The first `k` episodes, then the first `keep` events of episode k + 1. */
function cut(s: StoredHistory, k: number, keep: number): HistoryEvent[] {
  const next = orchestratorEpisodes(s)[k];
  assert.ok(next, `${s.name} has an episode ${k + 1}`);
  assert.ok(keep < next.events.length, 'the cut drops something');
  return [...replayHistory(s, k), ...next.events.slice(0, keep)];
}

const isTaskScheduled = (id: number) => (e: HistoryEvent) =>
  e.EventType === EventType.TaskScheduled && e.EventId === id;

describe('stored histories', () => {
  it('exist for every orchestrator of the app and every fixture recording', () => {
    assert.ok(appOrchestrators.length > 0, 'functions/index.ts registers orchestrators');
    const recorded = new Set(stored.map((s) => s.orchestrator));
    for (const name of [...appOrchestrators, ...fixtureRecordings.map((c) => c.orchestrator)]) {
      assert.ok(
        recorded.has(name),
        `no stored history for ${name}: run scripts/record-histories.ts`,
      );
    }
  });

  it('cover every kind of scheduled work and inbound event', () => {
    const types = new Set(stored.flatMap((s) => replayHistory(s)).map((e) => e.EventType));
    const kinds = new Set(
      stored
        .flatMap((s) => replayHistory(s))
        .filter(isScheduling)
        .map((e) => decisionOfEvent(e).kind),
    );
    assert.deepEqual([...kinds].sort(), ['activity', 'retryTimer', 'subOrchestration', 'timer']);
    for (const t of [
      EventType.TaskCompleted,
      EventType.TaskFailed,
      EventType.SubOrchestrationInstanceCompleted,
      EventType.SubOrchestrationInstanceFailed,
      EventType.TimerFired,
      EventType.EventRaised,
    ]) {
      assert.ok(types.has(t), `some stored history has an event of type ${t}`);
    }
  });
});

for (const s of stored) {
  describe(`replay of ${s.name}`, () => {
    it('reaches the recorded output with nothing left to schedule', async () => {
      const result = await replay(s, { history: replayHistory(s) });
      assert.equal(result.status, 'Completed', result.error);
      assert.deepEqual(result.output, s.output);
      assert.deepEqual(result.newWork, []);
    });

    it('makes, after every prefix of episodes, exactly the decisions of the next recorded episode', async () => {
      const episodes = orchestratorEpisodes(s);
      assert.ok(episodes.length > 1, 'the history has more than one episode');
      for (const [k, next] of episodes.entries()) {
        const { now, inbound, scheduled } = splitEpisode(next);
        const result = await replay(s, { history: replayHistory(s, k), newEvents: inbound, now });
        const where = `${s.name} after ${k} episode(s)`;
        assert.equal(result.status, next.outcome.runtimeStatus, `${where}: ${result.error ?? ''}`);
        assert.deepEqual(
          result.newWork.map((w) => decisionOfWork(w, s.instanceId, now)),
          scheduled.map(decisionOfEvent),
          where,
        );
        assert.deepEqual(result.customStatus ?? null, next.outcome.customStatus ?? null, where);
        if (result.status === 'Completed')
          assert.deepEqual(result.output, next.outcome.output, where);
      }
    });

    it('rejects the history when any recorded scheduling names other work', async () => {
      const scheduling = replayHistory(s).filter(isScheduling);
      for (const target of scheduling) {
        const renamed =
          target.EventType === EventType.TimerCreated
            ? { ...target, EventType: EventType.TaskScheduled, Name: 'fx_notATimer', Input: 'null' }
            : { ...target, Name: `${target.Name ?? ''}_renamed` };
        const history = mutate(
          s,
          (e) => isScheduling(e) && e.EventId === target.EventId,
          () => renamed,
        );
        const result = await replay(s, { history });
        assert.equal(result.status, 'Failed', `${s.name}: task ${target.EventId} changed`);
        assert.match(result.error ?? '', /Non-deterministic/);
        assert.match(result.error ?? '', new RegExp(`at task ${target.EventId} the history has`));
      }
    });
  });
}

describe('non-deterministic histories', () => {
  it('a renamed activity is reported with both names', async () => {
    const s = byName(fx.sequence);
    const history = mutate(s, isTaskScheduled(1), (e) => ({ ...e, Name: 'fx_decrement' }));
    const result = await replay(s, { history });
    assert.equal(result.status, 'Failed');
    assert.equal(
      result.error,
      "Non-deterministic orchestration: at task 1 the history has activity 'fx_decrement' but the code now schedules activity 'fx_increment'",
    );
    assert.deepEqual(result.newWork, []);
  });

  it("fx_sequence's history is rejected by fx_fanOut's code, and the other way round", async () => {
    const sequence = byName(fx.sequence);
    const fanOut = byName(fx.fanOut);
    const a = await replay(sequence, { history: replayHistory(sequence), orchestrator: fx.fanOut });
    assert.equal(a.status, 'Failed');
    assert.match(
      a.error ?? '',
      /^Non-deterministic orchestration: at task 0 the history has activity 'fx_increment' but the code now schedules activity 'fx_square'/,
    );
    const b = await replay(fanOut, { history: replayHistory(fanOut), orchestrator: fx.sequence });
    assert.equal(b.status, 'Failed');
    assert.match(
      b.error ?? '',
      /^Non-deterministic orchestration: at task 0 the history has activity 'fx_square'/,
    );
  });

  it('code that no longer makes a recorded call is rejected', async () => {
    const s = byName(fx.sequence);
    const result = await replay(s, { history: replayHistory(s), orchestrator: oneStepShort });
    assert.equal(result.status, 'Failed');
    assert.equal(
      result.error,
      "Non-deterministic orchestration: the history has activity 'fx_increment' as task 3, which the code no longer schedules",
    );
  });

  it('the short version accepts a history it could have made (control for the test above)', async () => {
    const s = byName(fx.sequence);
    // Episodes 1-3, then episode 4 up to the completion of task 2 (before task 3 is scheduled).
    const result = await replay(s, { history: cut(s, 3, 2), orchestrator: oneStepShort });
    assert.equal(result.status, 'Completed', result.error);
    assert.equal(result.output, 3);
  });
});

describe('histories cut off in the middle of an episode', () => {
  it('a fan-out with half its activities recorded schedules the other half', async () => {
    const s = byName(fx.fanOut);
    // Episode 1: OrchestratorStarted, ExecutionStarted, TaskScheduled 0..3.
    const result = await replay(s, { history: cut(s, 0, 4) });
    assert.equal(result.status, 'Running', result.error);
    assert.deepEqual(result.newWork, [
      { kind: 'activity', taskId: 2, name: fx.square, input: 2 },
      { kind: 'activity', taskId: 3, name: fx.square, input: 3 },
    ]);
  });

  it('a sequence with a completion but not the step it led to schedules that step', async () => {
    const s = byName(fx.sequence);
    // Episode 2: OrchestratorStarted, TaskCompleted 0, TaskScheduled 1.
    const result = await replay(s, { history: cut(s, 1, 2) });
    assert.equal(result.status, 'Running', result.error);
    assert.deepEqual(result.newWork, [
      { kind: 'activity', taskId: 1, name: fx.increment, input: 1 },
    ]);
  });

  it('a retry and a plain activity scheduled together, with only the retry recorded', async () => {
    const s = byName(fx.retry);
    // Episode 6: OrchestratorStarted, TaskCompleted 4, TaskScheduled 5 (retried fx_flaky), TaskScheduled 6.
    const episode = orchestratorEpisodes(s)[5];
    assert.deepEqual(
      episode?.events.map((e) => [e.EventType, e.EventId, e.Name ?? null]),
      [
        [EventType.OrchestratorStarted, -1, null],
        [EventType.TaskCompleted, -1, null],
        [EventType.TaskScheduled, 5, fx.flaky],
        [EventType.TaskScheduled, 6, fx.increment],
      ],
    );
    const result = await replay(s, { history: cut(s, 5, 3) });
    assert.equal(result.status, 'Running', result.error);
    assert.deepEqual(result.newWork, [
      { kind: 'activity', taskId: 6, name: fx.increment, input: 41 },
    ]);
  });
});

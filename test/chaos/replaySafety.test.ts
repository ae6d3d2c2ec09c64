import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { recordTallies } from '../campaign/tally.js';
import { listStoredHistories, replayHistory } from '../engine/fixtures/storedHistories.js';
import { runEpisode, type EpisodeResult } from '../../shared/runtime/durable/replay.js';
import { registryLookup } from '../../shared/runtime/functionLookup.js';
import { functionsByTrigger, installFunctionsCore } from '../../shared/runtime/functionRegistry.js';
import { isScheduling } from '../../shared/runtime/durable/historyEvents.js';
import { beamlineDispatch, beamlineNewFile } from '../../shared/orchestrations/beamline.js';
import { beamlineReconstruct } from '../../shared/orchestrations/beamlineReconstruct.js';
import { beamlineTestTransfers } from '../../shared/orchestrations/beamlineTestTransfers.js';
import { runCommand } from '../../shared/orchestrations/command.js';
import { helloFanOut } from '../../shared/orchestrations/hello.js';
import { mlLifecycle } from '../../shared/orchestrations/mlLifecycle.js';
import { modelIteration, modelRun } from '../../shared/orchestrations/modelRun.js';
import { sweep, sweepTrial } from '../../shared/orchestrations/sweep.js';

/**
 * Replay safety (issue 10): every orchestrator of the app has a stored history that today's
 * code replays to its recorded output, and a deliberately changed copy of each orchestrator
 * (one extra activity, or one extra durable timer, inserted before its k-th yield, for every k
 * the history reaches) is never
 * run silently on the old history: the engine reports it as non-deterministic, or, where the
 * insertion lies past everything the history recorded, schedules the new step as new work.
 *
 * test/engine/replay.test.ts checks the decisions episode by episode and mutated histories;
 * this file mutates the code instead, which is what a careless edit does.
 */

type Orchestrator = (context: OrchestrationContext) => Generator<df.Task, unknown, unknown>;

// The generator functions behind the registrations. The first test fails when an orchestrator
// is registered without being listed here, so none escapes the campaign.
const generators: Record<string, Orchestrator> = {
  beamlineDispatch,
  beamlineNewFile,
  beamlineReconstruct,
  beamlineTestTransfers,
  runCommand,
  helloFanOut,
  mlLifecycle,
  modelRun,
  modelIteration,
  sweep,
  sweepTrial,
};

const insertedActivity = 'replaySafety_insertedStep';
let insertBeforeYield = 0;
let insertKind: 'activity' | 'timer' = 'activity';
let insertionReached = false;

/** The orchestrator as someone might have edited it: one more step (or wait) before yield `k`. */
function withInsertedStep(original: Orchestrator): Orchestrator {
  return function* changed(context) {
    const inner = original(context);
    let step = inner.next();
    for (let k = 0; !step.done; k++) {
      if (k === insertBeforeYield) {
        insertionReached = true;
        yield insertKind === 'activity'
          ? context.df.callActivity(insertedActivity, null)
          : context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
      }
      try {
        step = inner.next(yield step.value);
      } catch (error) {
        step = inner.throw(error);
      }
    }
    return step.value;
  };
}

installFunctionsCore();
const fixtureOrchestrators = new Set(functionsByTrigger('orchestrationTrigger').map((f) => f.name));
await import('../../functions/index.js');
const appOrchestrators = functionsByTrigger('orchestrationTrigger')
  .map((f) => f.name)
  .filter((name) => !fixtureOrchestrators.has(name));
const changedName = (name: string): string => `replaySafety_changed_${name}`;
for (const [name, generator] of Object.entries(generators))
  df.app.orchestration(changedName(name), withInsertedStep(generator));

const stored = listStoredHistories().filter((s) => s.orchestrator in generators);
// A cap per history keeps the suite bounded; the sweep's history has the most yields.
const maxInsertionsPerHistory = 150;

async function replayWith(
  orchestrator: string,
  s: (typeof stored)[number],
): Promise<EpisodeResult> {
  const handler = registryLookup.orchestrator(orchestrator);
  assert.ok(handler, `${orchestrator} is registered`);
  const last = s.episodes[s.episodes.length - 1];
  return runEpisode(handler, {
    instanceId: s.instanceId,
    functionName: orchestrator,
    input: s.input,
    history: replayHistory(s),
    newEvents: [],
    now: new Date(Date.parse(last?.at ?? '2000-01-01T00:00:00Z') + 1000),
  });
}

describe('replay safety', () => {
  it('lists every orchestrator of the app, and each has a stored history', () => {
    assert.deepEqual(Object.keys(generators).sort(), [...appOrchestrators].sort());
    const recorded = new Set(stored.map((s) => s.orchestrator));
    for (const name of appOrchestrators) assert.ok(recorded.has(name), `history of ${name}`);
  });

  it(
    'replays every stored history, and reports every changed orchestrator instead of running it',
    { timeout: 240_000 },
    async () => {
      let replayed = 0;
      let changes = 0;
      let rejected = 0;
      let newWork = 0;
      let silent = 0;
      const failures: string[] = [];
      const changesOf = new Map<string, number>();
      for (const s of stored) {
        const today = await replayWith(s.orchestrator, s);
        assert.equal(today.status, 'Completed', `${s.name}: ${today.error ?? ''}`);
        assert.deepEqual(today.output, s.output, s.name);
        replayed++;
        const scheduledIds = new Set(
          replayHistory(s)
            .filter(isScheduling)
            .map((e) => e.EventId),
        );
        for (let i = 0; i < 2 * maxInsertionsPerHistory; i++) {
          insertBeforeYield = Math.floor(i / 2);
          insertKind = i % 2 === 0 ? 'activity' : 'timer';
          insertionReached = false;
          const result = await replayWith(changedName(s.orchestrator), s);
          if (!insertionReached) break; // past the last yield the history reaches
          changes++;
          changesOf.set(s.orchestrator, (changesOf.get(s.orchestrator) ?? 0) + 1);
          const k = insertBeforeYield;
          const inserted = result.newWork.find((w) =>
            insertKind === 'activity'
              ? w.kind === 'activity' && w.name === insertedActivity
              : w.kind === 'timer',
          );
          const what = `${insertKind} before yield ${k}`;
          if (result.status === 'Failed' && /Non-deterministic/.test(result.error ?? '')) {
            rejected++;
          } else if (inserted && !scheduledIds.has(inserted.taskId)) {
            newWork++;
          } else {
            silent++;
            failures.push(`${s.name}, ${what}: ${result.status} ${result.error ?? ''}`);
          }
        }
      }
      recordTallies('replay safety', [
        { measure: 'orchestrators', count: appOrchestrators.length },
        { measure: 'stored histories replayed', count: replayed, required: '>= 11' },
        { measure: 'changed orchestrators replayed', count: changes },
        {
          measure: 'orchestrators never changed',
          count: appOrchestrators.filter((name) => !changesOf.get(name)).length,
          required: '= 0',
        },
        { measure: 'reported non-deterministic', count: rejected },
        { measure: 'new step scheduled as new work', count: newWork },
        { measure: 'run silently on old history', count: silent, required: '= 0' },
      ]);
      assert.deepEqual(failures, []);
      assert.ok(rejected > 0, 'some change was reported as non-deterministic');
    },
  );
});

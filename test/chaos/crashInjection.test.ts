import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { recordTallies } from '../campaign/tally.js';
import {
  ensureFreshDist,
  seededRandom,
  sigkill,
  sleep,
  startChaosHost,
  stopHost,
  type ChaosHost,
} from './support/chaosHost.js';
import {
  duplicateHistoryResults,
  duplicateLaunches,
  readJournal,
  replacedFiles,
  scanTorn,
  snapshotFiles,
  type Snapshot,
} from './support/inspect.js';
import { workloads, type Lane } from './support/workloads.js';

/**
 * Crash injection (issue 10): `baton up` runs a mix of the example pipelines (a model run synced
 * to the lake, a task of 8 jobs, a beamline new-file flow with its reconstruction, a sweep of 4
 * trials) and is SIGKILLed again and again, restarted each time on the same state folder. Kills
 * come from outside at random moments and from inside at chosen points (BATON_CRASH_AT: a
 * history line half appended, an activity done but not recorded, a lake file half uploaded, a
 * state document half written). Each round must end with the outputs of an uninterrupted run
 * of the same mix, and the suite counts what a crash could have broken: lost outputs, jobs
 * launched twice for one attempt, files uploaded twice, results recorded twice, torn files.
 *
 * The schedule (which kill, when, at which pass) comes from one seed, printed first;
 * BATON_CHAOS_SEED=<seed> replays it (timing on a loaded machine still varies what is in
 * flight at each kill). BATON_CHAOS_KILLS changes the total (default 200).
 */
const seed = Number(process.env.BATON_CHAOS_SEED ?? randomInt(2 ** 31));
const totalKills = Number(process.env.BATON_CHAOS_KILLS ?? 200);
const laneCount = 3;
const roundLimit = 10;
const finishTimeoutMs = 180_000;
const verbose = process.env.BATON_CHAOS_VERBOSE === '1';
const t0 = Date.now();
function trace(message: string): void {
  if (verbose) console.log(`${((Date.now() - t0) / 1000).toFixed(1)}s ${message}`);
}

type Moment =
  'external' | 'history' | 'activity' | 'lake-upload' | 'state-write' | 'armed, point not reached';

interface Figures {
  kills: number;
  byMoment: Map<Moment, number>;
  diedDuringRecovery: number;
  rounds: number;
  runsCompleted: number;
  runsExpected: number;
  lostOutputs: string[];
  extraOutputs: string[];
  duplicatedLaunches: string[];
  unownedLaunches: number;
  duplicatedUploads: string[];
  conflictCopies: string[];
  rewrittenFiles: number;
  duplicatedTransitions: string[];
  torn: string[];
  tornTailsRepaired: number;
  tornAdverts: number;
  tempsAfterKills: number;
  leftoverTemps: string[];
  uncleanStops: number;
}

function emptyFigures(): Figures {
  return {
    kills: 0,
    byMoment: new Map(),
    diedDuringRecovery: 0,
    rounds: 0,
    runsCompleted: 0,
    runsExpected: 0,
    lostOutputs: [],
    extraOutputs: [],
    duplicatedLaunches: [],
    unownedLaunches: 0,
    duplicatedUploads: [],
    conflictCopies: [],
    rewrittenFiles: 0,
    duplicatedTransitions: [],
    torn: [],
    tornTailsRepaired: 0,
    tornAdverts: 0,
    tempsAfterKills: 0,
    leftoverTemps: [],
    uncleanStops: 0,
  };
}

function hostEnv(lane: Lane): Record<string, string> {
  return {
    BATON_MODEL_SOURCES_ROOT: lane.sources,
    BATON_BACKEND_SLOTS: 'local=3',
    BATON_TASK_TEST_JOBS: '2',
    BATON_TASK_RETRY_BACKOFF_SECONDS: '0',
    BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
    BATON_SCHEDULER_SCHEDULE: '* * * * * *',
  };
}

/** Where uploads and transfers land: the lake, the databanks' lake copies, the endpoints. */
function uploadRoots(lane: Lane): Record<string, string> {
  return {
    lake: path.join(lane.stateDir, 'lake'),
    endpoints: path.join(lane.sources, 'endpoints'),
  };
}

// Rewritten on purpose: the model's state and log files (synced after each step), and the
// landing folder's input file is never touched (listed so a change there would show).
const rewrittenOnPurpose = [/orca_model_state\.json$/, /orca_orchestrator\.log$/];

const work: string[] = [];
async function newLane(): Promise<Lane> {
  // One prefix for every lane: paths inside outputs (written as `<lane>` when compared) and
  // byte counts that include them are then the same length in every lane.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-chaos-'));
  work.push(dir);
  const lane = {
    stateDir: path.join(dir, 'state'),
    sources: path.join(dir, 'sources'),
    journal: path.join(dir, 'journal.jsonl'),
  };
  await mkdir(lane.stateDir, { recursive: true });
  await mkdir(lane.sources, { recursive: true });
  for (const workload of workloads) await workload.prepare(lane);
  return lane;
}

async function upHost(lane: Lane, extra: Record<string, string> = {}): Promise<ChaosHost> {
  const started = await startChaosHost(lane.stateDir, { ...hostEnv(lane), ...extra });
  if (!started.up)
    throw new Error(`host died while starting (${started.signal}):\n${started.output}`);
  return started.host;
}

async function submitAll(host: ChaosHost, lane: Lane): Promise<void> {
  for (const workload of workloads) await workload.submit(host.url, lane);
}

async function allFinished(host: ChaosHost): Promise<boolean> {
  for (const workload of workloads) {
    if ((await workload.progress(host.url)) === 'running') return false;
  }
  return true;
}

interface RoundResult {
  outputs: Map<string, string>;
  completed: number;
}

/**
 * Waits (unarmed) for every workload to end, then collects outputs and checks what is left on
 * disk once the host stopped cleanly.
 */
async function finishRound(
  lane: Lane,
  host: ChaosHost,
  figures: Figures,
  label: string,
): Promise<RoundResult> {
  trace(`${label}: finishing`);
  const deadline = Date.now() + finishTimeoutMs;
  let traced = Date.now();
  while (!(await allFinished(host))) {
    if (Date.now() > deadline) throw new Error(`${label}: workloads did not end in time`);
    if (verbose && Date.now() - traced > 5000) {
      traced = Date.now();
      const states = await Promise.all(workloads.map((w) => w.progress(host.url)));
      trace(`${label}: ${workloads.map((w, i) => `${w.name} ${states[i]}`).join(', ')}`);
    }
    await sleep(250);
  }
  trace(`${label}: finished`);
  const outputs = new Map<string, string>();
  let completed = 0;
  for (const workload of workloads) {
    if ((await workload.progress(host.url)) === 'completed') completed++;
    for (const [key, hash] of await workload.outputs(host.url, lane))
      outputs.set(`${workload.name}: ${key}`, hash);
    for (const dup of await workload.duplicateTransitions(lane, host.url))
      figures.duplicatedTransitions.push(`${label} ${workload.name}: ${dup}`);
  }
  if ((await stopHost(host)) !== 0) figures.uncleanStops++;
  const end = await scanTorn(lane.stateDir);
  figures.torn.push(...end.torn.map((t) => `${label} end: ${t}`));
  // After a clean stop nothing may be half-done: every history line whole, no temp file left.
  figures.torn.push(...end.tornTails.map((t) => `${label} end, torn tail: ${t}`));
  figures.leftoverTemps.push(...end.temps.map((t) => `${label}: ${t}`));
  for (const dup of await duplicateHistoryResults(lane.stateDir))
    figures.duplicatedTransitions.push(`${label} history: ${dup}`);
  const launches = duplicateLaunches(await readJournal(lane.journal));
  figures.duplicatedLaunches.push(...launches.twice.map((d) => `${label}: ${d}`));
  figures.unownedLaunches += launches.unowned;
  const final = await snapshotFiles({
    ...uploadRoots(lane),
    databanks: path.join(lane.stateDir, 'databanks'),
  });
  figures.conflictCopies.push(
    ...[...final.keys()]
      .filter((k) => k.includes('.cloud_sync_conflict'))
      .map((k) => `${label}: ${k}`),
  );
  return { outputs, completed };
}

async function referenceRun(figures: Figures): Promise<Map<string, string>> {
  const lane = await newLane();
  const host = await upHost(lane);
  await submitAll(host, lane);
  const result = await finishRound(lane, host, figures, 'reference');
  assert.equal(result.completed, workloads.length, 'every workload completes uninterrupted');
  return result.outputs;
}

async function chaosLane(
  index: number,
  killTarget: number,
  figures: Figures,
  reference: Promise<Map<string, string>>,
): Promise<void> {
  const random = seededRandom(seed + index * 7919);
  const between = (low: number, high: number): number =>
    low + Math.floor(random() * (high - low + 1));
  // A round whose kills are over finishes on its own (unarmed) while the next round takes the
  // kills: waiting out a job's relaunch delay or a transfer's poll backoff costs no kill time.
  const finishing: Array<Promise<void>> = [];
  let kills = 0;
  for (let round = 0; kills < killTarget && round < roundLimit; round++) {
    const label = `lane ${index} round ${round}`;
    const lane = await newLane();
    figures.rounds++;
    figures.runsExpected += workloads.length;
    let snapshot: Snapshot = await snapshotFiles(uploadRoots(lane));
    let submitted = false;
    let finishedHost: ChaosHost | undefined;
    while (kills < killTarget && finishedHost === undefined) {
      const draw = random();
      const moment: Moment =
        draw < 0.35
          ? 'external'
          : draw < 0.55
            ? 'history'
            : draw < 0.7
              ? 'activity'
              : draw < 0.9
                ? 'lake-upload'
                : 'state-write';
      // Until the mix is submitted, the host is not armed: the submission itself must get in.
      const armed = submitted && moment !== 'external';
      // Small passes, so an armed host dies soon after it starts work (or while it recovers).
      const pass =
        moment === 'history'
          ? between(1, 4)
          : moment === 'activity'
            ? between(1, 2)
            : moment === 'lake-upload'
              ? between(1, 3)
              : between(1, 4);
      const delayMs = between(100, 1200);
      const started = await startChaosHost(
        lane.stateDir,
        armed ? { ...hostEnv(lane), BATON_CRASH_AT: `${moment}:${pass}` } : hostEnv(lane),
      );
      let recorded: Moment;
      if (!started.up) {
        assert.equal(
          started.signal,
          'SIGKILL',
          `${label}: host died otherwise:\n${started.output}`,
        );
        figures.diedDuringRecovery++;
        recorded = moment;
      } else {
        const host = started.host;
        if (!submitted) {
          await submitAll(host, lane);
          submitted = true;
        }
        if (armed) {
          // Armed: it kills itself at the pass; if that pass does not come, kill it from outside.
          const died = await Promise.race([
            host.exited.then(() => true),
            sleep(1500).then(() => false),
          ]);
          if (died) {
            const { signal } = await host.exited;
            assert.equal(signal, 'SIGKILL', `${label}: host died otherwise:\n${host.output()}`);
            recorded = moment;
          } else {
            await sigkill(host);
            recorded = 'armed, point not reached';
          }
        } else {
          await sleep(delayMs);
          if (await allFinished(host).catch(() => false)) {
            finishedHost = host;
            break;
          }
          await sigkill(host);
          recorded = 'external';
        }
      }
      kills++;
      figures.kills++;
      figures.byMoment.set(recorded, (figures.byMoment.get(recorded) ?? 0) + 1);
      trace(
        `${label} kill ${kills}: ${recorded}${armed ? ` (${moment}:${pass})` : ` after ${delayMs} ms`}`,
      );
      const torn = await scanTorn(lane.stateDir);
      figures.torn.push(...torn.torn.map((t) => `${label} after kill ${kills}: ${t}`));
      figures.tornTailsRepaired += torn.tornTails.length;
      figures.tornAdverts += torn.tornAdverts.length;
      figures.tempsAfterKills += torn.temps.length;
      const next = await snapshotFiles(uploadRoots(lane));
      const replaced = replacedFiles(snapshot, next, rewrittenOnPurpose);
      figures.duplicatedUploads.push(...replaced.same.map((f) => `${label}: ${f}`));
      figures.rewrittenFiles += replaced.changed.length;
      snapshot = next;
    }
    const before = snapshot;
    const handOver = finishedHost;
    const done = (async () => {
      const host = handOver ?? (await upHost(lane));
      const result = await finishRound(lane, host, figures, label);
      const replaced = replacedFiles(
        before,
        await snapshotFiles(uploadRoots(lane)),
        rewrittenOnPurpose,
      );
      figures.duplicatedUploads.push(...replaced.same.map((f) => `${label}: ${f}`));
      figures.rewrittenFiles += replaced.changed.length;
      await compareWithReference(result, await reference, figures, label);
    })();
    done.catch(() => undefined);
    finishing.push(done);
  }
  await Promise.all(finishing);
}

async function compareWithReference(
  result: RoundResult,
  reference: Map<string, string>,
  figures: Figures,
  label: string,
): Promise<void> {
  figures.runsCompleted += result.completed;
  for (const [key, hash] of reference) {
    const got = result.outputs.get(key);
    if (got === undefined) figures.lostOutputs.push(`${label}: ${key} missing`);
    else if (got !== hash)
      figures.lostOutputs.push(`${label}: ${key} differs${difference(hash, got)}`);
  }
  for (const key of result.outputs.keys()) {
    if (!reference.has(key)) figures.extraOutputs.push(`${label}: ${key}`);
  }
}

/** Where two texts part, for the report (hashes are 64 hex digits: nothing to show). */
function difference(expected: string, got: string): string {
  if (/^[0-9a-f]{64}$/.test(expected)) return '';
  let at = 0;
  while (at < expected.length && expected[at] === got[at]) at++;
  const from = Math.max(0, at - 60);
  return `: expected …${expected.slice(from, at + 60)}… got …${got.slice(from, at + 60)}…`;
}

describe('crash injection: SIGKILL the local host at random moments and chosen points', () => {
  after(async () => {
    for (const dir of work)
      await rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it(
    `runs the example mix to the same outputs through ${totalKills} kills`,
    { timeout: 900_000 },
    async () => {
      console.log(
        `crash injection: seed ${seed} (BATON_CHAOS_SEED=${seed} replays the schedule), ${totalKills} kills`,
      );
      const built = ensureFreshDist();
      if (built.length > 0) console.log(`rebuilt dist/ (${built.length} stale sources)`);
      const started = Date.now();
      const figures = emptyFigures();
      const referenceFigures = emptyFigures();
      const reference = referenceRun(referenceFigures);
      reference.catch(() => undefined);
      await Promise.all(
        Array.from({ length: laneCount }, (_, i) =>
          chaosLane(
            i,
            Math.floor(totalKills / laneCount) + (i < totalKills % laneCount ? 1 : 0),
            figures,
            reference,
          ),
        ),
      );
      await reference;
      const seconds = Math.round((Date.now() - started) / 1000);
      const moments = Object.fromEntries(figures.byMoment);
      console.log(
        JSON.stringify(
          {
            seed,
            seconds,
            kills: figures.kills,
            moments,
            rounds: figures.rounds,
            runs: `${figures.runsCompleted}/${figures.runsExpected}`,
            diedDuringRecovery: figures.diedDuringRecovery,
            tornTailsRepaired: figures.tornTailsRepaired,
            tornAdverts: figures.tornAdverts,
            tempsAfterKills: figures.tempsAfterKills,
            rewrittenFiles: figures.rewrittenFiles,
            lostOutputs: figures.lostOutputs.slice(0, 20),
            extraOutputs: figures.extraOutputs.slice(0, 20),
            duplicatedLaunches: figures.duplicatedLaunches.slice(0, 20),
            duplicatedUploads: [...figures.duplicatedUploads, ...figures.conflictCopies].slice(
              0,
              20,
            ),
            duplicatedTransitions: figures.duplicatedTransitions.slice(0, 20),
            torn: figures.torn.slice(0, 20),
            leftoverTemps: figures.leftoverTemps.slice(0, 20),
            reference: {
              duplicates:
                referenceFigures.duplicatedLaunches.length +
                referenceFigures.duplicatedTransitions.length +
                referenceFigures.conflictCopies.length,
              torn: referenceFigures.torn.length + referenceFigures.leftoverTemps.length,
            },
          },
          null,
          2,
        ),
      );

      recordTallies('crash injection', [
        { measure: 'SIGKILLs', count: figures.kills, required: `>= ${totalKills}` },
        ...[...figures.byMoment].map(([moment, count]) => ({
          measure: `kills: ${moment}`,
          count,
        })),
        { measure: 'kills while recovering', count: figures.diedDuringRecovery },
        { measure: 'rounds (mix of 4 runs)', count: figures.rounds },
        {
          measure: 'runs completed',
          count: figures.runsCompleted,
          required: `= ${figures.runsExpected}`,
        },
        { measure: 'lost outputs', count: figures.lostOutputs.length, required: '= 0' },
        { measure: 'unexpected outputs', count: figures.extraOutputs.length, required: '= 0' },
        {
          measure: 'duplicated launches',
          count: figures.duplicatedLaunches.length + figures.unownedLaunches,
          required: '= 0',
        },
        {
          measure: 'duplicated uploads',
          count: figures.duplicatedUploads.length + figures.conflictCopies.length,
          required: '= 0',
        },
        {
          measure: 'duplicated transitions',
          count: figures.duplicatedTransitions.length,
          required: '= 0',
        },
        {
          measure: 'torn files',
          count: figures.torn.length + figures.leftoverTemps.length,
          required: '= 0',
        },
        { measure: 'torn history tails repaired', count: figures.tornTailsRepaired },
        {
          measure: 'torn host adverts (host/host.json)',
          count: figures.tornAdverts,
          required: '= 0',
        },
        { measure: 'files rewritten on purpose', count: figures.rewrittenFiles },
      ]);

      assert.ok(figures.kills >= totalKills, `only ${figures.kills} kills`);
      assert.ok(
        (figures.byMoment.get('history') ?? 0) > 0 &&
          (figures.byMoment.get('activity') ?? 0) > 0 &&
          (figures.byMoment.get('lake-upload') ?? 0) > 0,
        `kills at every chosen point: ${JSON.stringify(moments)}`,
      );
      assert.equal(figures.runsCompleted, figures.runsExpected, 'every run completed');
      assert.deepEqual(figures.lostOutputs, []);
      assert.deepEqual(figures.extraOutputs, []);
      assert.deepEqual(figures.duplicatedLaunches, []);
      assert.equal(figures.unownedLaunches, 0, 'every launch was a supervised job');
      assert.deepEqual([...figures.duplicatedUploads, ...figures.conflictCopies], []);
      assert.deepEqual(figures.duplicatedTransitions, []);
      assert.deepEqual([...figures.torn, ...figures.leftoverTemps], []);
      assert.equal(figures.uncleanStops, 0, 'every host stopped cleanly at the end of a round');
    },
  );
});

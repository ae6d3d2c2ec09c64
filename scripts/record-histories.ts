/**
 * Re-records the stored orchestration histories in test/histories (see its README):
 *
 *   node --import tsx scripts/record-histories.ts [name ...]
 *
 * Runs every orchestrator of the app (functions/index.ts) and every engine fixture orchestrator
 * (test/engine/fixtures/orchestrators.ts) through the real DurableEngine on a temporary state
 * dir, checks its output, and writes history.jsonl of the instance, with input and output, to
 * test/histories/<name>.json. With names, only those cases are recorded. An app orchestrator
 * without a recording case below is an error: every orchestrator must have a stored history.
 */
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { loadConfig } from '../shared/app/config.js';
import { initDatabank } from '../shared/app/databanks.js';
import { jobsCollection } from '../shared/app/jobs.js';
import { configureServices, createLocalServices, getServices } from '../shared/app/services.js';
import {
  modelJobStepId,
  modelRunParamsSchema,
  type ModelIterationInput,
} from '../shared/orchestrations/modelRunTypes.js';
import type { GreetingSummary } from '../shared/app/activities/hello.js';
import { commandParamsSchema } from '../shared/orchestrations/command.js';
import { helloParamsSchema, type HelloInput } from '../shared/orchestrations/hello.js';
import { jobIdFor } from '../shared/domain/jobIds.js';
import { StateStoreTracker } from '../shared/adapters/local/stateStoreTracker.js';
import { trialFolder } from '../shared/app/sweep.js';
import {
  sweepParamsSchema,
  trialInstanceId,
  trialStepId,
  type SweepOutput,
  type SweepTrialInput,
  type TrialResult,
} from '../shared/orchestrations/sweepTypes.js';
import { mlStepFolder } from '../shared/app/mlLifecycle.js';
import {
  mlLifecycleParamsSchema,
  type MlLifecycleOutput,
  type MlStep,
} from '../shared/orchestrations/mlLifecycleTypes.js';
import { parseBeamlineConfig } from '../shared/domain/beamline/config.js';
import { planDispatch } from '../shared/domain/beamline/dispatch.js';
import type {
  BeamlineDispatchOutput,
  BeamlineNewFileInput,
  NewFileResult,
} from '../shared/orchestrations/beamlineTypes.js';
import type {
  ReconstructInput,
  ReconstructionResult,
} from '../shared/orchestrations/beamlineReconstructTypes.js';
import type { TestTransfersResult } from '../shared/orchestrations/beamlineTestTransfers.js';
import { systemClock } from '../shared/ports/clock.js';
import { DurableEngine } from '../shared/runtime/durable/engine.js';
import { encodeInstanceId, type EpisodeRecord } from '../shared/runtime/durable/instanceStore.js';
import { registryLookup } from '../shared/runtime/functionLookup.js';
import { functionsByTrigger, installFunctionsCore } from '../shared/runtime/functionRegistry.js';
import type { RecordingCase } from '../test/engine/fixtures/orchestrators.js';
import { storedHistoryFile, type StoredHistory } from '../test/engine/fixtures/storedHistories.js';

const runTimeoutMs = 30_000;

const helloRunId = 'hello-replay-fixture';
const commandRunId = 'command-replay-fixture';
const modelRunId = 'model-replay-fixture';
const modelIterationRunId = 'model-iteration-replay-fixture';
const modelSteps = ['prepare', 'simulate'];
const sweepRunId = 'sweep-replay-fixture';
const sweepTrialRunId = 'sweep-trial-replay-fixture';
/** The curves each recorded trial "reports" (val_loss per step): trial 1 is pruned at step 0. */
const sweepCurves = [
  [0.5, 0.4],
  [0.6, 0.3],
  [0.45, 0.35],
];
const sweepReplayParams = sweepParamsSchema.parse({
  experiment: 'replay',
  space: {
    lr: { type: 'loguniform', low: 0.001, high: 1 },
    layers: { type: 'choice', values: [1, 2, 3] },
  },
  objective: { metric: 'val_loss', direction: 'minimize' },
  budget: { maxTrials: 3, maxSeconds: 3600 },
  parallelism: 2,
  pruner: { kind: 'median', warmupSteps: 0, minTrials: 1 },
  seed: 1,
  trial: { argv: ['node', '-e', '0'], timeoutSeconds: 60 },
});
/** Filled in by main once the tracker holds the parent run the trial is recorded under. */
const sweepTrialInput: SweepTrialInput = {
  runId: sweepTrialRunId,
  index: 0,
  params: { lr: 0.01, layers: 2 },
  job: sweepReplayParams.trial,
  tracking: { experimentId: '', sweepRunId: '' },
  objective: sweepReplayParams.objective,
  pruner: { kind: 'none' },
};
const mlRunId = 'ml-replay-fixture';
/** Two trials of the sweep's curves (trial 1 best, 0.3), then training, conversion, benchmark. */
const mlReplayParams = mlLifecycleParamsSchema.parse({
  experiment: 'replay-ml',
  sweep: { ...sweepReplayParams, budget: { maxTrials: 2 }, pruner: { kind: 'none' } },
  training: { argv: ['node', '-e', '0'], params: { lr: 0.1, epochs: 5 }, seed: 42 },
  conversion: { argv: ['node', '-e', '0'] },
  benchmark: { argv: ['node', '-e', '0'], metrics: ['latency_ms_p50'] },
});
const beamlineRunId = 'beamline-replay-fixture';
const beamlineNewFileRunId = 'beamline-newfile-replay-fixture';
/** The example's config, copied by main into the temp sources root with its endpoint folders. */
const beamlineExample = path.join(import.meta.dirname, '..', 'examples', 'beamline');
const beamlineConfigParam = 'beamline/beamline.yaml';
const beamlineFile = 'landing/bl832/replay_0001.h5';
const beamlineReconstructRunId = 'beamline-recon-replay-fixture';
const beamlineTestTransfersRunId = 'beamline-probe-replay-fixture';
const beamlineFileContent = 'HDF5 stand-in for the replay fixture\n';
const beamlineNewFileInput: BeamlineNewFileInput = {
  runId: beamlineNewFileRunId,
  config: beamlineConfigParam,
  plan: planDispatch(
    parseBeamlineConfig(
      readFileSync(path.join(beamlineExample, 'beamline.yaml'), 'utf8'),
      'beamline.yaml',
    ),
    { path: beamlineFile },
  ),
};
/** Both hops succeeded, the file is catalogued, spot832 and data832 have retention entries. */
function checkNewFile(result: NewFileResult | null | undefined): string | undefined {
  return result?.status === 'completed' &&
    result.hops.map((h) => `${h.from}>${h.to}:${h.state}`).join(',') ===
      'spot832>data832:succeeded,data832>nersc832:succeeded' &&
    result.catalogue?.ok === true &&
    result.retention?.entries.map((e) => e.endpoint).join(',') === 'spot832,data832'
    ? undefined
    : `expected two hops, a catalogue record and two retention entries, got ${JSON.stringify(result)}`;
}

const appRecordings: readonly RecordingCase[] = [
  {
    // The example's config with every endpoint a temp folder: plan, then the new-file chain.
    name: 'beamlineDispatch',
    orchestrator: 'beamlineDispatch',
    instanceId: beamlineRunId,
    input: { runId: beamlineRunId, params: { config: beamlineConfigParam, path: beamlineFile } },
    checkOutput: (output) => {
      const dispatched = output as BeamlineDispatchOutput;
      const recon = dispatched.reconstructions.map((r) => `${r.site}:${r.status}`).join(',');
      return (
        checkNewFile(dispatched.newFile) ??
        (recon === 'nersc:completed' ? undefined : `expected the NERSC flow, got ${recon}`)
      );
    },
  },
  {
    // ALCF: the raw file staged from data832 (where the dispatch case left it), then the
    // site's scripts run here (`hpc.alcf.local`), outputs copied back, retention recorded.
    name: 'beamlineReconstruct',
    orchestrator: 'beamlineReconstruct',
    instanceId: beamlineReconstructRunId,
    input: {
      runId: beamlineReconstructRunId,
      params: {
        config: beamlineConfigParam,
        site: 'alcf',
        path: `endpoints/data832/${path.posix.basename(beamlineFile)}`,
      },
    } satisfies ReconstructInput,
    checkOutput: (output) => {
      const result = output as ReconstructionResult;
      return result.status === 'completed' && result.steps.length === 7
        ? undefined
        : `expected a completed ALCF reconstruction of 7 steps, got ${JSON.stringify(result)}`;
    },
  },
  {
    name: 'beamlineTestTransfers',
    orchestrator: 'beamlineTestTransfers',
    instanceId: beamlineTestTransfersRunId,
    input: { runId: beamlineTestTransfersRunId, params: { config: beamlineConfigParam } },
    checkOutput: (output) => {
      const result = output as TestTransfersResult;
      return result.passed && result.hops.length === 2 && result.cleanedUp.length === 3
        ? undefined
        : `expected two passed hops and the probe removed at 3 endpoints, got ${JSON.stringify(result)}`;
    },
  },
  {
    name: 'beamlineNewFile',
    orchestrator: 'beamlineNewFile',
    instanceId: beamlineNewFileRunId,
    input: beamlineNewFileInput,
    checkOutput: (output) => checkNewFile(output as NewFileResult),
  },
  {
    name: 'helloFanOut',
    orchestrator: 'helloFanOut',
    instanceId: helloRunId,
    input: {
      runId: helloRunId,
      params: helloParamsSchema.parse({ count: 3 }),
    } satisfies HelloInput,
    checkOutput: (output) => {
      const summary = output as GreetingSummary;
      return summary.files === 3 &&
        summary.missing.length === 0 &&
        summary.summaryPath === `runs/${helloRunId}/summary.json`
        ? undefined
        : `expected a summary of 3 greetings, got ${JSON.stringify(output)}`;
    },
  },
  {
    // The job world (launch-job queue, backend, watcher) is not running here: the case plays
    // the watcher's part and announces the job's end itself, as job-events would.
    name: 'runCommand',
    orchestrator: 'runCommand',
    instanceId: commandRunId,
    input: {
      runId: commandRunId,
      params: commandParamsSchema.parse({ argv: ['node', '-e', '0'] }),
    },
    expectedOutput: {
      jobId: jobIdFor(commandRunId, 'command', 1),
      state: 'succeeded',
      exitCode: 0,
    },
    drive: async (engine, instanceId) => {
      for (let i = 0; i < 500; i++) {
        const status = await engine.getStatus(instanceId);
        if ((status?.customStatus as { phase?: string } | null)?.phase === 'running') {
          const jobId = jobIdFor(commandRunId, 'command', 1);
          await engine.raiseEvent(instanceId, `job:${jobId}`, { state: 'succeeded', exitCode: 0 });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`${instanceId} never started its job`);
    },
  },
  {
    // A databank of 2 iterations x 2 steps (made in main below); as for runCommand, the case
    // plays the job watcher and announces each job's end to the iteration waiting for it.
    name: 'modelRun',
    orchestrator: 'modelRun',
    instanceId: modelRunId,
    input: { runId: modelRunId, params: modelRunParamsSchema.parse({ databank: 'replay' }) },
    checkOutput: (output) => {
      const result = output as { status?: string; steps?: number };
      return result.status === 'completed' && result.steps === 4
        ? undefined
        : `expected 4 completed steps, got ${JSON.stringify(output)}`;
    },
    drive: (engine) => announceModelJobs(engine, modelRunId, [1, 2]),
  },
  {
    name: 'modelIteration',
    orchestrator: 'modelIteration',
    instanceId: modelIterationRunId,
    input: {
      runId: modelIterationRunId,
      params: modelRunParamsSchema.parse({ databank: 'replay' }),
      iteration: 1,
      steps: modelSteps.map((step) => ({
        iteration: 1,
        step,
        cwd: `databanks/replay/${step}`,
        commands: [{ index: 0, argv: ['node', '-e', '0'], env: {}, retries: 0 }],
      })),
      cloud: false,
      projectFolder: 'orca_model_runs',
    } satisfies ModelIterationInput,
    checkOutput: (output) => {
      const result = output as { completedSteps?: string[] };
      return isDeepStrictEqual(result.completedSteps, modelSteps)
        ? undefined
        : `expected both steps completed, got ${JSON.stringify(output)}`;
    },
    drive: (engine) => announceModelJobs(engine, modelIterationRunId, [1], modelIterationRunId),
  },
  {
    // Three trials, two at a time; the case plays the job watcher: it writes each trial's
    // metrics file and announces its job's end, one trial after the other.
    name: 'sweep',
    orchestrator: 'sweep',
    instanceId: sweepRunId,
    input: { runId: sweepRunId, params: sweepReplayParams },
    checkOutput: (output) => {
      const result = output as SweepOutput;
      return result.trials === 3 &&
        result.completed === 2 &&
        result.pruned === 1 &&
        result.best.trial === 2 &&
        result.best.value === 0.35
        ? undefined
        : `expected trial 2 best of 3 (one pruned), got ${JSON.stringify(output)}`;
    },
    drive: async (engine) => {
      for (let index = 0; index < sweepCurves.length; index++) {
        await announceTrial(engine, sweepRunId, index, trialInstanceId(sweepRunId, index));
      }
    },
  },
  {
    name: 'sweepTrial',
    orchestrator: 'sweepTrial',
    instanceId: sweepTrialRunId,
    input: sweepTrialInput,
    checkOutput: (output) => {
      const result = output as TrialResult;
      return result.state === 'completed' && result.value === 0.4
        ? undefined
        : `expected a completed trial of value 0.4, got ${JSON.stringify(output)}`;
    },
    drive: (engine) => announceTrial(engine, sweepTrialRunId, 0, sweepTrialRunId),
  },
  {
    // The whole chain; the case plays the job watcher for the sweep's trials and for each
    // step's job, writing what the real job would (checkpoint, converted model, metrics).
    name: 'mlLifecycle',
    orchestrator: 'mlLifecycle',
    instanceId: mlRunId,
    input: { runId: mlRunId, params: mlReplayParams },
    checkOutput: (output) => {
      const result = output as MlLifecycleOutput;
      return result.best.trial === 1 &&
        result.training.checkpoint === `ml/${mlRunId}/training/model.json` &&
        result.conversion.input === result.training.checkpoint &&
        result.conversion.output === `ml/${mlRunId}/conversion/model.compact.json` &&
        result.benchmark.metrics.latency_ms_p50 === 1.5
        ? undefined
        : `expected the whole chain with trial 1 best, got ${JSON.stringify(output)}`;
    },
    drive: async (engine) => {
      for (let index = 0; index < 2; index++) {
        await announceTrial(engine, mlRunId, index, trialInstanceId(mlRunId, index));
      }
      await announceMlStep(engine, mlRunId, 'training', 'model.json', '{"weights":[1]}');
      await announceMlStep(engine, mlRunId, 'conversion', 'model.compact.json', '{"q":[1]}');
      await announceMlStep(engine, mlRunId, 'benchmark', 'metrics', '');
    },
  },
];

/**
 * Once the \`ml\` run has asked for its \`step\` job: writes what the job would (\`file\` in its
 * output folder; for \`metrics\`, a benchmark line) and raises \`job:<jobId>\` (succeeded).
 */
async function announceMlStep(
  engine: Pick<DurableEngine, 'raiseEvent'>,
  runId: string,
  step: MlStep,
  file: string,
  content: string,
): Promise<void> {
  const services = await getServices();
  const jobId = jobIdFor(runId, step, 1);
  for (let i = 0; ; i++) {
    if (await services.state.read(jobsCollection, runId, jobId)) break;
    if (i > 3000) throw new Error(`${runId} never asked for ${jobId}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const dir = path.join(services.config.stateDir, ...mlStepFolder(runId, step).split('/'));
  if (file === 'metrics') {
    await writeFile(path.join(dir, 'metrics.jsonl'), '{"step": 0, "latency_ms_p50": 1.5}\n');
  } else {
    await writeFile(path.join(dir, 'output', file), content);
  }
  await engine.raiseEvent(runId, `job:${jobId}`, { state: 'succeeded', exitCode: 0 });
}

/**
 * Once trial \`index\` has asked for its job: writes the job's metrics file (sweepCurves), raises
 * \`job:<jobId>\` (succeeded) on the trial's instance and waits for that instance to complete.
 */
async function announceTrial(
  engine: Pick<DurableEngine, 'getStatus' | 'raiseEvent'>,
  runId: string,
  index: number,
  instanceId: string,
): Promise<void> {
  const services = await getServices();
  const jobId = jobIdFor(runId, trialStepId(index), 1);
  for (let i = 0; ; i++) {
    if (await services.state.read(jobsCollection, runId, jobId)) break;
    if (i > 3000) throw new Error(`${runId} never asked for ${jobId}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const curve = sweepCurves[index] ?? [];
  await writeFile(
    path.join(services.config.stateDir, trialFolder(runId, index), 'metrics.jsonl'),
    curve.map((value, step) => `${JSON.stringify({ step, val_loss: value })}\n`).join(''),
  );
  await engine.raiseEvent(instanceId, `job:${jobId}`, { state: 'succeeded', exitCode: 0 });
  for (let i = 0; ; i++) {
    if ((await engine.getStatus(instanceId))?.runtimeStatus === 'Completed') return;
    if (i > 3000) throw new Error(`${instanceId} never completed`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const replayModelConfig = `model_steps: [${modelSteps.join(', ')}]
iterations: { total: 2, start_at: 1 }
sub_components:
${modelSteps
  .map(
    (step) => `  ${step}:
    commands:
      - command: ['node', '-e', '0']
`,
  )
  .join('')}`;

/**
 * Raises \`job:<jobId>\` (succeeded) for each model job once its iteration has asked for it,
 * in order: iteration by iteration, step by step.
 */
async function announceModelJobs(
  engine: Pick<DurableEngine, 'raiseEvent'>,
  runId: string,
  iterations: number[],
  instanceFor?: string,
): Promise<void> {
  const services = await getServices();
  for (const iteration of iterations) {
    for (const step of modelSteps) {
      const jobId = jobIdFor(runId, modelJobStepId(iteration, step, 0), 1);
      for (let i = 0; ; i++) {
        if (await services.state.read(jobsCollection, runId, jobId)) break;
        if (i > 3000) throw new Error(`${runId} never asked for ${jobId}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const instance = instanceFor ?? `${runId}-iter-${iteration}`;
      await engine.raiseEvent(instance, `job:${jobId}`, { state: 'succeeded', exitCode: 0 });
    }
  }
}

async function record(
  engine: DurableEngine,
  root: string,
  c: RecordingCase,
): Promise<StoredHistory> {
  await engine.startInstance(c.orchestrator, c.instanceId, c.input);
  await c.drive?.(engine, c.instanceId);
  const status = await engine.waitFor(c.instanceId, runTimeoutMs);
  if (status?.runtimeStatus !== 'Completed') {
    throw new Error(
      `${c.name}: ${status?.runtimeStatus ?? 'no status'}: ${JSON.stringify(status?.output)}`,
    );
  }
  const problem =
    c.checkOutput?.(status.output) ??
    (c.expectedOutput !== undefined && !isDeepStrictEqual(status.output, c.expectedOutput)
      ? `output ${JSON.stringify(status.output)}, expected ${JSON.stringify(c.expectedOutput)}`
      : undefined);
  if (problem) throw new Error(`${c.name}: ${problem}`);
  const text = await readFile(
    path.join(root, encodeInstanceId(c.instanceId), 'history.jsonl'),
    'utf8',
  );
  const episodes = text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as EpisodeRecord);
  return {
    name: c.name,
    orchestrator: c.orchestrator,
    instanceId: c.instanceId,
    input: c.input,
    output: status.output,
    recordedWith: { durableFunctions: libraryVersion(), node: process.version },
    episodes,
  };
}

function libraryVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('durable-functions/package.json') as { version: string }).version;
}

/** Prettier-formatted, so that `prettier --check .` accepts the files as written. */
async function writeStored(stored: StoredHistory): Promise<string> {
  const file = storedHistoryFile(stored.name);
  const options = (await resolveConfig(file)) ?? {};
  await writeFile(
    file,
    await format(JSON.stringify(stored, null, 2), { ...options, filepath: file }),
  );
  return file;
}

/** The recording cases to run: all of them, or those named on the command line. */
async function selectCases(only: ReadonlySet<string>): Promise<RecordingCase[]> {
  installFunctionsCore();
  const orchestratorNames = (): string[] =>
    functionsByTrigger('orchestrationTrigger').map((f) => f.name);
  const { fixtureRecordings } = await import('../test/engine/fixtures/orchestrators.js');
  const fixtureOrchestrators = new Set(orchestratorNames());
  await import('../functions/index.js');
  const appOrchestrators = orchestratorNames().filter((name) => !fixtureOrchestrators.has(name));
  const unrecorded = appOrchestrators.filter(
    (name) => !appRecordings.some((c) => c.orchestrator === name),
  );
  if (unrecorded.length > 0) {
    throw new Error(
      `no recording case for orchestrator(s) ${unrecorded.join(', ')}: add one to scripts/record-histories.ts`,
    );
  }
  const cases = [...appRecordings, ...fixtureRecordings].filter(
    (c) => only.size === 0 || only.has(c.name),
  );
  const unknown = [...only].filter((name) => !cases.some((c) => c.name === name));
  if (unknown.length > 0) throw new Error(`unknown recording case(s): ${unknown.join(', ')}`);
  return cases;
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'baton-record-'));
  try {
    // The app's activities reach the lake and logs through services(): keep them in the temp
    // dir. Configured before the app is imported, so nothing ever builds the default services.
    const local = createLocalServices(
      loadConfig({ BATON_STATE_DIR: path.join(tmp, 'state'), BATON_MODEL_SOURCES_ROOT: tmp }),
    );
    // Tracker run ids from a counter, so recorded inputs and outputs are the same every time.
    let runs = 0;
    const tracker = new StateStoreTracker({
      store: local.state,
      newRunId: () => `replayrun${String(++runs).padStart(4, '0')}`,
    });
    const services = { ...local, tracker };
    configureServices(services);
    const experimentId = await tracker.getOrCreateExperiment('replay-trial');
    sweepTrialInput.tracking = {
      experimentId,
      sweepRunId: await tracker.startRun({ experimentId, name: sweepTrialRunId }),
    };
    await initDatabank(
      { clock: systemClock, databankRoot: services.config.databankRoot, sourcesRoot: tmp },
      { name: 'replay', config: replayModelConfig, sourceDir: tmp },
    );
    const beamlineDir = path.join(tmp, path.dirname(beamlineConfigParam));
    await mkdir(beamlineDir, { recursive: true });
    await cp(path.join(beamlineExample, 'beamline.yaml'), path.join(tmp, beamlineConfigParam));
    await cp(path.join(beamlineExample, 'scripts'), path.join(beamlineDir, 'scripts'), {
      recursive: true,
    });
    for (const endpoint of [
      'data832',
      'nersc832',
      'alcf832',
      'nersc832_scratch',
      'alcf832_scratch',
    ]) {
      await mkdir(path.join(beamlineDir, 'endpoints', endpoint), { recursive: true });
    }
    // spot832 is the lake's landing folder.
    const landed = path.join(services.config.stateDir, 'lake', ...beamlineFile.split('/'));
    await mkdir(path.dirname(landed), { recursive: true });
    await writeFile(landed, beamlineFileContent);
    const cases = await selectCases(new Set(process.argv.slice(2)));
    const root = path.join(tmp, 'durable');
    const engine = new DurableEngine({
      root,
      functions: registryLookup,
      clock: systemClock,
      log: (level, instanceId, message) => {
        if (level === 'error') console.error(`${instanceId}: ${message}`);
      },
    });
    await engine.start();
    try {
      for (const c of cases) {
        const stored = await record(engine, root, c);
        const file = await writeStored(stored);
        console.log(`${path.relative(process.cwd(), file)}: ${stored.episodes.length} records`);
      }
    } finally {
      await engine.stop();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();

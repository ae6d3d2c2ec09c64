import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic, errnoOf } from '../adapters/local/fsPrimitives.js';
import {
  checkDatabankFileName,
  checkDatabankName,
  defaultProjectFolder,
  performanceFileName,
} from '../domain/databankLayout.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { metricsCsv, summarizeMetrics } from '../domain/jobMetrics.js';
import {
  advanceModelState,
  failModelState,
  initialModelState,
  parseModelState,
  planModelRun,
  remainingEntries,
  resumePoint,
  type ModelConfig,
  type ModelState,
} from '../domain/modelConfig.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import type { ComputeBackend, JobMetricSample } from '../ports/compute.js';
import type { Lake } from '../ports/lake.js';
import type { LogStore } from '../ports/logStore.js';
import type { StateStore } from '../ports/stateStore.js';
import {
  modelJobStepId,
  modelRunParamsSchema,
  type ModelRunParams,
  type PlannedModelStep,
  type PreparedModelRun,
} from '../orchestrations/modelRunTypes.js';
import {
  appendOrchestratorLog,
  databankDir,
  modelRunLocksCollection,
  readDatabankConfig,
} from './databanks.js';
import { syncDatabank } from './databankSync.js';
import { createErrorDump } from './modelErrorDumps.js';
import { recordModelOutputs } from './modelOutputs.js';
import { releaseComputeJob } from './jobs.js';
import { applyCleanupPatterns, buildOutputArchives } from './modelStepFiles.js';

/**
 * The activities of the `model` pipeline. They own every file of the databank: the state file
 * (`orca_model_state.json`, written atomically after every step and mirrored in the state
 * store's `modelStates`), archives, cleanup, monitoring CSVs, error dumps, the orchestrator log
 * and, in cloud mode, the sync to the lake. One run at a time per databank: a lock document
 * (`modelRunLocks`) names the run that holds it until it completes, fails or is canceled.
 */
export interface ModelRunDeps {
  state: StateStore;
  lake: Lake;
  compute: ComputeBackend;
  logs: LogStore;
  clock: Clock;
  databankRoot: string;
  /** The compute backend's work root: job working folders are given relative to it. */
  workRoot: string;
}

export const modelStatesCollection = 'modelStates';

interface ModelRunLock {
  databank: string;
  runId: string;
  since: string;
}

const runInputSchema = z.object({ runId: z.string().min(1), params: modelRunParamsSchema });

// ---------------------------------------------------------------------------------------------
// prepare

/** What a run of the databank would do now: resume point and remaining steps. Reads only. */
export interface ModelRunDecision {
  prepared: PreparedModelRun;
  /** The state the run starts from (fresh or resumed), undefined when already completed. */
  state: ModelState | undefined;
}

export async function decideModelRun(
  deps: ModelRunDeps,
  params: ModelRunParams,
): Promise<ModelRunDecision> {
  const name = checkDatabankName(params.databank);
  const dir = databankDir(deps, name);
  const { config } = await readDatabankConfig(dir, params.config).catch((error: unknown) => {
    if (isBatonError(error, 'not_found')) {
      throw new BatonError(
        'not_found',
        `databank ${name}: no ${params.config} in ${dir} (create it with baton databank init ${name} --config FILE)`,
        { field: 'databank' },
      );
    }
    throw error;
  });
  const now = deps.clock.now();
  const existing = await readState(dir, params.state);
  const cloud = params.mode === 'cloud_production';
  const projectFolder = projectFolderOf(params, config);
  const monitoring = config.performance_monitoring;
  const monitor = monitoring.enabled
    ? {
        monitor: {
          intervalSeconds: monitoring.poll_interval,
          trackCpu: monitoring.track_cpu,
          trackMemory: monitoring.track_memory,
        },
      }
    : {};
  if (existing === undefined || params.overwrite) {
    const plan = planModelRun(config, optionsOf(params));
    return {
      state: initialModelState(config, plan, now),
      prepared: {
        databank: name,
        steps: plan.entries.map((entry) => plannedStep(deps, dir, config, entry)),
        alreadyCompleted: false,
        totalIterations: plan.totalIterations,
        cloud,
        projectFolder,
        ...monitor,
      },
    };
  }
  if (existing.status === 'completed') {
    return {
      state: undefined,
      prepared: {
        databank: name,
        steps: [],
        alreadyCompleted: true,
        totalIterations: existing.total_iterations,
        cloud,
        projectFolder,
      },
    };
  }
  if (params.steps !== undefined && params.steps.join(' ') !== existing.steps.join(' ')) {
    throw new BatonError(
      'conflict',
      `--steps: ${params.state} tracks steps ${existing.steps.join(', ')}; resume with those, or start over with --overwrite`,
      { field: 'steps' },
    );
  }
  const total = params.iterations ?? existing.total_iterations;
  if (total < existing.current_iteration) {
    throw new BatonError(
      'validation',
      `--iterations: ${total} is below the iteration the run reached (${existing.current_iteration})`,
      { field: 'iterations' },
    );
  }
  const plan = planModelRun(config, {
    iterations: total,
    steps: existing.steps,
    startAt: existing.start_at,
  });
  const state: ModelState = { ...existing, total_iterations: total, status: 'running' };
  const next = resumePoint(state);
  return {
    state,
    prepared: {
      databank: name,
      steps: remainingEntries(plan, state).map((entry) => plannedStep(deps, dir, config, entry)),
      alreadyCompleted: false,
      ...(next === null ? {} : { resumedFrom: { iteration: next.iteration, step: next.step } }),
      totalIterations: total,
      cloud,
      projectFolder,
      ...monitor,
    },
  };
}

/** Activity: decides, takes the databank's lock and writes the state file as `running`. */
export async function prepareModelRun(deps: ModelRunDeps, raw: unknown): Promise<PreparedModelRun> {
  const { runId, params } = parseInput(runInputSchema, raw, 'model run');
  const { prepared, state } = await decideModelRun(deps, params);
  const dir = databankDir(deps, prepared.databank);
  if (prepared.alreadyCompleted || state === undefined) {
    await appendOrchestratorLog(
      dir,
      deps.clock,
      'INFO',
      `run ${runId}: ${params.state} says the run completed; nothing to do (--overwrite starts over)`,
    );
    return prepared;
  }
  await takeLock(deps, prepared.databank, runId);
  await saveState(deps, dir, prepared.databank, params.state, runId, state);
  const from = prepared.resumedFrom
    ? `resuming at iteration ${prepared.resumedFrom.iteration}, step ${prepared.resumedFrom.step}`
    : 'starting';
  await appendOrchestratorLog(
    dir,
    deps.clock,
    'INFO',
    `run ${runId} (${params.mode}): ${from}; ${prepared.steps.length} step(s) to run over iterations ${state.start_at}..${state.total_iterations}`,
  );
  return prepared;
}

/** `POST /api/databanks/{name}/plan`: what `baton run <databank> --dry-run` shows. */
export async function planModelRunView(
  deps: ModelRunDeps,
  name: string,
  body: unknown,
): Promise<PreparedModelRun & { state: ModelState | undefined }> {
  const params = parseInput(
    modelRunParamsSchema,
    { ...(typeof body === 'object' && body !== null ? body : {}), databank: name },
    'body',
  );
  const { prepared, state } = await decideModelRun(deps, params);
  return { ...prepared, state };
}

function optionsOf(params: ModelRunParams): { iterations?: number; steps?: string[] } {
  return {
    ...(params.iterations === undefined ? {} : { iterations: params.iterations }),
    ...(params.steps === undefined ? {} : { steps: params.steps }),
  };
}

function projectFolderOf(params: ModelRunParams, config: ModelConfig): string {
  return params.projectFolder ?? config.operational_mode.cloud?.adls_folder ?? defaultProjectFolder;
}

function plannedStep(
  deps: ModelRunDeps,
  dir: string,
  config: ModelConfig,
  entry: {
    iteration: number;
    step: string;
    commands: ReturnType<typeof planModelRun>['entries'][number]['commands'];
  },
): PlannedModelStep {
  const component = config.sub_components[entry.step];
  const cwd = path.relative(deps.workRoot, path.join(dir, entry.step)).split(path.sep).join('/');
  return {
    iteration: entry.iteration,
    step: entry.step,
    cwd,
    ...(component?.image === undefined ? {} : { image: component.image }),
    ...(component?.cpu === undefined ? {} : { cpu: component.cpu }),
    ...(component?.memory === undefined ? {} : { memoryGb: component.memory }),
    commands: entry.commands.map((command) => ({
      index: command.index,
      ...(command.description === undefined ? {} : { description: command.description }),
      argv: command.argv,
      env: command.env,
      ...(command.timeout === undefined ? {} : { timeoutSeconds: command.timeout }),
      retries: command.retries,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// finish a step

const stepInputSchema = runInputSchema.extend({
  iteration: z.number().int().min(1),
  step: z.string().min(1),
  jobIds: z.array(z.string()),
  ran: z.boolean().default(true),
  cloud: z.boolean(),
  projectFolder: z.string(),
  monitor: z
    .object({ intervalSeconds: z.number(), trackCpu: z.boolean(), trackMemory: z.boolean() })
    .optional(),
});

function skippedSummary(iteration: number, step: string): string {
  return `iteration ${iteration} ${step}: no command selected for this iteration`;
}

/** After a step's commands succeeded: archives, cleanup, metrics, state, sync. Returns a summary line. */
export async function finishModelStep(deps: ModelRunDeps, raw: unknown): Promise<string> {
  const input = parseInput(stepInputSchema, raw, 'model step');
  const name = checkDatabankName(input.params.databank);
  const dir = databankDir(deps, name);
  const { config } = await readDatabankConfig(dir, input.params.config);
  const state = await readState(dir, input.params.state);
  if (state === undefined) {
    throw new BatonError('not_found', `${input.params.state}: the state file is gone from ${dir}`);
  }
  if (isRecorded(state, input.iteration, input.step)) {
    // A retry after the state was saved: the step's files are done; finish what may not be.
    for (const jobId of input.jobIds) await releaseComputeJob(deps, jobId);
    if (input.cloud) await syncToLake(deps, dir, name, input.params, input.projectFolder);
    // A step that had nothing to run says so again: the portal shows it as skipped, not done.
    return input.ran
      ? `iteration ${input.iteration} ${input.step}: done (recorded already)`
      : skippedSummary(input.iteration, input.step);
  }
  const component = config.sub_components[input.step];
  const archives = input.ran
    ? await buildOutputArchives(dir, input.step, input.iteration, component?.output_archives ?? [])
    : { built: [], empty: [] };
  const cleaned = input.ran
    ? await applyCleanupPatterns(path.join(dir, input.step), component?.cleanup_patterns ?? [])
    : [];
  // Provenance of what the step built (which run, iteration, step and jobs; hash; when).
  await recordModelOutputs(deps, {
    databank: name,
    databankDir: dir,
    runId: input.runId,
    iteration: input.iteration,
    step: input.step,
    jobIds: input.jobIds,
    paths: archives.built.map((a) => a.path),
  });
  let performance = '';
  if (input.monitor !== undefined && input.ran) {
    const samples: JobMetricSample[] = [];
    for (const jobId of input.jobIds) samples.push(...(await metricsOf(deps, jobId)));
    const csv = metricsCsv(samples, {
      trackCpu: input.monitor.trackCpu,
      trackMemory: input.monitor.trackMemory,
      step: input.step,
      iteration: input.iteration,
    });
    const csvPath = path.join(dir, ...performanceFileName(input.iteration, input.step).split('/'));
    await mkdir(path.dirname(csvPath), { recursive: true });
    // The model-run lock makes this run the file's only writer: a crashed try's temp goes.
    await writeFileAtomic(csvPath, csv, { sweepTemps: true });
    const s = summarizeMetrics(samples);
    performance = `, ${s.durationSeconds.toFixed(1)} s, cpu avg ${s.cpuPercentAvg.toFixed(0)} % max ${s.cpuPercentMax.toFixed(0)} %, rss max ${(s.rssMaxBytes / 2 ** 20).toFixed(0)} MB`;
  }
  const advanced = advanceModelState(
    state,
    { iteration: input.iteration, step: input.step },
    deps.clock.now(),
  );
  await saveState(deps, dir, name, input.params.state, input.runId, advanced);
  const summary = input.ran
    ? `iteration ${input.iteration} ${input.step}: done${performance}; archives ${archives.built.map((a) => a.name).join(', ') || 'none'}; cleaned ${cleaned.length}`
    : skippedSummary(input.iteration, input.step);
  await appendOrchestratorLog(dir, deps.clock, 'INFO', `run ${input.runId}: ${summary}`);
  for (const pattern of archives.empty) {
    await appendOrchestratorLog(
      dir,
      deps.clock,
      'WARN',
      `run ${input.runId}: iteration ${input.iteration} ${input.step}: output_archives pattern ${pattern} matched no file`,
    );
  }
  // Released last: a retry of this activity before the state was saved still finds the jobs'
  // metrics on the backend.
  for (const jobId of input.jobIds) await releaseComputeJob(deps, jobId);
  if (input.cloud) await syncToLake(deps, dir, name, input.params, input.projectFolder);
  return summary;
}

/** Whether the state file already records (iteration, step) as completed. */
function isRecorded(state: ModelState, iteration: number, step: string): boolean {
  const next = resumePoint(state);
  if (next === null) return true;
  const index = state.steps.indexOf(step);
  return iteration < next.iteration || (iteration === next.iteration && index < next.stepIndex);
}

// ---------------------------------------------------------------------------------------------
// failure

const dumpInputSchema = runInputSchema.extend({
  iteration: z.number().int().min(1),
  step: z.string().min(1),
  command: z
    .object({
      index: z.number().int().min(0),
      description: z.string().optional(),
      argv: z.array(z.string()),
    })
    .passthrough(),
  outcome: z.object({
    jobId: z.string(),
    state: z.string(),
    exitCode: z.number().int().optional(),
    message: z.string().optional(),
  }),
  jobIds: z.array(z.string()),
  cloud: z.boolean(),
  projectFolder: z.string(),
});

/** A command failed for good: the error dump (uploaded in cloud mode). Returns its path. */
export async function dumpModelError(deps: ModelRunDeps, raw: unknown): Promise<string> {
  const input = parseInput(dumpInputSchema, raw, 'model error');
  const name = checkDatabankName(input.params.databank);
  const dir = databankDir(deps, name);
  const stepId = modelJobStepId(input.iteration, input.step, input.command.index);
  const lines = await deps.logs.read(input.runId, { step: stepId, tail: 50 }).catch(() => []);
  const dump = await createErrorDump(
    dir,
    {
      runId: input.runId,
      iteration: input.iteration,
      step: input.step,
      command: {
        index: input.command.index,
        description: input.command.description,
        argv: input.command.argv,
      },
      jobId: input.outcome.jobId,
      state: input.outcome.state,
      ...(input.outcome.exitCode === undefined ? {} : { exitCode: input.outcome.exitCode }),
      ...(input.outcome.message === undefined ? {} : { message: input.outcome.message }),
      lastLogLines: lines.map((l) => l.message),
    },
    deps.clock.now(),
  );
  for (const jobId of input.jobIds) await releaseComputeJob(deps, jobId);
  await appendOrchestratorLog(
    dir,
    deps.clock,
    'ERROR',
    `run ${input.runId}: iteration ${input.iteration} ${input.step} command ${input.command.index} ${input.outcome.state}${input.outcome.exitCode === undefined ? '' : ` (exit ${input.outcome.exitCode})`}; error dump ${dump}`,
  );
  if (input.cloud) await syncToLake(deps, dir, name, input.params, input.projectFolder);
  return dump;
}

const endInputSchema = runInputSchema.extend({ message: z.string().max(4000).optional() });

export async function failModelRun(deps: ModelRunDeps, raw: unknown): Promise<void> {
  const input = parseInput(endInputSchema, raw, 'model run');
  const name = checkDatabankName(input.params.databank);
  const dir = databankDir(deps, name);
  const state = await readState(dir, input.params.state);
  if (state !== undefined && state.status !== 'failed') {
    await saveState(
      deps,
      dir,
      name,
      input.params.state,
      input.runId,
      failModelState(state, deps.clock.now()),
    );
  }
  await appendOrchestratorLog(
    dir,
    deps.clock,
    'ERROR',
    `run ${input.runId} failed: ${input.message ?? ''}`,
  );
  await releaseLock(deps, name, input.runId);
}

export async function completeModelRun(deps: ModelRunDeps, raw: unknown): Promise<void> {
  const input = parseInput(endInputSchema, raw, 'model run');
  const name = checkDatabankName(input.params.databank);
  const dir = databankDir(deps, name);
  await appendOrchestratorLog(dir, deps.clock, 'INFO', `run ${input.runId} completed`);
  await releaseLock(deps, name, input.runId);
}

/** A canceled run lets go of its databank (called by cancelRun for every run). */
export async function releaseModelLocksOfRun(
  deps: Pick<ModelRunDeps, 'state'>,
  runId: string,
): Promise<void> {
  const locks = await deps.state.query<ModelRunLock>(modelRunLocksCollection, { where: { runId } });
  for (const lock of locks) {
    await deps.state
      .delete(modelRunLocksCollection, lock.pk, lock.id, lock.etag)
      .catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

async function readState(dir: string, stateFile: string): Promise<ModelState | undefined> {
  const fileName = checkDatabankFileName(stateFile, 'state');
  let text: string;
  try {
    text = await readFile(path.join(dir, fileName), 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
  return parseModelState(text, fileName);
}

/** The state file (atomically: never half-written) and its mirror in the state store. */
async function saveState(
  deps: ModelRunDeps,
  dir: string,
  databank: string,
  stateFile: string,
  runId: string,
  state: ModelState,
): Promise<void> {
  const fileName = checkDatabankFileName(stateFile, 'state');
  await writeFileAtomic(path.join(dir, fileName), `${JSON.stringify(state, null, 2)}\n`, {
    sweepTemps: true, // under the model-run lock: a crashed write's temp goes
  });
  await deps.state.upsert(modelStatesCollection, {
    id: databank,
    pk: databank,
    body: {
      databank,
      runId,
      stateFile: fileName,
      state,
      updatedAt: deps.clock.now().toISOString(),
    },
  });
}

async function takeLock(deps: ModelRunDeps, databank: string, runId: string): Promise<void> {
  const body: ModelRunLock = { databank, runId, since: deps.clock.now().toISOString() };
  try {
    await deps.state.create(modelRunLocksCollection, { id: databank, pk: databank, body });
  } catch (error) {
    if (!isBatonError(error, 'conflict')) throw error;
    const held = await deps.state.read<ModelRunLock>(modelRunLocksCollection, databank, databank);
    if (held === undefined) return takeLock(deps, databank, runId);
    if (held.body.runId === runId) return;
    throw new BatonError(
      'conflict',
      `databank ${databank} is in use by run ${held.body.runId} (since ${held.body.since}); wait for it, or baton cancel ${held.body.runId}`,
      { field: 'databank' },
    );
  }
}

async function releaseLock(deps: ModelRunDeps, databank: string, runId: string): Promise<void> {
  const held = await deps.state.read<ModelRunLock>(modelRunLocksCollection, databank, databank);
  if (held === undefined || held.body.runId !== runId) return;
  await deps.state
    .delete(modelRunLocksCollection, databank, databank, held.etag)
    .catch((error: unknown) => {
      if (!isBatonError(error, 'not_found') && !isBatonError(error, 'precondition_failed'))
        throw error;
    });
}

async function metricsOf(deps: ModelRunDeps, jobId: string): Promise<JobMetricSample[]> {
  try {
    return await deps.compute.metrics(jobId);
  } catch (error) {
    if (isBatonError(error, 'not_found')) return [];
    throw error;
  }
}

async function syncToLake(
  deps: ModelRunDeps,
  dir: string,
  databank: string,
  params: ModelRunParams,
  projectFolder: string,
): Promise<void> {
  await syncDatabank(
    { lake: deps.lake, clock: deps.clock },
    {
      action: 'upload',
      databank,
      databankDir: dir,
      configFileName: params.config,
      stateFileName: params.state,
      projectFolder,
    },
  );
}

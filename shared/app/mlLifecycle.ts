import { endOnce, trackerParams } from './trackerRuns.js';
import { uploadOutputOnce } from './lakeOutputs.js';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../adapters/local/fsPrimitives.js';
import path from 'node:path';
import { z } from 'zod';
import { BatonError } from '../domain/errors.js';
import { buildFinalTrainingConfig } from '../domain/mlConfig.js';
import { runIdSchema, trackerKeySchema } from '../domain/runFilter.js';
import { finalValue, parseMetricsFile } from '../domain/sweep/metricsFile.js';
import { choiceValueSchema } from '../domain/sweep/searchSpace.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import type { Lake } from '../ports/lake.js';
import type { LogStore } from '../ports/logStore.js';
import type { Tracker } from '../ports/tracker.js';
import type {
  MlStep,
  MlStepRecord,
  PreparedMlStep,
  PreparedMlTraining,
} from '../orchestrations/mlLifecycleTypes.js';
import type { Services } from './services.js';

/**
 * The activities of the `ml` pipeline (see shared/orchestrations/mlLifecycle.ts): each step's
 * folder and tracker run, the final training config, the conversion's and benchmark's input
 * resolved from the previous step's recorded artifact, and each step's validation and record.
 *
 * Every step has one tracker run in the pipeline's experiment, named after the step and found
 * again by its tags (`ml_run`, `step`) when an activity runs again. Outputs are copied to the
 * lake at `ml/<runId>/<step>/<file>` (a key derived from run and step: a retry rewrites the
 * same file) and recorded as the run's artifact; that record is what the next step reads.
 */
export interface MlDeps {
  tracker: Tracker;
  lake: Lake;
  logs: LogStore;
  /** The compute backend's work root (step folders must be inside it: they are job cwds). */
  workRoot: string;
  clock: Clock;
}

export function mlDepsOf(services: Services): MlDeps {
  return {
    tracker: services.tracker,
    lake: services.lake,
    logs: services.logs,
    workRoot: services.config.stateDir,
    clock: services.clock,
  };
}

const runTag = 'ml_run';
const stepTag = 'step';
const stepSchema = z.enum(['training', 'conversion', 'benchmark']);

/** A step's folder, relative to the work root (`ml/<runId>/<step>`). */
export function mlStepFolder(runId: string, step: MlStep): string {
  return `ml/${runId}/${step}`;
}

/** The lake path a step's output is recorded at. */
export function mlArtifactPath(runId: string, step: MlStep, file: string): string {
  return `ml/${runId}/${step}/${file}`;
}

const prepareTrainingSchema = z.object({
  runId: runIdSchema,
  experiment: z.string().min(1),
  config: z.record(z.string(), z.json()),
  best: z
    .object({
      trial: z.number().int(),
      params: z.record(z.string(), choiceValueSchema),
      value: z.number(),
      trackerRunId: z.string(),
    })
    .loose(),
  seed: z.number().int(),
  seedKey: z.string().min(1),
});

/**
 * Activity: the final training config (the best trial's params over the training config, the
 * fixed seed over both), the `training` run with that config as params and the best trial it
 * came from as tags (`added_keys` lists best params the training config did not have), and the
 * job's folder with the config as `config.json`.
 */
export async function prepareMlTraining(deps: MlDeps, raw: unknown): Promise<PreparedMlTraining> {
  const input = parseInput(prepareTrainingSchema, raw, 'prepareMlTraining');
  const { config, added, overridden } = buildFinalTrainingConfig({
    trainingConfig: input.config,
    best: input.best.params,
    seed: input.seed,
    seedKey: input.seedKey,
  });
  const trackerRunId = await stepRun(deps.tracker, input.experiment, input.runId, 'training');
  await deps.tracker.logParams(trackerRunId, trackerParams(config));
  await deps.tracker.setTags(trackerRunId, {
    best_trial: String(input.best.trial),
    best_run: input.best.trackerRunId,
    best_value: String(input.best.value),
    ...(added.length === 0 ? {} : { added_keys: added.join(',').slice(0, 4000) }),
    ...(overridden.length === 0 ? {} : { overridden_keys: overridden.join(',').slice(0, 4000) }),
  });
  const folder = await prepareFolder(deps, input.runId, 'training');
  // Atomic: a host killed mid-write would otherwise leave the job a torn config on retry.
  await writeFileAtomic(
    path.join(deps.workRoot, ...folder.cwd.split('/'), 'config.json'),
    `${JSON.stringify(config, null, 2)}\n`,
    { sweepTemps: true },
  );
  return { ...folder, trackerRunId, config };
}

const prepareStepSchema = z.object({
  runId: runIdSchema,
  experiment: z.string().min(1),
  step: z.enum(['conversion', 'benchmark']),
  from: z.object({ trackerRunId: runIdSchema, kind: z.string().min(1) }),
});

/**
 * Activity: the step's folder and tracker run, and its input: the artifact of kind `from.kind`
 * that the previous step's run (`from.trackerRunId`) recorded, copied from the lake into the
 * folder (`input/<name>`, the job's `BATON_INPUT`). The input is what the tracker says that run
 * produced, never a path derived here; the step's run keeps it as param `input` and tag
 * `input_run`. `precondition_failed` when that run did not finish or recorded no such artifact.
 */
export async function prepareMlStep(deps: MlDeps, raw: unknown): Promise<PreparedMlStep> {
  const input = parseInput(prepareStepSchema, raw, 'prepareMlStep');
  const artifact = await resolveStepInput(deps.tracker, input.from.trackerRunId, input.from.kind);
  const trackerRunId = await stepRun(deps.tracker, input.experiment, input.runId, input.step);
  await deps.tracker.logParams(trackerRunId, { input: artifact });
  await deps.tracker.setTags(trackerRunId, { input_run: input.from.trackerRunId });
  const folder = await prepareFolder(deps, input.runId, input.step);
  const file = path.join(
    deps.workRoot,
    ...folder.cwd.split('/'),
    'input',
    path.posix.basename(artifact),
  );
  await mkdir(path.dirname(file), { recursive: true });
  await deps.lake.downloadFile(artifact, file);
  return {
    ...folder,
    trackerRunId,
    input: { file, artifact, fromRun: input.from.trackerRunId },
  };
}

/**
 * The lake path of the one artifact of `kind` that a finished run recorded (conversion input
 * resolution: the seed's `get_checkpoint_output_from_training_job`).
 */
export async function resolveStepInput(
  tracker: Tracker,
  trackerRunId: string,
  kind: string,
): Promise<string> {
  const run = await tracker.getRun(trackerRunId);
  if (run.status !== 'FINISHED') {
    throw new BatonError(
      'precondition_failed',
      `tracker run ${trackerRunId} (${run.name ?? 'unnamed'}) is ${run.status}, not FINISHED: its outputs are not usable`,
    );
  }
  const found = run.artifacts.filter((artifact) => artifact.kind === kind);
  const [artifact] = found;
  if (artifact === undefined || found.length > 1) {
    throw new BatonError(
      'precondition_failed',
      `tracker run ${trackerRunId} (${run.name ?? 'unnamed'}) recorded ${found.length} artifacts of kind ${kind}; expected exactly one`,
    );
  }
  return artifact.path;
}

const recordStepSchema = z.object({
  runId: runIdSchema,
  step: stepSchema,
  trackerRunId: runIdSchema,
  outputDir: z.string().min(1),
  metricsFile: z.string().min(1),
  outcome: z
    .object({
      jobId: z.string(),
      state: z.enum(['succeeded', 'failed', 'canceled', 'timed_out']),
      exitCode: z.number().optional(),
      message: z.string().optional(),
    })
    .loose(),
  expectFile: z
    .object({
      name: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/),
      kind: z.string().min(1),
    })
    .optional(),
  requireMetrics: z.array(trackerKeySchema).default([]),
});

/**
 * Activity: validates a step's job and records it on the step's tracker run.
 *
 * - Whatever metrics the job wrote to its metrics file are logged (with their steps), also
 *   when it failed.
 * - The step fails when the job did not succeed, did not write the expected file (non-empty)
 *   into its output folder, or did not report a required metric: the run ends FAILED with the
 *   reason as tag `message`, and this throws `precondition_failed` (not retried), which stops
 *   the pipeline at this step.
 * - Otherwise the expected file is copied to the lake (`ml/<runId>/<step>/<name>`), recorded as
 *   the run's artifact of its kind, and the run ends FINISHED.
 */
export async function recordMlStep(deps: MlDeps, raw: unknown): Promise<MlStepRecord> {
  const input = parseInput(recordStepSchema, raw, 'recordMlStep');
  const { tracker } = deps;
  const { outcome } = input;
  const text = await readFile(input.metricsFile, 'utf8').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  });
  const report = parseMetricsFile(text);
  if (report.points.length > 0) {
    const timestamp = deps.clock.now().getTime();
    await tracker.logMetrics(
      input.trackerRunId,
      report.points.map((point) => ({ ...point, timestamp })),
    );
  }
  const metrics: Record<string, number> = {};
  for (const key of new Set(report.points.map((point) => point.key))) {
    const value = finalValue(report.points.filter((point) => point.key === key));
    if (value !== undefined) metrics[key] = value;
  }

  const fail = async (reason: string): Promise<never> => {
    const message = `job ${outcome.jobId} ${reason}`;
    await tracker.setTags(input.trackerRunId, {
      state: 'failed',
      job: outcome.jobId,
      message: message.slice(0, 4000),
    });
    await endOnce(tracker, input.trackerRunId, 'FAILED');
    throw new BatonError('precondition_failed', message);
  };

  if (outcome.state !== 'succeeded') {
    const how =
      outcome.state === 'failed' && outcome.exitCode !== undefined
        ? `exit code ${outcome.exitCode}`
        : outcome.state;
    const tail = await logTail(deps.logs, input.runId, input.step);
    return fail(
      `${how}${outcome.message === undefined ? '' : ` (${outcome.message})`}` +
        (tail === '' ? '' : `; last log lines: ${tail}`),
    );
  }
  let artifact: string | undefined;
  if (input.expectFile !== undefined) {
    const local = path.join(input.outputDir, input.expectFile.name);
    const info = await stat(local).catch(() => undefined);
    if (info === undefined || !info.isFile() || info.size === 0) {
      return fail(
        `succeeded but wrote no ${input.expectFile.name} into its output folder` +
          (info === undefined ? '' : info.isFile() ? ' (the file is empty)' : ' (not a file)'),
      );
    }
    artifact = mlArtifactPath(input.runId, input.step, input.expectFile.name);
    await uploadOutputOnce(deps.lake, local, artifact);
    await tracker.logArtifact(input.trackerRunId, { path: artifact, kind: input.expectFile.kind });
  }
  const missing = input.requireMetrics.filter((key) => metrics[key] === undefined);
  if (missing.length > 0) {
    return fail(
      `reported no ${missing.join(', ')} in its metrics file` +
        (report.problems.length > 0 ? ` (${report.problems.join('; ')})` : ''),
    );
  }
  await tracker.setTags(input.trackerRunId, { state: 'completed', job: outcome.jobId });
  await endOnce(tracker, input.trackerRunId, 'FINISHED');
  return {
    trackerRunId: input.trackerRunId,
    ...(artifact === undefined ? {} : { artifact }),
    metrics,
  };
}

/** The step's run in the pipeline's experiment, found by its tags when run again, else started. */
async function stepRun(
  tracker: Tracker,
  experiment: string,
  runId: string,
  step: MlStep,
): Promise<string> {
  const experimentId = await tracker.getOrCreateExperiment(experiment);
  const tags = { [runTag]: runId, [stepTag]: step };
  const [existing] = await tracker.searchRuns({
    experimentIds: [experimentId],
    filter: { tags },
    maxResults: 1,
  });
  if (existing !== undefined) return existing.runId;
  return tracker.startRun({ experimentId, name: step, tags: { ...tags, kind: 'ml_step' } });
}

/**
 * The step's folder (a fresh output folder; no metrics file): the job has not been launched
 * when this runs, so whatever an earlier attempt left there is stale.
 */
async function prepareFolder(
  deps: MlDeps,
  runId: string,
  step: MlStep,
): Promise<Pick<PreparedMlStep, 'cwd' | 'outputDir' | 'metricsFile'>> {
  const cwd = mlStepFolder(runId, step);
  const dir = path.join(deps.workRoot, ...cwd.split('/'));
  const outputDir = path.join(dir, 'output');
  await rm(outputDir, { recursive: true, force: true });
  await mkdir(outputDir, { recursive: true });
  const metricsFile = path.join(dir, 'metrics.jsonl');
  await rm(metricsFile, { force: true });
  return { cwd, outputDir, metricsFile };
}

/** The last few lines the step's job logged, on one line (for a failure message). */
async function logTail(logs: LogStore, runId: string, step: MlStep): Promise<string> {
  try {
    const lines = await logs.read(runId, { step, tail: 3 });
    return lines
      .map((line) => line.message)
      .join(' | ')
      .slice(0, 1000);
  } catch {
    return '';
  }
}

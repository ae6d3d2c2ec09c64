import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { performanceFolder } from '../domain/databankLayout.js';
import { describeValue } from '../domain/describe.js';
import { BatonError } from '../domain/errors.js';
import { parsePerformanceCsv, type PerformanceSample } from '../domain/performanceCsv.js';
import { runIdSchema } from '../domain/runIds.js';
import { parseInput } from '../domain/validation.js';
import type {
  InstanceStatus,
  OrchestrationClient,
  RuntimeStatus,
} from '../ports/orchestrationClient.js';
import type { StateStore } from '../ports/stateStore.js';
import { databankDir } from './databanks.js';
import { jobsCollection, type JobRecord } from './jobs.js';
import { listErrorDumps, readErrorDumpFile, type ErrorDumpListing } from './modelErrorDumps.js';
import { modelOutputsCollection, type ModelOutputRecord } from './modelOutputs.js';
import { runsCollection, type RunRecord } from './runs.js';

/**
 * Read-only views of a run beyond its status (issue 9's run page): CPU and memory over time
 * from a model run's monitoring CSVs, the run's child orchestrations and jobs (live cell states
 * of the iteration × step grid), its error dumps with their files, and the provenance of its
 * outputs. Everything a model run wrote is read from its own databank only: the databank's
 * name comes from the run's stored params, never from the request.
 */
export interface RunInsightDeps {
  state: StateStore;
  client: OrchestrationClient;
  databankRoot: string;
}

async function readRun(deps: Pick<RunInsightDeps, 'state'>, runId: string): Promise<RunRecord> {
  parseInput(runIdSchema, runId, 'runId');
  const doc = await deps.state.read<RunRecord>(runsCollection, runId, runId);
  if (!doc) throw new BatonError('not_found', `run ${runId} not found`, { field: 'runId' });
  return doc.body;
}

/** The databank folder of a model run (undefined for other pipelines). */
function databankOf(
  deps: Pick<RunInsightDeps, 'databankRoot'>,
  run: RunRecord,
): string | undefined {
  if (run.pipeline !== 'model') return undefined;
  const parsed = z.object({ databank: z.string() }).safeParse(run.params);
  return parsed.success ? databankDir(deps, parsed.data.databank) : undefined;
}

// ---------------------------------------------------------------------------------------------
// performance

export interface StepPerformance {
  iteration: number;
  step: string;
  samples: PerformanceSample[];
  skippedRows: number;
}

/** `<iteration>_<step>.csv` as performanceFileName writes it. */
const performanceFilePattern = /^(\d{1,6})_([A-Za-z0-9][A-Za-z0-9._-]{0,99})\.csv$/;
const maxPerformanceFileBytes = 16 * 1024 * 1024;

/**
 * `GET /api/runs/{runId}/performance`: per step and iteration, the samples of the run's
 * monitoring CSVs, oldest step first. A databank outlives its runs (a resumed run keeps the
 * CSVs of the steps an earlier run finished), so only samples taken since this run was created
 * are this run's. Not a model run, or no monitoring: no steps.
 */
export async function runPerformance(
  deps: Pick<RunInsightDeps, 'state' | 'databankRoot'>,
  runId: string,
): Promise<{ runId: string; steps: StepPerformance[] }> {
  const run = await readRun(deps, runId);
  const dir = databankOf(deps, run);
  if (dir === undefined) return { runId, steps: [] };
  const folder = path.join(dir, performanceFolder);
  const folderInfo = await lstat(folder).catch(() => undefined);
  if (!folderInfo?.isDirectory()) return { runId, steps: [] };
  const since = Date.parse(run.createdAt);
  const steps: StepPerformance[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    // Regular files only (a Dirent of a symbolic link is not a file): nothing outside is read.
    const match = performanceFilePattern.exec(entry.name);
    if (!entry.isFile() || !match) continue;
    const file = path.join(folder, entry.name);
    const size = (await lstat(file).catch(() => undefined))?.size;
    if (size === undefined || size > maxPerformanceFileBytes) continue; // gone meanwhile, or huge
    let parsed;
    try {
      parsed = parsePerformanceCsv(await readFile(file, 'utf8'));
    } catch {
      continue; // not a monitoring CSV (another header): not shown
    }
    const samples = parsed.samples.filter((s) => Date.parse(s.at) >= since);
    if (samples.length === 0) continue;
    steps.push({
      iteration: Number(match[1]),
      step: match[2] ?? '',
      samples,
      skippedRows: parsed.skippedRows,
    });
  }
  steps.sort((a, b) => (a.samples[0]?.at ?? '').localeCompare(b.samples[0]?.at ?? ''));
  return { runId, steps };
}

// ---------------------------------------------------------------------------------------------
// children and jobs

export interface ChildInstance {
  instanceId: string;
  name: string;
  runtimeStatus: RuntimeStatus;
  createdTime: string;
  lastUpdatedTime: string;
  customStatus: unknown;
  /** Once completed; null otherwise. */
  output: unknown;
  /** Why a failed or terminated child ended. */
  error?: string;
}

export interface RunJob {
  jobId: string;
  stepId: string;
  attempt: number;
  state: JobRecord['state'];
  exitCode?: number;
  queuedAt: string;
  launchedAt?: string;
  finishedAt?: string;
  /** The orchestration waiting for it, when not the run's own (a child). */
  instanceId?: string;
}

/**
 * `GET /api/runs/{runId}/children`: the run's sub-orchestrations (from its history, then one
 * status each, so this works the same on the local engine and in Azure) and its jobs (from the
 * `jobs` collection, one partition: the run's). Together they say, while a model run runs,
 * which cell is running, pending or failed.
 */
export async function runChildren(
  deps: Pick<RunInsightDeps, 'state' | 'client'>,
  runId: string,
): Promise<{ runId: string; children: ChildInstance[]; jobs: RunJob[] }> {
  await readRun(deps, runId);
  const status = await deps.client.getStatus(runId, { history: true });
  const childIds = [
    ...new Set(
      (status?.history ?? []).flatMap((w) =>
        w.kind === 'subOrchestration' && w.instanceId !== undefined ? [w.instanceId] : [],
      ),
    ),
  ];
  const children: ChildInstance[] = [];
  for (const id of childIds) {
    const child = await deps.client.getStatus(id);
    if (child !== undefined) children.push(toChild(child));
  }
  const jobDocs = await deps.state.query<JobRecord>(jobsCollection, { pk: runId });
  const jobs = jobDocs
    .map(({ body: j }) => ({
      jobId: j.jobId,
      stepId: j.stepId,
      attempt: j.attempt,
      state: j.state,
      ...(j.exitCode === undefined ? {} : { exitCode: j.exitCode }),
      queuedAt: j.queuedAt,
      ...(j.launchedAt === undefined ? {} : { launchedAt: j.launchedAt }),
      ...(j.finishedAt === undefined ? {} : { finishedAt: j.finishedAt }),
      ...(j.instanceId === undefined ? {} : { instanceId: j.instanceId }),
    }))
    .sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));
  return { runId, children, jobs };
}

/** A child orchestration as the portal sees it (exported for its unit test). */
export function toChild(s: InstanceStatus): ChildInstance {
  return {
    instanceId: s.instanceId,
    name: s.name,
    runtimeStatus: s.runtimeStatus,
    createdTime: s.createdTime,
    lastUpdatedTime: s.lastUpdatedTime,
    customStatus: s.customStatus ?? null,
    // As in the run view: an output once completed; a failed or ended child's error, as text.
    output: s.runtimeStatus === 'Completed' ? (s.output ?? null) : null,
    ...(s.runtimeStatus === 'Failed' || s.runtimeStatus === 'Terminated'
      ? { error: describeValue(s.output ?? s.runtimeStatus.toLowerCase()) }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// error dumps and outputs

/** `GET /api/runs/{runId}/error-dumps`: the dumps this run left in its databank. */
export async function runErrorDumps(
  deps: Pick<RunInsightDeps, 'state' | 'databankRoot'>,
  runId: string,
): Promise<{ runId: string; dumps: ErrorDumpListing[] }> {
  const run = await readRun(deps, runId);
  const dir = databankOf(deps, run);
  return { runId, dumps: dir === undefined ? [] : await listErrorDumps(dir, runId) };
}

/** `GET /api/runs/{runId}/error-dumps/{dump}/{*path}`: one file of one of the run's dumps. */
export async function runErrorDumpFile(
  deps: Pick<RunInsightDeps, 'state' | 'databankRoot'>,
  runId: string,
  dump: string,
  relative: string,
): Promise<{ name: string; bytes: Buffer }> {
  const run = await readRun(deps, runId);
  const dir = databankOf(deps, run);
  if (dir === undefined) {
    throw new BatonError('not_found', `run ${runId} has no error dumps`, { field: 'runId' });
  }
  return readErrorDumpFile(dir, runId, dump, relative);
}

/** An output's provenance, with the attempt of each job that made it. */
export interface OutputProvenance extends Omit<ModelOutputRecord, 'jobIds'> {
  jobs: Array<{ jobId: string; stepId?: string; attempt?: number; state?: string }>;
}

/**
 * `GET /api/runs/{runId}/outputs`: the files the run built (model runs: the output archives),
 * each with the step, iteration and jobs (command and attempt) that produced it, its SHA-256,
 * size and when. A file a later run rebuilt is that run's now, and no longer listed here.
 */
export async function runOutputs(
  deps: Pick<RunInsightDeps, 'state' | 'databankRoot'>,
  runId: string,
): Promise<{ runId: string; outputs: OutputProvenance[] }> {
  const run = await readRun(deps, runId);
  const parsed = z.object({ databank: z.string() }).safeParse(run.params);
  if (run.pipeline !== 'model' || !parsed.success) return { runId, outputs: [] };
  const [docs, jobDocs] = await Promise.all([
    deps.state.query<ModelOutputRecord>(modelOutputsCollection, {
      pk: parsed.data.databank,
      where: { runId },
    }),
    deps.state.query<JobRecord>(jobsCollection, { pk: runId }),
  ]);
  const jobOf = new Map(jobDocs.map((d) => [d.body.jobId, d.body]));
  const outputs = docs
    .map(({ body: { jobIds, ...record } }) => ({
      ...record,
      jobs: jobIds.map((jobId) => {
        const job = jobOf.get(jobId);
        return job === undefined
          ? { jobId }
          : { jobId, stepId: job.stepId, attempt: job.attempt, state: job.state };
      }),
    }))
    .sort((a, b) => a.iteration - b.iteration || a.builtAt.localeCompare(b.builtAt));
  return { runId, outputs };
}

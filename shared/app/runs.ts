import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { BatonError, isBatonError } from '../domain/errors.js';
import { newRunId, runIdSchema } from '../domain/runIds.js';
import { toRunView, type RunView } from '../domain/runView.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import type { LogLine, LogStore } from '../ports/logStore.js';
import type { OrchestrationClient } from '../ports/orchestrationClient.js';
import type { StateStore } from '../ports/stateStore.js';
import { reconstructInstanceId } from '../orchestrations/beamlineReconstructTypes.js';
import { newFileInstanceId } from '../orchestrations/beamlineTypes.js';
import type { BeamlineDeps } from './beamline.js';
import { cancelHpcJobsOfRun } from './beamlineHpc.js';
import { cancelJobsOfRun, type JobDeps } from './jobs.js';
import { releaseModelLocksOfRun } from './modelRun.js';
import { systemIdentities } from './identity.js';
import { findPipeline } from './pipelines.js';

/**
 * Use cases behind `/api/runs` and the CLI: start, inspect, list, cancel, delete runs. A run is
 * a durable orchestration instance whose id is the run id, plus a document in the `runs`
 * collection that records who started which pipeline with which parameters.
 */
export interface RunDeps {
  client: OrchestrationClient;
  state: StateStore;
  logs: LogStore;
  clock: Clock;
  jobs: JobDeps;
  /** For canceling a beamline run's HPC jobs at their sites; absent where none run. */
  beamline?: BeamlineDeps;
}

export interface RunRecord {
  runId: string;
  pipeline: string;
  params: unknown;
  createdAt: string;
  createdBy: string;
}

export const runsCollection = 'runs';

export const startRunRequestSchema = z
  .object({
    pipeline: z.string().min(1).max(100),
    params: z.record(z.string(), z.unknown()).default({}),
    runId: runIdSchema.optional(),
    /** Validate and show what would start, without starting anything. */
    dryRun: z.boolean().default(false),
  })
  .strict();

export async function startRun(deps: RunDeps, body: unknown, user: string): Promise<RunView> {
  const request = parseInput(startRunRequestSchema, body, 'body');
  const pipeline = findPipeline(request.pipeline);
  const params = parseInput(pipeline.paramsSchema, request.params, 'params');
  const now = deps.clock.now();
  const runId = request.runId ?? newRunId(pipeline.name, now, randomBytes(3).toString('hex'));
  const record: RunRecord = {
    runId,
    pipeline: pipeline.name,
    params,
    createdAt: now.toISOString(),
    createdBy: user,
  };
  if (request.dryRun) {
    const existing = await deps.state.read(runsCollection, runId, runId);
    if (existing)
      throw new BatonError('conflict', `run ${runId} already exists`, { field: 'runId' });
    return { ...toRunView(record, undefined), dryRun: true };
  }
  try {
    await deps.state.create(runsCollection, { id: runId, pk: runId, body: record });
  } catch (error) {
    if (isBatonError(error, 'conflict'))
      throw new BatonError('conflict', `run ${runId} already exists`, { field: 'runId' });
    throw error;
  }
  try {
    await deps.client.start(pipeline.orchestrator, { instanceId: runId, input: { runId, params } });
  } catch (error) {
    await deps.state.delete(runsCollection, runId, runId).catch(() => undefined);
    throw error;
  }
  return toRunView(record, await deps.client.getStatus(runId));
}

async function readRecord(deps: RunDeps, runId: string): Promise<RunRecord> {
  parseInput(runIdSchema, runId, 'runId');
  const doc = await deps.state.read<RunRecord>(runsCollection, runId, runId);
  if (!doc) throw new BatonError('not_found', `run ${runId} not found`, { field: 'runId' });
  return doc.body;
}

export async function getRun(deps: RunDeps, runId: string): Promise<RunView> {
  const record = await readRecord(deps, runId);
  return toRunView(record, await deps.client.getStatus(runId, { history: true }));
}

export const listRunsQuerySchema = z.object({
  status: z.enum(['pending', 'running', 'completed', 'failed', 'canceled']).optional(),
  pipeline: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export async function listRuns(deps: RunDeps, query: unknown): Promise<RunView[]> {
  const q = parseInput(listRunsQuerySchema, query, 'query');
  const docs = await deps.state.query<RunRecord>(runsCollection, {
    ...(q.pipeline ? { where: { pipeline: q.pipeline } } : {}),
    orderBy: { field: 'createdAt', direction: 'desc' },
  });
  const views: RunView[] = [];
  for (const doc of docs) {
    const view = toRunView(doc.body, await deps.client.getStatus(doc.body.runId));
    if (q.status && view.status !== q.status) continue;
    views.push(view);
    if (views.length >= q.limit) break;
  }
  return views;
}

export const cancelRunRequestSchema = z
  .object({ reason: z.string().max(1000).optional() })
  .strict();

/**
 * Who may change a run (cancel it, signal it, delete it): whoever started it. A run the system
 * started (for a landed file) has no such person, so any signed-in user may, as operators do.
 * Reading a run is open to every signed-in user.
 */
export function assertMayChangeRun(record: RunRecord, user: string): void {
  if (record.createdBy === user || systemIdentities.has(record.createdBy)) return;
  throw new BatonError(
    'forbidden',
    `run ${record.runId} was started by ${record.createdBy}; only they can change it`,
    { field: 'runId' },
  );
}

export async function cancelRun(
  deps: RunDeps,
  runId: string,
  body: unknown,
  user: string,
): Promise<RunView> {
  const request = parseInput(cancelRunRequestSchema, body, 'body');
  const reason =
    request.reason && request.reason.trim() !== '' ? request.reason : `canceled by ${user}`;
  const record = await readRecord(deps, runId);
  assertMayChangeRun(record, user);
  await deps.client.terminate(runId, reason);
  // Terminating a run does not terminate its sub-orchestrations (Durable Functions semantics):
  // the beamline flows' children are terminated by their derived ids, then their HPC jobs
  // canceled at the site, so nothing keeps computing for a canceled run.
  if (record.pipeline.startsWith('beamline')) {
    for (const child of beamlineChildInstances(runId)) {
      await deps.client.terminate(child, reason).catch(() => undefined);
    }
    if (deps.beamline !== undefined) await cancelHpcJobsOfRun(deps.beamline, runId);
  }
  await cancelJobsOfRun(deps.jobs, runId);
  // A canceled model run lets go of its databank, so the next run can resume it.
  await releaseModelLocksOfRun(deps, runId);
  return toRunView(record, await deps.client.getStatus(runId));
}

export async function raiseRunEvent(
  deps: RunDeps,
  runId: string,
  eventName: string,
  data: unknown,
  user: string,
): Promise<void> {
  assertMayChangeRun(await readRecord(deps, runId), user);
  parseInput(
    z.string().regex(/^[A-Za-z0-9:_.-]{1,100}$/, 'letters, digits and :_.- only'),
    eventName,
    'eventName',
  );
  await deps.client.raiseEvent(runId, eventName, data);
}

export async function deleteRun(deps: RunDeps, runId: string, user: string): Promise<void> {
  assertMayChangeRun(await readRecord(deps, runId), user);
  const status = await deps.client.getStatus(runId);
  if (status && !['Completed', 'Failed', 'Terminated', 'Canceled'].includes(status.runtimeStatus)) {
    throw new BatonError(
      'conflict',
      `run ${runId} is still ${status.runtimeStatus.toLowerCase()}; cancel it first`,
    );
  }
  await deps.client.purge(runId);
  await deps.state.delete(runsCollection, runId, runId);
}

export const logsQuerySchema = z.object({
  step: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}$/)
    .optional(),
  tail: z.coerce.number().int().min(1).max(100_000).optional(),
});

export async function runLogs(
  deps: RunDeps,
  runId: string,
  query: unknown,
): Promise<Array<LogLine & { step: string }>> {
  await readRecord(deps, runId);
  const q = parseInput(logsQuerySchema, query, 'query');
  return deps.logs.read(runId, {
    ...(q.step ? { step: q.step } : {}),
    ...(q.tail ? { tail: q.tail } : {}),
  });
}

function beamlineChildInstances(runId: string): string[] {
  return [
    newFileInstanceId(runId),
    reconstructInstanceId(runId, 'nersc'),
    reconstructInstanceId(runId, 'alcf'),
  ];
}

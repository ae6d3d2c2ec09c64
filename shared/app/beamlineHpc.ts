import { readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { hpcControllerFor } from '../adapters/hpcControllers.js';
import { endpointPath, findEndpoint, type BeamlineConfig } from '../domain/beamline/config.js';
import {
  decideExportControl,
  locateFile,
  type FileAtEndpoint,
} from '../domain/beamline/dispatch.js';
import { planReconstruction, type ReconstructionPlan } from '../domain/beamline/reconstruction.js';
import { mayReplaceHpcState } from '../domain/beamline/hpcJobProgress.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { backoffAfterConflict, maxConflictRetries } from './conflictRetry.js';
import { jobIdFor } from '../domain/jobIds.js';
import { isInsidePath } from '../domain/paths.js';
import { dueAtFor, retentionIdFor } from '../domain/retention.js';
import { runIdSchema } from '../domain/runIds.js';
import { parseInput } from '../domain/validation.js';
import type { HpcController, HpcJobStatus } from '../ports/hpc.js';
import type { RetentionResult } from '../orchestrations/beamlineTypes.js';
import {
  reconstructParamsSchema,
  type HpcStepResult,
  type HpcTaskName,
} from '../orchestrations/beamlineReconstructTypes.js';
import {
  beamlineRetentionCollection,
  type BeamlineDeps,
  type BeamlineRetentionEntry,
} from './beamline.js';
import {
  assertFolderEndpoint,
  beamlineServicesFor,
  loadBeamlineConfig,
  type LoadedBeamlineConfig,
} from './beamlineServices.js';

/**
 * Activities of the reconstruction flows (`beamlineReconstruct`): plan, submit and follow the
 * site's jobs through the HpcController the factory returns for the site, and record the
 * outputs' retention. Every HPC job submitted is also written to `hpcJobs` (partition: the
 * run), so canceling the run cancels its jobs at the site (`cancelHpcJobsOfRun`).
 */
export const hpcJobsCollection = 'hpcJobs';

export interface HpcJobRecord {
  runId: string;
  config: string;
  site: string;
  task: HpcTaskName;
  jobId: string;
  siteJobId?: string;
  state: HpcStepResult['state'];
  reason?: string;
}

const planInputSchema = z.object({ runId: runIdSchema, params: z.unknown() });
const jobInputSchema = z.object({
  runId: runIdSchema,
  config: z.string().min(1),
  site: z.enum(['nersc', 'alcf']),
  task: z.enum(['reconstruct', 'multi_resolution']),
  plan: z.custom<ReconstructionPlan>((v) => typeof v === 'object' && v !== null),
});
const retentionInputSchema = jobInputSchema.omit({ task: true });

/** Reads the config, finds the raw file and plans what the site does with it. */
export async function planBeamlineReconstruction(
  deps: BeamlineDeps,
  input: unknown,
): Promise<ReconstructionPlan> {
  const { params: raw } = parseInput(planInputSchema, input, 'input');
  const params = parseInput(reconstructParamsSchema, raw, 'params');
  if (params.site === 'olcf') {
    throw new BatonError(
      'validation',
      'params.site: HPC site "olcf": not implemented (use nersc or alcf)',
      {
        field: 'params.site',
      },
    );
  }
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, params.config);
  const file = locateFile(loaded.config, params.path, params.endpoint);
  const plan = planReconstruction(loaded.config, params.site, file);
  // Export-controlled data never leaves the site: no off-site stage, site or scratch.
  const control = decideExportControl(loaded.config, file.path, params.exportControlled);
  if (control.controlled) {
    for (const name of [plan.siteEndpoint, plan.scratch]) {
      if (findEndpoint(loaded.config, name)?.offsite === true) {
        throw new BatonError(
          'forbidden',
          `params.site: the file is export-controlled (${control.reasons.join('; ')}) and ${name} is off-site`,
          { field: 'params.site' },
        );
      }
    }
  }
  // Refuse now, with the field named, what a later step could not reach.
  for (const endpoint of [plan.raw.endpoint, plan.siteEndpoint, plan.scratch]) {
    assertFolderEndpoint(loaded, endpoint, deps.lakeFolder);
  }
  controllerFor(deps, loaded, params.site);
  return plan;
}

/** The job id of a run's task at a site: the same run always submits the same ids. */
export function hpcJobIdOf(runId: string, site: string, task: HpcTaskName): string {
  return jobIdFor(runId, `${site}-${task === 'reconstruct' ? 'recon' : 'zarr'}`, 1);
}

/**
 * Submits the task (idempotent by its job id) and reports where it is. The job is recorded
 * before the site is called, so a run canceled while the submit is in flight finds it; if the
 * record was canceled meanwhile, the job just submitted is canceled at once.
 */
export async function submitHpcJob(deps: BeamlineDeps, input: unknown): Promise<HpcStepResult> {
  const job = parseInput(jobInputSchema, input, 'input');
  const { controller, request } = await jobOf(deps, job);
  const previous = await deps.state.read<HpcJobRecord>(hpcJobsCollection, job.runId, request.jobId);
  if (previous === undefined) {
    // Create-only: a second delivery of this submit, running alongside, must not put a job the
    // first one already recorded as running back to queued.
    const queued: HpcJobRecord = {
      runId: job.runId,
      config: job.config,
      site: job.site,
      task: job.task,
      jobId: request.jobId,
      state: 'queued',
    };
    await deps.state
      .create(hpcJobsCollection, { id: request.jobId, pk: job.runId, body: queued })
      .catch((error: unknown) => {
        if (!isBatonError(error, 'conflict')) throw error;
      });
  }
  const status =
    job.task === 'reconstruct'
      ? await controller.reconstruct(request)
      : await controller.buildMultiResolution(request);
  const current = await deps.state.read<HpcJobRecord>(hpcJobsCollection, job.runId, request.jobId);
  if (current?.body.state === 'canceled' && status.state !== 'canceled') {
    return recordJob(deps, job, await controller.cancel(request.jobId));
  }
  return recordJob(deps, job, status);
}

/** Where the task is now; a job the site does not know (lost submit) is submitted again. */
export async function hpcJobStatus(deps: BeamlineDeps, input: unknown): Promise<HpcStepResult> {
  const job = parseInput(jobInputSchema, input, 'input');
  const { controller, request } = await jobOf(deps, job);
  let status: HpcJobStatus;
  try {
    status = await controller.status(request.jobId);
  } catch (error) {
    if (!isBatonError(error, 'not_found')) throw error;
    status =
      job.task === 'reconstruct'
        ? await controller.reconstruct(request)
        : await controller.buildMultiResolution(request);
  }
  return recordJob(deps, job, status);
}

export async function cancelHpcJob(deps: BeamlineDeps, input: unknown): Promise<HpcStepResult> {
  const job = parseInput(jobInputSchema, input, 'input');
  const { controller, request } = await jobOf(deps, job);
  return recordJob(deps, job, await controller.cancel(request.jobId));
}

/**
 * Cancels the run's HPC jobs that have not ended (the run was canceled). Each job is tried on
 * its own: one that cannot be canceled (its site down, its config moved) is reported in
 * `failed` and does not stop the others; it is marked canceled so a submit still in flight
 * cancels its job when it returns.
 */
export async function cancelHpcJobsOfRun(
  deps: BeamlineDeps,
  runId: string,
): Promise<{ canceled: number; failed: Array<{ jobId: string; error: string }> }> {
  const docs = await deps.state.query<HpcJobRecord>(hpcJobsCollection, { pk: runId });
  let canceled = 0;
  const failed: Array<{ jobId: string; error: string }> = [];
  for (const doc of docs) {
    const job = doc.body;
    if (job.state !== 'queued' && job.state !== 'running') continue;
    let reason: string | undefined;
    try {
      const loaded = await loadBeamlineConfig(deps.sourcesRoot, job.config);
      const status = await controllerFor(deps, loaded, job.site).cancel(job.jobId);
      reason = status.reason;
      canceled++;
    } catch (error) {
      if (!isBatonError(error, 'not_found')) {
        const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
        failed.push({ jobId: job.jobId, error: message });
        reason = `cancel requested; the site did not confirm it: ${message}`;
      }
    }
    await deps.state.upsert(hpcJobsCollection, {
      id: doc.id,
      pk: runId,
      body: { ...job, state: 'canceled', ...(reason ? { reason } : {}) },
    });
  }
  return { canceled, failed };
}

/**
 * Retention entries for the reconstruction's copies: each file of the scratch outputs and the
 * site's raw copy (see planReconstruction), with the checksum the pruner compares survivors by.
 */
export async function recordReconstructionRetention(
  deps: BeamlineDeps,
  input: unknown,
): Promise<RetentionResult> {
  const { runId, config, plan } = parseInput(retentionInputSchema, input, 'input');
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, config);
  const { transfers, folderRoots } = beamlineServicesFor(loaded, deps);
  const now = deps.clock.now();
  const entries: RetentionResult['entries'] = [];
  for (const rule of plan.retention) {
    const root = folderRoots[rule.endpoint];
    if (root === undefined) continue;
    const files = rule.folder ? await filesBelow(root, rule.path) : [rule.path];
    for (const file of files) {
      const stat = await transfers.stat(rule.endpoint, file);
      if (stat === undefined) continue;
      const body: BeamlineRetentionEntry = {
        beamline: loaded.config.beamline,
        endpoint: rule.endpoint,
        path: file,
        checksum: stat.checksum,
        exportControlled: false,
        afterDays: rule.afterDays,
        scheduledAt: now.toISOString(),
        dueAt: dueAtFor(now, rule.afterDays),
        reason: `beamline ${loaded.config.beamline}: ${plan.site} reconstruction, retention.${rule.endpoint}`,
        runId,
        state: 'scheduled',
      };
      await deps.state.upsert(beamlineRetentionCollection, {
        id: retentionIdFor(`${loaded.config.beamline}:${rule.endpoint}`, file),
        pk: rule.endpoint,
        body,
      });
      entries.push({
        endpoint: rule.endpoint,
        path: file,
        afterDays: rule.afterDays,
        dueAt: body.dueAt,
      });
    }
  }
  return { collection: beamlineRetentionCollection, entries };
}

// ---------------------------------------------------------------------------------------------

function controllerFor(
  deps: BeamlineDeps,
  loaded: LoadedBeamlineConfig,
  site: string,
): HpcController {
  return hpcControllerFor(site, {
    beamline: loaded.config,
    tokens: {
      ...(deps.hpcTokens?.nersc === undefined ? {} : { nersc: deps.hpcTokens.nersc }),
      ...(deps.hpcTokens?.alcf === undefined ? {} : { alcf: deps.hpcTokens.alcf }),
    },
    ...(deps.localCompute === undefined
      ? {}
      : { localRunner: { backend: deps.localCompute, configDir: path.dirname(loaded.file) } }),
  });
}

async function jobOf(
  deps: BeamlineDeps,
  job: z.infer<typeof jobInputSchema>,
): Promise<{
  controller: HpcController;
  request: { jobId: string; input: string; output: string };
}> {
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, job.config);
  const controller = controllerFor(deps, loaded, job.site);
  const { folderRoots } = beamlineServicesFor(loaded, deps);
  const where = (file: FileAtEndpoint): Promise<string> =>
    sitePath(loaded.config, folderRoots, file);
  const [from, to] =
    job.task === 'reconstruct' ? [job.plan.siteRaw, job.plan.tiff] : [job.plan.tiff, job.plan.zarr];
  const request = { input: await where(from), output: await where(to) };
  return {
    controller,
    request: { jobId: hpcJobIdOf(job.runId, job.site, job.task), ...request },
  };
}

/**
 * A file as the site sees it: a local path for folder endpoints (checked to stay inside the
 * endpoint's folder through any link on the way), the endpoint's path otherwise.
 */
async function sitePath(
  config: BeamlineConfig,
  folderRoots: Record<string, string>,
  file: FileAtEndpoint,
): Promise<string> {
  const root = folderRoots[file.endpoint];
  if (root !== undefined) {
    const target = path.join(root, ...file.path.split('/'));
    await assertConfined(root, target, file);
    return target;
  }
  const endpoint = config.endpoints[file.endpoint];
  if (endpoint === undefined) {
    throw new BatonError('validation', `endpoint ${file.endpoint} is not in the config`);
  }
  return endpointPath(endpoint, file.path);
}

/** The deepest existing part of `target` must resolve (links followed) inside `root`. */
async function assertConfined(root: string, target: string, file: FileAtEndpoint): Promise<void> {
  const realRoot = await realpath(root).catch(() => path.resolve(root));
  let existing = target;
  for (;;) {
    try {
      const real = await realpath(existing);
      if (!isInsidePath(realRoot, real)) {
        throw new BatonError(
          'forbidden',
          `${file.endpoint}: ${file.path} leads outside the endpoint's folder (a link)`,
          { field: 'path' },
        );
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const parent = path.dirname(existing);
      if (parent === existing) return;
      existing = parent;
    }
  }
}

async function recordJob(
  deps: BeamlineDeps,
  job: z.infer<typeof jobInputSchema>,
  status: HpcJobStatus,
): Promise<HpcStepResult> {
  const result: HpcStepResult = {
    task: job.task,
    jobId: status.jobId,
    state: status.state,
    ...(status.siteJobId === undefined ? {} : { siteJobId: status.siteJobId }),
    ...(status.reason === undefined ? {} : { reason: status.reason.slice(0, 2000) }),
  };
  const record: HpcJobRecord = { runId: job.runId, config: job.config, site: job.site, ...result };
  // Etag-checked, and forward only: a second delivery of a submit or a status check running
  // alongside (or a late one) must not take a job back to an earlier state or undo an end.
  for (let tries = 0; tries < maxConflictRetries; tries++) {
    if (tries > 0) await backoffAfterConflict(tries - 1);
    const current = await deps.state.read<HpcJobRecord>(hpcJobsCollection, job.runId, status.jobId);
    try {
      if (current === undefined) {
        await deps.state.create(hpcJobsCollection, {
          id: status.jobId,
          pk: job.runId,
          body: record,
        });
        return result;
      }
      const held = current.body;
      if (!mayReplaceHpcState(held.state, record.state)) return stepResultOf(held);
      if (JSON.stringify(held) === JSON.stringify(record)) return result;
      await deps.state.replace(
        hpcJobsCollection,
        { id: status.jobId, pk: job.runId, body: record },
        current.etag,
      );
      return result;
    } catch (error) {
      if (!isBatonError(error, 'conflict') && !isBatonError(error, 'precondition_failed')) {
        throw error;
      }
    }
  }
  throw new BatonError('unavailable', `HPC job ${status.jobId}: too many concurrent updates`);
}

function stepResultOf(record: HpcJobRecord): HpcStepResult {
  return {
    task: record.task,
    jobId: record.jobId,
    state: record.state,
    ...(record.siteJobId === undefined ? {} : { siteJobId: record.siteJobId }),
    ...(record.reason === undefined ? {} : { reason: record.reason }),
  };
}

/** Files below a folder of an endpoint, as paths relative to the endpoint's root. */
async function filesBelow(root: string, folder: string): Promise<string[]> {
  const entries = await readdir(path.join(root, ...folder.split('/')), {
    recursive: true,
    withFileTypes: true,
  }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

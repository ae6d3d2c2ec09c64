import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { hpcControllerFor } from '../adapters/hpcControllers.js';
import { endpointPath, type BeamlineConfig } from '../domain/beamline/config.js';
import { locateFile, type FileAtEndpoint } from '../domain/beamline/dispatch.js';
import { planReconstruction, type ReconstructionPlan } from '../domain/beamline/reconstruction.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { jobIdFor } from '../domain/jobIds.js';
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
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, params.config);
  const file = locateFile(loaded.config, params.path, params.endpoint);
  const plan = planReconstruction(loaded.config, params.site, file);
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

/** Submits the task (idempotent by its job id) and reports where it is. */
export async function submitHpcJob(deps: BeamlineDeps, input: unknown): Promise<HpcStepResult> {
  const job = parseInput(jobInputSchema, input, 'input');
  const { controller, request } = await jobOf(deps, job);
  const status =
    job.task === 'reconstruct'
      ? await controller.reconstruct(request)
      : await controller.buildMultiResolution(request);
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

/** Cancels the run's HPC jobs that have not ended (the run was canceled). */
export async function cancelHpcJobsOfRun(deps: BeamlineDeps, runId: string): Promise<number> {
  const docs = await deps.state.query<HpcJobRecord>(hpcJobsCollection, { pk: runId });
  let canceled = 0;
  for (const doc of docs) {
    const job = doc.body;
    if (job.state !== 'queued' && job.state !== 'running') continue;
    const loaded = await loadBeamlineConfig(deps.sourcesRoot, job.config);
    const status = await controllerFor(deps, loaded, job.site).cancel(job.jobId);
    await deps.state.upsert(hpcJobsCollection, {
      id: doc.id,
      pk: runId,
      body: { ...job, state: status.state, ...(status.reason ? { reason: status.reason } : {}) },
    });
    canceled++;
  }
  return canceled;
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
  const where = (file: FileAtEndpoint): string => sitePath(loaded.config, folderRoots, file);
  const request =
    job.task === 'reconstruct'
      ? { input: where(job.plan.siteRaw), output: where(job.plan.tiff) }
      : { input: where(job.plan.tiff), output: where(job.plan.zarr) };
  return {
    controller,
    request: { jobId: hpcJobIdOf(job.runId, job.site, job.task), ...request },
  };
}

/** A file as the site sees it: a local path for folder endpoints, the endpoint's path otherwise. */
function sitePath(
  config: BeamlineConfig,
  folderRoots: Record<string, string>,
  file: FileAtEndpoint,
): string {
  const root = folderRoots[file.endpoint];
  if (root !== undefined) return path.join(root, ...file.path.split('/'));
  const endpoint = config.endpoints[file.endpoint];
  if (endpoint === undefined) {
    throw new BatonError('validation', `endpoint ${file.endpoint} is not in the config`);
  }
  return endpointPath(endpoint, file.path);
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
  await deps.state.upsert(hpcJobsCollection, { id: status.jobId, pk: job.runId, body: record });
  return result;
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

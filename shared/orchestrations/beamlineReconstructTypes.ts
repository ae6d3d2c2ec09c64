import { z } from 'zod';
import type { ReconstructionPlan } from '../domain/beamline/reconstruction.js';
import type { HpcRecordedState } from '../domain/beamline/hpcJobProgress.js';
import type { HopResult, RetentionResult } from './beamlineTypes.js';

/**
 * What the `beamline-reconstruct` pipeline takes and what `beamlineReconstruct` and its
 * activities pass each other. The dispatcher starts the same orchestrator as a
 * sub-orchestration for each HPC flow of its plan.
 */
export const hpcSiteNames = ['nersc', 'alcf'] as const;

export const reconstructParamsSchema = z
  .object({
    /** The beamline YAML, inside the host's sources root (as for the `beamline` pipeline). */
    config: z.string().min(1, 'must not be empty').max(1024),
    /** `olcf` is accepted to be refused as not implemented (the seed lists it). */
    site: z.enum([...hpcSiteNames, 'olcf'], { error: `must be one of ${hpcSiteNames.join(', ')}` }),
    /** The raw file, written the way the config writes roots. */
    path: z.string().min(1, 'must not be empty').max(4096),
    endpoint: z.string().min(1).max(63).optional(),
    /** Export-controlled data never goes to an off-site endpoint (a config pattern also marks it). */
    exportControlled: z.boolean().optional(),
  })
  .strict();
export type ReconstructParams = z.infer<typeof reconstructParamsSchema>;

export interface ReconstructInput {
  /** The run that owns it: job ids, transfer ids and records derive from it. */
  runId: string;
  params: ReconstructParams;
}

export type HpcTaskName = 'reconstruct' | 'multi_resolution';

/** One HPC job as it ended (`timed_out`: canceled by the flow after its time). */
export interface HpcStepResult {
  task: HpcTaskName;
  jobId: string;
  siteJobId?: string;
  state: HpcRecordedState;
  reason?: string;
}

/** A step of a flow with its timings (orchestration time: replay-safe). */
export interface FlowStep {
  name: string;
  state: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  reason?: string;
}

export interface ReconstructionResult {
  site: string;
  status: 'completed' | 'failed';
  plan: ReconstructionPlan | null;
  steps: FlowStep[];
  hops: HopResult[];
  jobs: HpcStepResult[];
  retention: RetentionResult | null;
  failure?: { step: string; reason: string };
}

/** Activity inputs. */
export interface HpcJobInput {
  runId: string;
  config: string;
  site: string;
  task: HpcTaskName;
  plan: ReconstructionPlan;
}

/** Durable-timer backoff between HPC job polls: 1 s doubling, at most 60 s. */
export function hpcPollDelaySeconds(poll: number): number {
  return Math.min(2 ** Math.min(poll, 10), 60);
}

/** An HPC job still running after this long is canceled and stops the flow. */
export const hpcTimeoutSeconds = 48 * 3600;

/**
 * The instance id of a reconstruction sub-orchestration of a dispatch run: `:` never appears
 * in a run id, so no run a user names can collide with it.
 */
export function reconstructInstanceId(runId: string, site: string): string {
  return `${runId}:${site}`;
}

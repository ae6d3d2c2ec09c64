import { z } from 'zod';
import type { DispatchPlan, TransferHop } from '../domain/beamline/dispatch.js';
import type { TransferState } from '../ports/transfers.js';
import type { ReconstructionResult } from './beamlineReconstructTypes.js';

/**
 * What the `beamline` pipeline takes and what its orchestrators (`beamlineDispatch`,
 * `beamlineNewFile`) and activities pass each other. Shared by the orchestrators (no I/O) and
 * the activities. The request fields (`path`, `endpoint`, `exportControlled`, `overrides`) are
 * checked again, against the config, by `planDispatch`.
 */
export const beamlineParamsSchema = z
  .object({
    /**
     * The beamline YAML: absolute, or relative to the host's sources root
     * (BATON_MODEL_SOURCES_ROOT); it must resolve inside that root.
     */
    config: z.string().min(1, 'must not be empty').max(1024),
    /** The file, written the way the config writes roots (folder roots relative to the config). */
    path: z.string().min(1, 'must not be empty').max(4096),
    endpoint: z.string().min(1).max(63).optional(),
    exportControlled: z.boolean().optional(),
    overrides: z
      .object({
        send_to_nersc: z.boolean().optional(),
        nersc: z.boolean().optional(),
        alcf: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type BeamlineParams = z.infer<typeof beamlineParamsSchema>;

export interface BeamlineDispatchInput {
  runId: string;
  params: BeamlineParams;
}

export interface BeamlineNewFileInput {
  /** The dispatcher's run id: transfer ids and catalogue records derive from it. */
  runId: string;
  config: string;
  plan: DispatchPlan;
}

/** One hop as it ended (`state` is the transfer's; `not_started` when it could not be submitted). */
export interface HopResult {
  from: string;
  to: string;
  path: string;
  transferId: string;
  state: TransferState | 'not_started' | 'timed_out';
  files: number;
  bytes: number;
  durationMs: number;
  /** Bytes per second over durationMs (0 when nothing moved). */
  rate: number;
  checksumVerified: boolean;
  reason?: string;
}

export interface CatalogueResult {
  ok: boolean;
  datasetId?: string;
  /** This run made the record (false: an earlier run catalogued an identical file). */
  created?: boolean;
  /** The metadata extracted from the file. */
  metadata?: Record<string, string | number | boolean>;
  error?: string;
}

export interface RetentionResult {
  collection: string;
  entries: Array<{ endpoint: string; path: string; afterDays: number; dueAt: string }>;
}

export interface NewFileResult {
  status: 'completed' | 'failed';
  hops: HopResult[];
  catalogue: CatalogueResult | null;
  retention: RetentionResult | null;
  /** The step that stopped the chain and why (absent when it completed). */
  failure?: { step: string; reason: string };
}

export interface BeamlineDispatchOutput {
  file: DispatchPlan['file'];
  exportControl: DispatchPlan['exportControl'];
  skipped: DispatchPlan['skipped'];
  warnings: string[];
  newFile: NewFileResult | null;
  /** The plan's HPC flows, as they ended. */
  reconstructions: ReconstructionResult[];
}

/** The flows that move files; transfer ids and transfer records name them. */
export type BeamlineFlow = 'new_file' | 'test_transfers' | 'nersc' | 'alcf';

/** The activity inputs. */
export interface StartTransferInput {
  runId: string;
  config: string;
  hopIndex: number;
  hop: TransferHop;
  /** Default `new_file`. */
  flow?: BeamlineFlow;
  /** A folder (reconstruction outputs). */
  recursive?: boolean;
}
export type TransferStatusInput = StartTransferInput;

/** Durable-timer backoff between status polls of a transfer: 0.5 s doubling, at most 30 s. */
export function transferPollDelaySeconds(poll: number): number {
  return Math.min(0.5 * 2 ** Math.min(poll, 10), 30);
}

/** A hop still active after this long is canceled and stops the chain. */
export const transferTimeoutSeconds = 24 * 3600;

/** The idempotency key of a hop's transfer: the same run, flow and hop always submit the same id. */
export function beamlineTransferId(
  runId: string,
  hopIndex: number,
  flow: BeamlineFlow = 'new_file',
): string {
  return flow === 'new_file' ? `${runId}-hop-${hopIndex}` : `${runId}-${flow}-hop-${hopIndex}`;
}

/** The instance id of the new-file sub-orchestration of a dispatch run. */
export function newFileInstanceId(runId: string): string {
  return `${runId}-newfile`;
}

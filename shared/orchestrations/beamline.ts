import type * as df from 'durable-functions';
import { RetryOptions, type OrchestrationContext } from 'durable-functions';
import type { DispatchPlan } from '../domain/beamline/dispatch.js';
import {
  beamlineTransferId,
  newFileInstanceId,
  transferPollDelaySeconds,
  transferTimeoutSeconds,
  type BeamlineDispatchInput,
  type BeamlineDispatchOutput,
  type BeamlineNewFileInput,
  type CatalogueResult,
  type HopResult,
  type NewFileResult,
  type RetentionResult,
  type StartTransferInput,
} from './beamlineTypes.js';
import {
  reconstructInstanceId,
  type ReconstructInput,
  type ReconstructionResult,
} from './beamlineReconstructTypes.js';
import { pollUntilEnded } from './polling.js';

/**
 * The beamline pipeline (seed 001's `process_new_832_file`): `beamlineDispatch` plans what a new
 * file needs (`planBeamlineDispatch`: config read and validated, `planDispatch`), then runs the
 * new-file chain as the `beamlineNewFile` sub-orchestration. The chain moves the file hop by hop
 * (spot → data → NERSC), each hop submitted with an id derived from run and hop and followed with
 * durable timers until it ends; a hop that does not succeed stops the chain with its state and
 * reason. Then the file is catalogued (a failure stops the flow and is reported, never
 * swallowed) and retention entries are recorded for the copies the plan says are pruned later.
 * Then the plan's HPC flows run in parallel, each a `beamlineReconstruct` sub-orchestration
 * (beamlineReconstruct.ts); the run fails naming every flow that did not complete.
 */

const activityRetry = new RetryOptions(1000, 3);

export function* beamlineDispatch(
  context: OrchestrationContext,
): Generator<df.Task, BeamlineDispatchOutput, unknown> {
  const { runId, params } = context.df.getInput<BeamlineDispatchInput>();
  context.df.setCustomStatus({ phase: 'planning' });
  // A validation error here is the caller's: no retry, the run fails naming the field.
  const plan = (yield context.df.callActivity('planBeamlineDispatch', {
    runId,
    params,
  })) as DispatchPlan;
  let newFile: NewFileResult | null = null;
  if (plan.newFile !== null) {
    context.df.setCustomStatus({ phase: 'new_file', hops: plan.newFile.hops.length });
    const input: BeamlineNewFileInput = { runId, config: params.config, plan };
    newFile = (yield context.df.callSubOrchestrator(
      'beamlineNewFile',
      input,
      newFileInstanceId(runId),
    )) as NewFileResult;
  }
  const output: BeamlineDispatchOutput = {
    file: plan.file,
    exportControl: plan.exportControl,
    skipped: plan.skipped,
    warnings: plan.warnings,
    newFile,
    reconstructions: [],
  };
  if (newFile?.failure !== undefined) {
    // The run fails with the reason; the custom status keeps the whole chain's results.
    context.df.setCustomStatus({ phase: 'failed', ...output });
    throw new Error(`new-file flow failed at ${newFile.failure.step}: ${newFile.failure.reason}`);
  }
  if (plan.hpcFlows.length > 0) {
    // The HPC flows run in parallel once the new-file flow has put the file where they read it.
    context.df.setCustomStatus({
      phase: 'reconstruction',
      sites: plan.hpcFlows.map((f) => f.site),
    });
    const flows = plan.hpcFlows.map((f) => {
      const input: ReconstructInput & { partOf: true } = {
        runId,
        params: {
          config: params.config,
          site: f.site,
          path: f.inputPath,
          endpoint: f.input.endpoint,
        },
        partOf: true,
      };
      return context.df.callSubOrchestrator(
        'beamlineReconstruct',
        input,
        reconstructInstanceId(runId, f.site),
      );
    });
    output.reconstructions = (yield context.df.Task.all(flows)) as ReconstructionResult[];
  }
  const failed = output.reconstructions.filter((r) => r.failure !== undefined);
  if (failed.length > 0) {
    context.df.setCustomStatus({ phase: 'failed', ...output });
    throw new Error(
      failed
        .map((r) => `${r.site} reconstruction failed at ${r.failure?.step}: ${r.failure?.reason}`)
        .join('; '),
    );
  }
  context.df.setCustomStatus({
    phase: 'completed',
    hops: newFile?.hops.length ?? 0,
    reconstructions: output.reconstructions.length,
  });
  return output;
}

export function* beamlineNewFile(
  context: OrchestrationContext,
): Generator<df.Task, NewFileResult, unknown> {
  const { runId, config, plan } = context.df.getInput<BeamlineNewFileInput>();
  const chain = plan.newFile;
  const result: NewFileResult = { status: 'completed', hops: [], catalogue: null, retention: null };
  if (chain === null) return result;

  for (const [hopIndex, hop] of chain.hops.entries()) {
    context.df.setCustomStatus({ phase: 'transfer', hop: hopIndex, from: hop.from, to: hop.to });
    const hopResult = yield* transferHop(context, { runId, config, hopIndex, hop });
    result.hops.push(hopResult);
    if (hopResult.state !== 'succeeded') {
      result.status = 'failed';
      result.failure = {
        step: `transfer ${hop.from} → ${hop.to}`,
        reason: `${hopResult.state}${hopResult.reason === undefined ? '' : `: ${hopResult.reason}`}`,
      };
      return result;
    }
  }

  context.df.setCustomStatus({ phase: 'catalogue' });
  try {
    result.catalogue = (yield context.df.callActivityWithRetry(
      'ingestBeamlineFile',
      activityRetry,
      { runId, config, plan },
    )) as CatalogueResult;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    result.catalogue = { ok: false, error: reason.slice(0, 2000) };
    result.status = 'failed';
    result.failure = { step: 'catalogue ingest', reason: reason.slice(0, 2000) };
    return result;
  }

  if (chain.retention.length > 0) {
    context.df.setCustomStatus({ phase: 'retention' });
    result.retention = (yield context.df.callActivityWithRetry(
      'recordBeamlineRetention',
      activityRetry,
      { runId, config, plan, checksum: result.catalogue.metadata?.sha256 ?? '' },
    )) as RetentionResult;
  }
  return result;
}

/**
 * Submits one hop and follows it with durable timers (backoff) until it ends or runs out of
 * time (then it is canceled). Never throws for a transfer that failed: the result says so (the
 * activities report a success without verified checksums as failed).
 */
export function* transferHop(
  context: OrchestrationContext,
  input: StartTransferInput,
): Generator<df.Task, HopResult, unknown> {
  const transferId = beamlineTransferId(input.runId, input.hopIndex, input.flow);
  let status: HopResult;
  try {
    status = (yield context.df.callActivityWithRetry(
      'startTransfer',
      activityRetry,
      input,
    )) as HopResult;
  } catch (error) {
    return yield* recorded(context, input, notStarted(input, transferId, error));
  }
  return yield* pollUntilEnded(context, status, {
    isActive: (hop) => hop.state === 'active',
    delaySeconds: transferPollDelaySeconds,
    timeoutSeconds: transferTimeoutSeconds,
    poll: function* () {
      return (yield context.df.callActivityWithRetry(
        'transferStatus',
        activityRetry,
        input,
      )) as HopResult;
    },
    timeUp: function* () {
      const canceled = (yield context.df.callActivityWithRetry(
        'cancelTransfer',
        activityRetry,
        input,
      )) as HopResult;
      return yield* recorded(context, input, {
        ...canceled,
        state: 'timed_out',
        reason: `still active after ${transferTimeoutSeconds} s; canceled`,
      });
    },
  });
}

/**
 * Records a hop's end that no transfer activity saw (not started, timed out) for the metrics;
 * a failure to record does not change the hop's result.
 */
function* recorded(
  context: OrchestrationContext,
  input: StartTransferInput,
  result: HopResult,
): Generator<df.Task, HopResult, unknown> {
  try {
    yield context.df.callActivityWithRetry('recordTransferResult', activityRetry, {
      ...input,
      result,
    });
  } catch {
    // Metrics only.
  }
  return result;
}

function notStarted(input: StartTransferInput, transferId: string, error: unknown): HopResult {
  return {
    from: input.hop.from,
    to: input.hop.to,
    path: input.hop.path,
    transferId,
    state: 'not_started',
    files: 0,
    bytes: 0,
    durationMs: 0,
    rate: 0,
    checksumVerified: false,
    reason: (error instanceof Error ? error.message : String(error)).slice(0, 2000),
  };
}

import type * as df from 'durable-functions';
import { RetryOptions, type OrchestrationContext } from 'durable-functions';
import { z } from 'zod';
import type { TransferHop } from '../domain/beamline/dispatch.js';
import { transferHop } from './beamline.js';
import type { HopResult } from './beamlineTypes.js';

/**
 * The test-transfers flow (seed 001's `test_transfers_flow`): a uniquely named probe file is
 * written at the new-file source, moved hop by hop along the new-file chain (spot → data →
 * NERSC), and after each hop checked where it arrived (present, same checksum). Every hop is
 * reported; the probe is removed from every endpoint it reached, whatever happened. The run
 * fails when a hop did not pass, naming it.
 */
export const testTransfersParamsSchema = z
  .object({ config: z.string().min(1, 'must not be empty').max(1024) })
  .strict();
export type TestTransfersParams = z.infer<typeof testTransfersParamsSchema>;

export interface TransferProbe {
  /** Relative to every endpoint's root. */
  path: string;
  checksum: string;
  size: number;
  hops: TransferHop[];
}

export interface ProbeCheck {
  present: boolean;
  checksumMatches: boolean;
  checksum?: string;
}

export interface ProbeHopReport extends HopResult {
  passed: boolean;
  check: ProbeCheck | null;
}

export interface TestTransfersResult {
  probe: string;
  passed: boolean;
  hops: ProbeHopReport[];
  /** Endpoints the probe was removed from. */
  cleanedUp: string[];
}

const activityRetry = new RetryOptions(1000, 3);

export function* beamlineTestTransfers(
  context: OrchestrationContext,
): Generator<df.Task, TestTransfersResult, unknown> {
  const { runId, params } = context.df.getInput<{ runId: string; params: TestTransfersParams }>();
  context.df.setCustomStatus({ phase: 'probe' });
  const probe = (yield context.df.callActivityWithRetry('writeTransferProbe', activityRetry, {
    runId,
    config: params.config,
  })) as TransferProbe;
  const hops: ProbeHopReport[] = [];
  // Every endpoint the probe may have reached, the one a failed hop aimed at included.
  const attempted = new Set<string>(probe.hops.slice(0, 1).map((hop) => hop.from));
  let broke: Error | undefined;
  try {
    for (const [hopIndex, hop] of probe.hops.entries()) {
      context.df.setCustomStatus({ phase: 'transfer', hop: hopIndex, from: hop.from, to: hop.to });
      attempted.add(hop.to);
      const result = yield* transferHop(context, {
        runId,
        config: params.config,
        hopIndex,
        hop,
        flow: 'test_transfers',
      });
      let check: ProbeCheck | null = null;
      if (result.state === 'succeeded') {
        check = (yield context.df.callActivityWithRetry('checkTransferProbe', activityRetry, {
          runId,
          config: params.config,
          endpoint: hop.to,
          probe,
        })) as ProbeCheck;
      }
      const passed = check !== null && check.present && check.checksumMatches;
      hops.push({ ...result, passed, check });
      if (!passed) break;
    }
  } catch (error) {
    broke = error instanceof Error ? error : new Error(String(error));
  }
  // Cleaned up whatever happened above; an error there is raised after it.
  context.df.setCustomStatus({ phase: 'cleanup' });
  const cleanedUp = (yield context.df.callActivityWithRetry('removeTransferProbe', activityRetry, {
    runId,
    config: params.config,
    probe,
    endpoints: [...attempted],
  })) as string[];
  if (broke !== undefined) throw broke;
  const result: TestTransfersResult = {
    probe: probe.path,
    passed: hops.length === probe.hops.length && hops.every((h) => h.passed),
    hops,
    cleanedUp,
  };
  context.df.setCustomStatus({ phase: result.passed ? 'completed' : 'failed', ...result });
  if (!result.passed) {
    const failed = hops.find((h) => !h.passed);
    const why =
      failed === undefined
        ? 'no hop ran'
        : failed.state !== 'succeeded'
          ? `${failed.state}${failed.reason ? `: ${failed.reason}` : ''}`
          : failed.check?.present === false
            ? 'the probe is not at the destination'
            : 'the probe arrived with a different checksum';
    throw new Error(
      `test transfers failed at ${failed?.from ?? '?'} → ${failed?.to ?? '?'}: ${why}`,
    );
  }
  return result;
}

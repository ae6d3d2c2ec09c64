import { z } from 'zod';
import { BatonError } from '../domain/errors.js';
import { parseInput } from '../domain/validation.js';

/**
 * The beamline flows by the names users call them (`POST /api/flows/<flow>`, `baton flow
 * <flow>`), each the pipeline that runs it. A flow request is the pipeline's params, plus an
 * optional `runId`; it becomes a `startRun` body (which validates the params).
 */
export const beamlineFlows = {
  'new-file': 'beamline',
  reconstruct: 'beamline-reconstruct',
  'test-transfers': 'beamline-test-transfers',
} as const;
export type BeamlineFlowName = keyof typeof beamlineFlows;

const flowBodySchema = z.object({ runId: z.string().optional() }).passthrough();

export function beamlineFlowRequest(
  flow: string,
  body: unknown,
): { pipeline: string; params: Record<string, unknown>; runId?: string } {
  if (!Object.hasOwn(beamlineFlows, flow)) {
    throw new BatonError(
      'not_found',
      `flow: unknown flow "${flow.slice(0, 40)}" (known: ${Object.keys(beamlineFlows).join(', ')})`,
      { field: 'flow' },
    );
  }
  const { runId, ...params } = parseInput(flowBodySchema, body, 'body');
  return {
    pipeline: beamlineFlows[flow as BeamlineFlowName],
    params,
    ...(runId === undefined ? {} : { runId }),
  };
}

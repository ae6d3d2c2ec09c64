import { isBatonError } from '../domain/errors.js';
import type { ParamValue, Tracker } from '../ports/tracker.js';

/** Helpers the pipelines share when they record runs in the tracker. */

/** Params as the tracker takes them: scalars as they are, anything else as JSON text. */
export function trackerParams(params: Record<string, unknown>): Record<string, ParamValue> {
  return Object.fromEntries(
    Object.entries(params).map(([key, value]) => [
      key,
      typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
        ? value
        : JSON.stringify(value),
    ]),
  );
}

/** Ends a run; one that already ended (an earlier attempt of the activity) is left as it is. */
export async function endOnce(
  tracker: Tracker,
  runId: string,
  status: Parameters<Tracker['endRun']>[1],
): Promise<void> {
  try {
    await tracker.endRun(runId, status);
  } catch (error) {
    if (!isBatonError(error, 'conflict')) throw error;
  }
}

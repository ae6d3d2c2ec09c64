import type { HpcJobState } from '../../ports/hpc.js';

/** A state an HPC job's record can hold (the site's states, plus the flow's own two). */
export type HpcRecordedState = HpcJobState | 'timed_out' | 'not_started';

const ended = 2;

function rank(state: HpcRecordedState): number {
  if (state === 'queued' || state === 'not_started') return 0;
  return state === 'running' ? 1 : ended;
}

/**
 * Whether a status seen now may replace the recorded one. Deliveries of a submit or a status
 * check can run side by side or arrive late, so a record only moves forward (queued < running
 * < ended) and a job that ended stays as it ended: a late "running" never revives it and a
 * second end never rewrites the first.
 */
export function mayReplaceHpcState(recorded: HpcRecordedState, seen: HpcRecordedState): boolean {
  const held = rank(recorded);
  return held !== ended && rank(seen) >= held;
}

import { compareObjectiveValues } from './best.js';
import type { Direction, PrunerConfig } from './searchSpace.js';

/**
 * Early stopping of poor trials from their intermediate metrics (the objective metric as a trial
 * reports it while running: per epoch, per 1000 iterations …). Pure: the caller passes the
 * curves it has recorded and acts on the answer.
 */

/** One intermediate report of a trial's objective metric. */
export interface CurvePoint {
  step: number;
  value: number;
}
/** A trial's intermediate reports, in any order. */
export type Curve = readonly CurvePoint[];

/**
 * The best value a curve reported at or before `step` (by `direction`), or undefined when it
 * reported nothing there. NaN reports (a diverged loss) are skipped; a curve of only NaNs gives
 * NaN.
 */
export function bestSoFar(curve: Curve, step: number, direction: Direction): number | undefined {
  let best: number | undefined;
  let sawNaN = false;
  for (const point of curve) {
    if (point.step > step) continue;
    if (Number.isNaN(point.value)) {
      sawNaN = true;
      continue;
    }
    if (best === undefined || compareObjectiveValues(point.value, best, direction) < 0) {
      best = point.value;
    }
  }
  return best ?? (sawNaN ? Number.NaN : undefined);
}

/**
 * The median pruner's decision for a trial that has just reported `step`.
 *
 * It prunes when all of these hold:
 * - the pruner is `median` and `step ≥ warmupSteps` (early curves say little);
 * - at least `minTrials` other trials have *reached* the step: reported at or before it (so
 *   their best-so-far there is defined) and at or after it (so they got that far);
 * - the trial's best-so-far value at the step is strictly worse than the median of those other
 *   trials' best-so-far values at the step (equal is kept).
 * A trial whose reports so far are all NaN is pruned once past warmup, whatever the others did.
 *
 * Comparing best-so-far on both sides (Optuna compares the others' value *at* the step) keeps a
 * noisy curve's dip from deciding the median. `otherCurves` should be those of the sweep's other
 * completed trials — pruned trials stopped early and would drag the median towards the bad end;
 * running ones are the caller's choice.
 */
export function shouldPrune(
  trialCurve: Curve,
  otherCurves: readonly Curve[],
  step: number,
  config: PrunerConfig,
  direction: Direction,
): boolean {
  if (config.kind === 'none' || step < config.warmupSteps) return false;
  const own = bestSoFar(trialCurve, step, direction);
  if (own === undefined) return false;
  if (Number.isNaN(own)) return true;
  const others: number[] = [];
  for (const curve of otherCurves) {
    if (!curve.some((point) => point.step >= step)) continue;
    const best = bestSoFar(curve, step, direction);
    if (best !== undefined && !Number.isNaN(best)) others.push(best);
  }
  if (others.length < config.minTrials || others.length === 0) return false;
  return compareObjectiveValues(own, median(others), direction) > 0;
}

/** The median (the mean of the middle two for an even count) of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

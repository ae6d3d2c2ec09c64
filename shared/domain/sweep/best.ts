import type { Direction, TrialRecord } from './searchSpace.js';

/**
 * Negative when objective value `a` is better than `b` for `direction`, positive when worse, 0
 * when equal: the one comparison the samplers, the pruner and `bestTrial` share.
 */
export function compareObjectiveValues(a: number, b: number, direction: Direction): number {
  if (a === b) return 0;
  return (direction === 'minimize' ? a < b : a > b) ? -1 : 1;
}

/**
 * The best completed trial for the objective's direction, or undefined when none completed with
 * a finite value. Failed, pruned and running trials never win (a pruned trial's last value is
 * not a final result). Equal values go to the lower trial index, whatever the input order, so
 * the answer does not depend on which trial finished first.
 */
export function bestTrial<T extends TrialRecord>(
  trials: readonly T[],
  objective: { direction: Direction },
): T | undefined {
  let best: T | undefined;
  let bestValue = 0;
  for (const trial of trials) {
    const value = trial.value;
    if (trial.state !== 'completed' || value === undefined || !Number.isFinite(value)) continue;
    const order =
      best === undefined ? -1 : compareObjectiveValues(value, bestValue, objective.direction);
    if (order < 0 || (order === 0 && best !== undefined && trial.index < best.index)) {
      best = trial;
      bestValue = value;
    }
  }
  return best;
}

import { compareObjectiveValues } from './best.js';
import { hashString, rngCursor, seedRng, type RngCursor } from './random.js';
import {
  gridAxisLength,
  gridSize,
  intValueCount,
  parameterNames,
  type Direction,
  type IntParam,
  type ParamSpec,
  type ParamValue,
  type SamplerConfig,
  type SearchSpace,
  type SweepSpec,
  type TrialParams,
  type TrialRecord,
} from './searchSpace.js';

/**
 * Samplers: which parameters trial N of a sweep runs with. `suggestTrial` is a pure function of
 * (spec, history, trial index) — no clock, no `Math.random` — so a durable orchestrator can call
 * it while replaying and always get the same trials.
 */

/** The TPE sampler's settings with their defaults (what `sweepSpecSchema` fills in). */
export type TpeConfig = Extract<SamplerConfig, { kind: 'tpe' }>;

/**
 * The parameters of trial `trialIndex` (0-based), or undefined when the sampler has nothing left
 * (only the grid sampler runs out: see `gridSize`). The same spec, history and index always give
 * the same parameters.
 *
 * - `random`: independent draws; each parameter has its own stream seeded by (seed, index, name),
 *   so adding a parameter to a space leaves the others' draws unchanged.
 * - `grid`: point `trialIndex` of the Cartesian product (see `gridPoint`); history is ignored.
 * - `tpe`: random for the first `nStartup` completed trials, then the Tree-structured Parzen
 *   Estimator over the completed (and pruned) trials of `history` (see `suggestTpe`).
 */
export function suggestTrial(
  spec: Pick<SweepSpec, 'space' | 'sampler' | 'objective' | 'seed'>,
  history: readonly TrialRecord[],
  trialIndex: number,
): TrialParams | undefined {
  const { space, sampler, seed } = spec;
  switch (sampler.kind) {
    case 'random':
      return sampleRandom(space, seed, trialIndex);
    case 'grid':
      return gridPoint(space, sampler.gridPoints, trialIndex);
    case 'tpe':
      return suggestTpe(space, spec.objective.direction, sampler, seed, history, trialIndex);
  }
}

// ---------------------------------------------------------------------------------------------
// Random

/** Trial `trialIndex` of a random search: each parameter uniform over its range (log-uniform
 * for `loguniform`, uniform over the step lattice for `int`, uniform over the list for `choice`). */
export function sampleRandom(space: SearchSpace, seed: number, trialIndex: number): TrialParams {
  const params: TrialParams = {};
  for (const name of parameterNames(space)) {
    const rng = rngCursor(seedRng(seed, trialIndex, hashString(name)));
    params[name] = valueAtUnit(space[name] as ParamSpec, rng.float());
  }
  return params;
}

/** The value at position u ∈ [0, 1) of a parameter's range (its quantile under the prior). */
function valueAtUnit(param: ParamSpec, u: number): ParamValue {
  switch (param.type) {
    case 'uniform':
      return clamp(param.low + u * (param.high - param.low), param.low, param.high);
    case 'loguniform': {
      const [a, b] = [Math.log(param.low), Math.log(param.high)];
      return clamp(Math.exp(a + u * (b - a)), param.low, param.high);
    }
    case 'int':
      return intValue(
        param,
        Math.min(intValueCount(param) - 1, Math.floor(u * intValueCount(param))),
      );
    case 'choice':
      return param.values[Math.min(param.values.length - 1, Math.floor(u * param.values.length))]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Grid

/**
 * Point `index` of the grid, or undefined past its end (`gridSize(space, gridPoints)` points).
 * Axes: `uniform` is `gridPoints` evenly spaced values, ends included; `loguniform` the same on a
 * log scale (1e-4, 1e-3, 1e-2 …); `int` every value of its step lattice; `choice` every value in
 * the order listed. Points are in a fixed order: parameters by name, the last name varying
 * fastest (like nested loops), so points 0, 1, 2 … cover every combination exactly once.
 */
export function gridPoint(
  space: SearchSpace,
  gridPoints: number,
  index: number,
): TrialParams | undefined {
  if (!Number.isInteger(index) || index < 0 || index >= gridSize(space, gridPoints)) {
    return undefined;
  }
  const names = parameterNames(space);
  const params: TrialParams = {};
  let rest = index;
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i]!;
    const param = space[name] as ParamSpec;
    const length = gridAxisLength(param, gridPoints);
    params[name] = gridAxisValue(param, gridPoints, rest % length);
    rest = Math.floor(rest / length);
  }
  // Report in name order, like the other samplers.
  return Object.fromEntries(names.map((name) => [name, params[name]!]));
}

function gridAxisValue(param: ParamSpec, gridPoints: number, i: number): ParamValue {
  const last = gridPoints - 1;
  switch (param.type) {
    case 'uniform':
      return i === last ? param.high : param.low + ((param.high - param.low) * i) / last;
    case 'loguniform': {
      if (i === 0) return param.low;
      if (i === last) return param.high;
      const [a, b] = [Math.log(param.low), Math.log(param.high)];
      return clamp(Math.exp(a + ((b - a) * i) / last), param.low, param.high);
    }
    case 'int':
      return intValue(param, i);
    case 'choice':
      return param.values[i]!;
  }
}

// ---------------------------------------------------------------------------------------------
// TPE

/**
 * Tree-structured Parzen Estimator (Bergstra et al., 2011), in its multivariate form (Falkner
 * et al., 2018; Optuna's `multivariate=True`), which models interactions between parameters.
 *
 * TPE models p(x | y) instead of p(y | x). With n completed trials ranked best first (by the
 * objective's direction; ties by lower index):
 *
 * 1. **Split.** The best ⌈γ·n⌉ (γ = `gamma`, 0.25) are *good*; the rest, plus every pruned trial
 *    (it was stopped for doing badly), are *bad*. Failed and running trials are ignored, as are
 *    trials whose parameters no longer fit the space.
 * 2. **Fit.** Each group becomes a Parzen-window density (a kernel mixture): one component per
 *    trial, centred on its parameters, plus one broad *prior* component so unexplored regions
 *    keep some mass. Each component is a product over parameters of
 *    - a Gaussian truncated to the range, for `uniform`; for `loguniform` the same in log space;
 *      for `int` the same over [low − step/2, high + step/2], the draws rounded to the step
 *      lattice. Bandwidth σ = 0.2 · (high − low) · m^(−1/(d+4)) for m trials and d parameters
 *      (Scott-like: narrower as evidence grows); the prior is centred with σ = high − low.
 *    - for `choice`, smoothed counts: the trial's value gets weight 1, each of the k values
 *      1/m on top, normalised; the prior is uniform.
 *    l(x) is the good trials' density, g(x) the bad ones'.
 * 3. **Choose.** Draw `nCandidates` (24) points from l and return the one maximising l(x)/g(x),
 *    i.e. the expected improvement under the TPE model. Ties go to the earlier candidate.
 *
 * Until `nStartup` (10) trials have completed there is too little to fit, so the sampler returns
 * exactly what `sampleRandom` would for that index. Randomness comes from a stream seeded by
 * (seed, trial index), so the same history and index give the same suggestion; concurrent trials
 * suggested from the same history differ through their index (there is no "constant liar").
 */
export function suggestTpe(
  space: SearchSpace,
  direction: Direction,
  config: Pick<TpeConfig, 'nStartup' | 'nCandidates' | 'gamma'>,
  seed: number,
  history: readonly TrialRecord[],
  trialIndex: number,
): TrialParams {
  const dims = parameterNames(space).map((name) => toDimension(name, space[name] as ParamSpec));
  const completed: { index: number; value: number; x: number[] }[] = [];
  const pruned: number[][] = [];
  for (const trial of history) {
    const x = toInternalVector(dims, trial.params);
    if (x === undefined) continue;
    if (trial.state === 'completed' && trial.value !== undefined && Number.isFinite(trial.value)) {
      completed.push({ index: trial.index, value: trial.value, x });
    } else if (trial.state === 'pruned') {
      pruned.push(x);
    }
  }
  if (completed.length < config.nStartup) return sampleRandom(space, seed, trialIndex);

  completed.sort(
    (a, b) => compareObjectiveValues(a.value, b.value, direction) || a.index - b.index,
  );
  const goodCount = Math.max(1, Math.ceil(config.gamma * completed.length));
  const good = buildParzen(
    dims,
    completed.slice(0, goodCount).map((t) => t.x),
  );
  const bad = buildParzen(dims, [...completed.slice(goodCount).map((t) => t.x), ...pruned]);

  const rng = rngCursor(seedRng(seed, trialIndex, hashString('tpe')));
  let best: number[] | undefined;
  let bestScore = -Infinity;
  for (let c = 0; c < config.nCandidates; c++) {
    const x = sampleParzen(dims, good, rng);
    const score = logDensity(dims, good, x) - logDensity(dims, bad, x);
    if (best === undefined || score > bestScore) {
      best = x;
      bestScore = score;
    }
  }
  return fromInternalVector(dims, best!);
}

/** A parameter as TPE models it: a numeric interval (internal coordinates) or k categories. */
type Dimension =
  | { name: string; param: ParamSpec; kind: 'numeric'; low: number; high: number }
  | { name: string; param: ParamSpec; kind: 'categorical'; size: number };

function toDimension(name: string, param: ParamSpec): Dimension {
  switch (param.type) {
    case 'uniform':
      return { name, param, kind: 'numeric', low: param.low, high: param.high };
    case 'loguniform':
      return { name, param, kind: 'numeric', low: Math.log(param.low), high: Math.log(param.high) };
    case 'int': {
      const top = intValue(param, intValueCount(param) - 1);
      const half = param.step / 2;
      return { name, param, kind: 'numeric', low: param.low - half, high: top + half };
    }
    case 'choice':
      return { name, param, kind: 'categorical', size: param.values.length };
  }
}

/** A trial's parameters in internal coordinates, or undefined when they do not fit the space. */
function toInternalVector(dims: readonly Dimension[], params: TrialParams): number[] | undefined {
  const x: number[] = [];
  for (const dim of dims) {
    const value = params[dim.name];
    const param = dim.param;
    if (param.type === 'choice') {
      const i = param.values.indexOf(value as ParamValue);
      if (value === undefined || i < 0) return undefined;
      x.push(i);
      continue;
    }
    if (typeof value !== 'number' || value < param.low || value > param.high) return undefined;
    x.push(param.type === 'loguniform' ? Math.log(value) : value);
  }
  return x;
}

function fromInternalVector(dims: readonly Dimension[], x: readonly number[]): TrialParams {
  const params: TrialParams = {};
  dims.forEach((dim, d) => {
    const v = x[d]!;
    const param = dim.param;
    switch (param.type) {
      case 'uniform':
        params[dim.name] = clamp(v, param.low, param.high);
        break;
      case 'loguniform':
        params[dim.name] = clamp(Math.exp(v), param.low, param.high);
        break;
      case 'int':
        params[dim.name] = snapInt(param, v);
        break;
      case 'choice':
        params[dim.name] = param.values[v]!;
        break;
    }
  });
  return params;
}

/**
 * A Parzen-window density: weighted components, each a product over dimensions of a truncated
 * Gaussian (numeric: `mu`, `sigma`) or a probability vector (categorical: `probs`). Component 0
 * is the prior.
 */
interface Parzen {
  logWeights: number[];
  mu: number[][];
  sigma: number[][];
  probs: number[][][];
  /** log Φ-mass of each numeric component inside its interval, [component][dim]. */
  logMass: number[][];
}

function buildParzen(dims: readonly Dimension[], observations: readonly number[][]): Parzen {
  const m = observations.length;
  const bandwidthFactor = 0.2 * Math.max(m, 1) ** (-1 / (dims.length + 4));
  const parzen: Parzen = { logWeights: [], mu: [], sigma: [], probs: [], logMass: [] };
  const addComponent = (center: readonly number[] | undefined): void => {
    const mu: number[] = [];
    const sigma: number[] = [];
    const probs: number[][] = [];
    const logMass: number[] = [];
    dims.forEach((dim, d) => {
      if (dim.kind === 'numeric') {
        const width = dim.high - dim.low;
        const mean = center === undefined ? (dim.low + dim.high) / 2 : center[d]!;
        const sd = center === undefined ? width : bandwidthFactor * width;
        mu.push(mean);
        sigma.push(sd);
        probs.push([]);
        logMass.push(Math.log(normalMass((dim.low - mean) / sd, (dim.high - mean) / sd)));
      } else {
        const k = dim.size;
        const p =
          center === undefined
            ? Array.from({ length: k }, () => 1 / k)
            : Array.from(
                { length: k },
                (_, i) => ((i === center[d] ? 1 : 0) + 1 / m) / (1 + k / m),
              );
        mu.push(0);
        sigma.push(1);
        probs.push(p);
        logMass.push(0);
      }
    });
    parzen.logWeights.push(0);
    parzen.mu.push(mu);
    parzen.sigma.push(sigma);
    parzen.probs.push(probs);
    parzen.logMass.push(logMass);
  };
  addComponent(undefined);
  for (const x of observations) addComponent(x);
  const logTotal = Math.log(parzen.logWeights.length);
  parzen.logWeights = parzen.logWeights.map((w) => w - logTotal);
  return parzen;
}

/** A draw from the density: pick a component by weight, then each dimension from its kernel. */
function sampleParzen(dims: readonly Dimension[], parzen: Parzen, rng: RngCursor): number[] {
  const j = pickByLogWeight(parzen.logWeights, rng.float());
  return dims.map((dim, d) => {
    if (dim.kind === 'categorical') {
      return pickByWeight(parzen.probs[j]![d]!, rng.float());
    }
    const mu = parzen.mu[j]![d]!;
    const sd = parzen.sigma[j]![d]!;
    let v = Number.NaN;
    // Rejection sampling of the truncated Gaussian: the centre lies inside the interval, so
    // over a third of draws land inside; the clamp after 64 misses never happens in practice.
    for (let attempt = 0; attempt < 64; attempt++) {
      v = rng.normal(mu, sd);
      if (v >= dim.low && v <= dim.high) break;
    }
    v = clamp(v, dim.low, dim.high);
    // int: evaluate the density where the trial will actually run (on the lattice).
    return dim.param.type === 'int' ? snapInt(dim.param, v) : v;
  });
}

function logDensity(dims: readonly Dimension[], parzen: Parzen, x: readonly number[]): number {
  const terms = parzen.logWeights.map((logWeight, j) => {
    let sum = logWeight;
    dims.forEach((dim, d) => {
      const v = x[d]!;
      if (dim.kind === 'categorical') {
        sum += Math.log(parzen.probs[j]![d]![v]!);
      } else {
        const sd = parzen.sigma[j]![d]!;
        const z = (v - parzen.mu[j]![d]!) / sd;
        sum += -0.5 * z * z - Math.log(sd * Math.sqrt(2 * Math.PI)) - parzen.logMass[j]![d]!;
      }
    });
    return sum;
  });
  return logSumExp(terms);
}

function logSumExp(values: readonly number[]): number {
  const max = Math.max(...values);
  if (!Number.isFinite(max)) return max;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

function pickByLogWeight(logWeights: readonly number[], u: number): number {
  return pickByWeight(
    logWeights.map((w) => Math.exp(w)),
    u,
  );
}

/** The index whose cumulative weight first exceeds u · total (weights need not sum to 1). */
function pickByWeight(weights: readonly number[], u: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]!;
    if (u * total < acc) return i;
  }
  return weights.length - 1;
}

/** Φ(b) − Φ(a) for the standard normal, computed on the side that keeps precision. */
function normalMass(a: number, b: number): number {
  const mass = b <= 0 ? normalCdf(b) - normalCdf(a) : normalCdf(-a) - normalCdf(-b);
  return Math.max(mass, Number.MIN_VALUE);
}

function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** Numerical Recipes' `erfcc` coefficients, highest power first. */
const erfcCoefficients = [
  0.17087277, -0.82215223, 1.48851973, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196,
  1.00002368, -1.26551223,
];

/** Complementary error function (Numerical Recipes' Chebyshev fit; relative error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly = erfcCoefficients.reduce((acc, c) => acc * t + c, 0);
  const r = t * Math.exp(-z * z + poly);
  return x >= 0 ? r : 2 - r;
}

// ---------------------------------------------------------------------------------------------
// Shared

function intValue(param: IntParam, i: number): number {
  return param.low + i * param.step;
}

/** The lattice value of an int parameter nearest to v. */
function snapInt(param: IntParam, v: number): number {
  const i = Math.round((v - param.low) / param.step);
  return intValue(param, clamp(i, 0, intValueCount(param) - 1));
}

function clamp(v: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, v));
}

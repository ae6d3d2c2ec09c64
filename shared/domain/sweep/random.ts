/**
 * A small seeded pseudo-random number generator for sweeps. Sweeps are decided inside a durable
 * orchestrator, which replays: every draw must come out the same on every replay, so nothing
 * here reads `Math.random` or the clock. The generator is mulberry32 (32-bit state, period 2^32,
 * passes the usual statistical batteries well enough for sampling hyper-parameters, and the whole
 * state is one JSON-serialisable number).
 *
 * Every draw is a pure function: state in, `[value, nextState]` out. `rngCursor` wraps the same
 * functions for code that draws many values in a row and only needs the final state (if at all).
 */

/** The generator's whole state: an unsigned 32-bit integer (plain JSON). */
export type RngState = number;

const golden = 0x9e3779b9;

/** murmur3's 32-bit finaliser: spreads every input bit over every output bit. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A state derived from several integers (e.g. the sweep's seed, a trial index and a stream
 * name's hash), so neighbouring seeds and indices give unrelated streams. Parts are taken modulo
 * 2^32 (fractions truncated); the order of parts matters.
 */
export function seedRng(...parts: readonly number[]): RngState {
  let h = golden;
  for (const part of parts) {
    const low = part >>> 0;
    // Numbers beyond 32 bits keep their high bits too (seeds are up to 2^32 - 1, but be safe).
    const high = Number.isFinite(part) ? Math.floor(Math.abs(part) / 2 ** 32) >>> 0 : 0;
    h = fmix32(Math.imul(h ^ low, golden) + high);
  }
  return h;
}

/** FNV-1a hash of a string (UTF-16 code units), for deriving per-name streams. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A float in [0, 1) with 32 bits of randomness, and the next state (mulberry32). */
export function nextFloat(state: RngState): [number, RngState] {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next];
}

/** A float in [low, high). */
export function uniform(state: RngState, low: number, high: number): [number, RngState] {
  const [u, next] = nextFloat(state);
  return [low + u * (high - low), next];
}

/** An integer in [0, n) (n ≥ 1). */
export function randomIndex(state: RngState, n: number): [number, RngState] {
  const [u, next] = nextFloat(state);
  return [Math.min(n - 1, Math.floor(u * n)), next];
}

/** A normal draw by the Box-Muller transform (uses two uniforms; the second variate is dropped). */
export function normal(state: RngState, mean = 0, sd = 1): [number, RngState] {
  const [u1, s1] = nextFloat(state);
  const [u2, s2] = nextFloat(s1);
  // 1 - u1 is in (0, 1], so the logarithm is finite.
  const z = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  return [mean + sd * z, s2];
}

/** One item of a non-empty list, uniformly. */
export function choice<T>(state: RngState, items: readonly T[]): [T, RngState] {
  if (items.length === 0) throw new RangeError('choice from an empty list');
  const [i, next] = randomIndex(state, items.length);
  return [items[i] as T, next];
}

/** Convenience for drawing many values in a row: the same functions, with the state threaded. */
export interface RngCursor {
  float(): number;
  uniform(low: number, high: number): number;
  index(n: number): number;
  normal(mean?: number, sd?: number): number;
  choice<T>(items: readonly T[]): T;
  /** The state after every draw so far (to persist, or to resume from). */
  readonly state: RngState;
}

export function rngCursor(initial: RngState): RngCursor {
  let state = initial;
  const take = <T>([value, next]: [T, RngState]): T => {
    state = next;
    return value;
  };
  return {
    float: () => take(nextFloat(state)),
    uniform: (low, high) => take(uniform(state, low, high)),
    index: (n) => take(randomIndex(state, n)),
    normal: (mean, sd) => take(normal(state, mean, sd)),
    choice: (items) => take(choice(state, items)),
    get state() {
      return state;
    },
  };
}

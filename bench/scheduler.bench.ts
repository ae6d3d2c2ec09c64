/**
 * Time of one scheduler tick (`planSchedulerTick`) for 1,000 / 10,000 / 100,000 waiting jobs
 * from 100 users over 3 backends, 70 % of every backend's slots already taken. Run with
 * `node --import tsx bench/scheduler.bench.ts`; `--json` prints the rows as JSON.
 *
 * Inputs are generated from a fixed seed (same jobs every run): users' backlogs are skewed (a few
 * users own most jobs, as on a shared cluster), most tasks have priority 0, jobs waited up to
 * 48 h, and need cpu/memory (and GPUs on `nersc`) within declared backend limits.
 *
 * The target (< 1 s per tick at 100,000 waiting jobs) is information only: the exit code is 0
 * whatever the timings, and 1 only when a plan is invalid (over-allocation, a job launched twice
 * or on the wrong backend), checked with findPlanViolations on every run.
 */
import {
  findPlanViolations,
  planSchedulerTick,
  type Backend,
  type RunningJob,
  type WaitingJob,
} from '../shared/domain/priority.js';
import { benchArgs, printJson, printTable } from './benchSupport.js';

const sizes = [1_000, 10_000, 100_000];
const userCount = 100;
const targetMs = 1000;
const runsBySize = new Map([
  [1_000, 30],
  [10_000, 10],
  [100_000, 5],
]);

const { json } = benchArgs('scheduler.bench.ts', ['--json']);

const backends: Backend[] = [
  { name: 'aci', slots: 2_000, resources: { cpu: 8_000, memoryGb: 32_000 } },
  { name: 'local', slots: 64, resources: { cpu: 64, memoryGb: 256 } },
  { name: 'nersc', slots: 1_000, resources: { cpu: 8_000, gpu: 400 } },
];
const now = new Date('2025-03-01T12:00:00.000Z');

/** mulberry32: a small seeded PRNG, so every run plans the same input. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeInput(waitingCount: number): { waiting: WaitingJob[]; running: RunningJob[] } {
  const random = prng(waitingCount);
  const int = (min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
  // Zipf-like backlog sizes: user k gets weight 1/k.
  const weights = Array.from({ length: userCount }, (_, k) => 1 / (k + 1));
  const cumulative: number[] = [];
  weights.reduce((sum, w, k) => (cumulative[k] = sum + w), 0);
  const totalWeight = cumulative[cumulative.length - 1]!;
  const pickUser = (): string => {
    const x = random() * totalWeight;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return `user${String(lo).padStart(3, '0')}`;
  };
  const needsFor = (backend: string): WaitingJob['needs'] =>
    backend === 'nersc'
      ? { cpu: int(1, 8), gpu: int(1, 4) }
      : { cpu: int(1, 4), memoryGb: int(1, 16) };
  const pickBackend = (): string => {
    const x = random();
    return x < 0.6 ? 'aci' : x < 0.85 ? 'nersc' : 'local';
  };

  const running: RunningJob[] = [];
  for (const backend of backends) {
    for (let i = 0; i < Math.floor(backend.slots * 0.7); i++) {
      const needs =
        backend.name === 'nersc' ? { cpu: 2, gpu: int(0, 1) } : { cpu: int(1, 4), memoryGb: 4 };
      running.push({
        jobId: `run-${backend.name}-${i}`,
        owner: pickUser(),
        backend: backend.name,
        needs,
      });
    }
  }
  const waiting: WaitingJob[] = [];
  for (let i = 0; i < waitingCount; i++) {
    const backend = pickBackend();
    waiting.push({
      jobId: `task${int(0, 999)}-job${i}`,
      owner: pickUser(),
      backend,
      taskPriority: random() < 0.8 ? 0 : int(-5, 5),
      queuedAt: new Date(now.getTime() - int(0, 48 * 60) * 60_000 - int(0, 59_999)).toISOString(),
      attempt: random() < 0.95 ? 1 : int(2, 3),
      needs: needsFor(backend),
    });
  }
  return { waiting, running };
}

interface Row {
  waitingJobs: number;
  users: number;
  backends: number;
  running: number;
  launches: number;
  runs: number;
  medianMs: number;
  maxMs: number;
}

const rows: Row[] = [];
let invalid = false;
for (const size of sizes) {
  const { waiting, running } = makeInput(size);
  const runs = runsBySize.get(size) ?? 5;
  planSchedulerTick(waiting, running, backends, now); // warm-up (JIT)
  const times: number[] = [];
  let launches = 0;
  for (let r = 0; r < runs; r++) {
    const started = performance.now();
    const plan = planSchedulerTick(waiting, running, backends, now);
    times.push(performance.now() - started);
    launches = plan.length;
    const problems = findPlanViolations(plan, waiting, running, backends);
    if (problems.length > 0) {
      invalid = true;
      console.error(
        `INVALID plan for ${size} waiting jobs:\n  ${problems.slice(0, 10).join('\n  ')}`,
      );
    }
  }
  times.sort((a, b) => a - b);
  rows.push({
    waitingJobs: size,
    users: new Set(waiting.map((j) => j.owner)).size,
    backends: backends.length,
    running: running.length,
    launches,
    runs,
    medianMs: round(times[Math.floor(times.length / 2)]!),
    maxMs: round(times[times.length - 1]!),
  });
}

if (json) {
  printJson({ targetMs, rows, valid: !invalid });
} else {
  printTable(
    'planSchedulerTick: one scheduler tick, after a warm-up run',
    rows.map((r) => ({
      'waiting jobs': r.waitingJobs.toLocaleString('en-US'),
      users: String(r.users),
      backends: String(r.backends),
      running: r.running.toLocaleString('en-US'),
      launches: r.launches.toLocaleString('en-US'),
      runs: String(r.runs),
      'ms/tick (median)': r.medianMs.toFixed(1),
      'ms/tick (max)': r.maxMs.toFixed(1),
    })),
  );
  const largest = rows[rows.length - 1]!;
  const status = largest.maxMs < targetMs ? 'PASS' : 'MISS';
  console.log(
    `target: < ${targetMs} ms per tick at ${largest.waitingJobs.toLocaleString('en-US')} waiting jobs: ${status} (max ${largest.maxMs.toFixed(1)} ms)`,
  );
  console.log(invalid ? 'plans: INVALID (see above)' : 'plans: all valid');
}
process.exitCode = invalid ? 1 : 0;

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compareJobRank,
  computeJobPriority,
  defaultPriorityPolicy,
  findPlanViolations,
  fitsBackend,
  planSchedulerTick,
  rankWaitingJobs,
  resourceKinds,
  starvationBoundMinutes,
  type Backend,
  type JobRank,
  type PriorityContext,
  type PriorityJob,
  type PriorityPolicy,
  type ResourceKind,
  type Resources,
  type RunningJob,
  type ScheduledLaunch,
  type WaitingJob,
} from '../../shared/domain/priority.js';
import { expectBatonError } from './batonErrorAssert.js';

const NOW_MS = Date.parse('2025-03-01T12:00:00.000Z');
const NOW = new Date(NOW_MS);
const MINUTE = 60_000;
const policy = defaultPriorityPolicy;

const minutesAgo = (minutes: number): string => new Date(NOW_MS - minutes * MINUTE).toISOString();

function job(overrides: Partial<PriorityJob> = {}): PriorityJob {
  return { jobId: 'j1', owner: 'ana', queuedAt: minutesAgo(10), attempt: 1, ...overrides };
}

function context(
  runningByUser: Record<string, number> = {},
  totalRunning = Object.values(runningByUser).reduce((a, b) => a + b, 0),
): PriorityContext {
  return { now: NOW, runningByUser: new Map(Object.entries(runningByUser)), totalRunning };
}

function waitingJob(
  jobId: string,
  owner: string,
  backend: string,
  overrides: Partial<WaitingJob> = {},
): WaitingJob {
  return { jobId, owner, backend, queuedAt: minutesAgo(10), attempt: 1, ...overrides };
}

function runningJobs(
  owner: string,
  backend: string,
  count: number,
  needs?: Resources,
): RunningJob[] {
  return Array.from({ length: count }, (_, i) => ({
    jobId: `run-${owner}-${backend}-${i}`,
    owner,
    backend,
    ...(needs === undefined ? {} : { needs }),
  }));
}

/** A small deterministic PRNG for shuffles inside properties. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const countOf = (plan: readonly ScheduledLaunch[], prefix: string): number =>
  plan.filter((launch) => launch.jobId.startsWith(prefix)).length;

// ---------------------------------------------------------------------------------------------
// Arbitraries

const priorityArb = fc.integer({ min: policy.minTaskPriority, max: policy.maxTaskPriority });
/** Milliseconds before NOW: some in the future, some beyond the age cap. */
const ageMsArb = fc.integer({ min: -5 * MINUTE, max: 1_500 * MINUTE });
const ownerArb = fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5');
const needsArb: fc.Arbitrary<Resources | undefined> = fc.option(
  fc.record(
    {
      cpu: fc.integer({ min: 0, max: 4 }),
      memoryGb: fc.integer({ min: 0, max: 8 }),
      gpu: fc.integer({ min: 0, max: 2 }),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);
const backendNames = ['aci', 'local', 'nersc'] as const;

const backendsArb: fc.Arbitrary<Backend[]> = fc
  .subarray([...backendNames], { minLength: 1 })
  .chain((names) =>
    fc.tuple(
      ...names.map((name) =>
        fc.record({
          name: fc.constant(name),
          slots: fc.integer({ min: 0, max: 6 }),
          resources: fc.option(
            fc.record(
              {
                cpu: fc.integer({ min: 0, max: 10 }),
                memoryGb: fc.integer({ min: 0, max: 16 }),
                gpu: fc.integer({ min: 0, max: 3 }),
              },
              { requiredKeys: [] },
            ),
            { nil: undefined },
          ),
        }),
      ),
    ),
  )
  .map((backends) =>
    backends.map((b): Backend =>
      b.resources === undefined ? { name: b.name, slots: b.slots } : b,
    ),
  );

/** Backends may include one the scheduler does not know (a removed backend). */
const jobBackendArb = fc.constantFrom<string>(...backendNames, 'gone');

const waitingArb: fc.Arbitrary<WaitingJob[]> = fc
  .array(
    fc.record({
      owner: ownerArb,
      backend: jobBackendArb,
      taskPriority: fc.option(priorityArb, { nil: undefined }),
      ageMs: ageMsArb,
      needs: needsArb,
    }),
    { maxLength: 40 },
  )
  .map((rows) =>
    rows.map((row, i): WaitingJob => {
      const base = waitingJob(`w${String(i).padStart(3, '0')}`, row.owner, row.backend, {
        queuedAt: new Date(NOW_MS - row.ageMs).toISOString(),
      });
      return {
        ...base,
        ...(row.taskPriority === undefined ? {} : { taskPriority: row.taskPriority }),
        ...(row.needs === undefined ? {} : { needs: row.needs }),
      };
    }),
  );

const runningArb: fc.Arbitrary<RunningJob[]> = fc
  .array(fc.record({ owner: ownerArb, backend: jobBackendArb, needs: needsArb }), { maxLength: 12 })
  .map((rows) =>
    rows.map((row, i) => ({
      jobId: `r${i}`,
      owner: row.owner,
      backend: row.backend,
      ...(row.needs === undefined ? {} : { needs: row.needs }),
    })),
  );

// ---------------------------------------------------------------------------------------------
// A reference planner: the specification, run the slow obvious way (O(n²)). Every step ranks all
// remaining jobs with computeJobPriority under the current running counts and takes the first.

function referencePlan(
  waiting: readonly WaitingJob[],
  running: readonly RunningJob[],
  backends: readonly Backend[],
  now: Date,
  pol: PriorityPolicy = policy,
): ScheduledLaunch[] {
  const pools = new Map(
    backends.map((b) => [
      b.name,
      {
        backend: b,
        slots: b.slots,
        free: Object.fromEntries(resourceKinds.map((k) => [k, b.resources?.[k] ?? Infinity])),
        reserved: false,
      },
    ]),
  );
  const take = (pool: NonNullable<ReturnType<typeof pools.get>>, needs?: Resources): void => {
    pool.slots -= 1;
    for (const k of resourceKinds) pool.free[k]! -= needs?.[k] ?? 0;
  };
  const runningByUser = new Map<string, number>();
  for (const r of running) {
    runningByUser.set(r.owner, (runningByUser.get(r.owner) ?? 0) + 1);
    const pool = pools.get(r.backend);
    if (pool) take(pool, r.needs);
  }
  let totalRunning = running.length;
  let remaining = [...waiting];
  const plan: ScheduledLaunch[] = [];
  while (remaining.length > 0) {
    const ctx = { now, runningByUser, totalRunning };
    const ranked = remaining
      .map((w) => ({
        w,
        rank: {
          jobId: w.jobId,
          score: computeJobPriority(w, ctx, pol),
          queuedAtMs: Date.parse(w.queuedAt),
        },
      }))
      .sort((a, b) => compareJobRank(a.rank, b.rank));
    const top = ranked[0]!.w;
    remaining = remaining.filter((w) => w !== top);
    const pool = pools.get(top.backend);
    if (!pool || pool.slots < 1) continue;
    const fitsNow = resourceKinds.every((k) => {
      const need = top.needs?.[k] ?? 0;
      return need === 0 || need <= pool.free[k]!;
    });
    if (fitsNow) {
      plan.push({ jobId: top.jobId, backend: top.backend });
      take(pool, top.needs);
      runningByUser.set(top.owner, (runningByUser.get(top.owner) ?? 0) + 1);
      totalRunning += 1;
    } else if (
      !pool.reserved &&
      (now.getTime() - Date.parse(top.queuedAt)) / MINUTE >= pol.ageCapMinutes &&
      fitsBackend(pool.backend, top.needs)
    ) {
      take(pool, top.needs);
      pool.reserved = true;
    }
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------

describe('computeJobPriority', () => {
  it('computes the documented formula', () => {
    // 30·2 + 90 − 480·(3/12) = 60 + 90 − 120
    assert.equal(
      computeJobPriority(
        job({ taskPriority: 2, queuedAt: minutesAgo(90) }),
        context({ ana: 3 }, 12),
      ),
      30,
    );
    assert.equal(
      computeJobPriority(job({ queuedAt: minutesAgo(2000) }), context()),
      840,
      'age cap',
    );
    assert.equal(
      computeJobPriority(job({ queuedAt: minutesAgo(-30) }), context()),
      0,
      'a queuedAt in the future counts as no wait',
    );
    assert.equal(
      computeJobPriority(job({ taskPriority: -5, queuedAt: minutesAgo(0) }), context()),
      -150,
    );
  });

  it('accepts offsets and fractional seconds; rejects times that depend on the host zone', () => {
    const at = (queuedAt: string): number => computeJobPriority(job({ queuedAt }), context());
    assert.equal(at('2025-03-01T12:30:00+01:00'), 30);
    assert.equal(at('2025-03-01T11:59:30.5Z'), 29.5 / 60);
    for (const queuedAt of [
      '2025-03-01',
      '2025-03-01T11:00:00',
      'March 1 2025 11:00',
      'nope',
      '',
    ]) {
      const error = expectBatonError(() => at(queuedAt));
      assert.equal(error.field, 'job.queuedAt');
    }
  });

  it('property: monotone non-decreasing in waiting time (older never ranks lower)', () => {
    fc.assert(
      fc.property(
        priorityArb,
        ageMsArb,
        ageMsArb,
        fc.nat({ max: 50 }),
        fc.nat({ max: 50 }),
        (p, ageA, ageB, mine, others) => {
          const [older, younger] = ageA >= ageB ? [ageA, ageB] : [ageB, ageA];
          const ctx = context({ ana: mine }, mine + others);
          const at = (age: number): number =>
            computeJobPriority(
              job({ taskPriority: p, queuedAt: new Date(NOW_MS - age).toISOString() }),
              ctx,
            );
          assert.ok(at(older) >= at(younger));
          const rank = (age: number, jobId: string): JobRank => ({
            jobId,
            score: at(age),
            queuedAtMs: NOW_MS - age,
          });
          // In the total order too, whatever the ids: the older one comes first or ties never.
          if (older !== younger)
            assert.ok(compareJobRank(rank(older, 'z'), rank(younger, 'a')) < 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: fair share, fewer running jobs ranks at least as high, all else equal', () => {
    fc.assert(
      fc.property(
        priorityArb,
        ageMsArb,
        fc.nat({ max: 200 }),
        fc.nat({ max: 200 }),
        fc.nat({ max: 400 }),
        (p, age, a, b, rest) => {
          const [fewer, more] = a <= b ? [a, b] : [b, a];
          // totalRunning may even be inconsistent (below a count): the share is then capped at 1.
          const ctx = context({ light: fewer, heavy: more }, rest);
          const queuedAt = new Date(NOW_MS - age).toISOString();
          const light = computeJobPriority(job({ owner: 'light', taskPriority: p, queuedAt }), ctx);
          const heavy = computeJobPriority(job({ owner: 'heavy', taskPriority: p, queuedAt }), ctx);
          assert.ok(Number.isFinite(light) && Number.isFinite(heavy));
          assert.ok(light >= heavy, `${fewer} running scored ${light} < ${more} running ${heavy}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: a higher task priority never ranks lower, all else equal', () => {
    fc.assert(
      fc.property(priorityArb, priorityArb, ageMsArb, (a, b, age) => {
        const queuedAt = new Date(NOW_MS - age).toISOString();
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const at = (taskPriority: number): number =>
          computeJobPriority(job({ taskPriority, queuedAt }), context({ ana: 2 }, 5));
        assert.ok(at(hi) >= at(lo));
      }),
      { numRuns: 300 },
    );
  });
});

describe('no starvation', () => {
  const policyArb: fc.Arbitrary<PriorityPolicy> = fc
    .record({
      minutesPerPriorityLevel: fc.integer({ min: 0, max: 120 }),
      fairShareMinutes: fc.integer({ min: 0, max: 2000 }),
      slack: fc.integer({ min: 1, max: 600 }),
      minTaskPriority: fc.integer({ min: -10, max: 0 }),
      maxTaskPriority: fc.integer({ min: 0, max: 10 }),
    })
    .map(({ slack, ...p }) => ({
      ...p,
      ageCapMinutes:
        p.minutesPerPriorityLevel * (p.maxTaskPriority - p.minTaskPriority) +
        p.fairShareMinutes +
        slack,
    }));

  it('bounds the wait at 13 h with the default policy', () => {
    assert.equal(starvationBoundMinutes(), 780);
    assert.ok(starvationBoundMinutes() < policy.ageCapMinutes);
    assert.equal(starvationBoundMinutes(policy, { waiting: 0, newcomer: 0 }), 480);
    assert.equal(starvationBoundMinutes(policy, { waiting: -2, newcomer: 3 }), 630);
    assert.equal(starvationBoundMinutes(policy, { waiting: 3, newcomer: -2 }), 480);
  });

  it('property: a job that waited more than B outranks any newcomer, whatever the shares', () => {
    fc.assert(
      fc.property(
        policyArb.chain((pol) =>
          fc.record({
            pol: fc.constant(pol),
            pOld: fc.integer({ min: pol.minTaskPriority, max: pol.maxTaskPriority }),
            pNew: fc.integer({ min: pol.minTaskPriority, max: pol.maxTaskPriority }),
            extraMs: fc.integer({ min: 1, max: 3 * 24 * 60 * MINUTE }),
            oldRunning: fc.nat({ max: 100 }),
            newRunning: fc.nat({ max: 100 }),
            otherRunning: fc.nat({ max: 100 }),
            ids: fc.tuple(fc.string({ minLength: 1 }), fc.string({ minLength: 1 })),
          }),
        ),
        ({ pol, pOld, pNew, extraMs, oldRunning, newRunning, otherRunning, ids }) => {
          fc.pre(ids[0] !== ids[1]);
          const bound = starvationBoundMinutes(pol, { waiting: pOld, newcomer: pNew });
          assert.ok(
            bound <= starvationBoundMinutes(pol) && starvationBoundMinutes(pol) < pol.ageCapMinutes,
          );
          const ctx = context(
            { heavy: oldRunning, idle: newRunning },
            oldRunning + newRunning + otherRunning,
          );
          const waitedMs = bound * MINUTE + extraMs;
          const old = job({
            jobId: ids[0],
            owner: 'heavy',
            taskPriority: pOld,
            queuedAt: new Date(NOW_MS - waitedMs).toISOString(),
          });
          const newcomer = job({
            jobId: ids[1],
            owner: 'idle',
            taskPriority: pNew,
            queuedAt: NOW.toISOString(),
          });
          const sOld = computeJobPriority(old, ctx, pol);
          const sNew = computeJobPriority(newcomer, ctx, pol);
          assert.ok(
            sOld > sNew,
            `waited ${waitedMs / MINUTE} min > B=${bound}: ${sOld} vs ${sNew}`,
          );
          const [first] = rankWaitingJobs([newcomer, old], ctx, pol);
          assert.equal(first?.jobId, old.jobId);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the bound is tight: just under B, the worst case newcomer still wins', () => {
    const ctx = context({ heavy: 10, idle: 0 }, 10);
    const old = job({ jobId: 'old', owner: 'heavy', taskPriority: -5, queuedAt: minutesAgo(779) });
    const newcomer = job({ jobId: 'new', owner: 'idle', taskPriority: 5, queuedAt: minutesAgo(0) });
    assert.equal(rankWaitingJobs([old, newcomer], ctx)[0]?.jobId, 'new');
    const older = { ...old, queuedAt: minutesAgo(781) };
    assert.equal(rankWaitingJobs([older, newcomer], ctx)[0]?.jobId, 'old');
  });

  it('rejects a policy whose age cap breaks the bound', () => {
    const error = expectBatonError(() =>
      computeJobPriority(job(), context(), { ...policy, ageCapMinutes: 779 }),
    );
    assert.equal(error.field, 'policy.ageCapMinutes');
    // Equal to the bound is not enough: the lowest-priority job would only tie a newcomer
    // (found by the property below with an all-zero policy).
    const tie = expectBatonError(() =>
      computeJobPriority(job(), context(), { ...policy, ageCapMinutes: 780 }),
    );
    assert.equal(tie.field, 'policy.ageCapMinutes');
    expectBatonError(() =>
      computeJobPriority(job(), context(), { ...policy, fairShareMinutes: -1 }),
    );
    expectBatonError(() =>
      computeJobPriority(job(), context(), { ...policy, minTaskPriority: 3, maxTaskPriority: 2 }),
    );
  });
});

describe('total order', () => {
  const rankArb: fc.Arbitrary<JobRank> = fc.record({
    jobId: fc.constantFrom('a', 'b', 'c', 'aa', 'B'),
    score: fc.constantFrom(-1, 0, 0.5, 2),
    queuedAtMs: fc.constantFrom(0, 1, 2),
  });

  it('property: the comparator is a total order (antisymmetric, transitive, 0 only for equals)', () => {
    fc.assert(
      fc.property(rankArb, rankArb, rankArb, (a, b, c) => {
        assert.equal(Math.sign(compareJobRank(a, b)) + Math.sign(compareJobRank(b, a)), 0);
        if (compareJobRank(a, b) <= 0 && compareJobRank(b, c) <= 0) {
          assert.ok(compareJobRank(a, c) <= 0);
        }
        if (compareJobRank(a, b) === 0) assert.deepEqual({ ...a }, { ...b });
      }),
      { numRuns: 1000 },
    );
  });

  it('breaks ties by queuedAt, then jobId by code units (not locale)', () => {
    const ranked = rankWaitingJobs(
      [
        job({ jobId: 'b', queuedAt: minutesAgo(5) }),
        job({ jobId: 'a', queuedAt: minutesAgo(5) }),
        job({ jobId: 'Z', queuedAt: minutesAgo(5) }),
        job({ jobId: 'c', queuedAt: '2025-03-01T12:55:00+01:00' }), // same instant as the others
        job({ jobId: 'old', owner: 'bo', queuedAt: minutesAgo(5), taskPriority: 0 }),
      ],
      context({ bo: 0 }),
    );
    assert.deepEqual(
      ranked.map((r) => r.jobId),
      ['Z', 'a', 'b', 'c', 'old'],
    );
  });

  it('property: the ranking does not depend on input order', () => {
    fc.assert(
      fc.property(waitingArb, fc.integer(), (jobs, seed) => {
        const ctx = context({ u1: 3, u2: 1 }, 6);
        assert.deepEqual(rankWaitingJobs(shuffled(jobs, seed), ctx), rankWaitingJobs(jobs, ctx));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects duplicate job ids (the order would not be total)', () => {
    expectBatonError(() => rankWaitingJobs([job(), job()], context()));
  });
});

describe('regressions (Orchestra priority bugs)', () => {
  it('never divides by zero: no running jobs, or counts above the total, give finite scores', () => {
    assert.equal(computeJobPriority(job({ queuedAt: minutesAgo(10) }), context({}, 0)), 10);
    // runningByUser says 4 but totalRunning says 0 (a stale total): share 1, not Infinity or NaN.
    assert.equal(
      computeJobPriority(job({ queuedAt: minutesAgo(10) }), context({ ana: 4 }, 0)),
      -470,
    );
  });

  it('heavy users never rank first: the sign of the fair-share term', () => {
    const ctx = context({ heavy: 40, light: 1 }, 41);
    const ranked = rankWaitingJobs(
      [job({ jobId: 'h', owner: 'heavy' }), job({ jobId: 'l', owner: 'light' })],
      ctx,
    );
    assert.deepEqual(
      ranked.map((r) => r.jobId),
      ['l', 'h'],
    );
  });

  it('one comparator for every backend: a GPU backend serves the light user first too', () => {
    // Orchestra sorted its GPU queue ascending and its CPU queue descending: on GPUs the
    // heaviest user (lowest LCG priority) ran first.
    for (const backend of [
      { name: 'gpu', slots: 10, resources: { gpu: 1 } },
      { name: 'cpu', slots: 1, resources: { cpu: 8 } },
    ]) {
      const needs = backend.name === 'gpu' ? { gpu: 1 } : { cpu: 1 };
      const plan = planSchedulerTick(
        [
          waitingJob('heavy-1', 'heavy', backend.name, { needs }),
          waitingJob('light-1', 'light', backend.name, { needs }),
        ],
        [...runningJobs('heavy', 'elsewhere', 30), ...runningJobs('light', 'elsewhere', 1)],
        [backend],
        NOW,
      );
      assert.deepEqual(plan, [{ jobId: 'light-1', backend: backend.name }], backend.name);
    }
  });

  it('a big backlog is not a penalty, and an old job of a heavy user still runs (no age term in LCG)', () => {
    // LCG: priority = max − (queued + running)/5, no age: a heavy user's jobs waited forever.
    const backlog = Array.from({ length: 500 }, (_, i) =>
      waitingJob(`big-${String(i).padStart(3, '0')}`, 'big', 'aci', { queuedAt: minutesAgo(30) }),
    );
    const scoreBig = computeJobPriority(backlog[0]!, context());
    const scoreSmall = computeJobPriority(
      job({ owner: 'small', queuedAt: minutesAgo(30) }),
      context(),
    );
    assert.equal(scoreBig, scoreSmall, 'queued jobs do not count against their owner');

    const old = waitingJob('heavy-old', 'heavy', 'aci', { queuedAt: minutesAgo(781) });
    const fresh = waitingJob('idle-new', 'idle', 'aci', {
      queuedAt: minutesAgo(0),
      taskPriority: 0,
    });
    const plan = planSchedulerTick(
      [fresh, old],
      runningJobs('heavy', 'aci', 50),
      [{ name: 'aci', slots: 51 }],
      NOW,
    );
    assert.deepEqual(plan, [{ jobId: 'heavy-old', backend: 'aci' }]);
  });

  it('rejects NaN, negative and fractional counts and out-of-range priorities with validation', () => {
    for (const bad of [Number.NaN, -1, 1.5]) {
      expectBatonError(() => computeJobPriority(job(), context({ ana: bad }, 3)));
      expectBatonError(() => computeJobPriority(job(), context({}, bad)));
    }
    for (const taskPriority of [6, -6, 0.5, Number.NaN]) {
      const error = expectBatonError(() => computeJobPriority(job({ taskPriority }), context()));
      assert.equal(error.field, 'job.taskPriority');
    }
    expectBatonError(() => computeJobPriority(job({ attempt: 0 }), context()));
    expectBatonError(() => computeJobPriority(job(), { ...context(), now: new Date(Number.NaN) }));
  });
});

describe('planSchedulerTick', () => {
  it('fills free slots in priority order around jobs already running', () => {
    const plan = planSchedulerTick(
      [
        waitingJob('low', 'ana', 'aci', { taskPriority: -1 }),
        waitingJob('high', 'ana', 'aci', { taskPriority: 2 }),
        waitingJob('mid', 'ana', 'aci'),
      ],
      runningJobs('bo', 'aci', 1),
      [{ name: 'aci', slots: 3 }],
      NOW,
    );
    assert.deepEqual(plan, [
      { jobId: 'high', backend: 'aci' },
      { jobId: 'mid', backend: 'aci' },
    ]);
  });

  it('shares one tick fairly: 100 waiting vs 3 waiting, 4 slots → 2 and 2', () => {
    const many = Array.from({ length: 100 }, (_, i) =>
      waitingJob(`many-${String(i).padStart(3, '0')}`, 'many', 'aci', { queuedAt: minutesAgo(20) }),
    );
    const few = [0, 1, 2].map((i) =>
      waitingJob(`few-${i}`, 'few', 'aci', { queuedAt: minutesAgo(5) }),
    );
    const plan = planSchedulerTick([...many, ...few], [], [{ name: 'aci', slots: 4 }], NOW);
    assert.equal(plan.length, 4);
    assert.equal(countOf(plan, 'few-'), 2);
    assert.equal(countOf(plan, 'many-'), 2);
    // When the big user already holds slots, the small one goes first with all of its jobs.
    const busy = planSchedulerTick(
      [...many, ...few],
      runningJobs('many', 'aci', 10),
      [{ name: 'aci', slots: 14 }],
      NOW,
    );
    assert.deepEqual(
      busy.map((l) => l.jobId),
      ['few-0', 'few-1', 'few-2', 'many-000'],
    );
  });

  it('gives ten users with equal backlogs one slot each of ten', () => {
    const waiting = Array.from({ length: 10 }, (_, u) =>
      Array.from({ length: 50 }, (_, i) => waitingJob(`u${u}-${i}`, `user${u}`, 'aci')),
    ).flat();
    const plan = planSchedulerTick(waiting, [], [{ name: 'aci', slots: 10 }], NOW);
    const owners = new Set(plan.map((l) => l.jobId.split('-')[0]));
    assert.equal(owners.size, 10);
  });

  it('counts fair share across backends within the tick', () => {
    // ana's launch on `local` makes her rank below bo on `aci`, though her job is older.
    const plan = planSchedulerTick(
      [
        waitingJob('ana-local', 'ana', 'local', { queuedAt: minutesAgo(60) }),
        waitingJob('ana-aci', 'ana', 'aci', { queuedAt: minutesAgo(50) }),
        waitingJob('bo-aci', 'bo', 'aci', { queuedAt: minutesAgo(40) }),
      ],
      [],
      [
        { name: 'local', slots: 1 },
        { name: 'aci', slots: 1 },
      ],
      NOW,
    );
    assert.deepEqual(plan, [
      { jobId: 'ana-local', backend: 'local' },
      { jobId: 'bo-aci', backend: 'aci' },
    ]);
  });

  it('backfills: a job that does not fit does not block smaller ones behind it', () => {
    const plan = planSchedulerTick(
      [
        waitingJob('big', 'ana', 'aci', { taskPriority: 5, needs: { cpu: 4 } }),
        waitingJob('small', 'bo', 'aci', { needs: { cpu: 1 } }),
      ],
      runningJobs('cy', 'aci', 3, { cpu: 2 }),
      [{ name: 'aci', slots: 10, resources: { cpu: 8 } }],
      NOW,
    );
    assert.deepEqual(plan, [{ jobId: 'small', backend: 'aci' }]);
  });

  it('an aged job that does not fit reserves its needs: one reservation per backend and tick', () => {
    // 5 slots, 3 running: `big` reserves one; a second reservation (big-2) would take the last.
    const backends = [{ name: 'aci', slots: 5, resources: { cpu: 8, memoryGb: 64 } }];
    const running = runningJobs('cy', 'aci', 3, { cpu: 2 });
    const big = waitingJob('big', 'ana', 'aci', { queuedAt: minutesAgo(900), needs: { cpu: 4 } });
    const plan = planSchedulerTick(
      [
        big,
        waitingJob('big-2', 'ana', 'aci', { queuedAt: minutesAgo(899), needs: { cpu: 6 } }),
        waitingJob('small-cpu', 'bo', 'aci', { needs: { cpu: 1 } }),
        waitingJob('memory-only', 'bo', 'aci', { needs: { memoryGb: 4 } }),
      ],
      running,
      backends,
      NOW,
    );
    // 2 cpus free, 4 reserved for `big`: nothing needing cpu backfills; a job needing none does.
    assert.deepEqual(plan, [{ jobId: 'memory-only', backend: 'aci' }]);
    // Without the aged job, the small one backfills.
    const fresh = planSchedulerTick(
      [
        { ...big, queuedAt: minutesAgo(60) },
        waitingJob('small-cpu', 'bo', 'aci', { needs: { cpu: 1 } }),
      ],
      running,
      backends,
      NOW,
    );
    assert.deepEqual(fresh, [{ jobId: 'small-cpu', backend: 'aci' }]);
  });

  it('a job that can never fit, or whose backend is unknown, blocks nothing', () => {
    const backends = [{ name: 'aci', slots: 2, resources: { gpu: 1 } }];
    assert.equal(fitsBackend(backends[0]!, { gpu: 2 }), false);
    assert.equal(fitsBackend(backends[0]!, { gpu: 1, cpu: 99 }), true);
    const plan = planSchedulerTick(
      [
        waitingJob('huge', 'ana', 'aci', { queuedAt: minutesAgo(5000), needs: { gpu: 2 } }),
        waitingJob('lost', 'ana', 'removed-backend', { queuedAt: minutesAgo(5000) }),
        waitingJob('ok-1', 'bo', 'aci', { needs: { gpu: 1 } }),
        waitingJob('ok-2', 'bo', 'aci'),
      ],
      [],
      backends,
      NOW,
    );
    assert.deepEqual(
      plan.map((l) => l.jobId),
      ['ok-1', 'ok-2'],
    );
  });

  it('launches nothing on a full or overcommitted backend, and still fills the others', () => {
    const plan = planSchedulerTick(
      [
        waitingJob('a', 'ana', 'aci'),
        waitingJob('b', 'ana', 'local'),
        waitingJob('c', 'ana', 'zero'),
      ],
      runningJobs('bo', 'aci', 5),
      [
        { name: 'aci', slots: 3 },
        { name: 'local', slots: 1 },
        { name: 'zero', slots: 0 },
      ],
      NOW,
    );
    assert.deepEqual(plan, [{ jobId: 'b', backend: 'local' }]);
    assert.deepEqual(planSchedulerTick([], [], [], NOW), []);
  });

  it('rejects malformed input with validation naming the field', () => {
    const b = [{ name: 'aci', slots: 1 }];
    const cases: [() => unknown, string][] = [
      [
        () =>
          planSchedulerTick([waitingJob('x', 'a', 'aci'), waitingJob('x', 'b', 'aci')], [], b, NOW),
        'waiting[1].jobId',
      ],
      [() => planSchedulerTick([], [], [...b, ...b], NOW), 'backends[1].name'],
      [() => planSchedulerTick([], [], [{ name: 'aci', slots: -1 }], NOW), 'backends[0].slots'],
      [
        () =>
          planSchedulerTick(
            [],
            [],
            [{ name: 'aci', slots: 1, resources: { gpu: Number.NaN } }],
            NOW,
          ),
        'backends[0].resources.gpu',
      ],
      [
        () => planSchedulerTick([waitingJob('x', 'a', 'aci', { needs: { cpu: -1 } })], [], b, NOW),
        'waiting[0].needs.cpu',
      ],
      [
        () =>
          planSchedulerTick([waitingJob('x', 'a', 'aci', { queuedAt: 'yesterday' })], [], b, NOW),
        'waiting[0].queuedAt',
      ],
      [
        () => planSchedulerTick([], [{ jobId: 'r', owner: '', backend: 'aci' }], b, NOW),
        'running[0].owner',
      ],
    ];
    for (const [fn, field] of cases) assert.equal(expectBatonError(fn).field, field);
  });

  it('property: never over-allocates a backend, its slots or any declared resource', () => {
    fc.assert(
      fc.property(waitingArb, runningArb, backendsArb, (waiting, running, backends) => {
        const plan = planSchedulerTick(waiting, running, backends, NOW);
        assert.deepEqual(findPlanViolations(plan, waiting, running, backends), []);
      }),
      { numRuns: 400 },
    );
  });

  it('property: equals the reference planner (rank everything, take the best, repeat)', () => {
    let launched = 0;
    fc.assert(
      fc.property(waitingArb, runningArb, backendsArb, (waiting, running, backends) => {
        const plan = planSchedulerTick(waiting, running, backends, NOW);
        assert.deepEqual(plan, referencePlan(waiting, running, backends, NOW));
        launched += plan.length;
      }),
      { numRuns: 300 },
    );
    assert.ok(launched > 100, `the generators must produce launches (got ${launched})`);
  });

  it('property: work-conserving without aged jobs (every job left out does not fit what is left)', () => {
    const freshWaitingArb = waitingArb.map((jobs) =>
      jobs.map((j) => ({
        ...j,
        queuedAt: minutesAgo((Math.abs(Date.parse(j.queuedAt) - NOW_MS) / MINUTE) % 800),
      })),
    );
    fc.assert(
      fc.property(freshWaitingArb, runningArb, backendsArb, (waiting, running, backends) => {
        const plan = planSchedulerTick(waiting, running, backends, NOW);
        const launched = new Set(plan.map((l) => l.jobId));
        const left = new Map<string, Record<'slots' | ResourceKind, number>>(
          backends.map((b) => [
            b.name,
            {
              slots: b.slots,
              cpu: b.resources?.cpu ?? Infinity,
              memoryGb: b.resources?.memoryGb ?? Infinity,
              gpu: b.resources?.gpu ?? Infinity,
            },
          ]),
        );
        const use = (backend: string, needs?: Resources): void => {
          const entry = left.get(backend);
          if (!entry) return;
          entry.slots -= 1;
          for (const k of resourceKinds) entry[k] -= needs?.[k] ?? 0;
        };
        for (const r of running) use(r.backend, r.needs);
        for (const w of waiting) if (launched.has(w.jobId)) use(w.backend, w.needs);
        for (const w of waiting) {
          if (launched.has(w.jobId)) continue;
          const entry = left.get(w.backend);
          if (!entry) continue;
          const fitsLeft =
            entry.slots >= 1 &&
            resourceKinds.every(
              (k) => (w.needs?.[k] ?? 0) === 0 || (w.needs?.[k] ?? 0) <= entry[k],
            );
          assert.equal(
            fitsLeft,
            false,
            `${w.jobId} fits what is left on ${w.backend} but was not launched`,
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: deterministic, the same plan for the same input in any order', () => {
    fc.assert(
      fc.property(
        waitingArb,
        runningArb,
        backendsArb,
        fc.integer(),
        (waiting, running, backends, seed) => {
          const plan = planSchedulerTick(waiting, running, backends, NOW);
          assert.deepEqual(planSchedulerTick(waiting, running, backends, NOW), plan);
          assert.deepEqual(
            planSchedulerTick(
              shuffled(waiting, seed),
              shuffled(running, seed + 1),
              shuffled(backends, seed + 2),
              NOW,
            ),
            plan,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('plans 20,000 waiting jobs well within a tick (guards against quadratic time)', () => {
    const waiting = Array.from({ length: 20_000 }, (_, i) =>
      waitingJob(`j${i}`, `user${i % 100}`, ['aci', 'local', 'nersc'][i % 3]!, {
        queuedAt: minutesAgo((i * 7919) % 3000),
        taskPriority: (i % 11) - 5,
        needs: { cpu: 1 + (i % 4) },
      }),
    );
    const backends = [
      { name: 'aci', slots: 2000, resources: { cpu: 4000 } },
      { name: 'local', slots: 50 },
      { name: 'nersc', slots: 500 },
    ];
    const started = performance.now();
    const plan = planSchedulerTick(waiting, [], backends, NOW);
    const elapsed = performance.now() - started;
    // local 50 + nersc 500 + aci bound by cpu (4,000 cpus, 2.5 per job on average).
    assert.ok(plan.length > 2100 && plan.length <= 2550, `${plan.length} launches`);
    assert.deepEqual(findPlanViolations(plan, waiting, [], backends), []);
    assert.ok(elapsed < 3000, `took ${elapsed.toFixed(0)} ms`);
  });
});

describe('findPlanViolations', () => {
  const backends = [{ name: 'aci', slots: 2, resources: { cpu: 4 } }];
  const waiting = [
    waitingJob('a', 'ana', 'aci', { needs: { cpu: 2 } }),
    waitingJob('b', 'ana', 'aci', { needs: { cpu: 3 } }),
    waitingJob('c', 'ana', 'aci'),
    waitingJob('d', 'ana', 'aci'),
  ];

  it('finds every kind of violation (so the properties above are not vacuous)', () => {
    const check = (plan: ScheduledLaunch[], running: RunningJob[] = []): string[] =>
      findPlanViolations(plan, waiting, running, backends);
    assert.deepEqual(check([{ jobId: 'a', backend: 'aci' }]), []);
    assert.match(check([{ jobId: 'zz', backend: 'aci' }]).join(), /zz: not a waiting job/);
    assert.match(
      check([
        { jobId: 'c', backend: 'aci' },
        { jobId: 'c', backend: 'aci' },
      ]).join(),
      /launched twice/,
    );
    assert.match(check([{ jobId: 'c', backend: 'local' }]).join(), /belongs on aci/);
    assert.match(
      check(
        [
          { jobId: 'c', backend: 'aci' },
          { jobId: 'd', backend: 'aci' },
        ],
        runningJobs('x', 'aci', 1),
      ).join(),
      /3 jobs hold slots, capacity 2/,
    );
    assert.match(
      check([
        { jobId: 'a', backend: 'aci' },
        { jobId: 'b', backend: 'aci' },
      ]).join(),
      /cpu 5 in use, capacity 4/,
    );
    assert.match(
      findPlanViolations(
        [{ jobId: 'x', backend: 'gone' }],
        [waitingJob('x', 'a', 'gone')],
        [],
        backends,
      ).join(),
      /gone: not a backend/,
    );
  });

  it('accepts a job that needs none of a resource others overcommit', () => {
    const running = runningJobs('x', 'aci', 1, { cpu: 9 });
    assert.deepEqual(
      findPlanViolations([{ jobId: 'c', backend: 'aci' }], waiting, running, backends),
      [],
    );
  });
});

import { BatonError } from './errors.js';

/**
 * The scheduler's pure core: the priority of a waiting job, and the plan of one scheduler tick
 * (which waiting jobs to launch on which backend). No clock, no I/O: `now` and every count come
 * in as arguments, so the same input always gives the same plan.
 *
 * ## The priority formula
 *
 * Every job gets a score in **minutes of waiting** (higher runs first):
 *
 * ```
 * score(j) = w_p · p_j  +  min(W_j, W_cap)  −  w_f · s(u_j)
 *
 *   p_j   task priority, an integer in [p_min, p_max] (default 0)
 *   W_j   minutes since the job was queued: max(0, now − queuedAt); a queuedAt in the future counts as 0
 *   s(u)  running share of the job's owner u: r_u / max(R, r_u), and 0 when r_u = 0
 *         (r_u = the owner's jobs holding a slot, R = all jobs holding a slot; never a division by 0)
 *
 * defaults: w_p = 30 min per priority level, w_f = 480 min, W_cap = 840 min, p ∈ [−5, 5]
 * ```
 *
 * Read it as: one priority level is worth half an hour of waiting; holding every running slot
 * costs a job eight hours of waiting; waiting counts for at most fourteen hours. Ties are broken
 * by `queuedAt` (older first), then `jobId` (code-unit order), so the order is total and does
 * not depend on input order, time zone or locale. `attempt` is not in the score: the caller
 * sets `queuedAt` when an attempt is (re-)queued, so a retry waits like a new job, and retries
 * are bounded by the job's maxAttempts, so a crash-looping job needs no extra penalty.
 *
 * Properties (each property-tested in test/unit/priority.test.ts):
 * - **Age never hurts**: the score is non-decreasing in W (older never ranks lower, all else
 *   equal); it stops growing at W_cap.
 * - **Fair share**: s is non-decreasing in r_u, so a user with fewer running jobs ranks at least
 *   as high as one with more, all else equal. Only *running* jobs count: submitting a large
 *   backlog does not lower a user's priority, holding slots does (Orchestra's LCG rule counted
 *   queued jobs too, and had no age term, so a big submitter's jobs could wait forever).
 * - **No starvation**: a job that has waited more than
 *   `B = w_p · max(0, p_new − p_j) + w_f` minutes scores strictly higher than any newcomer
 *   (W = 0) of priority p_new, whatever the running shares; at worst
 *   `B_max = w_p · (p_max − p_min) + w_f` = 780 min = 13 h with the defaults.
 *   Proof: score_j − score_new ≥ w_p·(p_j − p_new) + min(W, W_cap) − w_f > 0 once
 *   W > B, because the policy requires W_cap > B_max ({@link checkPriorityPolicy}): with
 *   W_cap = B_max exactly, a job of the lowest priority stops gaining at W_cap and only ties.
 *
 * Why these choices:
 * - **Linear age with a cap, not `log2(1 + W)`.** A logarithmic age term makes the starvation
 *   bound exponential in the priority gap (2^(gap·w_p/w_a) minutes), and an uncapped age term
 *   lets an old bulk submission outrank every later user for as long as its backlog lasts: fair
 *   share can only offset w_f minutes of age difference. With the cap, once jobs have waited
 *   W_cap their age is equal and fair share and priority decide; a user with nothing running
 *   waits at most about `W_cap − w_f · s(heavy user)` behind a heavy user's aged backlog.
 * - **The cap just above B_max** keeps that wait short; raising w_f strengthens fair share but
 *   raises the cap with it (the trade-off between fair share and starvation freedom is
 *   inherent: a waiting job must eventually outrank a newcomer of an idle user).
 *
 * Guarded against (Orchestra's priority bugs, see test "regressions"): its GPU queue was sorted
 * ascending while the CPU queue was reversed, so on GPUs the lowest priority — the heaviest
 * users under its LCG rule — ran first; here one comparator ({@link compareJobRank}) orders every
 * backend and resource. Its jobs were "ordered by creation" in a comment only; here the
 * tie-break makes the order total. A share is never computed as 0/0 or above 1, and a negative,
 * fractional or NaN count, an out-of-range priority or a non-ISO time is rejected
 * (`validation`), not turned into NaN (which sorts unpredictably).
 */

// ---------------------------------------------------------------------------------------------
// Policy

export interface PriorityPolicy {
  /** w_p: minutes of waiting that one level of task priority is worth. */
  readonly minutesPerPriorityLevel: number;
  /** w_f: minutes of waiting that holding every running slot costs. */
  readonly fairShareMinutes: number;
  /**
   * W_cap: waiting counts up to this many minutes. Also the age at which a job that does not
   * fit its backend starts reserving capacity (see {@link planSchedulerTick}). Must be at least
   * `minutesPerPriorityLevel · (maxTaskPriority − minTaskPriority) + fairShareMinutes`.
   */
  readonly ageCapMinutes: number;
  readonly minTaskPriority: number;
  readonly maxTaskPriority: number;
}

export const defaultPriorityPolicy: PriorityPolicy = Object.freeze({
  minutesPerPriorityLevel: 30,
  fairShareMinutes: 480,
  ageCapMinutes: 840,
  minTaskPriority: -5,
  maxTaskPriority: 5,
});

/** Throws `validation` unless the policy's numbers are sane and keep the starvation bound. */
export function checkPriorityPolicy(policy: PriorityPolicy): void {
  const { minutesPerPriorityLevel, fairShareMinutes, ageCapMinutes } = policy;
  for (const [field, value] of [
    ['minutesPerPriorityLevel', minutesPerPriorityLevel],
    ['fairShareMinutes', fairShareMinutes],
    ['ageCapMinutes', ageCapMinutes],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) {
      throw invalid(`policy.${field}`, `must be a finite number ≥ 0, got ${value}`);
    }
  }
  if (!Number.isInteger(policy.minTaskPriority) || !Number.isInteger(policy.maxTaskPriority)) {
    throw invalid('policy.minTaskPriority', 'priority bounds must be integers');
  }
  if (policy.minTaskPriority > policy.maxTaskPriority) {
    throw invalid('policy.minTaskPriority', 'must not exceed maxTaskPriority');
  }
  const bound = starvationBoundMinutes(policy);
  if (ageCapMinutes <= bound) {
    throw invalid(
      'policy.ageCapMinutes',
      `must be > ${bound} (w_p·(p_max − p_min) + w_f), or an old job could wait forever`,
    );
  }
}

/**
 * B: a job that has waited more than this many minutes scores strictly higher than any
 * newcomer, whatever the running shares. Without priorities, the worst case over the policy's
 * priority range (B_max).
 */
export function starvationBoundMinutes(
  policy: PriorityPolicy = defaultPriorityPolicy,
  priorities?: { readonly waiting: number; readonly newcomer: number },
): number {
  const gap =
    priorities === undefined
      ? policy.maxTaskPriority - policy.minTaskPriority
      : Math.max(0, priorities.newcomer - priorities.waiting);
  return policy.minutesPerPriorityLevel * gap + policy.fairShareMinutes;
}

// ---------------------------------------------------------------------------------------------
// Priority of one job

export interface PriorityJob {
  readonly jobId: string;
  readonly owner: string;
  /** Integer in [policy.minTaskPriority, policy.maxTaskPriority]; higher first; default 0. */
  readonly taskPriority?: number;
  /** ISO 8601 with a zone (`Z` or `±hh:mm`): when this attempt was queued. */
  readonly queuedAt: string;
  /** 1-based; validated, not scored (see the module doc). */
  readonly attempt: number;
}

export interface PriorityContext {
  readonly now: Date;
  /** Jobs holding a slot (assigned or running), by owner. A missing owner has 0. */
  readonly runningByUser: ReadonlyMap<string, number>;
  /** All jobs holding a slot. Counts above it for one owner are read as a share of 1. */
  readonly totalRunning: number;
}

/** The job's score (minutes of waiting; higher runs first). See the module doc for the formula. */
export function computeJobPriority(
  job: PriorityJob,
  context: PriorityContext,
  policy: PriorityPolicy = defaultPriorityPolicy,
): number {
  checkPriorityPolicy(policy);
  const nowMs = checkNow(context.now);
  const totalRunning = checkCount(context.totalRunning, 'totalRunning');
  const parsed = parseJob(job, policy, 'job');
  const runningOfOwner = checkCount(
    context.runningByUser.get(job.owner) ?? 0,
    `runningByUser[${JSON.stringify(job.owner)}]`,
  );
  return (
    baseScore(parsed.priority, parsed.queuedAtMs, nowMs, policy) -
    fairSharePenalty(runningOfOwner, totalRunning, policy)
  );
}

/** What the total order compares: the score, then age, then the job id. */
export interface JobRank {
  readonly jobId: string;
  readonly score: number;
  /** queuedAt in epoch milliseconds. */
  readonly queuedAtMs: number;
}

/**
 * The one comparator for every queue (all backends, all resources): higher score first, then
 * older `queuedAt`, then smaller `jobId` by code units. A total order when job ids are unique.
 */
export function compareJobRank(a: JobRank, b: JobRank): number {
  return compareRanks(a.score, a.queuedAtMs, a.jobId, b.score, b.queuedAtMs, b.jobId);
}

/** {@link compareJobRank} on unpacked fields: the planner compares without allocating. */
function compareRanks(
  scoreA: number,
  queuedA: number,
  idA: string,
  scoreB: number,
  queuedB: number,
  idB: string,
): number {
  if (scoreA !== scoreB) return scoreA > scoreB ? -1 : 1;
  if (queuedA !== queuedB) return queuedA < queuedB ? -1 : 1;
  return idA < idB ? -1 : idA > idB ? 1 : 0;
}

/** The jobs in run order with their scores, for `baton task queue` and for tests. */
export function rankWaitingJobs(
  jobs: readonly PriorityJob[],
  context: PriorityContext,
  policy: PriorityPolicy = defaultPriorityPolicy,
): JobRank[] {
  checkUniqueIds(jobs, 'jobs');
  return jobs
    .map((job, i) => ({
      jobId: job.jobId,
      score: computeJobPriority(job, context, policy),
      queuedAtMs: parseJob(job, policy, 'jobs', i).queuedAtMs,
    }))
    .sort(compareJobRank);
}

function baseScore(
  priority: number,
  queuedAtMs: number,
  nowMs: number,
  policy: PriorityPolicy,
): number {
  const waitMinutes = Math.max(0, (nowMs - queuedAtMs) / 60_000);
  return policy.minutesPerPriorityLevel * priority + Math.min(waitMinutes, policy.ageCapMinutes);
}

function fairSharePenalty(
  runningOfOwner: number,
  totalRunning: number,
  policy: PriorityPolicy,
): number {
  if (runningOfOwner === 0) return 0;
  return (policy.fairShareMinutes * runningOfOwner) / Math.max(totalRunning, runningOfOwner);
}

// ---------------------------------------------------------------------------------------------
// The plan of one scheduler tick

export const resourceKinds = ['cpu', 'memoryGb', 'gpu'] as const;
export type ResourceKind = (typeof resourceKinds)[number];
export type Resources = { readonly [K in ResourceKind]?: number };

export interface Backend {
  readonly name: string;
  /** How many jobs may hold a slot at once. */
  readonly slots: number;
  /** Optional limits on the sum of the jobs' needs; an undeclared resource is not limited. */
  readonly resources?: Resources;
}

export interface WaitingJob extends PriorityJob {
  /** The backend the job must run on. */
  readonly backend: string;
  /** What the job uses; a missing need counts as 0 (fill backend defaults before planning). */
  readonly needs?: Resources;
}

/**
 * A job holding a slot: `assigned` or `running` (taskStates' `holdsSlot`). Record
 * `slotAssigned` in the same write that sends a planned launch, so the next tick counts it here
 * and does not hand its slot out again.
 */
export interface RunningJob {
  readonly jobId: string;
  readonly owner: string;
  readonly backend: string;
  readonly needs?: Resources;
}

export interface ScheduledLaunch {
  readonly jobId: string;
  readonly backend: string;
}

/**
 * The launches of one scheduler tick, in priority order: waiting jobs fill the free slots of
 * their backend, highest score first, with fair share recomputed after every launch (a launch
 * adds to its owner's running count and to the total), so one user does not take every slot of
 * a tick while others wait. Never exceeds a backend's slots or a declared resource.
 *
 * **Backfill: yes, with a reservation for aged jobs.** A job that does not fit what its backend
 * has left is skipped, and smaller jobs behind it may take the capacity: idling slots for a
 * whole tick (and every tick after, while the big job still does not fit) wastes compute.
 * Plain backfill can starve a big job (small ones keep taking what frees up), so the
 * highest-ranked job that does not fit and has waited W_cap (`policy.ageCapMinutes`, beyond
 * the starvation bound) reserves its needs and a slot on its backend for the rest of the tick:
 * lower-ranked jobs may only use what is left beyond the reservation, so the backend drains
 * until it fits. One reservation per backend and tick (as in EASY backfilling): under heavy
 * load most jobs are aged, and stacking their reservations would shut the backend. A job
 * that could never fit (needs above the backend's total, or an unknown backend) is skipped
 * without reserving, so it cannot block a backend; reject those at submission with
 * {@link fitsBackend}.
 *
 * Cost: O(n log n) in waiting jobs n (one sort, then each job leaves a per-user heap once),
 * plus O(L · G) for L launches, G ≤ √(2·(running + L)) + 1 distinct running counts among users:
 * users with equal running counts have equal fair-share terms, so they share one heap and only
 * the group heads are compared after a launch changes the shares.
 */
export function planSchedulerTick(
  waiting: readonly WaitingJob[],
  running: readonly RunningJob[],
  backends: readonly Backend[],
  now: Date,
  policy: PriorityPolicy = defaultPriorityPolicy,
): ScheduledLaunch[] {
  checkPriorityPolicy(policy);
  const nowMs = checkNow(now);
  const pools = buildPools(backends);
  const runningByUser = new Map<string, number>();
  running.forEach((job, i) => {
    checkName(job.jobId, 'running', i, 'jobId');
    checkName(job.owner, 'running', i, 'owner');
    const needs = parseNeeds(job.needs, 'running', i);
    runningByUser.set(job.owner, (runningByUser.get(job.owner) ?? 0) + 1);
    const pool = pools.byName.get(job.backend);
    if (pool !== undefined) take(pool, needs);
  });
  let totalRunning = running.length;

  // Every waiting job once, sorted by its share-independent part; then one queue per owner.
  checkUniqueIds(waiting, 'waiting');
  const candidates = waiting.map((job, i): Candidate => {
    const parsed = parseJob(job, policy, 'waiting', i);
    return {
      jobId: job.jobId,
      owner: job.owner,
      backend: pools.byName.get(job.backend),
      needs: parseNeeds(job.needs, 'waiting', i),
      base: baseScore(parsed.priority, parsed.queuedAtMs, nowMs, policy),
      queuedAtMs: parsed.queuedAtMs,
      aged: (nowMs - parsed.queuedAtMs) / 60_000 >= policy.ageCapMinutes,
    };
  });
  candidates.sort(compareBase);
  const queues = new Map<string, OwnerQueue>();
  for (const candidate of candidates) {
    const owner = candidate.owner;
    let queue = queues.get(owner);
    if (queue === undefined) {
      queue = { owner, jobs: [], next: 0, running: runningByUser.get(owner) ?? 0 };
      queues.set(owner, queue);
    }
    queue.jobs.push(candidate);
  }

  // Owners grouped by running count: within a group the fair-share term is equal.
  const groups = new Map<number, Group>();
  const addToGroup = (queue: OwnerQueue): void => {
    let group = groups.get(queue.running);
    if (group === undefined) {
      group = { running: queue.running, owners: new Heap<OwnerQueue>(compareQueueHeads) };
      groups.set(queue.running, group);
    }
    group.owners.push(queue);
  };
  for (const queue of queues.values()) addToGroup(queue);

  // A group ranks by its best head's score under the current shares.
  const compareGroups = (a: Group, b: Group): number => {
    const headA = headOf(a.owners.peek()!);
    const headB = headOf(b.owners.peek()!);
    return compareRanks(
      headA.base - fairSharePenalty(a.running, totalRunning, policy),
      headA.queuedAtMs,
      headA.jobId,
      headB.base - fairSharePenalty(b.running, totalRunning, policy),
      headB.queuedAtMs,
      headB.jobId,
    );
  };
  let best = new Heap<Group>(compareGroups, [...groups.values()]);

  const launches: ScheduledLaunch[] = [];
  let openPools = pools.all.filter((pool) => pool.freeSlots > 0).length;
  while (openPools > 0 && best.size > 0) {
    const group = best.peek()!;
    const queue = group.owners.peek()!;
    const job = headOf(queue);
    const pool = job.backend;
    const wasOpen = pool !== undefined && pool.freeSlots > 0;

    if (pool !== undefined && wasOpen && fits(pool, job.needs)) {
      launches.push({ jobId: job.jobId, backend: pool.name });
      take(pool, job.needs);
      if (pool.freeSlots <= 0) openPools -= 1;
      advance(queue);
      // The owner's running count and the total change: regroup the owner, re-rank the groups.
      group.owners.pop();
      if (group.owners.size === 0) groups.delete(group.running);
      queue.running += 1;
      totalRunning += 1;
      if (queue.next < queue.jobs.length) addToGroup(queue);
      best = new Heap<Group>(compareGroups, [...groups.values()]);
      continue;
    }

    if (pool?.reserved === false && wasOpen && job.aged && fitsWhenEmpty(pool, job.needs)) {
      take(pool, job.needs); // reserve: lower-ranked jobs backfill only beyond its needs
      pool.reserved = true;
      if (pool.freeSlots <= 0) openPools -= 1;
    }
    advance(queue);
    // Skip: only this owner's head changed, and only downwards, so sift the heaps down.
    if (queue.next < queue.jobs.length) group.owners.siftDownTop();
    else group.owners.pop();
    if (group.owners.size > 0) best.siftDownTop();
    else {
      groups.delete(group.running);
      best.pop();
    }
  }
  return launches;
}

/** Whether a job with these needs could ever run on the backend (when it is empty). */
export function fitsBackend(backend: Backend, needs: Resources | undefined): boolean {
  const [pool] = buildPools([backend]).all;
  return pool !== undefined && fitsWhenEmpty(pool, parseNeeds(needs, ''));
}

/**
 * Everything wrong with a plan, recounted from scratch (independently of the planner's own
 * bookkeeping): launches of jobs that are not waiting, twice, or on another backend than the
 * job's, and any backend whose slots or declared resources the plan exceeds. Empty = valid.
 * The caller may check a plan before sending launches; tests and the benchmark do.
 */
export function findPlanViolations(
  plan: readonly ScheduledLaunch[],
  waiting: readonly WaitingJob[],
  running: readonly RunningJob[],
  backends: readonly Backend[],
): string[] {
  const problems: string[] = [];
  type Usage = { slots: number } & Record<ResourceKind, number>;
  const usage = (): Usage => ({ slots: 0, cpu: 0, memoryGb: 0, gpu: 0 });
  const add = (into: Map<string, Usage>, backend: string, needs: Resources | undefined): void => {
    const entry = into.get(backend) ?? usage();
    entry.slots += 1;
    for (const kind of resourceKinds) entry[kind] += needs?.[kind] ?? 0;
    into.set(backend, entry);
  };
  const before = new Map<string, Usage>();
  for (const job of running) add(before, job.backend, job.needs);
  const added = new Map<string, Usage>();
  const waitingById = new Map(waiting.map((job) => [job.jobId, job]));
  const launched = new Set<string>();
  for (const launch of plan) {
    const job = waitingById.get(launch.jobId);
    if (job === undefined) problems.push(`${launch.jobId}: not a waiting job`);
    else if (launched.has(launch.jobId)) problems.push(`${launch.jobId}: launched twice`);
    else if (job.backend !== launch.backend) {
      problems.push(`${launch.jobId}: planned on ${launch.backend}, belongs on ${job.backend}`);
    } else add(added, launch.backend, job.needs);
    launched.add(launch.jobId);
  }
  const byName = new Map(backends.map((backend) => [backend.name, backend]));
  for (const [name, plus] of added) {
    const backend = byName.get(name);
    if (backend === undefined) {
      problems.push(`${name}: not a backend, ${plus.slots} launch(es) planned`);
      continue;
    }
    const base = before.get(name) ?? usage();
    if (base.slots + plus.slots > backend.slots) {
      problems.push(
        `${name}: ${base.slots + plus.slots} jobs hold slots, capacity ${backend.slots}`,
      );
    }
    for (const kind of resourceKinds) {
      const limit = backend.resources?.[kind];
      const total = base[kind] + plus[kind];
      // A job that needs none of a resource may run beside others that overcommit it.
      if (limit !== undefined && plus[kind] > 0 && total > limit + 1e-9) {
        problems.push(`${name}: ${kind} ${total} in use, capacity ${limit}`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Planner internals

interface Pool {
  readonly name: string;
  readonly capacity: { readonly slots: number; readonly resources: readonly number[] };
  freeSlots: number;
  /** Whether an aged job that does not fit already holds a reservation this tick (one per backend). */
  reserved: boolean;
  /** Free amount per resource kind (Infinity when undeclared); may go negative when overcommitted or reserved. */
  readonly free: number[];
}

interface Candidate {
  readonly jobId: string;
  readonly owner: string;
  readonly backend: Pool | undefined;
  readonly needs: readonly number[];
  readonly base: number;
  readonly queuedAtMs: number;
  /** Has waited W_cap: reserves capacity when it does not fit. */
  readonly aged: boolean;
}

interface OwnerQueue {
  readonly owner: string;
  /** In share-independent rank order. */
  readonly jobs: Candidate[];
  next: number;
  running: number;
}

interface Group {
  readonly running: number;
  readonly owners: Heap<OwnerQueue>;
}

function buildPools(backends: readonly Backend[]): {
  all: Pool[];
  byName: Map<string, Pool>;
} {
  const byName = new Map<string, Pool>();
  const all = backends.map((backend, i): Pool => {
    const field = `backends[${i}]`;
    checkName(backend.name, 'backends', i, 'name');
    if (byName.has(backend.name)) throw invalid(`${field}.name`, `duplicate ${backend.name}`);
    checkCount(backend.slots, `${field}.slots`);
    const free = resourceKinds.map((kind) => {
      const limit = backend.resources?.[kind];
      if (limit === undefined) return Infinity;
      if (!Number.isFinite(limit) || limit < 0) {
        throw invalid(`${field}.resources.${kind}`, `must be a finite number ≥ 0, got ${limit}`);
      }
      return limit;
    });
    const pool = {
      name: backend.name,
      capacity: { slots: backend.slots, resources: [...free] },
      freeSlots: backend.slots,
      reserved: false,
      free,
    };
    byName.set(backend.name, pool);
    return pool;
  });
  return { all, byName };
}

function fitsWhenEmpty(pool: Pool, needs: readonly number[]): boolean {
  return pool.capacity.slots >= 1 && needs.every((need, k) => need <= pool.capacity.resources[k]!);
}

function fits(pool: Pool, needs: readonly number[]): boolean {
  if (pool.freeSlots < 1) return false;
  for (let k = 0; k < needs.length; k++) {
    const need = needs[k]!;
    if (need > 0 && need > pool.free[k]!) return false;
  }
  return true;
}

function take(pool: Pool, needs: readonly number[]): void {
  pool.freeSlots -= 1;
  for (let k = 0; k < needs.length; k++) pool.free[k]! -= needs[k]!;
}

function headOf(queue: OwnerQueue): Candidate {
  return queue.jobs[queue.next]!;
}

/**
 * Moves past the head, and past every following job whose backend is unknown or full: a full
 * backend stays full for the rest of the tick, so those jobs would be skipped anyway, and
 * skipping them here spares a heap operation each.
 */
function advance(queue: OwnerQueue): void {
  const jobs = queue.jobs;
  let next = queue.next + 1;
  while (next < jobs.length) {
    const pool = jobs[next]!.backend;
    if (pool !== undefined && pool.freeSlots > 0) break;
    next += 1;
  }
  queue.next = next;
}

/** Rank without the fair-share term: the order of one owner's jobs, whatever the shares. */
function compareBase(a: Candidate, b: Candidate): number {
  return compareRanks(a.base, a.queuedAtMs, a.jobId, b.base, b.queuedAtMs, b.jobId);
}

function compareQueueHeads(a: OwnerQueue, b: OwnerQueue): number {
  return compareBase(headOf(a), headOf(b));
}

/** A binary min-heap under `compare` (the "smallest" is the best ranked). */
class Heap<T> {
  private readonly items: T[];

  constructor(
    private readonly compare: (a: T, b: T) => number,
    items: T[] = [],
  ) {
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i]!, items[parent]!) >= 0) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Restores the heap after the top item got worse in place. */
  siftDownTop(): void {
    this.siftDown(0);
  }

  private siftDown(start: number): void {
    const items = this.items;
    const n = items.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && this.compare(items[right]!, items[left]!) < 0 ? right : left;
      if (this.compare(items[child]!, items[i]!) >= 0) return;
      [items[i], items[child]] = [items[child]!, items[i]!];
      i = child;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

const isoInstant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

function parseJob(
  job: PriorityJob,
  policy: PriorityPolicy,
  where: string,
  index?: number,
): { priority: number; queuedAtMs: number } {
  checkName(job.jobId, where, index, 'jobId');
  checkName(job.owner, where, index, 'owner');
  const priority = job.taskPriority ?? 0;
  if (
    !Number.isInteger(priority) ||
    priority < policy.minTaskPriority ||
    priority > policy.maxTaskPriority
  ) {
    throw invalid(
      fieldName(where, index, 'taskPriority'),
      `must be an integer in [${policy.minTaskPriority}, ${policy.maxTaskPriority}], got ${priority}`,
    );
  }
  if (!Number.isInteger(job.attempt) || job.attempt < 1) {
    throw invalid(
      fieldName(where, index, 'attempt'),
      `must be a positive integer, got ${job.attempt}`,
    );
  }
  const queuedAtMs = typeof job.queuedAt === 'string' ? Date.parse(job.queuedAt) : NaN;
  if (!isoInstant.test(job.queuedAt) || !Number.isFinite(queuedAtMs)) {
    throw invalid(
      fieldName(where, index, 'queuedAt'),
      `must be an ISO 8601 instant with a zone, got ${job.queuedAt}`,
    );
  }
  return { priority, queuedAtMs };
}

/** The needs as an array in {@link resourceKinds} order, a missing need as 0. */
function parseNeeds(needs: Resources | undefined, where: string, index?: number): number[] {
  const values = [needs?.cpu ?? 0, needs?.memoryGb ?? 0, needs?.gpu ?? 0];
  for (let k = 0; k < values.length; k++) {
    const value = values[k]!;
    if (!Number.isFinite(value) || value < 0) {
      const field = fieldName(where, index, `needs.${resourceKinds[k]!}`);
      throw invalid(field, `must be a finite number ≥ 0, got ${value}`);
    }
  }
  return values;
}

function checkUniqueIds(jobs: readonly { readonly jobId: string }[], field: string): void {
  const seen = new Set<string>();
  jobs.forEach((job, i) => {
    if (seen.has(job.jobId)) throw invalid(`${field}[${i}].jobId`, `duplicate ${job.jobId}`);
    seen.add(job.jobId);
  });
}

function checkNow(now: Date): number {
  const ms = now instanceof Date ? now.getTime() : NaN;
  if (!Number.isFinite(ms)) throw invalid('now', 'must be a valid Date');
  return ms;
}

function checkCount(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw invalid(field, `must be a non-negative integer, got ${value}`);
  }
  return value;
}

function checkName(value: string, where: string, index: number | undefined, name: string): void {
  if (typeof value !== 'string' || value === '') {
    throw invalid(fieldName(where, index, name), 'must be a non-empty string');
  }
}

/** `where[index].name`: built only when an error is thrown (the planner parses 10⁵ jobs). */
function fieldName(where: string, index: number | undefined, name: string): string {
  const prefix = index === undefined ? where : `${where}[${index}]`;
  return prefix === '' ? name : `${prefix}.${name}`;
}

function invalid(field: string, why: string): BatonError {
  return new BatonError('validation', `${field}: ${why}`, { field });
}

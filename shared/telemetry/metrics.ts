import { metrics, type Attributes, type Meter } from '@opentelemetry/api';

/**
 * Baton's OpenTelemetry metrics, beside the Prometheus text of `GET /api/metrics`. Instruments
 * are made through the OTel metrics API on the global meter provider: in Azure the one
 * `@azure/monitor-opentelemetry` registers (so they reach Application Insights with the traces,
 * no extra dependency), anywhere else none (the API's no-op: recording costs nothing). The
 * meter is looked up at each record, because the provider is registered after modules load.
 *
 * - `baton.job.duration` (histogram, s): how long each job ran, by source (`run` or `task`),
 *   backend and end state; a model run's steps are its jobs, so this is the step duration.
 * - `baton.retries` (counter): re-attempts, by kind (`job`, `task_job`, `activity`).
 * - `baton.runs` (gauge): runs by pipeline and status; `baton.backend.slots` and
 *   `baton.backend.slots.in_use` (gauges) by backend: recorded by the `sampleSlots` timer.
 */
const meterName = 'baton';

function meter(): Meter {
  return metrics.getMeter(meterName);
}

/** Instruments by name, per meter (a new global provider gets new instruments). */
const instruments = new WeakMap<Meter, Map<string, unknown>>();

function instrument<T>(name: string, make: (m: Meter) => T): T {
  const m = meter();
  const byName = instruments.get(m) ?? new Map<string, unknown>();
  instruments.set(m, byName);
  let found = byName.get(name) as T | undefined;
  if (found === undefined) {
    found = make(m);
    byName.set(name, found);
  }
  return found;
}

export const metricNames = {
  jobDuration: 'baton.job.duration',
  retries: 'baton.retries',
  runs: 'baton.runs',
  slots: 'baton.backend.slots',
  slotsInUse: 'baton.backend.slots.in_use',
} as const;

/** A job (of a run or of a task) ended: its duration, and a retry when it was not the first attempt. */
export function recordJobEnded(job: {
  source: 'run' | 'task';
  backend: string;
  state: string;
  seconds: number;
  attempt: number;
}): void {
  const attributes: Attributes = {
    'baton.source': job.source,
    'baton.backend': job.backend,
    'baton.job_state': job.state,
  };
  instrument(metricNames.jobDuration, (m) =>
    m.createHistogram(metricNames.jobDuration, {
      unit: 's',
      description: 'How long a job ran, from launch to end (a model run step is its job).',
    }),
  ).record(Math.max(0, job.seconds), attributes);
  if (job.attempt > 1) recordRetry(job.source === 'run' ? 'job' : 'task_job');
}

/** One re-attempt of a job, a task job or an activity. */
export function recordRetry(kind: 'job' | 'task_job' | 'activity'): void {
  instrument(metricNames.retries, (m) =>
    m.createCounter(metricNames.retries, {
      description: 'Re-attempts: jobs, task jobs and activities run again after a failure.',
    }),
  ).add(1, { 'baton.kind': kind });
}

/** The current slot use per backend, as gauges. */
export function recordSlotUse(
  backends: ReadonlyArray<{ backend: string; slots: number; inUse: number }>,
): void {
  const slots = instrument(metricNames.slots, (m) =>
    m.createGauge(metricNames.slots, { description: 'Slots a backend offers.' }),
  );
  const inUse = instrument(metricNames.slotsInUse, (m) =>
    m.createGauge(metricNames.slotsInUse, { description: 'Slots held on a backend.' }),
  );
  // A backend no longer declared offers nothing; its gauges would otherwise keep their last value.
  const now = new Set(backends.map((b) => b.backend));
  for (const backend of seenBackends) {
    if (now.has(backend)) continue;
    slots.record(0, { 'baton.backend': backend });
    inUse.record(0, { 'baton.backend': backend });
  }
  for (const b of backends) {
    seenBackends.add(b.backend);
    slots.record(b.slots, { 'baton.backend': b.backend });
    inUse.record(b.inUse, { 'baton.backend': b.backend });
  }
}

/** Runs kept in the store by pipeline and status, as a gauge. */
export function recordRunsByStatus(
  runs: ReadonlyArray<{ pipeline: string; status: string }>,
): void {
  const gauge = instrument(metricNames.runs, (m) =>
    m.createGauge(metricNames.runs, { description: 'Runs by pipeline and status.' }),
  );
  const counts = new Map<string, { pipeline: string; status: string; n: number }>();
  for (const r of runs) {
    const key = `${r.pipeline}\n${r.status}`;
    const entry = counts.get(key) ?? { pipeline: r.pipeline, status: r.status, n: 0 };
    entry.n += 1;
    counts.set(key, entry);
  }
  // A gauge keeps its last value per attribute set: a pair seen before and absent now is 0.
  for (const key of seenRunPairs) {
    if (counts.has(key)) continue;
    const [pipeline = '', status = ''] = key.split('\n');
    gauge.record(0, { 'baton.pipeline': pipeline, 'baton.status': status });
  }
  for (const [key, c] of counts) {
    seenRunPairs.add(key);
    gauge.record(c.n, { 'baton.pipeline': c.pipeline, 'baton.status': c.status });
  }
}

const seenRunPairs = new Set<string>();
const seenBackends = new Set<string>();

/**
 * Whether a real meter provider is registered (Azure Monitor, or a test's), so the timer only
 * pays for reading run statuses when someone will receive them.
 */
export function otelMetricsActive(): boolean {
  const provider = metrics.getMeterProvider() as { constructor?: { name?: string } };
  return provider.constructor?.name !== 'NoopMeterProvider';
}

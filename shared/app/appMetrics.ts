import type { Backend } from '../domain/priority.js';
import type { MetricFamily, MetricLabels, ScalarSample } from '../domain/prometheusText.js';
import { runLimited } from './runLimited.js';
import { toRunStatus, type RunStatus } from '../domain/runView.js';
import { holdsSlot, type JobState } from '../domain/taskStates.js';
import {
  taskJobsCollection,
  tasksCollection,
  type TaskJobRecord,
  type TaskRecord,
} from '../domain/tasks.js';
import {
  terminalRuntimeStatuses,
  type OrchestrationClient,
  type RuntimeStatus,
} from '../ports/orchestrationClient.js';
import type { StateStore } from '../ports/stateStore.js';
import { jobsCollection, type JobRecord } from './jobs.js';
import { runsCollection, type RunRecord } from './runs.js';

/**
 * Operator metrics for Prometheus beside the transfer ones (issue 9): runs by pipeline and
 * status, task jobs by state, and slot use per backend, computed from stored documents and the
 * orchestrations' statuses on each scrape. The only thing kept between scrapes is the status
 * of runs that ended (final by definition), so every host and every instance of the app still
 * answers the same for the same store.
 *
 * Runs by status and jobs by state are gauges (a run leaves `running` when it ends); the only
 * counter is runs started, which grows while run records are kept (deleting a run lowers it,
 * as for the transfer counters).
 */

/** What one scrape reads, already reduced to the fields the families need. */
export interface AppMetricsInput {
  runs: ReadonlyArray<{ pipeline: string; status: RunStatus }>;
  taskJobs: ReadonlyArray<{ backend: string; state: JobState }>;
  /** Jobs of pipeline runs that hold a slot (the scheduler counts them on the compute backend). */
  runJobsHoldingSlots: ReadonlyArray<{ backend: string }>;
  /** The backends and their slots (BATON_BACKEND_SLOTS). */
  backends: readonly Backend[];
}

/** Slots and slots in use of one backend, as the metrics, the slot history and OTel see them. */
export interface BackendSlotUse {
  backend: string;
  slots: number;
  inUse: number;
}

/**
 * Slot use per backend: task jobs that hold a slot (assigned or running) and pipeline-run jobs
 * pending or running, counted as the scheduler counts them. A backend that jobs hold slots on
 * but that is no longer declared still shows its use (with 0 slots).
 */
export function slotUseOf(
  input: Pick<AppMetricsInput, 'taskJobs' | 'runJobsHoldingSlots' | 'backends'>,
): BackendSlotUse[] {
  const inUse = new Map<string, number>();
  const holding = [
    ...input.taskJobs.filter((j) => holdsSlot(j.state)),
    ...input.runJobsHoldingSlots,
  ];
  for (const job of holding) inUse.set(job.backend, (inUse.get(job.backend) ?? 0) + 1);
  const names = [...new Set([...input.backends.map((b) => b.name), ...inUse.keys()])];
  return names.map((backend) => ({
    backend,
    slots: input.backends.find((b) => b.name === backend)?.slots ?? 0,
    inUse: inUse.get(backend) ?? 0,
  }));
}

export function appMetricFamilies(input: AppMetricsInput): MetricFamily[] {
  const slots = slotUseOf(input);
  return [
    {
      name: 'baton_runs',
      help: 'Runs kept in the store, by pipeline and status (pending, running, completed, failed, canceled).',
      type: 'gauge',
      samples: countBy(input.runs, (r) => ({ pipeline: r.pipeline, status: r.status })),
    },
    {
      name: 'baton_runs_started_total',
      help: 'Runs started, by pipeline (counted from the run records kept).',
      type: 'counter',
      samples: countBy(input.runs, (r) => ({ pipeline: r.pipeline })),
    },
    {
      name: 'baton_task_jobs',
      help: 'Jobs of tasks, by backend and state.',
      type: 'gauge',
      samples: countBy(input.taskJobs, (j) => ({ backend: j.backend, state: j.state })),
    },
    {
      name: 'baton_backend_slots',
      help: 'Slots a backend offers (BATON_BACKEND_SLOTS); 0 for one no longer declared.',
      type: 'gauge',
      samples: slots.map((b) => ({ labels: { backend: b.backend }, value: b.slots })),
    },
    {
      name: 'baton_backend_slots_in_use',
      help: 'Slots held on a backend: task jobs assigned or running, and pipeline-run jobs pending or running.',
      type: 'gauge',
      samples: slots.map((b) => ({ labels: { backend: b.backend }, value: b.inUse })),
    },
  ];
}

export interface AppMetricsDeps {
  state: StateStore;
  client: OrchestrationClient;
  backends: readonly Backend[];
  /** The compute backend pipeline-run jobs run on (`ComputeBackend.name`). */
  computeName: string;
}

/** Runtime statuses that can still change; every other one is final. */
const liveRuntimeStatuses: RuntimeStatus[] = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'];

/**
 * Final statuses of runs, per state store (a process may serve several stores: tests, the CLI
 * beside a host). Keyed by run id and creation time, because a deleted run's id may be used
 * again by a new run. An ended orchestration never changes its status, so once seen it is never
 * asked for again.
 */
const finalStatuses = new WeakMap<StateStore, Map<string, RunStatus>>();

/**
 * Reads what {@link appMetricFamilies} needs: the run records, the statuses of the runs that can
 * still change (one listing of the live orchestrations, then one status call for each run that
 * is neither live nor known to have ended: in a steady state, none), the tasks and their jobs,
 * and the run jobs holding slots. Documents are still queried on each scrape (runs, tasks and
 * task jobs come and go, and a task job can be retried); the instance listing, which covered
 * every orchestration ever run, sub-orchestrations included, is what no longer grows.
 */
export async function collectAppMetrics(deps: AppMetricsDeps): Promise<AppMetricsInput> {
  const [runDocs, live, slots] = await Promise.all([
    deps.state.query<RunRecord>(runsCollection),
    deps.client.list({ runtimeStatus: liveRuntimeStatuses }),
    collectSlotInputs(deps),
  ]);
  const cache = finalStatuses.get(deps.state) ?? new Map<string, RunStatus>();
  finalStatuses.set(deps.state, cache);
  const liveOf = new Map(live.map((i) => [i.instanceId, i.runtimeStatus]));
  const runs: Array<{ pipeline: string; status: RunStatus }> = [];
  const kept = new Set<string>();
  const unknown: Array<{
    runId: string;
    key: string;
    entry: { pipeline: string; status: RunStatus };
  }> = [];
  for (const { body } of runDocs) {
    const key = `${body.runId}\n${body.createdAt}`;
    kept.add(key);
    const liveStatus = liveOf.get(body.runId);
    const status = liveStatus === undefined ? cache.get(key) : toRunStatus(liveStatus);
    const entry = { pipeline: body.pipeline, status: status ?? 'pending' };
    runs.push(entry);
    if (status === undefined) unknown.push({ runId: body.runId, key, entry });
  }
  // Runs ended since the last scrape (after a start: all of them), asked a few at a time.
  await runLimited(unknown, 8, async ({ runId, key, entry }) => {
    const instance = await deps.client.getStatus(runId);
    // No instance yet (or purged behind the record's back): what the run view says, pending.
    entry.status = instance ? toRunStatus(instance.runtimeStatus) : 'pending';
    if (instance && terminalRuntimeStatuses.includes(instance.runtimeStatus)) {
      cache.set(key, entry.status);
    }
  });
  // Deleted runs leave the cache, so it never outgrows the store.
  for (const key of cache.keys()) if (!kept.has(key)) cache.delete(key);
  return { runs, ...slots };
}

/** What slot use needs (no orchestration status): tasks, their jobs, run jobs holding slots. */
export async function collectSlotInputs(
  deps: Pick<AppMetricsDeps, 'state' | 'backends' | 'computeName'>,
): Promise<Omit<AppMetricsInput, 'runs'>> {
  const [tasks, taskJobDocs, runJobs] = await Promise.all([
    deps.state.query<TaskRecord>(tasksCollection),
    deps.state.query<TaskJobRecord>(taskJobsCollection),
    deps.state.query<JobRecord>(jobsCollection, { where: { state: ['pending', 'running'] } }),
  ]);
  const backendOf = new Map(tasks.map((t) => [t.body.name, t.body.backend]));
  return {
    taskJobs: taskJobDocs.map(({ body }) => ({
      backend: backendOf.get(body.task) ?? 'unknown',
      state: body.state,
    })),
    runJobsHoldingSlots: runJobs.map(() => ({ backend: deps.computeName })),
    backends: deps.backends,
  };
}

function countBy<T>(items: readonly T[], labelsOf: (item: T) => MetricLabels): ScalarSample[] {
  const groups = new Map<string, ScalarSample>();
  for (const item of items) {
    const labels = labelsOf(item);
    const key = JSON.stringify(Object.entries(labels));
    const group = groups.get(key) ?? { labels, value: 0 };
    group.value += 1;
    groups.set(key, group);
  }
  return [...groups.values()];
}

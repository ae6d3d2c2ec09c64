import type { Backend } from '../domain/priority.js';
import type { MetricFamily, MetricLabels, ScalarSample } from '../domain/prometheusText.js';
import { toRunStatus, type RunStatus } from '../domain/runView.js';
import { holdsSlot, type JobState } from '../domain/taskStates.js';
import {
  taskJobsCollection,
  tasksCollection,
  type TaskJobRecord,
  type TaskRecord,
} from '../domain/tasks.js';
import type { OrchestrationClient } from '../ports/orchestrationClient.js';
import type { StateStore } from '../ports/stateStore.js';
import { jobsCollection, type JobRecord } from './jobs.js';
import { runsCollection, type RunRecord } from './runs.js';

/**
 * Operator metrics for Prometheus beside the transfer ones (issue 9): runs by pipeline and
 * status, task jobs by state, and slot use per backend, computed from stored documents and the
 * orchestrations' statuses on each scrape (no process-global registry, so every host and every
 * instance of the app answers the same for the same store).
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

export function appMetricFamilies(input: AppMetricsInput): MetricFamily[] {
  const inUse = new Map<string, number>();
  const holding = [
    ...input.taskJobs.filter((j) => holdsSlot(j.state)),
    ...input.runJobsHoldingSlots,
  ];
  for (const job of holding) inUse.set(job.backend, (inUse.get(job.backend) ?? 0) + 1);
  // A backend that jobs hold slots on but that is no longer declared still shows its use.
  const backendNames = [...new Set([...input.backends.map((b) => b.name), ...inUse.keys()])];
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
      samples: backendNames.map((backend) => ({
        labels: { backend },
        value: input.backends.find((b) => b.name === backend)?.slots ?? 0,
      })),
    },
    {
      name: 'baton_backend_slots_in_use',
      help: 'Slots held on a backend: task jobs assigned or running, and pipeline-run jobs pending or running.',
      type: 'gauge',
      samples: backendNames.map((backend) => ({
        labels: { backend },
        value: inUse.get(backend) ?? 0,
      })),
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

/**
 * Reads what {@link appMetricFamilies} needs: one listing of the orchestrations (not one status
 * call per run), the run records, the tasks and their jobs, and the run jobs holding slots.
 */
export async function collectAppMetrics(deps: AppMetricsDeps): Promise<AppMetricsInput> {
  const [runDocs, instances, tasks, taskJobDocs, runJobs] = await Promise.all([
    deps.state.query<RunRecord>(runsCollection),
    deps.client.list(),
    deps.state.query<TaskRecord>(tasksCollection),
    deps.state.query<TaskJobRecord>(taskJobsCollection),
    deps.state.query<JobRecord>(jobsCollection, { where: { state: ['pending', 'running'] } }),
  ]);
  const runtimeOf = new Map(instances.map((i) => [i.instanceId, i.runtimeStatus]));
  const backendOf = new Map(tasks.map((t) => [t.body.name, t.body.backend]));
  return {
    runs: runDocs.map(({ body }) => {
      const runtime = runtimeOf.get(body.runId);
      // No instance yet (or purged behind the record's back): what the run view says, pending.
      return { pipeline: body.pipeline, status: runtime ? toRunStatus(runtime) : 'pending' };
    }),
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

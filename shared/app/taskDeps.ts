import type { Backend } from '../domain/priority.js';
import { parseBackendSlots } from '../domain/tasks.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { ComputeBackend } from '../ports/compute.js';
import type { JobStaging } from '../ports/jobStaging.js';
import type { Lake } from '../ports/lake.js';
import type { StateStore } from '../ports/stateStore.js';
import type { Services } from './services.js';

/** What the task use cases, the scheduler and the task job handlers work through. */
export interface TaskDeps {
  state: StateStore;
  lake: Lake;
  bus: Bus;
  compute: ComputeBackend;
  staging: JobStaging;
  clock: Clock;
  queues: { launchJob: string; jobEvents: string; scheduler: string };
  /** Backends and their slots (BATON_BACKEND_SLOTS). */
  backends: readonly Backend[];
  /** Jobs in a task's test gate. */
  testJobs: number;
  /** First retry delay of a failed job, in seconds. */
  retryBackoffSeconds: number;
  /** On-demand ticks requested within this window run once, at its end. */
  tickCoalesceMs: number;
}

export function taskDepsOf(s: Services): TaskDeps {
  return {
    state: s.state,
    lake: s.lake,
    bus: s.bus,
    compute: s.compute,
    staging: s.staging,
    clock: s.clock,
    queues: {
      launchJob: s.config.BATON_LAUNCH_JOB_QUEUE,
      jobEvents: s.config.BATON_JOB_EVENTS_QUEUE,
      scheduler: s.config.BATON_SCHEDULER_QUEUE,
    },
    backends: parseBackendSlots(s.config.BATON_BACKEND_SLOTS),
    testJobs: s.config.BATON_TASK_TEST_JOBS,
    retryBackoffSeconds: s.config.BATON_TASK_RETRY_BACKOFF_SECONDS,
    tickCoalesceMs: 250,
  };
}

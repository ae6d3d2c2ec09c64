import type { JobDeps } from './jobs.js';
import type { Services } from './services.js';

/** The job functions' ports, taken from the process-wide services and settings. */
export function jobDepsOf(s: Services): JobDeps {
  return {
    state: s.state,
    bus: s.bus,
    compute: s.compute,
    clock: s.clock,
    logs: s.logs,
    queues: {
      launchJob: s.config.BATON_LAUNCH_JOB_QUEUE,
      jobEvents: s.config.BATON_JOB_EVENTS_QUEUE,
    },
  };
}

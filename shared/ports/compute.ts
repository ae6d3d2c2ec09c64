/**
 * Where jobs run. A job is launched from an argv array (never a shell string); launching the
 * same `jobId` twice starts nothing new and returns the existing job's status, so an activity
 * that is redelivered cannot start a second container or process.
 */
export interface JobSpec {
  /** Derived from runId + stepId + attempt; safe characters only ([a-z0-9-], max 63). */
  jobId: string;
  argv: string[];
  /** Container image for container backends; ignored by the local process backend. */
  image?: string;
  env?: Record<string, string>;
  /** Working directory (local backend only; must be inside the backend's work root). */
  cwd?: string;
  cpu?: number;
  memoryGb?: number;
  timeoutSeconds?: number;
  /**
   * Sample the job's resource use every `intervalSeconds` (0.1 to 3600), readable through
   * {@link ComputeBackend.metrics}. Omitted: nothing is sampled and `metrics` returns [].
   */
  monitor?: { intervalSeconds: number };
}

export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'timed_out';

export const terminalJobStates: readonly JobState[] = [
  'succeeded',
  'failed',
  'canceled',
  'timed_out',
];

export interface JobStatus {
  jobId: string;
  state: JobState;
  exitCode?: number;
  /** ISO 8601 */
  startedAt?: string;
  finishedAt?: string;
  message?: string;
}

/**
 * One reading of a job's resource use. CPU and RSS cover the job's own processes (its process
 * group locally), not the host; the system memory figures are the host's (inside a container,
 * usually the node's, not the container's limit).
 */
export interface JobMetricSample {
  /** ISO 8601, when the sample was taken. */
  at: string;
  /** Seconds since the job started; strictly increasing from sample to sample. */
  elapsedSeconds: number;
  /**
   * Average CPU since the previous sample (the first: since the job started), as a percentage
   * of one core summed over the processes, so two busy cores read 200.
   */
  cpuPercent: number;
  /** Resident memory, summed over the processes. */
  rssBytes: number;
  systemMemoryUsedBytes: number;
  systemMemoryTotalBytes: number;
  /** Live processes of the job when sampled (0 once they are all gone). */
  processes: number;
}

export interface ComputeBackend {
  readonly name: string;
  launch(spec: JobSpec): Promise<JobStatus>;
  /** `not_found` for an unknown job. */
  status(jobId: string): Promise<JobStatus>;
  /** Combined stdout/stderr; `tail` keeps the last N lines. */
  logs(jobId: string, options?: { tail?: number }): Promise<string>;
  /**
   * Resource samples of the job's own process tree, oldest first, for a job launched with
   * `monitor` (otherwise [], as for a job that has not been sampled yet). `not_found` for an
   * unknown job. A backend that cannot sample returns [] (ACI: ARM exposes no per-process
   * metrics). May be called while the job runs.
   */
  metrics(jobId: string): Promise<JobMetricSample[]>;
  /** Stops the job (the whole process group / container group). Idempotent. */
  cancel(jobId: string): Promise<JobStatus>;
  /**
   * Frees what an ended job still holds on the backend (its container group, its process
   * folder), once its logs are saved elsewhere. Afterwards the job is `not_found`. Idempotent
   * (an unknown job is fine); `conflict` while the job has not ended.
   */
  release(jobId: string): Promise<void>;
  /**
   * Optional: calls `listener` soon after any job of this backend ends, so a host can look at
   * once instead of at its watcher's next tick (the watcher stays the source of truth; a missed
   * call only costs latency). Returns a function that stops listening.
   */
  onJobsEnded?(listener: () => void): () => void;
}

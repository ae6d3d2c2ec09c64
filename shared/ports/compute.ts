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

export interface ComputeBackend {
  readonly name: string;
  launch(spec: JobSpec): Promise<JobStatus>;
  /** `not_found` for an unknown job. */
  status(jobId: string): Promise<JobStatus>;
  /** Combined stdout/stderr; `tail` keeps the last N lines. */
  logs(jobId: string, options?: { tail?: number }): Promise<string>;
  /** Stops the job (the whole process group / container group). Idempotent. */
  cancel(jobId: string): Promise<JobStatus>;
  /**
   * Frees what an ended job still holds on the backend (its container group, its process
   * folder), once its logs are saved elsewhere. Afterwards the job is `not_found`. Idempotent
   * (an unknown job is fine); `conflict` while the job has not ended.
   */
  release(jobId: string): Promise<void>;
}

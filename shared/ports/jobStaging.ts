import type { ExecValues } from '../domain/execTemplate.js';

/**
 * Gets a task job's lake files to where its backend runs it, and its output back. The values
 * returned become `%DATA`, `%IN` and `%OUT` (as environment variables, never shell text).
 *
 * `%DATA` is the task's data dataset (a file, or a folder of files), `%IN` the job's config
 * item (a file), `%OUT` a path that does not exist yet in a folder private to this attempt: the
 * job may write a file there or make it a folder. Outputs are create-only in the lake.
 */
export interface StagedJob {
  /** The attempt's compute job id: names its private working folder. */
  computeJobId: string;
  /** The task's incarnation: names the data shared by the task's jobs. */
  incarnation: string;
  data: { path: string; kind: 'file' | 'folder' };
  item: { path: string; name: string };
}

export interface PreparedJob {
  values: ExecValues;
  /** Working directory for the job (backends that run on this machine). */
  cwd?: string;
}

export interface CollectedOutput {
  /** Files copied into the lake below the output folder. */
  files: number;
  bytes: number;
}

export interface JobStaging {
  /** Whether jobs on this compute backend can be staged here (tasks elsewhere are refused). */
  supports(backend: string): boolean;
  /** Copies the inputs into place (idempotent: a second call reuses what is there). */
  prepare(job: StagedJob): Promise<PreparedJob>;
  /**
   * Copies what the job wrote to `%OUT` into the lake below `outputPath` (create-only; a file
   * already there from an earlier call is kept). Returns what was copied.
   */
  collect(job: StagedJob, outputPath: string): Promise<CollectedOutput>;
  /** Removes the attempt's private folder. Idempotent. */
  discard(job: StagedJob): Promise<void>;
  /** Removes the task's shared data copy. Idempotent. */
  discardTask(incarnation: string): Promise<void>;
}

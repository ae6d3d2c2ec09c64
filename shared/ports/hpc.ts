/**
 * A high-performance computing site (NERSC via the Superfacility API, ALCF via Globus Compute,
 * a local process site for one machine): reconstruction of a raw scan into TIFF slices, and a
 * multi-resolution (Zarr-like) pyramid built from the slices. Work is submitted, followed, and
 * cancelable; a failed job is a failure with its reason.
 */
export interface HpcJobRequest {
  /** Idempotency key: submitting the same id twice starts one job. */
  jobId: string;
  /** Input and output folders as the site sees them. */
  input: string;
  output: string;
  /** Site-specific settings (image, account, queue...), validated by the controller. */
  options?: Record<string, string | number | boolean>;
}

export type HpcJobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

export interface HpcJobStatus {
  jobId: string;
  state: HpcJobState;
  /** The site's own id (Slurm job id, Globus Compute task id). */
  siteJobId?: string;
  reason?: string;
}

export interface HpcController {
  readonly site: string;
  reconstruct(request: HpcJobRequest): Promise<HpcJobStatus>;
  buildMultiResolution(request: HpcJobRequest): Promise<HpcJobStatus>;
  /** `not_found` for an unknown job. */
  status(jobId: string): Promise<HpcJobStatus>;
  /** Idempotent. */
  cancel(jobId: string): Promise<HpcJobStatus>;
}

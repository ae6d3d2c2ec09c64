import { BatonError } from '../../domain/errors.js';
import type { ComputeBackend, JobStatus } from '../../ports/compute.js';
import type { HpcController, HpcJobRequest, HpcJobState, HpcJobStatus } from '../../ports/hpc.js';
import { validateHpcJobId, validateLocalPath, type HpcTask } from '../hpcJobs.js';

export interface LocalHpcSiteOptions {
  /** The name it reports (default `local`; `nersc` when NERSC's scripts run here). */
  site?: string;
  /** Where the scripts run (LocalProcessBackend on one machine). */
  backend: ComputeBackend;
  /**
   * argv templates; `{input}` and `{output}` are replaced by the request's folders (whole
   * arguments or parts of them). No shell is involved: each element is one argument.
   */
  reconstruct: string[];
  multiResolution: string[];
  /** Working directory for the scripts, relative to the backend's work root. */
  cwd?: string;
  timeoutSeconds?: number;
}

/**
 * An HPC site on one machine: the reconstruction and multi-resolution scripts run as local
 * processes through the ComputeBackend port, with the job's id as the backend's job id (so a
 * second submit of the same id starts nothing new, even after a restart, because the backend
 * keeps jobs on disk). Request `options` are passed to the scripts as environment variables
 * `BATON_OPT_<KEY>` (keys `[A-Za-z0-9_]`), never spliced into argv.
 *
 * States: pending → queued, running → running, succeeded → succeeded, canceled → canceled,
 * failed and timed_out → failed with the backend's message (exit code) as the reason.
 */
export class LocalHpcSite implements HpcController {
  readonly site: string;

  constructor(private readonly options: LocalHpcSiteOptions) {
    this.site = options.site ?? 'local';
    if (options.reconstruct.length === 0 || options.multiResolution.length === 0) {
      throw new BatonError('validation', 'local HPC site: both argv templates must be given', {
        field: options.reconstruct.length === 0 ? 'reconstruct' : 'multiResolution',
      });
    }
  }

  reconstruct(request: HpcJobRequest): Promise<HpcJobStatus> {
    return this.launch('reconstruct', request);
  }

  buildMultiResolution(request: HpcJobRequest): Promise<HpcJobStatus> {
    return this.launch('multi_resolution', request);
  }

  async status(jobId: string): Promise<HpcJobStatus> {
    validateHpcJobId(jobId);
    return fromJobStatus(await this.options.backend.status(jobId));
  }

  async cancel(jobId: string): Promise<HpcJobStatus> {
    validateHpcJobId(jobId);
    return fromJobStatus(await this.options.backend.cancel(jobId));
  }

  private async launch(task: HpcTask, request: HpcJobRequest): Promise<HpcJobStatus> {
    await Promise.resolve();
    validateHpcJobId(request.jobId);
    const valid = {
      ...request,
      input: validateLocalPath(request.input, 'input'),
      output: validateLocalPath(request.output, 'output'),
    };
    const template =
      task === 'reconstruct' ? this.options.reconstruct : this.options.multiResolution;
    // One pass, so a path that itself contains "{output}" is not substituted again.
    const argv = template.map((arg) =>
      arg.replace(/\{(input|output)\}/g, (_, key: string) =>
        key === 'input' ? valid.input : valid.output,
      ),
    );
    const env: Record<string, string> = { BATON_HPC_TASK: task };
    for (const [key, value] of Object.entries(valid.options ?? {})) {
      if (!/^[A-Za-z0-9_]{1,64}$/.test(key)) {
        throw new BatonError('validation', `options.${key}: option names are [A-Za-z0-9_]`, {
          field: `options.${key}`,
        });
      }
      env[`BATON_OPT_${key.toUpperCase()}`] = String(value);
    }
    const status = await this.options.backend.launch({
      jobId: valid.jobId,
      argv,
      env,
      ...(this.options.cwd === undefined ? {} : { cwd: this.options.cwd }),
      ...(this.options.timeoutSeconds === undefined
        ? {}
        : { timeoutSeconds: this.options.timeoutSeconds }),
    });
    return fromJobStatus(status);
  }
}

const stateByJobState: Record<JobStatus['state'], HpcJobState> = {
  pending: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'canceled',
  timed_out: 'failed',
};

function fromJobStatus(status: JobStatus): HpcJobStatus {
  const state = stateByJobState[status.state];
  const reason =
    state === 'failed' || state === 'canceled'
      ? [
          status.state === 'timed_out' ? 'timed out' : undefined,
          status.message,
          status.exitCode === undefined ? undefined : `exit code ${status.exitCode}`,
        ]
          .filter((s) => s !== undefined && s !== '')
          .join('; ') || status.state
      : undefined;
  return {
    jobId: status.jobId,
    state,
    siteJobId: status.jobId,
    ...(reason === undefined ? {} : { reason }),
  };
}

import { z } from 'zod';
import { BatonError, notFound, type ErrorCode } from '../../domain/errors.js';
import type { HpcController, HpcJobRequest, HpcJobState, HpcJobStatus } from '../../ports/hpc.js';
import { RestClient, type RetryOptions } from '../http/restClient.js';
import { validateHpcJobId, validateHpcRequest, type HpcTask } from '../hpcJobs.js';

export interface SfapiControllerOptions {
  /** Default `https://api.nersc.gov/api/v1.2`. */
  baseUrl?: string;
  /** An SFAPI access token (from the client-credentials exchange); never logged. */
  token: string;
  /** Default `perlmutter`. */
  machine?: string;
  /** The NERSC project charged (`#SBATCH -A`). */
  account: string;
  /** The container image that holds the scripts (run with `podman-hpc`). */
  image: string;
  /** Commands inside the image, e.g. `python /alsuser/sfapi_reconstruction.py`. */
  reconstructCommand: string[];
  multiResolutionCommand: string[];
  /** Defaults: qos `realtime`, constraint `cpu`, time `00:15:00`, 1 node. */
  defaults?: { qos?: string; constraint?: string; time?: string; nodes?: number };
  timeoutMs?: number;
  retry?: RetryOptions;
  fetch?: typeof fetch;
}

// ---------------------------------------------------------------------------------------------
// Wire shapes (NERSC Superfacility API v1.2). Unknown fields are ignored.

const submitResponse = z.object({
  task_id: z.string().min(1).nullish(),
  status: z.string(),
  error: z.string().nullish(),
});
const taskResponse = z.object({
  id: z.string(),
  status: z.string(),
  result: z.string().nullish(),
});
const taskResult = z.object({
  status: z.string(),
  jobid: z.union([z.string(), z.number()]).transform(String).optional(),
  error: z.string().nullish(),
});
const jobsResponse = z.object({
  status: z.string(),
  output: z
    .array(
      z.object({
        jobid: z.union([z.string(), z.number()]).transform(String).optional(),
        state: z.string(),
        exitcode: z.string().optional(),
        reason: z.string().optional(),
      }),
    )
    .default([]),
  error: z.string().nullish(),
});
const okResponse = z.object({ status: z.string(), error: z.string().nullish() });
const errorBody = z.object({ detail: z.union([z.string(), z.array(z.unknown())]).optional() });

// Strict patterns for everything the batch script embeds (besides the validated paths).
const accountPattern = /^[A-Za-z0-9_]{1,32}$/;
const machinePattern = /^[a-z0-9]{1,32}$/;
const qosPattern = /^[a-z_]{1,32}$/;
const constraintPattern = /^[a-z0-9&|_]{1,32}$/;
const timePattern = /^(?:\d{1,2}-)?\d{1,2}:\d{2}:\d{2}$/;
const imagePattern = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,255}$/;
const commandWordPattern = /^[A-Za-z0-9._/=:,+-]{1,256}$/;

interface Known {
  taskId: string;
  jobid?: string;
  failed?: string;
}

/**
 * HpcController for NERSC through the Superfacility API v1.2 (`fetch`, no SDK).
 *
 * - **Submit**: `POST /compute/jobs/{machine}` with form fields `job` (the batch script text)
 *   and `isPath=false` → an SFAPI task id; `GET /tasks/{id}` later gives the task's `result`,
 *   a JSON string holding the Slurm `jobid` (or `{"status":"error","error":…}`: a failed job
 *   with sbatch's reason). The job is not blocked on: `status` resolves the task lazily.
 * - **Status**: `GET /compute/jobs/{machine}/{jobid}?sacct=true`: PENDING → queued,
 *   RUNNING/COMPLETING/CONFIGURING → running, COMPLETED → succeeded, CANCELLED… → canceled,
 *   FAILED/TIMEOUT/OUT_OF_MEMORY/NODE_FAIL/PREEMPTED/BOOT_FAIL/DEADLINE → failed (state,
 *   exit code and reason as the reason). No row yet (sacct lags) → queued.
 * - **Cancel**: `DELETE /compute/jobs/{machine}/{jobid}`.
 * - **Script safety**: the script is built only from values that match strict patterns —
 *   paths (absolute, `[A-Za-z0-9._-/]`, no `..`), account, qos, constraint, time, image and
 *   command words — and every value is also single-quoted (`'…'`; the patterns exclude `'`),
 *   so no input can reach the shell as code. Anything else is `validation` before any request.
 * - **Idempotency**: jobId → SFAPI task is kept in memory: a second submit of the same id in
 *   this process starts nothing. SFAPI has no idempotency key, so after a restart (or a lost
 *   `POST` answer) a resubmit could start a second Slurm job; the job name (`--job-name` =
 *   jobId) lets an operator find duplicates. Unknown ids are `not_found`.
 * - Errors: FastAPI `{detail}` bodies; 4xx → validation/forbidden/not_found, 429/5xx/timeouts
 *   retried then `unavailable`; a 200 with `status: "ERROR"` on submit is `unavailable`.
 */
export class SfapiController implements HpcController {
  readonly site = 'nersc';
  private readonly client: RestClient;
  private readonly machine: string;
  private readonly settings: Omit<SfapiControllerOptions, 'token' | 'fetch' | 'retry'>;
  private readonly jobs = new Map<string, Known>();

  constructor(options: SfapiControllerOptions) {
    this.client = new RestClient({
      service: 'NERSC SFAPI',
      baseUrl: options.baseUrl ?? 'https://api.nersc.gov/api/v1.2',
      token: options.token,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      classifyError: classifySfapiError,
    });
    this.machine = checked(options.machine ?? 'perlmutter', machinePattern, 'machine');
    checked(options.account, accountPattern, 'account');
    checked(options.image, imagePattern, 'image');
    for (const word of [...options.reconstructCommand, ...options.multiResolutionCommand]) {
      checked(word, commandWordPattern, 'command');
    }
    this.settings = {
      account: options.account,
      image: options.image,
      reconstructCommand: options.reconstructCommand,
      multiResolutionCommand: options.multiResolutionCommand,
      ...(options.defaults === undefined ? {} : { defaults: options.defaults }),
    };
  }

  reconstruct(request: HpcJobRequest): Promise<HpcJobStatus> {
    return this.submit('reconstruct', request);
  }

  buildMultiResolution(request: HpcJobRequest): Promise<HpcJobStatus> {
    return this.submit('multi_resolution', request);
  }

  async status(jobId: string): Promise<HpcJobStatus> {
    const known = this.known(jobId);
    const jobid = await this.resolveJobId(known);
    if (known.failed !== undefined) return { jobId, state: 'failed', reason: known.failed };
    if (jobid === undefined) return { jobId, state: 'queued' };
    const jobs = await this.client.request('GET', {
      path: `/compute/jobs/${this.machine}/${encodeURIComponent(jobid)}`,
      what: 'GET /compute/jobs/{machine}/{jobid}',
      query: { sacct: 'true' },
      schema: jobsResponse,
    });
    if (jobs.status.toUpperCase() === 'ERROR') {
      throw new BatonError('unavailable', `NERSC SFAPI job status: ${jobs.error ?? 'error'}`);
    }
    const row = jobs.output.find((j) => j.jobid === undefined || j.jobid === jobid);
    if (row === undefined) return { jobId, state: 'queued', siteJobId: jobid };
    return fromSlurm(jobId, jobid, row);
  }

  async cancel(jobId: string): Promise<HpcJobStatus> {
    const known = this.known(jobId);
    const current = await this.status(jobId);
    if (current.state !== 'queued' && current.state !== 'running') return current;
    const jobid = known.jobid;
    if (jobid === undefined) {
      // sbatch has not answered yet: there is no Slurm job to cancel; the caller asks again.
      return { jobId, state: 'queued', reason: 'not yet submitted to Slurm; cancel again' };
    }
    await this.client.request('DELETE', {
      path: `/compute/jobs/${this.machine}/${encodeURIComponent(jobid)}`,
      what: 'DELETE /compute/jobs/{machine}/{jobid}',
      schema: okResponse,
    });
    const after = await this.status(jobId);
    // Slurm records the cancel asynchronously; the request itself is the answer.
    return after.state === 'queued' || after.state === 'running'
      ? { jobId, state: 'canceled', siteJobId: jobid, reason: 'canceled on request' }
      : after;
  }

  // -------------------------------------------------------------------------------------------

  private async submit(task: HpcTask, request: HpcJobRequest): Promise<HpcJobStatus> {
    const valid = validateHpcRequest(request);
    if (this.jobs.has(valid.jobId)) return this.status(valid.jobId);
    const script = this.batchScript(task, valid);
    const submitted = await this.client.request('POST', {
      path: `/compute/jobs/${this.machine}`,
      what: 'POST /compute/jobs/{machine}',
      form: { job: script, isPath: 'false' },
      schema: submitResponse,
    });
    if (submitted.status.toUpperCase() === 'ERROR' || submitted.task_id == null) {
      throw new BatonError(
        'unavailable',
        `NERSC SFAPI refused the job: ${submitted.error ?? 'no task id'}`,
        { retryable: false },
      );
    }
    this.jobs.set(valid.jobId, { taskId: submitted.task_id });
    return this.status(valid.jobId);
  }

  /** The Slurm batch script; every embedded value is pattern-checked and single-quoted. */
  batchScript(task: HpcTask, request: HpcJobRequest): string {
    const options = request.options ?? {};
    const defaults = this.settings.defaults ?? {};
    const qos = checked(
      String(options.qos ?? defaults.qos ?? 'realtime'),
      qosPattern,
      'options.qos',
    );
    const constraint = checked(
      String(options.constraint ?? defaults.constraint ?? 'cpu'),
      constraintPattern,
      'options.constraint',
    );
    const time = checked(
      String(options.time ?? defaults.time ?? '00:15:00'),
      timePattern,
      'options.time',
    );
    const nodes = Number(options.nodes ?? defaults.nodes ?? 1);
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) {
      throw new BatonError('validation', 'options.nodes: an integer from 1 to 64', {
        field: 'options.nodes',
      });
    }
    for (const key of Object.keys(options)) {
      if (!['qos', 'constraint', 'time', 'nodes'].includes(key)) {
        throw new BatonError(
          'validation',
          `options.${key}: not a NERSC option (qos, constraint, time, nodes)`,
          {
            field: `options.${key}`,
          },
        );
      }
    }
    const command =
      task === 'reconstruct'
        ? this.settings.reconstructCommand
        : this.settings.multiResolutionCommand;
    const q = shellQuote;
    return [
      '#!/bin/bash',
      `#SBATCH --job-name=${q(request.jobId)}`,
      `#SBATCH -A ${q(this.settings.account)}`,
      `#SBATCH -q ${q(qos)}`,
      `#SBATCH -C ${q(constraint)}`,
      `#SBATCH -N ${nodes}`,
      `#SBATCH --time=${q(time)}`,
      'set -euo pipefail',
      `mkdir -p ${q(request.output)}`,
      [
        'podman-hpc run --rm',
        `--volume ${q(`${request.input}:${request.input}`)}`,
        `--volume ${q(`${request.output}:${request.output}`)}`,
        q(this.settings.image),
        ...command.map(q),
        q(request.input),
        q(request.output),
      ].join(' '),
      '',
    ].join('\n');
  }

  private known(jobId: string): Known {
    validateHpcJobId(jobId);
    const known = this.jobs.get(jobId);
    if (known === undefined) throw notFound(`NERSC job ${jobId}`);
    return known;
  }

  /** Reads the SFAPI task until it names the Slurm job (or says why there is none). */
  private async resolveJobId(known: Known): Promise<string | undefined> {
    if (known.jobid !== undefined || known.failed !== undefined) return known.jobid;
    const task = await this.client.request('GET', {
      path: `/tasks/${encodeURIComponent(known.taskId)}`,
      what: 'GET /tasks/{id}',
      schema: taskResponse,
    });
    if (task.result === null || task.result === undefined || task.result === '') return undefined;
    let json: unknown;
    try {
      json = JSON.parse(task.result) as unknown;
    } catch (error) {
      throw new BatonError('internal', 'NERSC SFAPI GET /tasks/{id}: result is not JSON', {
        cause: error,
      });
    }
    const result = taskResult.safeParse(json);
    if (!result.success) {
      throw new BatonError('internal', 'NERSC SFAPI GET /tasks/{id}: unexpected result');
    }
    if (result.data.status.toLowerCase() === 'error' || result.data.jobid === undefined) {
      known.failed = `sbatch failed: ${result.data.error ?? 'no job id'}`;
      return undefined;
    }
    known.jobid = result.data.jobid;
    return known.jobid;
  }
}

function fromSlurm(
  jobId: string,
  jobid: string,
  row: { state: string; exitcode?: string | undefined; reason?: string | undefined },
): HpcJobStatus {
  const slurm = row.state.split(' ')[0]?.toUpperCase() ?? '';
  const state: HpcJobState =
    slurm === 'PENDING' || slurm === 'REQUEUED' || slurm === 'SUSPENDED'
      ? 'queued'
      : slurm === 'RUNNING' || slurm === 'COMPLETING' || slurm === 'CONFIGURING'
        ? 'running'
        : slurm === 'COMPLETED'
          ? 'succeeded'
          : slurm === 'CANCELLED'
            ? 'canceled'
            : 'failed';
  const reason =
    state === 'failed' || state === 'canceled'
      ? [row.state, row.exitcode === undefined ? undefined : `exit ${row.exitcode}`, row.reason]
          .filter((s) => s !== undefined && s !== '' && s !== 'None')
          .join('; ')
      : undefined;
  return { jobId, state, siteJobId: jobid, ...(reason === undefined ? {} : { reason }) };
}

/** Single quotes, with any `'` closed, escaped and reopened (the patterns already exclude it). */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function checked(value: string, pattern: RegExp, field: string): string {
  if (!pattern.test(value)) {
    throw new BatonError('validation', `${field}: "${value.slice(0, 80)}" is not allowed here`, {
      field,
    });
  }
  return value;
}

function classifySfapiError(status: number, body: unknown): { detail?: string; code?: ErrorCode } {
  const parsed = errorBody.safeParse(body);
  if (!parsed.success || parsed.data.detail === undefined) return {};
  const detail =
    typeof parsed.data.detail === 'string'
      ? parsed.data.detail
      : JSON.stringify(parsed.data.detail);
  return { detail: detail.slice(0, 300) };
}

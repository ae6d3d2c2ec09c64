import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BatonError, notFound } from '../../domain/errors.js';
import type { HpcController, HpcJobRequest, HpcJobStatus } from '../../ports/hpc.js';
import { RestClient, type RetryOptions } from '../http/restClient.js';
import { validateHpcJobId, validateHpcRequest, type HpcTask } from '../hpcJobs.js';

export interface GlobusComputeControllerOptions {
  /** Default `https://compute.api.globus.org`. */
  baseUrl?: string;
  /** A Globus Compute access token; never logged. */
  token: string;
  /** The Globus Compute endpoint at ALCF (Polaris). */
  endpointId: string;
  /** The registered function (the JSON wrapper, see below). */
  functionId: string;
  /** A separate function for the multi-resolution step; default `functionId`. */
  multiResolutionFunctionId?: string;
  timeoutMs?: number;
  retry?: RetryOptions;
  fetch?: typeof fetch;
}

// ---------------------------------------------------------------------------------------------
// Wire shapes (Globus Compute web service API v2). Unknown fields are ignored.

const submitResponse = z.object({
  response: z.string().optional(),
  task_group_id: z.string().optional(),
  results: z
    .array(
      z.object({
        task_uuid: z.string().min(1).optional(),
        status: z.string().optional(),
        http_status_code: z.number().optional(),
        reason: z.string().optional(),
      }),
    )
    .min(1),
});
const taskResponse = z.object({
  task_id: z.string(),
  status: z.string(),
  result: z.string().nullish(),
  exception: z.string().nullish(),
});
/** What the JSON wrapper function returns (as the task's result string). */
const wrapperResult = z.object({ returncode: z.number().int(), stderr: z.string().optional() });

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Known {
  taskId: string;
  canceled: boolean;
}

/**
 * HpcController for ALCF through the Globus Compute web service API v2 (`fetch`, no SDK).
 *
 * - **Submit**: `POST /v2/submit` `{task_group_id, create_queue: false, tasks:
 *   [[function_id, endpoint_id, payload]]}` → one task id (`results[0].task_uuid`). The
 *   task_group_id is derived from the jobId (a stable UUID), so the group names the job.
 * - **Payload — not the real SDK's serialization.** The Globus Compute SDK serializes
 *   arguments with its ComputeSerializer (dill/pickle-based strategies, a header per part), and
 *   a function registered through the SDK expects that. This adapter sends plain JSON —
 *   `{"task": "reconstruct"|"multi_resolution", "input", "output", "options"}` — so it
 *   targets a **JSON-accepting function wrapper** deployed at the endpoint that decodes that
 *   text, runs the script, and returns JSON `{"returncode", "stderr"}` as its result. Talking
 *   to a stock SDK-registered function would need the SDK's serializer, which has no JS
 *   implementation; this is verified only against the local protocol server.
 * - **Status**: `GET /v2/tasks/{id}`: `success` → succeeded unless the wrapper's returncode
 *   is non-zero (then failed with its stderr), `failed` → failed with the `exception`,
 *   `running` → running, any other (`pending`, `received`, `waiting-for-ep`,
 *   `waiting-for-nodes`, `waiting-for-launch`) → queued.
 * - **Cancel**: the v2 API has no task cancel. `cancel` stops following the task and reports
 *   `canceled` with that caveat as the reason; the function may still run at the endpoint.
 * - **Idempotency**: jobId → task id in memory; a second submit in this process starts
 *   nothing. Globus Compute has no idempotency key, so a restart or a lost submit answer can
 *   run the function twice (the wrapper should write its output atomically). Unknown ids are
 *   `not_found`.
 */
export class GlobusComputeController implements HpcController {
  readonly site = 'alcf';
  private readonly client: RestClient;
  private readonly endpointId: string;
  private readonly functionIds: Record<HpcTask, string>;
  private readonly jobs = new Map<string, Known>();

  constructor(options: GlobusComputeControllerOptions) {
    this.client = new RestClient({
      service: 'Globus Compute',
      baseUrl: options.baseUrl ?? 'https://compute.api.globus.org',
      token: options.token,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    this.endpointId = uuid(options.endpointId, 'endpointId');
    this.functionIds = {
      reconstruct: uuid(options.functionId, 'functionId'),
      multi_resolution: uuid(
        options.multiResolutionFunctionId ?? options.functionId,
        'multiResolutionFunctionId',
      ),
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
    if (known.canceled) return canceledStatus(jobId, known.taskId);
    const task = await this.client.request('GET', {
      path: `/v2/tasks/${encodeURIComponent(known.taskId)}`,
      what: 'GET /v2/tasks/{id}',
      schema: taskResponse,
    });
    return fromTask(jobId, task);
  }

  async cancel(jobId: string): Promise<HpcJobStatus> {
    const current = await this.status(jobId);
    if (current.state !== 'queued' && current.state !== 'running') return current;
    const known = this.known(jobId);
    known.canceled = true;
    return canceledStatus(jobId, known.taskId);
  }

  private async submit(task: HpcTask, request: HpcJobRequest): Promise<HpcJobStatus> {
    const valid = validateHpcRequest(request);
    if (this.jobs.has(valid.jobId)) return this.status(valid.jobId);
    const payload = JSON.stringify({
      task,
      input: valid.input,
      output: valid.output,
      options: valid.options ?? {},
    });
    const submitted = await this.client.request('POST', {
      path: '/v2/submit',
      what: 'POST /v2/submit',
      json: {
        task_group_id: stableUuid(valid.jobId),
        create_queue: false,
        tasks: [[this.functionIds[task], this.endpointId, payload]],
      },
      schema: submitResponse,
    });
    const first = submitted.results[0];
    if (first?.task_uuid === undefined) {
      throw new BatonError(
        first?.http_status_code !== undefined && first.http_status_code < 500
          ? 'validation'
          : 'unavailable',
        `Globus Compute refused the task: ${first?.reason ?? first?.status ?? 'no task id'}`,
        { retryable: false },
      );
    }
    this.jobs.set(valid.jobId, { taskId: first.task_uuid, canceled: false });
    return this.status(valid.jobId);
  }

  private known(jobId: string): Known {
    validateHpcJobId(jobId);
    const known = this.jobs.get(jobId);
    if (known === undefined) throw notFound(`ALCF job ${jobId}`);
    return known;
  }
}

function canceledStatus(jobId: string, taskId: string): HpcJobStatus {
  return {
    jobId,
    state: 'canceled',
    siteJobId: taskId,
    reason: 'canceled on request (Globus Compute cannot stop a task; it may still run)',
  };
}

function fromTask(jobId: string, task: z.output<typeof taskResponse>): HpcJobStatus {
  const base = { jobId, siteJobId: task.task_id };
  const status = task.status.toLowerCase();
  if (status === 'failed') {
    return {
      ...base,
      state: 'failed',
      reason: task.exception ?? 'the task failed without an exception',
    };
  }
  if (status === 'success') {
    const parsed = wrapperResult.safeParse(safeJson(task.result));
    if (!parsed.success) {
      throw new BatonError(
        'internal',
        "Globus Compute GET /v2/tasks/{id}: the result is not the wrapper's JSON",
      );
    }
    if (parsed.data.returncode !== 0) {
      const stderr = (parsed.data.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
      return {
        ...base,
        state: 'failed',
        reason: `exit code ${parsed.data.returncode}${stderr === '' ? '' : `: ${stderr}`}`,
      };
    }
    return { ...base, state: 'succeeded' };
  }
  return { ...base, state: status === 'running' ? 'running' : 'queued' };
}

function safeJson(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function uuid(value: string, field: string): string {
  if (!uuidPattern.test(value)) {
    throw new BatonError('validation', `${field}: must be a UUID`, { field });
  }
  return value;
}

/** A UUID (version 5 layout) from a name, so a job's task group is always the same. */
function stableUuid(name: string): string {
  const hex = createHash('sha256').update(`baton-hpc:${name}`).digest('hex');
  const variant = ((parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(18, 20)}-${hex.slice(20, 32)}`;
}

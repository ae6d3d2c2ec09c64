import path from 'node:path';
import { z } from 'zod';
import { BatonError, notFound, type ErrorCode } from '../../domain/errors.js';
import { normalizeLakePath } from '../../domain/paths.js';
import type { TransferRequest, TransferService, TransferStatus } from '../../ports/transfers.js';
import { RestClient, unlessNotFound, type RetryOptions } from '../http/restClient.js';
import { transferIdPattern } from '../local/folderTransfers.js';

export interface GlobusTransferOptions {
  /** Default `https://transfer.api.globus.org/v0.10`. */
  baseUrl?: string;
  /** A Globus Transfer access token (scope `urn:globus:auth:scope:transfer.api.globus.org:all`). */
  token: string;
  /** Endpoint name → its Globus collection id and the collection path standing for its root. */
  endpoints: Record<string, { collection: string; root?: string }>;
  timeoutMs?: number;
  retry?: RetryOptions;
  fetch?: typeof fetch;
}

// ---------------------------------------------------------------------------------------------
// Wire shapes (Globus Transfer API v0.10). Unknown fields are ignored.

const submissionIdResponse = z.object({
  DATA_TYPE: z.literal('submission_id'),
  value: z.string().min(1),
});
const transferResult = z.object({
  code: z.enum(['Accepted', 'Duplicate']),
  task_id: z.string().min(1),
  submission_id: z.string().optional(),
});
const taskWire = z.object({
  DATA_TYPE: z.literal('task'),
  task_id: z.string().min(1),
  label: z.string().nullish(),
  status: z.enum(['ACTIVE', 'INACTIVE', 'SUCCEEDED', 'FAILED']),
  nice_status: z.string().nullish(),
  files_transferred: z.number().int().nonnegative().default(0),
  bytes_transferred: z.number().int().nonnegative().default(0),
  verify_checksum: z.boolean().optional(),
  request_time: z.string().nullish(),
  completion_time: z.string().nullish(),
  fatal_error: z.object({ code: z.string(), description: z.string().optional() }).nullish(),
});
type TaskWire = z.output<typeof taskWire>;
const taskList = z.object({ DATA_TYPE: z.literal('task_list'), DATA: z.array(taskWire) });
const cancelResult = z.object({ code: z.string(), message: z.string().optional() });
const fileList = z.object({
  DATA_TYPE: z.literal('file_list'),
  DATA: z.array(
    z.object({
      name: z.string(),
      type: z.enum(['file', 'dir', 'link']),
      size: z.number().nonnegative(),
    }),
  ),
});
const errorBody = z.object({ code: z.string().optional(), message: z.string().optional() });

/**
 * TransferService over the Globus Transfer REST API v0.10 (`fetch`, no SDK).
 *
 * - **Submit** sends `DATA_TYPE: transfer` with `verify_checksum: true` and `sync_level:
 *   "checksum"`, one `transfer_item` (recursive for a folder) and `label` = transferId.
 *   Idempotency: an id seen before (in memory, or found by `GET /task_list?filter=label:<id>`
 *   after a restart) returns that task; otherwise a `submission_id` comes from
 *   `GET /submission_id` and a retried `POST /transfer` reuses it, which Globus answers
 *   `Duplicate` with the same task — a lost response never starts a second copy. So
 *   transferIds must be unique labels in the account (they are derived from runId + step).
 * - **Status** maps ACTIVE/INACTIVE → active, SUCCEEDED → succeeded (`checksumVerified`
 *   because the task ran with `verify_checksum`), FAILED → failed with `fatal_error` as the
 *   reason, or canceled when `fatal_error.code` is `CANCELED`.
 * - **Stat** lists the parent folder (`GET /operation/endpoint/{id}/ls`) for the size. Globus
 *   exposes no file checksum through `ls` (checksums are only compared inside a task), so
 *   `checksum` is `''` — unknown. Callers that need one (retention's prune safety) treat `''`
 *   as "cannot prove a copy" and refuse, which is the safe answer; a checksum must come from a
 *   source that hashes the bytes (the local adapter, or a compute job at the site).
 * - Errors: Globus `code`s `ClientError.NotFound` → not_found, `ClientError.Conflict` →
 *   conflict, `AuthenticationFailed`/`PermissionDenied` → forbidden, other `ClientError.*` →
 *   validation; 429/5xx/timeouts retried, then `unavailable`; a reply of the wrong shape is
 *   `internal`. The token is never logged.
 */
export class GlobusTransfer implements TransferService {
  private readonly client: RestClient;
  private readonly endpoints: Record<string, { collection: string; root: string }>;
  private readonly taskIds = new Map<string, string>();

  constructor(options: GlobusTransferOptions) {
    this.client = new RestClient({
      service: 'Globus Transfer',
      baseUrl: options.baseUrl ?? 'https://transfer.api.globus.org/v0.10',
      token: options.token,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      classifyError: classifyGlobusError,
    });
    this.endpoints = Object.fromEntries(
      Object.entries(options.endpoints).map(([name, e]) => [
        name,
        { collection: e.collection, root: e.root ?? '/' },
      ]),
    );
  }

  async submit(request: TransferRequest): Promise<TransferStatus> {
    validateTransferId(request.transferId);
    const source = this.locate(request.source, 'source');
    const destination = this.locate(request.destination, 'destination');
    const existing = await this.findTask(request.transferId);
    if (existing !== undefined) return toTransferStatus(request.transferId, existing);
    const { value: submissionId } = await this.client.request('GET', {
      path: '/submission_id',
      schema: submissionIdResponse,
    });
    const result = await this.client.request('POST', {
      path: '/transfer',
      what: 'POST /transfer',
      schema: transferResult,
      json: {
        DATA_TYPE: 'transfer',
        submission_id: submissionId,
        source_endpoint: source.collection,
        destination_endpoint: destination.collection,
        label: request.transferId,
        verify_checksum: true,
        sync_level: 'checksum',
        DATA: [
          {
            DATA_TYPE: 'transfer_item',
            source_path: source.path,
            destination_path: destination.path,
            recursive: request.recursive ?? false,
          },
        ],
      },
    });
    this.taskIds.set(request.transferId, result.task_id);
    return toTransferStatus(request.transferId, await this.getTask(result.task_id));
  }

  async status(transferId: string): Promise<TransferStatus> {
    const task = await this.findTask(transferId);
    if (task === undefined) throw notFound(`transfer ${transferId}`);
    return toTransferStatus(transferId, task);
  }

  async cancel(transferId: string): Promise<TransferStatus> {
    const task = await this.findTask(transferId);
    if (task === undefined) throw notFound(`transfer ${transferId}`);
    if (task.status === 'ACTIVE' || task.status === 'INACTIVE') {
      await this.client.request('POST', {
        path: `/task/${encodeURIComponent(task.task_id)}/cancel`,
        what: 'POST /task/{id}/cancel',
        schema: cancelResult,
      });
    }
    return toTransferStatus(transferId, await this.getTask(task.task_id));
  }

  async stat(
    endpoint: string,
    relative: string,
  ): Promise<{ size: number; checksum: string } | undefined> {
    const where = this.locate({ endpoint, path: relative }, 'path');
    const listing = await unlessNotFound(
      this.client.request('GET', {
        path: `/operation/endpoint/${encodeURIComponent(where.collection)}/ls`,
        what: 'GET /operation/endpoint/{id}/ls',
        query: { path: path.posix.join(path.posix.dirname(where.path), '/') },
        schema: fileList,
      }),
    );
    const entry = listing?.DATA.find((e) => e.name === path.posix.basename(where.path));
    if (entry === undefined || entry.type !== 'file') return undefined;
    return { size: entry.size, checksum: '' };
  }

  /** Not supported yet: a Globus delete task (POST /delete) is not wired; the pruner reports it. */
  async remove(endpoint: string, relative: string): Promise<boolean> {
    await Promise.resolve();
    this.locate({ endpoint, path: relative }, 'path');
    throw new BatonError(
      'precondition_failed',
      `removing ${relative} at Globus endpoint ${endpoint} is not supported yet`,
    );
  }

  // -------------------------------------------------------------------------------------------

  private locate(
    where: { endpoint: string; path: string },
    field: string,
  ): { collection: string; path: string } {
    const endpoint = Object.hasOwn(this.endpoints, where.endpoint)
      ? this.endpoints[where.endpoint]
      : undefined;
    if (endpoint === undefined) {
      throw new BatonError(
        'validation',
        `${field}.endpoint: unknown endpoint "${where.endpoint}"`,
        {
          field: `${field}.endpoint`,
        },
      );
    }
    const relative = normalizeLakePath(where.path.replace(/^\/+/, ''), `${field}.path`);
    if (relative === '') {
      throw new BatonError(
        'validation',
        `${field}.path: must name a file or folder, not the root`,
        {
          field: `${field}.path`,
        },
      );
    }
    return { collection: endpoint.collection, path: path.posix.join(endpoint.root, relative) };
  }

  private getTask(taskId: string): Promise<TaskWire> {
    return this.client.request('GET', {
      path: `/task/${encodeURIComponent(taskId)}`,
      what: 'GET /task/{id}',
      schema: taskWire,
    });
  }

  /** The task for a transferId: remembered, or found by its label (after a restart). */
  private async findTask(transferId: string): Promise<TaskWire | undefined> {
    validateTransferId(transferId);
    const known = this.taskIds.get(transferId);
    if (known !== undefined) return this.getTask(known);
    const list = await this.client.request('GET', {
      path: '/task_list',
      what: 'GET /task_list',
      query: { filter: `type:TRANSFER/label:${transferId}`, limit: 1 },
      schema: taskList,
    });
    const task = list.DATA.find((t) => t.label === transferId);
    if (task !== undefined) this.taskIds.set(transferId, task.task_id);
    return task;
  }
}

function validateTransferId(transferId: string): void {
  if (!transferIdPattern.test(transferId)) {
    throw new BatonError(
      'validation',
      'transferId: letters, digits, "_" and "-", starting with a letter or digit (at most 128)',
      { field: 'transferId' },
    );
  }
}

/** Globus times read `2024-01-01 12:00:00+00:00`; the port wants ISO 8601. */
function isoTime(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const ms = Date.parse(value.replace(' ', 'T'));
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

export function toTransferStatus(transferId: string, task: TaskWire): TransferStatus {
  const canceled = task.status === 'FAILED' && task.fatal_error?.code === 'CANCELED';
  const state =
    task.status === 'SUCCEEDED'
      ? 'succeeded'
      : task.status === 'FAILED'
        ? canceled
          ? 'canceled'
          : 'failed'
        : 'active';
  const startedAt = isoTime(task.request_time);
  const finishedAt = isoTime(task.completion_time);
  const reason =
    state === 'failed' || state === 'canceled'
      ? [task.fatal_error?.code, task.fatal_error?.description ?? task.nice_status]
          .filter((s) => s !== undefined && s !== null && s !== '')
          .join(': ') || 'failed without a reason from Globus'
      : undefined;
  return {
    transferId,
    state,
    files: task.files_transferred,
    bytes: task.bytes_transferred,
    ...(startedAt === undefined ? {} : { startedAt }),
    ...(finishedAt === undefined || state === 'active' ? {} : { finishedAt }),
    checksumVerified: state === 'succeeded' && task.verify_checksum !== false,
    ...(reason === undefined ? {} : { reason }),
  };
}

function classifyGlobusError(status: number, body: unknown): { detail?: string; code?: ErrorCode } {
  const parsed = errorBody.safeParse(body);
  if (!parsed.success) return {};
  const { code, message } = parsed.data;
  const detail = [code, message].filter((s) => s !== undefined && s !== '').join(' ');
  if (code === undefined || status >= 500 || status === 429) return { detail };
  if (code.startsWith('ClientError.NotFound')) return { detail, code: 'not_found' };
  if (code.startsWith('ClientError.Conflict')) return { detail, code: 'conflict' };
  if (code === 'AuthenticationFailed' || code.startsWith('PermissionDenied')) {
    return { detail, code: 'forbidden' };
  }
  if (code.startsWith('ClientError.')) return { detail, code: 'validation' };
  return { detail };
}

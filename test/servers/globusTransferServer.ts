import { createHash, randomUUID } from 'node:crypto';
import { cp, lstat, mkdir, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  ApiError,
  Reply,
  startJsonRouteServer,
  type JsonRouteServer,
  type RecordedRequest,
} from './jsonRouteServer.js';

/**
 * A stand-in for the Globus Transfer API v0.10 (https://docs.globus.org/api/transfer/) wide
 * enough for GlobusTransfer: `GET /submission_id`, `POST /transfer`, `GET /task/{id}`,
 * `GET /task_list?filter=label:…`, `POST /task/{id}/cancel` and
 * `GET /operation/endpoint/{id}/ls?path=`. Collections are local temp folders (collection id
 * → folder); a task really copies its items between them, checks sha256 of every file when
 * `verify_checksum` is set, and ends SUCCEEDED, or FAILED with a `fatal_error`.
 *
 * Behaviour as documented: a reused `submission_id` answers 200 `code: "Duplicate"` with the
 * first task's id (a new one 202 `Accepted`); errors are `{code, message, request_id,
 * resource}` with codes such as `ClientError.NotFound`, `ClientError.BadRequest`,
 * `AuthenticationFailed`; canceling an ended task answers `TaskComplete`; a canceled task ends
 * FAILED with `fatal_error.code` `CANCELED`; times are `YYYY-MM-DD HH:MM:SS+00:00`.
 * Not modelled: INACTIVE (credential expiry), pagination of task_list, sync_level semantics
 * beyond copying everything, symlinks, `submission_id`s being required to come from this server
 * (any UUID is accepted — whether real Globus accepts client-made ones is unverified).
 */
export interface GlobusTransferServer extends JsonRouteServer {
  /** New tasks stay ACTIVE until the returned function is called. */
  hold(): () => void;
  taskCount(): number;
}

interface Task {
  task_id: string;
  submission_id: string;
  label: string | null;
  status: 'ACTIVE' | 'SUCCEEDED' | 'FAILED';
  nice_status: string | null;
  source_endpoint_id: string;
  destination_endpoint_id: string;
  verify_checksum: boolean;
  sync_level: number | null;
  request_time: string;
  completion_time: string | null;
  files: number;
  files_transferred: number;
  bytes_transferred: number;
  bytes_checksummed: number;
  fatal_error: { code: string; description: string } | null;
  items: { source_path: string; destination_path: string; recursive: boolean }[];
}

const base = '/v0.10';
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function globusTime(date = new Date()): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}+00:00`;
}

export async function startGlobusTransferServer(options: {
  /** Collection id → the folder standing for its root. */
  collections: Record<string, string>;
  token?: string;
}): Promise<GlobusTransferServer> {
  const tasks = new Map<string, Task>();
  const bySubmission = new Map<string, string>();
  let held: Promise<void> | undefined;

  function collectionRoot(id: string): string {
    const root = options.collections[id];
    if (root === undefined) {
      throw new ApiError(404, `Endpoint '${id}' not found`, 'ClientError.NotFound');
    }
    return root;
  }

  function inside(root: string, globusPath: string): string {
    const resolved = path.resolve(root, `.${path.posix.normalize(`/${globusPath}`)}`);
    if (resolved !== root && !resolved.startsWith(root + path.sep)) {
      throw new ApiError(403, `Path '${globusPath}' is outside the collection`, 'PermissionDenied');
    }
    return resolved;
  }

  async function runTask(task: Task): Promise<void> {
    if (held !== undefined) await held;
    if (task.status !== 'ACTIVE') return;
    const fromRoot = collectionRoot(task.source_endpoint_id);
    const toRoot = collectionRoot(task.destination_endpoint_id);
    try {
      for (const item of task.items) {
        const from = inside(fromRoot, item.source_path);
        const to = inside(toRoot, item.destination_path);
        const info = await lstat(from).catch(() => undefined);
        if (info === undefined) {
          throw Object.assign(new Error(`No such file or directory: ${item.source_path}`), {
            globusCode: 'FILE_NOT_FOUND',
          });
        }
        if (info.isDirectory() && !item.recursive) {
          throw Object.assign(new Error(`${item.source_path} is a directory`), {
            globusCode: 'IS_A_DIRECTORY',
          });
        }
        await mkdir(path.dirname(to), { recursive: true });
        await cp(from, to, { recursive: true, force: true });
        for (const file of await filesUnder(from)) {
          const relative = path.relative(from, file);
          const copy = relative === '' ? to : path.join(to, relative);
          const size = (await stat(file)).size;
          if (task.verify_checksum) {
            if ((await sha256(file)) !== (await sha256(copy))) {
              throw Object.assign(new Error(`checksum mismatch on ${relative}`), {
                globusCode: 'VERIFY_CHECKSUM',
              });
            }
            task.bytes_checksummed += size;
          }
          if (task.status !== 'ACTIVE') return;
          task.files += 1;
          task.files_transferred += 1;
          task.bytes_transferred += size;
        }
      }
      if (task.status !== 'ACTIVE') return;
      task.status = 'SUCCEEDED';
      task.nice_status = null;
    } catch (error) {
      if (task.status !== 'ACTIVE') return;
      const code = (error as { globusCode?: string }).globusCode ?? 'ENDPOINT_ERROR';
      task.status = 'FAILED';
      task.nice_status = code;
      task.fatal_error = { code, description: (error as Error).message };
    }
    task.completion_time = globusTime();
  }

  function findTask(id: string): Task {
    const task = tasks.get(id);
    if (task === undefined) {
      throw new ApiError(404, `Task ID '${id}' not found`, 'ClientError.NotFound');
    }
    return task;
  }

  const taskView = (task: Task): Record<string, unknown> => {
    const { items: _items, ...rest } = task;
    return { DATA_TYPE: 'task', type: 'TRANSFER', ...rest };
  };

  const server = await startJsonRouteServer({
    token: options.token,
    errorBody: (status, message, code) => ({
      code:
        code ??
        (status === 401
          ? 'AuthenticationFailed'
          : status === 404
            ? 'ClientError.NotFound'
            : status === 409
              ? 'ClientError.Conflict'
              : status === 429
                ? 'ClientError.RequestLimitExceeded'
                : status >= 500
                  ? 'ServiceUnavailable'
                  : 'ClientError.BadRequest'),
      message,
      request_id: randomUUID().slice(0, 9),
      resource: 'test',
    }),
    routes: [
      {
        method: 'GET',
        pattern: `${base}/submission_id`,
        handle: () => ({ DATA_TYPE: 'submission_id', value: randomUUID() }),
      },
      {
        method: 'POST',
        pattern: `${base}/transfer`,
        handle: ({ body }: RecordedRequest) => {
          const doc = body as Record<string, unknown> | undefined;
          if (doc?.DATA_TYPE !== 'transfer') {
            throw new ApiError(400, "DATA_TYPE must be 'transfer'", 'ClientError.BadRequest');
          }
          const submissionId = doc.submission_id;
          if (typeof submissionId !== 'string' || !uuidPattern.test(submissionId)) {
            throw new ApiError(400, 'submission_id is required', 'ClientError.BadRequest');
          }
          const existing = bySubmission.get(submissionId);
          if (existing !== undefined) {
            return {
              DATA_TYPE: 'transfer_result',
              code: 'Duplicate',
              message: 'A transfer with id already submitted',
              task_id: existing,
              submission_id: submissionId,
              request_id: 'dup',
              resource: '/transfer',
            };
          }
          const source = String(doc.source_endpoint);
          const destination = String(doc.destination_endpoint);
          collectionRoot(source);
          collectionRoot(destination);
          const items = Array.isArray(doc.DATA) ? (doc.DATA as Record<string, unknown>[]) : [];
          if (items.length === 0) {
            throw new ApiError(
              400,
              'A transfer requires at least one item',
              'ClientError.BadRequest',
            );
          }
          const task: Task = {
            task_id: randomUUID(),
            submission_id: submissionId,
            label: typeof doc.label === 'string' ? doc.label : null,
            status: 'ACTIVE',
            nice_status: 'Queued',
            source_endpoint_id: source,
            destination_endpoint_id: destination,
            verify_checksum: doc.verify_checksum === true,
            sync_level:
              doc.sync_level === 'checksum'
                ? 3
                : typeof doc.sync_level === 'number'
                  ? doc.sync_level
                  : null,
            request_time: globusTime(),
            completion_time: null,
            files: 0,
            files_transferred: 0,
            bytes_transferred: 0,
            bytes_checksummed: 0,
            fatal_error: null,
            items: items.map((item) => {
              if (item.DATA_TYPE !== 'transfer_item') {
                throw new ApiError(
                  400,
                  "item DATA_TYPE must be 'transfer_item'",
                  'ClientError.BadRequest',
                );
              }
              return {
                source_path: String(item.source_path),
                destination_path: String(item.destination_path),
                recursive: item.recursive === true,
              };
            }),
          };
          tasks.set(task.task_id, task);
          bySubmission.set(submissionId, task.task_id);
          setImmediate(() => void runTask(task));
          return new Reply(202, {
            DATA_TYPE: 'transfer_result',
            code: 'Accepted',
            message:
              'The transfer has been accepted and a task has been created and queued for execution',
            task_id: task.task_id,
            submission_id: submissionId,
            request_id: 'req',
            resource: '/transfer',
          });
        },
      },
      {
        method: 'GET',
        pattern: `${base}/task/:taskId`,
        handle: ({ params }) => taskView(findTask(params.taskId ?? '')),
      },
      {
        method: 'GET',
        pattern: `${base}/task_list`,
        handle: ({ query }) => {
          const filter = query.filter ?? '';
          const label = /(?:^|\/)label:([^/]*)/.exec(filter)?.[1];
          const limit = Number(query.limit ?? '10');
          const all = [...tasks.values()].filter((t) => label === undefined || t.label === label);
          const page = all.slice(0, limit);
          return {
            DATA_TYPE: 'task_list',
            length: page.length,
            limit,
            offset: 0,
            total: all.length,
            DATA: page.map(taskView),
          };
        },
      },
      {
        method: 'POST',
        pattern: `${base}/task/:taskId/cancel`,
        handle: ({ params }) => {
          const task = findTask(params.taskId ?? '');
          if (task.status !== 'ACTIVE') {
            return {
              DATA_TYPE: 'result',
              code: 'TaskComplete',
              message: 'The task completed before the cancel request was processed.',
              resource: `/task/${task.task_id}/cancel`,
              request_id: 'req',
            };
          }
          task.status = 'FAILED';
          task.nice_status = null;
          task.fatal_error = { code: 'CANCELED', description: 'canceled' };
          task.completion_time = globusTime();
          return {
            DATA_TYPE: 'result',
            code: 'Canceled',
            message: 'The task has been cancelled successfully.',
            resource: `/task/${task.task_id}/cancel`,
            request_id: 'req',
          };
        },
      },
      {
        method: 'GET',
        pattern: `${base}/operation/endpoint/:collection/ls`,
        handle: async ({ params, query }) => {
          const root = collectionRoot(params.collection ?? '');
          const listed = query.path ?? '/';
          const dir = inside(root, listed);
          const info = await stat(dir).catch(() => undefined);
          if (info === undefined) {
            throw new ApiError(404, `Directory '${listed}' not found`, 'ClientError.NotFound');
          }
          if (!info.isDirectory()) {
            throw new ApiError(
              502,
              `Not a directory: '${listed}'`,
              'ExternalError.DirListingFailed.NotDirectory',
            );
          }
          const entries = await readdir(dir, { withFileTypes: true });
          const DATA = [];
          for (const entry of entries) {
            const s = await lstat(path.join(dir, entry.name));
            DATA.push({
              DATA_TYPE: 'file',
              name: entry.name,
              type: entry.isDirectory() ? 'dir' : entry.isSymbolicLink() ? 'link' : 'file',
              size: s.size,
              last_modified: globusTime(s.mtime),
              permissions: (s.mode & 0o777).toString(8).padStart(4, '0'),
            });
          }
          return {
            DATA_TYPE: 'file_list',
            path: listed.endsWith('/') ? listed : `${listed}/`,
            DATA,
          };
        },
      },
    ],
  });

  return {
    ...server,
    hold: () => {
      let release: () => void = () => undefined;
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        held = undefined;
        release();
      };
    },
    taskCount: () => tasks.size,
  };
}

async function filesUnder(target: string): Promise<string[]> {
  const info = await stat(target);
  if (!info.isDirectory()) return [target];
  const out: string[] = [];
  for (const entry of await readdir(target, { withFileTypes: true })) {
    out.push(...(await filesUnder(path.join(target, entry.name))));
  }
  return out;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

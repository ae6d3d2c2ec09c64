import { randomUUID } from 'node:crypto';
import { ApiError, startJsonRouteServer, type JsonRouteServer } from './jsonRouteServer.js';

/**
 * A stand-in for the Globus Compute web service API v2 (https://compute.api.globus.org/redoc),
 * wide enough for GlobusComputeController: `POST /v2/submit` `{task_group_id, tasks:
 * [[function_id, endpoint_id, payload]]}` → `{response: "success", task_group_id, results:
 * [{task_uuid, status: "Success", http_status_code: 200}]}`, and `GET /v2/tasks/{id}` →
 * `{task_id, status, result?, exception?, completion_t?}`. Errors are `{code, reason}`.
 *
 * The payload is the JSON the Baton wrapper function accepts (`{task, input, output, options}`;
 * real Globus Compute payloads are SDK-serialized — see the adapter). A task's fate is read
 * from its input path: `fail` → success with the wrapper's result `{"returncode": 2, …}`,
 * `exception` → status `failed` with a traceback, `slow` → `running` forever, anything else
 * `received` → `waiting-for-launch` → `running` → `success` across status reads.
 * Not modelled: batches, queues (create_queue), result purging, `unknown` states.
 */
export interface GlobusComputeServer extends JsonRouteServer {
  readonly payloads: unknown[];
  taskCount(): number;
}

interface Task {
  id: string;
  fate: 'ok' | 'fail' | 'exception' | 'slow';
  reads: number;
}

export async function startGlobusComputeServer(options: {
  token?: string;
  endpointId: string;
  functionIds: string[];
}): Promise<GlobusComputeServer> {
  const tasks = new Map<string, Task>();
  const payloads: unknown[] = [];

  const server = await startJsonRouteServer({
    token: options.token,
    errorBody: (status, message, code) => ({
      code: code ?? (status === 401 ? 'UNAUTHORIZED' : status === 404 ? 'NOT_FOUND' : 'ERROR'),
      reason: message,
      message,
    }),
    routes: [
      {
        method: 'POST',
        pattern: '/v2/submit',
        handle: ({ body }) => {
          const doc = body as { task_group_id?: unknown; tasks?: unknown } | undefined;
          if (!Array.isArray(doc?.tasks) || doc.tasks.length === 0) {
            throw new ApiError(400, 'tasks must be a non-empty list', 'INVALID_REQUEST');
          }
          const results = (doc.tasks as unknown[]).map((entry) => {
            const [functionId, endpointId, payload] = Array.isArray(entry) ? entry : [];
            if (endpointId !== options.endpointId) {
              throw new ApiError(
                404,
                `Endpoint ${String(endpointId)} not found`,
                'ENDPOINT_NOT_FOUND',
              );
            }
            if (!options.functionIds.includes(String(functionId))) {
              throw new ApiError(
                404,
                `Function ${String(functionId)} not found`,
                'FUNCTION_NOT_FOUND',
              );
            }
            let decoded: { input?: string };
            try {
              decoded = JSON.parse(String(payload)) as { input?: string };
            } catch {
              throw new ApiError(400, 'payload could not be deserialized', 'DESERIALIZATION_ERROR');
            }
            payloads.push(decoded);
            const input = decoded.input ?? '';
            const fate = input.includes('slow')
              ? 'slow'
              : input.includes('exception')
                ? 'exception'
                : input.includes('fail')
                  ? 'fail'
                  : 'ok';
            const task: Task = { id: randomUUID(), fate, reads: 0 };
            tasks.set(task.id, task);
            return { task_uuid: task.id, status: 'Success', http_status_code: 200 };
          });
          return { response: 'success', task_group_id: doc.task_group_id, results };
        },
      },
      {
        method: 'GET',
        pattern: '/v2/tasks/:id',
        handle: ({ params }) => {
          const task = tasks.get(params.id ?? '');
          if (task === undefined)
            throw new ApiError(404, `Task ${params.id} not found`, 'TASK_NOT_FOUND');
          task.reads += 1;
          if (task.fate === 'slow')
            return { task_id: task.id, status: task.reads < 2 ? 'waiting-for-launch' : 'running' };
          if (task.reads === 1) return { task_id: task.id, status: 'received' };
          if (task.reads === 2) return { task_id: task.id, status: 'running' };
          const completion_t = String(Date.now() / 1000);
          if (task.fate === 'exception') {
            return {
              task_id: task.id,
              status: 'failed',
              exception:
                'Traceback (most recent call last):\n  ...\nFileNotFoundError: raw scan missing',
              completion_t,
            };
          }
          const result =
            task.fate === 'fail'
              ? { returncode: 2, stderr: 'tomopy: reconstruction diverged' }
              : { returncode: 0, stderr: '' };
          return {
            task_id: task.id,
            status: 'success',
            result: JSON.stringify(result),
            completion_t,
          };
        },
      },
    ],
  });
  return { ...server, payloads, taskCount: () => tasks.size };
}

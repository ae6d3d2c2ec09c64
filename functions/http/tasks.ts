import { app } from '@azure/functions';
import { parseDeleteOptions } from '../../shared/app/datasets.js';
import { jsonHandler, readJsonBody } from '../../shared/app/httpResponses.js';
import { callerOf } from '../../shared/app/identity.js';
import { getServices } from '../../shared/app/services.js';
import { taskDepsOf, type TaskDeps } from '../../shared/app/taskDeps.js';
import { getTaskLogs } from '../../shared/app/taskLogs.js';
import {
  createTask,
  deleteTask,
  getTask,
  killTask,
  listTasks,
  retryTask,
} from '../../shared/app/tasks.js';

// Thin registrations: parse, call one use case, map the result. Logic lives in shared/app/tasks.

async function deps(): Promise<TaskDeps> {
  return taskDepsOf(await getServices());
}

const param = (request: { params: Record<string, string> }, name: string): string =>
  request.params[name] ?? '';

app.http('createTask', {
  route: 'api/tasks',
  methods: ['POST'],
  handler: jsonHandler(async (request) => {
    const result = await createTask(await deps(), await readJsonBody(request), callerOf(request));
    return { status: 'dryRun' in result ? 200 : 201, jsonBody: result };
  }),
});

app.http('listTasks', {
  route: 'api/tasks',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await listTasks(await deps(), Object.fromEntries(request.query.entries())),
  })),
});

app.http('getTask', {
  route: 'api/tasks/{name}',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await getTask(await deps(), param(request, 'name')),
  })),
});

app.http('deleteTask', {
  route: 'api/tasks/{name}',
  methods: ['DELETE'],
  handler: jsonHandler(async (request) => {
    const options = parseDeleteOptions(Object.fromEntries(request.query.entries()));
    return {
      status: 200,
      jsonBody: await deleteTask(await deps(), param(request, 'name'), callerOf(request), options),
    };
  }),
});

app.http('retryTask', {
  route: 'api/tasks/{name}/retry',
  methods: ['POST'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await retryTask(await deps(), param(request, 'name'), callerOf(request)),
  })),
});

app.http('killTask', {
  route: 'api/tasks/{name}/kill',
  methods: ['POST'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await killTask(await deps(), param(request, 'name'), callerOf(request)),
  })),
});

app.http('getTaskLogs', {
  route: 'api/tasks/{name}/logs',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await getTaskLogs(
      await deps(),
      param(request, 'name'),
      Object.fromEntries(request.query.entries()),
    ),
  })),
});

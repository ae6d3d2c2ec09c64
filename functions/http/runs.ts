import * as df from 'durable-functions';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { jsonHandler, readJsonBody } from '../../shared/app/httpResponses.js';
import { callerOf } from '../../shared/app/identity.js';
import {
  cancelRun,
  deleteRun,
  getRun,
  listRuns,
  raiseRunEvent,
  runLogs,
  startRun,
  type RunDeps,
} from '../../shared/app/runs.js';
import { beamlineDepsOf } from '../../shared/app/beamlineDeps.js';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { getServices } from '../../shared/app/services.js';
import type { InvocationContext } from '../../shared/runtime/functionsApi.js';

// Thin registrations: parse, call one use case, map the result. Logic lives in shared/app/runs.

async function deps(context: InvocationContext): Promise<RunDeps> {
  const s = await getServices();
  return {
    client: DurableFunctionsClient.fromContext(context),
    state: s.state,
    logs: s.logs,
    clock: s.clock,
    jobs: jobDepsOf(s),
    beamline: beamlineDepsOf(s),
  };
}

const param = (request: { params: Record<string, string> }, name: string): string =>
  request.params[name] ?? '';

df.app.client.http('startRun', {
  route: 'api/runs',
  methods: ['POST'],
  handler: jsonHandler(async (request, _client, context) => ({
    status: 202,
    jsonBody: await startRun(await deps(context), await readJsonBody(request), callerOf(request)),
  })),
});

df.app.client.http('listRuns', {
  route: 'api/runs',
  methods: ['GET'],
  handler: jsonHandler(async (request, _client, context) => ({
    status: 200,
    jsonBody: await listRuns(await deps(context), Object.fromEntries(request.query.entries())),
  })),
});

df.app.client.http('getRun', {
  route: 'api/runs/{runId}',
  methods: ['GET'],
  handler: jsonHandler(async (request, _client, context) => ({
    status: 200,
    jsonBody: await getRun(await deps(context), param(request, 'runId')),
  })),
});

df.app.client.http('deleteRun', {
  route: 'api/runs/{runId}',
  methods: ['DELETE'],
  handler: jsonHandler(async (request, _client, context) => {
    await deleteRun(await deps(context), param(request, 'runId'), callerOf(request));
    return { status: 204 };
  }),
});

df.app.client.http('cancelRun', {
  route: 'api/runs/{runId}/cancel',
  methods: ['POST'],
  handler: jsonHandler(async (request, _client, context) => ({
    status: 202,
    jsonBody: await cancelRun(
      await deps(context),
      param(request, 'runId'),
      await readJsonBody(request),
      callerOf(request),
    ),
  })),
});

df.app.client.http('raiseRunEvent', {
  route: 'api/runs/{runId}/events/{eventName}',
  methods: ['POST'],
  handler: jsonHandler(async (request, _client, context) => {
    await raiseRunEvent(
      await deps(context),
      param(request, 'runId'),
      param(request, 'eventName'),
      await readJsonBody(request),
      callerOf(request),
    );
    return { status: 202, jsonBody: { accepted: true } };
  }),
});

df.app.client.http('getRunLogs', {
  route: 'api/runs/{runId}/logs',
  methods: ['GET'],
  handler: jsonHandler(async (request, _client, context) => ({
    status: 200,
    jsonBody: await runLogs(
      await deps(context),
      param(request, 'runId'),
      Object.fromEntries(request.query.entries()),
    ),
  })),
});

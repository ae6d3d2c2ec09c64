import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { beamlineDepsOf } from '../../shared/app/beamlineDeps.js';
import { beamlineFlowRequest } from '../../shared/app/beamlineFlows.js';
import { listBeamlinePruneAudit, listBeamlineRetention } from '../../shared/app/beamlineLedger.js';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { startRun, type RunDeps } from '../../shared/app/runs.js';
import { beamlinePruneDepsOf, pruneBeamlineRequest } from '../../shared/app/beamlinePrune.js';
import { jsonHandler, readJsonBody } from '../../shared/app/httpResponses.js';
import { callerOf } from '../../shared/app/identity.js';
import { getServices } from '../../shared/app/services.js';
import { runLog } from '../../shared/telemetry/runLog.js';

app.http('pruneBeamlineNow', {
  route: 'api/beamline/prune',
  methods: ['POST'],
  handler: jsonHandler(async (request, context) => {
    const deps = beamlinePruneDepsOf(await getServices(), (message) =>
      runLog(context).warn(message),
    );
    const body = await readJsonBody(request);
    return { status: 200, jsonBody: await pruneBeamlineRequest(deps, body, callerOf(request)) };
  }),
});

// The retention ledger and the pruner's audit of one beamline (`?config=<yaml>`), read-only.
app.http('listBeamlineRetention', {
  route: 'api/beamline/retention',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await listBeamlineRetention(
      beamlineDepsOf(await getServices()),
      Object.fromEntries(request.query.entries()),
    ),
  })),
});

app.http('listBeamlinePruneAudit', {
  route: 'api/beamline/prune/audit',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await listBeamlinePruneAudit(
      beamlineDepsOf(await getServices()),
      Object.fromEntries(request.query.entries()),
    ),
  })),
});

// `POST /api/flows/{flow}`: the beamline flows by name, the body being the flow's params (and
// optionally `runId`); the same runs `POST /api/runs` starts with the pipeline's name.
df.app.client.http('startBeamlineFlow', {
  route: 'api/flows/{flow}',
  methods: ['POST'],
  handler: jsonHandler(async (request, _client, context) => {
    const s = await getServices();
    const deps: RunDeps = {
      client: DurableFunctionsClient.fromContext(context),
      state: s.state,
      logs: s.logs,
      clock: s.clock,
      jobs: jobDepsOf(s),
      beamline: beamlineDepsOf(s),
    };
    const body = beamlineFlowRequest(request.params.flow ?? '', await readJsonBody(request));
    return { status: 202, jsonBody: await startRun(deps, body, callerOf(request)) };
  }),
});

import { app } from '@azure/functions';
import { jsonHandler } from '../../shared/app/httpResponses.js';
import { getServices } from '../../shared/app/services.js';
import { findRunsQueryOf, findRuns, getTrackedRun } from '../../shared/app/tracking.js';

// Tracked runs (experiments, sweeps and their trials): find by tags, params, metrics; read one.

app.http('findTrackedRuns', {
  route: 'api/tracking/runs',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await findRuns((await getServices()).tracker, findRunsQueryOf(request.query)),
  })),
});

app.http('getTrackedRun', {
  route: 'api/tracking/runs/{runId}',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await getTrackedRun((await getServices()).tracker, request.params.runId ?? ''),
  })),
});

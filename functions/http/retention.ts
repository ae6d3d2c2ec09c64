import { app } from '@azure/functions';
import { jsonHandler, readJsonBody } from '../../shared/app/httpResponses.js';
import { callerOf } from '../../shared/app/identity.js';
import {
  assertPruneAllowed,
  listRetention,
  pruneDue,
  scheduleRetention,
} from '../../shared/app/retention.js';
import { getServices } from '../../shared/app/services.js';

app.http('listRetention', {
  route: 'api/retention',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await listRetention(await getServices(), Object.fromEntries(request.query.entries())),
  })),
});

app.http('scheduleRetention', {
  route: 'api/retention',
  methods: ['POST'],
  handler: jsonHandler(async (request) => ({
    status: 201,
    jsonBody: await scheduleRetention(
      await getServices(),
      await readJsonBody(request),
      callerOf(request),
    ),
  })),
});

app.http('pruneRetentionNow', {
  route: 'api/retention/prune',
  methods: ['POST'],
  handler: jsonHandler(async (request) => {
    const dryRun = request.query.get('dryRun') === 'true';
    if (!dryRun) assertPruneAllowed(callerOf(request));
    return { status: 200, jsonBody: await pruneDue(await getServices(), { dryRun }) };
  }),
});

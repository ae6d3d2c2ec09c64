import { app } from '@azure/functions';
import { beamlinePruneDepsOf, pruneBeamlineRequest } from '../../shared/app/beamlinePrune.js';
import { jsonHandler, readJsonBody } from '../../shared/app/httpResponses.js';
import { callerOf } from '../../shared/app/identity.js';
import { getServices } from '../../shared/app/services.js';

app.http('pruneBeamlineNow', {
  route: 'beamline/prune',
  methods: ['POST'],
  handler: jsonHandler(async (request, context) => {
    const deps = beamlinePruneDepsOf(await getServices(), (message) => context.warn(message));
    const body = await readJsonBody(request);
    return { status: 200, jsonBody: await pruneBeamlineRequest(deps, body, callerOf(request)) };
  }),
});

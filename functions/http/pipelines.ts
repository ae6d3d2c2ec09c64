import { app } from '@azure/functions';
import { jsonHandler } from '../../shared/app/httpResponses.js';
import { describePipelines } from '../../shared/app/pipelines.js';

app.http('listPipelines', {
  route: 'api/pipelines',
  methods: ['GET'],
  handler: jsonHandler(async () => ({ status: 200, jsonBody: describePipelines() })),
});

import { app } from '@azure/functions';
import { readHeartbeat } from '../../shared/app/heartbeat.js';
import { jsonHandler } from '../../shared/app/httpResponses.js';
import { getServices } from '../../shared/app/services.js';

app.http('health', {
  route: 'api/health',
  methods: ['GET'],
  handler: jsonHandler(async () => ({
    status: 200,
    jsonBody: {
      ok: true,
      lastHeartbeat: (await readHeartbeat((await getServices()).state)) ?? null,
    },
  })),
});

import { app } from '@azure/functions';
import { z } from 'zod';
import { jsonHandler } from '../../shared/app/httpResponses.js';
import { readHeartbeat } from '../../shared/app/heartbeat.js';
import { listPipelines } from '../../shared/app/pipelines.js';
import { services } from '../../shared/app/services.js';

app.http('listPipelines', {
  route: 'pipelines',
  methods: ['GET'],
  handler: jsonHandler(async () => ({
    status: 200,
    jsonBody: listPipelines().map((p) => ({
      name: p.name,
      description: p.description,
      orchestrator: p.orchestrator,
      params: z.toJSONSchema(p.paramsSchema, { io: 'input' }),
    })),
  })),
});

app.http('health', {
  route: 'health',
  methods: ['GET'],
  handler: jsonHandler(async () => ({
    status: 200,
    jsonBody: { ok: true, lastHeartbeat: (await readHeartbeat(services().state)) ?? null },
  })),
});

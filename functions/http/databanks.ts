import { app } from '@azure/functions';
import { syncDatabankFromBody } from '../../shared/app/databankSync.js';
import { jsonHandler, readJsonBody } from '../../shared/app/httpResponses.js';
import { getServices } from '../../shared/app/services.js';

// Thin registration: parse, call one use case, map the result. Logic lives in shared/app/databankSync.

app.http('syncDatabank', {
  route: 'api/databanks/{name}/sync',
  methods: ['POST'],
  handler: jsonHandler(async (request) => {
    const s = await getServices();
    return {
      status: 200,
      jsonBody: await syncDatabankFromBody(
        { lake: s.lake, clock: s.clock, databankRoot: s.config.databankRoot },
        request.params.name ?? '',
        await readJsonBody(request),
      ),
    };
  }),
});

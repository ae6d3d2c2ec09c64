import * as df from 'durable-functions';
import { app } from '@azure/functions';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { errorReply, jsonHandler } from '../../shared/app/httpResponses.js';
import {
  runChildren,
  runErrorDumpFile,
  runErrorDumps,
  runOutputs,
  runPerformance,
} from '../../shared/app/runInsights.js';
import { getServices } from '../../shared/app/services.js';
import { slotHistory } from '../../shared/app/slotHistory.js';

// Read-only views behind the portal's run and slots pages (shared/app/runInsights.ts,
// shared/app/slotHistory.ts). Thin: parse, call one use case, map the result.

const insightDeps = async (): Promise<{
  state: Awaited<ReturnType<typeof getServices>>['state'];
  databankRoot: string;
}> => {
  const s = await getServices();
  return { state: s.state, databankRoot: s.config.databankRoot };
};

app.http('getRunPerformance', {
  route: 'api/runs/{runId}/performance',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await runPerformance(await insightDeps(), request.params.runId ?? ''),
  })),
});

df.app.client.http('getRunChildren', {
  route: 'api/runs/{runId}/children',
  methods: ['GET'],
  handler: jsonHandler(async (request, _client, context) => ({
    status: 200,
    jsonBody: await runChildren(
      { state: (await getServices()).state, client: DurableFunctionsClient.fromContext(context) },
      request.params.runId ?? '',
    ),
  })),
});

app.http('listRunErrorDumps', {
  route: 'api/runs/{runId}/error-dumps',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await runErrorDumps(await insightDeps(), request.params.runId ?? ''),
  })),
});

// A download, not a page: served as an attachment with no sniffing, so a dumped file (which a
// failed command wrote) never runs as HTML or script on the portal's origin.
app.http('getRunErrorDumpFile', {
  route: 'api/runs/{runId}/error-dumps/{dump}/{*path}',
  methods: ['GET'],
  handler: async (request, context) => {
    try {
      const file = await runErrorDumpFile(
        await insightDeps(),
        request.params.runId ?? '',
        request.params.dump ?? '',
        request.params.path ?? '',
      );
      return {
        status: 200,
        headers: {
          'content-type': 'application/octet-stream',
          'content-disposition': `attachment; filename="${file.name.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
          'x-content-type-options': 'nosniff',
          'cache-control': 'no-store',
        },
        body: file.bytes,
      };
    } catch (error) {
      return errorReply(error, context);
    }
  },
});

app.http('listRunOutputs', {
  route: 'api/runs/{runId}/outputs',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await runOutputs(await insightDeps(), request.params.runId ?? ''),
  })),
});

app.http('getSlotHistory', {
  route: 'api/slots/history',
  methods: ['GET'],
  handler: jsonHandler(async (request) => {
    const s = await getServices();
    return {
      status: 200,
      jsonBody: await slotHistory(
        { state: s.state, clock: s.clock },
        Object.fromEntries(request.query.entries()),
      ),
    };
  }),
});

import { app } from '@azure/functions';
import {
  deleteDataset,
  getDataset,
  listDatasets,
  parseDeleteOptions,
  registerDataset,
  type DatasetDeps,
} from '../../shared/app/datasets.js';
import { jsonHandler, readJsonBody } from '../../shared/app/httpResponses.js';
import { callerOf } from '../../shared/app/identity.js';
import { getServices } from '../../shared/app/services.js';

// Thin registrations: parse, call one use case, map the result. Logic lives in shared/app/datasets.

async function deps(): Promise<DatasetDeps> {
  const s = await getServices();
  return { state: s.state, lake: s.lake, clock: s.clock };
}

const param = (request: { params: Record<string, string> }, name: string): string =>
  request.params[name] ?? '';

app.http('registerDataset', {
  route: 'api/datasets',
  methods: ['POST'],
  handler: jsonHandler(async (request) => ({
    status: 201,
    jsonBody: await registerDataset(await deps(), await readJsonBody(request), callerOf(request)),
  })),
});

app.http('listDatasets', {
  route: 'api/datasets',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await listDatasets(await deps(), Object.fromEntries(request.query.entries())),
  })),
});

app.http('getDataset', {
  route: 'api/datasets/{name}',
  methods: ['GET'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await getDataset(await deps(), param(request, 'name')),
  })),
});

app.http('deleteDataset', {
  route: 'api/datasets/{name}',
  methods: ['DELETE'],
  handler: jsonHandler(async (request) => {
    const options = parseDeleteOptions(Object.fromEntries(request.query.entries()));
    return {
      status: 200,
      jsonBody: await deleteDataset(
        await deps(),
        param(request, 'name'),
        callerOf(request),
        options,
      ),
    };
  }),
});

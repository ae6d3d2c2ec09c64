import { app } from '@azure/functions';
import { initDatabank } from '../../shared/app/databanks.js';
import { jsonHandler, readJsonBody } from '../../shared/app/httpResponses.js';
import { planModelRunView } from '../../shared/app/modelRun.js';
import { modelRunDepsOf } from '../../shared/app/modelRunDeps.js';
import { getServices } from '../../shared/app/services.js';

// Model-run databanks: create one from a config (the seed's initialize_databank), and preview
// what a run would do. Runs themselves start through POST /api/runs with pipeline "model".

app.http('initDatabank', {
  route: 'api/databanks',
  methods: ['POST'],
  handler: jsonHandler(async (request) => {
    const s = await getServices();
    const result = await initDatabank(
      {
        clock: s.clock,
        databankRoot: s.config.databankRoot,
        sourcesRoot: s.config.modelSourcesRoot,
        state: s.state,
      },
      await readJsonBody(request),
    );
    return { status: result.dryRun ? 200 : 201, jsonBody: result };
  }),
});

app.http('planModelRun', {
  route: 'api/databanks/{name}/plan',
  methods: ['POST'],
  handler: jsonHandler(async (request) => ({
    status: 200,
    jsonBody: await planModelRunView(
      modelRunDepsOf(await getServices()),
      request.params.name ?? '',
      await readJsonBody(request),
    ),
  })),
});

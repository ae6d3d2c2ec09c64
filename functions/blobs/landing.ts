import * as df from 'durable-functions';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { beamlineConfigsOf } from '../../shared/app/beamlinePrune.js';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { dispatchLandedFile, recordLandedFile } from '../../shared/app/landing.js';
import { getServices } from '../../shared/app/services.js';
import { runLog } from '../../shared/telemetry/runLog.js';
import { describeValue } from '../../shared/domain/describe.js';

// A landed file is recorded in the ledger, then handed to the beamline whose new-file source
// is the landing folder it arrived in (if any): that starts the dispatcher.
df.app.client.storageBlob('registerLandedFile', {
  path: '%BATON_LANDING_PATH%/{name}',
  connection: 'LakeConnection',
  handler: async (blob, _client, context) => {
    const s = await getServices();
    const path =
      typeof context.triggerMetadata?.blobTrigger === 'string'
        ? context.triggerMetadata.blobTrigger
        : describeValue(context.triggerMetadata?.name ?? '');
    const content = Buffer.isBuffer(blob) ? blob : Buffer.from(String(blob));
    const file = await recordLandedFile({ state: s.state, clock: s.clock }, path, content);
    runLog(context).info(`landed ${file.path} (${file.size} bytes, md5 ${file.md5})`);
    const dispatched = await dispatchLandedFile(
      {
        runs: {
          client: DurableFunctionsClient.fromContext(context),
          state: s.state,
          logs: s.logs,
          clock: s.clock,
          jobs: jobDepsOf(s),
        },
        sourcesRoot: s.config.modelSourcesRoot,
        configs: beamlineConfigsOf(s.config.BATON_BEAMLINE_CONFIGS),
      },
      file,
    );
    if (dispatched !== undefined) {
      runLog(context, { runId: dispatched.runId }).info(
        `${file.path}: beamline run ${dispatched.runId} ${dispatched.started ? 'started' : 'already running'} (${dispatched.config})`,
      );
    }
  },
});

import * as df from 'durable-functions';
import {
  cancelTransfer,
  ingestBeamlineFile,
  planBeamlineDispatch,
  recordBeamlineRetention,
  startTransfer,
  transferStatus,
  type BeamlineDeps,
} from '../../shared/app/beamline.js';
import { getServices } from '../../shared/app/services.js';

const deps = async (): Promise<BeamlineDeps> => {
  const s = await getServices();
  return { state: s.state, clock: s.clock, sourcesRoot: s.config.modelSourcesRoot };
};

df.app.activity('planBeamlineDispatch', {
  handler: async (input: unknown) => planBeamlineDispatch(await deps(), input),
});
df.app.activity('startTransfer', {
  handler: async (input: unknown) => startTransfer(await deps(), input),
});
df.app.activity('transferStatus', {
  handler: async (input: unknown) => transferStatus(await deps(), input),
});
df.app.activity('cancelTransfer', {
  handler: async (input: unknown) => cancelTransfer(await deps(), input),
});
df.app.activity('ingestBeamlineFile', {
  handler: async (input: unknown) => ingestBeamlineFile(await deps(), input),
});
df.app.activity('recordBeamlineRetention', {
  handler: async (input: unknown) => recordBeamlineRetention(await deps(), input),
});

import * as df from 'durable-functions';
import {
  cancelTransfer,
  ingestBeamlineFile,
  planBeamlineDispatch,
  recordBeamlineRetention,
  recordTransferResult,
  startTransfer,
  transferStatus,
  type BeamlineDeps,
} from '../../shared/app/beamline.js';
import { beamlineDepsOf } from '../../shared/app/beamlineDeps.js';
import {
  cancelHpcJob,
  hpcJobStatus,
  planBeamlineReconstruction,
  recordReconstructionRetention,
  submitHpcJob,
} from '../../shared/app/beamlineHpc.js';
import {
  checkTransferProbe,
  removeTransferProbe,
  writeTransferProbe,
} from '../../shared/app/beamlineProbe.js';
import { getServices } from '../../shared/app/services.js';

const deps = async (): Promise<BeamlineDeps> => beamlineDepsOf(await getServices());

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
df.app.activity('recordTransferResult', {
  handler: async (input: unknown) => recordTransferResult(await deps(), input),
});
df.app.activity('ingestBeamlineFile', {
  handler: async (input: unknown) => ingestBeamlineFile(await deps(), input),
});
df.app.activity('recordBeamlineRetention', {
  handler: async (input: unknown) => recordBeamlineRetention(await deps(), input),
});

// Reconstruction at an HPC site.
df.app.activity('planBeamlineReconstruction', {
  handler: async (input: unknown) => planBeamlineReconstruction(await deps(), input),
});
df.app.activity('submitHpcJob', {
  handler: async (input: unknown) => submitHpcJob(await deps(), input),
});
df.app.activity('hpcJobStatus', {
  handler: async (input: unknown) => hpcJobStatus(await deps(), input),
});
df.app.activity('cancelHpcJob', {
  handler: async (input: unknown) => cancelHpcJob(await deps(), input),
});
df.app.activity('recordReconstructionRetention', {
  handler: async (input: unknown) => recordReconstructionRetention(await deps(), input),
});

// The test-transfers probe.
df.app.activity('writeTransferProbe', {
  handler: async (input: unknown) => writeTransferProbe(await deps(), input),
});
df.app.activity('checkTransferProbe', {
  handler: async (input: unknown) => checkTransferProbe(await deps(), input),
});
df.app.activity('removeTransferProbe', {
  handler: async (input: unknown) => removeTransferProbe(await deps(), input),
});

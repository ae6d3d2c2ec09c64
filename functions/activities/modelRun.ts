import * as df from 'durable-functions';
import {
  completeModelRun,
  dumpModelError,
  failModelRun,
  finishModelStep,
  prepareModelRun,
} from '../../shared/app/modelRun.js';
import { modelRunDepsOf } from '../../shared/app/modelRunDeps.js';
import { getServices } from '../../shared/app/services.js';

const deps = async () => modelRunDepsOf(await getServices());

df.app.activity('prepareModelRun', {
  handler: async (input: unknown) => prepareModelRun(await deps(), input),
});
df.app.activity('finishModelStep', {
  handler: async (input: unknown) => finishModelStep(await deps(), input),
});
df.app.activity('dumpModelError', {
  handler: async (input: unknown) => dumpModelError(await deps(), input),
});
df.app.activity('failModelRun', {
  handler: async (input: unknown) => failModelRun(await deps(), input),
});
df.app.activity('completeModelRun', {
  handler: async (input: unknown) => completeModelRun(await deps(), input),
});

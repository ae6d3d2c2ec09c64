import * as df from 'durable-functions';
import { getServices } from '../../shared/app/services.js';
import {
  checkTrialPruning,
  finishSweep,
  prepareTrial,
  recordTrial,
  startSweep,
  sweepDepsOf,
} from '../../shared/app/sweep.js';

const deps = async () => sweepDepsOf(await getServices());

df.app.activity('startSweep', {
  handler: async (input: unknown) => startSweep(await deps(), input),
});
df.app.activity('prepareTrial', {
  handler: async (input: unknown) => prepareTrial(await deps(), input),
});
df.app.activity('recordTrial', {
  handler: async (input: unknown) => recordTrial(await deps(), input),
});
df.app.activity('checkTrialPruning', {
  handler: async (input: unknown) => checkTrialPruning(await deps(), input),
});
df.app.activity('finishSweep', {
  handler: async (input: unknown) => finishSweep(await deps(), input),
});

import * as df from 'durable-functions';
import {
  mlDepsOf,
  prepareMlStep,
  prepareMlTraining,
  recordMlStep,
} from '../../shared/app/mlLifecycle.js';
import { getServices } from '../../shared/app/services.js';

const deps = async () => mlDepsOf(await getServices());

df.app.activity('prepareMlTraining', {
  handler: async (input: unknown) => prepareMlTraining(await deps(), input),
});
df.app.activity('prepareMlStep', {
  handler: async (input: unknown) => prepareMlStep(await deps(), input),
});
df.app.activity('recordMlStep', {
  handler: async (input: unknown) => recordMlStep(await deps(), input),
});

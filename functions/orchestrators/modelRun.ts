import * as df from 'durable-functions';
import { modelIteration, modelRun } from '../../shared/orchestrations/modelRun.js';

df.app.orchestration('modelRun', modelRun);
df.app.orchestration('modelIteration', modelIteration);

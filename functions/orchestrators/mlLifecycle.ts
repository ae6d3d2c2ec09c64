import * as df from 'durable-functions';
import { mlLifecycle } from '../../shared/orchestrations/mlLifecycle.js';

df.app.orchestration('mlLifecycle', mlLifecycle);

import * as df from 'durable-functions';
import { sweep, sweepTrial } from '../../shared/orchestrations/sweep.js';

df.app.orchestration('sweep', sweep);
df.app.orchestration('sweepTrial', sweepTrial);

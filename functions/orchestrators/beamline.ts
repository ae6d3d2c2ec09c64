import * as df from 'durable-functions';
import { beamlineDispatch, beamlineNewFile } from '../../shared/orchestrations/beamline.js';

df.app.orchestration('beamlineDispatch', beamlineDispatch);
df.app.orchestration('beamlineNewFile', beamlineNewFile);

import * as df from 'durable-functions';
import { beamlineDispatch, beamlineNewFile } from '../../shared/orchestrations/beamline.js';
import { beamlineReconstruct } from '../../shared/orchestrations/beamlineReconstruct.js';
import { beamlineTestTransfers } from '../../shared/orchestrations/beamlineTestTransfers.js';

df.app.orchestration('beamlineDispatch', beamlineDispatch);
df.app.orchestration('beamlineNewFile', beamlineNewFile);
df.app.orchestration('beamlineReconstruct', beamlineReconstruct);
df.app.orchestration('beamlineTestTransfers', beamlineTestTransfers);

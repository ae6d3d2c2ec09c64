import { app } from '@azure/functions';
import { recordHeartbeat } from '../../shared/app/heartbeat.js';
import { getServices } from '../../shared/app/services.js';

app.timer('recordHeartbeat', {
  schedule: '%BATON_HEARTBEAT_SCHEDULE%',
  handler: async () => {
    const s = await getServices();
    await recordHeartbeat({ state: s.state, clock: s.clock });
  },
});

import { app } from '@azure/functions';
import { beamlinePruneDepsOf, pruneListedBeamlines } from '../../shared/app/beamlinePrune.js';
import { getServices } from '../../shared/app/services.js';
import { runLog } from '../../shared/telemetry/runLog.js';

app.timer('pruneBeamline', {
  schedule: '%BATON_BEAMLINE_PRUNE_SCHEDULE%',
  handler: async (_timer, context) => {
    const services = await getServices();
    const log = runLog(context);
    const deps = beamlinePruneDepsOf(services, (message) => log.warn(message));
    for (const { config, report: r, error } of await pruneListedBeamlines(
      deps,
      services.config.BATON_BEAMLINE_CONFIGS,
    )) {
      if (error !== undefined) log.error(`beamline prune of ${config} failed: ${error}`);
      else if (r !== undefined && r.due > 0) {
        log.info(
          `beamline ${r.beamline}: deleted ${r.deleted}, refused ${r.refused}, already gone ${r.gone}, failed ${r.failed} of ${r.due} due`,
        );
      }
    }
  },
});

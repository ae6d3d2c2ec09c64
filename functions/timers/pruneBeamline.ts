import { app } from '@azure/functions';
import { beamlinePruneDepsOf, pruneListedBeamlines } from '../../shared/app/beamlinePrune.js';
import { getServices } from '../../shared/app/services.js';

app.timer('pruneBeamline', {
  schedule: '%BATON_BEAMLINE_PRUNE_SCHEDULE%',
  handler: async (_timer, context) => {
    const services = await getServices();
    const deps = beamlinePruneDepsOf(services, (message) => context.warn(message));
    for (const { config, report: r, error } of await pruneListedBeamlines(
      deps,
      services.config.BATON_BEAMLINE_CONFIGS,
    )) {
      if (error !== undefined) context.error(`beamline prune of ${config} failed: ${error}`);
      else if (r !== undefined && r.due > 0) {
        context.log(
          `beamline ${r.beamline}: deleted ${r.deleted}, refused ${r.refused}, already gone ${r.gone}, failed ${r.failed} of ${r.due} due`,
        );
      }
    }
  },
});

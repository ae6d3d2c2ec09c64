import { app } from '@azure/functions';
import { pruneDue } from '../../shared/app/retention.js';
import { getServices } from '../../shared/app/services.js';
import { runLog } from '../../shared/telemetry/runLog.js';

app.timer('pruneRetention', {
  schedule: '%BATON_PRUNE_SCHEDULE%',
  handler: async (_timer, context) => {
    const report = await pruneDue(await getServices());
    if (report.due > 0) {
      runLog(context).info(
        `pruned ${report.pruned}, already gone ${report.gone}, failed ${report.failed} of ${report.due} due`,
      );
    }
  },
});

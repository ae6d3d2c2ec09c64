import { app } from '@azure/functions';
import { getServices } from '../../shared/app/services.js';
import { runLog } from '../../shared/telemetry/runLog.js';
import { taskDepsOf } from '../../shared/app/taskDeps.js';
import { runSchedulerTick } from '../../shared/app/taskScheduler.js';

app.timer('scheduleTasks', {
  schedule: '%BATON_SCHEDULER_SCHEDULE%',
  handler: async (_timer, context) => {
    const result = await runSchedulerTick(taskDepsOf(await getServices()));
    if (result.launched > 0 || result.taskEvents > 0) {
      runLog(context).info(
        `scheduler: ${result.launched} launched, ${result.waiting} waiting, ${result.running} running`,
      );
    }
  },
});

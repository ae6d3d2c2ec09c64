import { app } from '@azure/functions';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { watchJobs } from '../../shared/app/jobs.js';
import { getServices } from '../../shared/app/services.js';
import { runLog } from '../../shared/telemetry/runLog.js';
import { taskDepsOf } from '../../shared/app/taskDeps.js';
import { watchTaskJobs } from '../../shared/app/taskJobs.js';

app.timer('watchJobs', {
  schedule: '%BATON_JOB_WATCH_SCHEDULE%',
  handler: async (_timer, context) => {
    const services = await getServices();
    const log = runLog(context);
    const { checked, finished } = await watchJobs(jobDepsOf(services));
    if (finished > 0) log.info(`${finished} of ${checked} running jobs ended`);
    const tasks = await watchTaskJobs(taskDepsOf(services));
    if (tasks.ended > 0) log.info(`${tasks.ended} of ${tasks.checked} running task jobs ended`);
  },
});

import { app } from '@azure/functions';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { watchJobs } from '../../shared/app/jobs.js';
import { getServices } from '../../shared/app/services.js';

app.timer('watchJobs', {
  schedule: '%BATON_JOB_WATCH_SCHEDULE%',
  handler: async (_timer, context) => {
    const { checked, finished } = await watchJobs(jobDepsOf(await getServices()));
    if (finished > 0) context.log(`${finished} of ${checked} running jobs ended`);
  },
});

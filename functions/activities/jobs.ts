import * as df from 'durable-functions';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { cancelJob, collectJobLogs, requestJobLaunch } from '../../shared/app/jobs.js';
import { getServices } from '../../shared/app/services.js';

df.app.activity('requestJobLaunch', {
  handler: async (input: unknown) => requestJobLaunch(jobDepsOf(await getServices()), input),
});
df.app.activity('cancelJob', {
  handler: async (input: unknown) => cancelJob(jobDepsOf(await getServices()), input),
});
df.app.activity('collectJobLogs', {
  handler: async (input: unknown) => collectJobLogs(jobDepsOf(await getServices()), input),
});

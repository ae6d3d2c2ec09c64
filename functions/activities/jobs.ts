import * as df from 'durable-functions';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { cancelJob, collectJobLogs, requestJobLaunch } from '../../shared/app/jobs.js';
import { services } from '../../shared/app/services.js';

df.app.activity('requestJobLaunch', {
  handler: (input: unknown) => requestJobLaunch(jobDepsOf(services()), input),
});
df.app.activity('cancelJob', {
  handler: (input: unknown) => cancelJob(jobDepsOf(services()), input),
});
df.app.activity('collectJobLogs', {
  handler: (input: unknown) => collectJobLogs(jobDepsOf(services()), input),
});

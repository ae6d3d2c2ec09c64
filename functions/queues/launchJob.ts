import { app } from '@azure/functions';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { launchJob } from '../../shared/app/jobs.js';
import { getServices } from '../../shared/app/services.js';

app.serviceBusQueue('launchJob', {
  queueName: '%BATON_LAUNCH_JOB_QUEUE%',
  connection: 'ServiceBusConnection',
  handler: async (message) => {
    await launchJob(jobDepsOf(await getServices()), message);
  },
});

import { app } from '@azure/functions';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { launchJob } from '../../shared/app/jobs.js';
import { getServices } from '../../shared/app/services.js';
import { taskDepsOf } from '../../shared/app/taskDeps.js';
import { isTaskJobMessage, launchTaskJob } from '../../shared/app/taskJobs.js';

// One queue for every launch: a run's job or a task's (the message names a task).
app.serviceBusQueue('launchJob', {
  queueName: '%BATON_LAUNCH_JOB_QUEUE%',
  connection: 'ServiceBusConnection',
  handler: async (message) => {
    const services = await getServices();
    if (isTaskJobMessage(message)) await launchTaskJob(taskDepsOf(services), message);
    else await launchJob(jobDepsOf(services), message);
  },
});

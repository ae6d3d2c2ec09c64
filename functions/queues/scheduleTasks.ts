import { app } from '@azure/functions';
import { getServices } from '../../shared/app/services.js';
import { taskDepsOf } from '../../shared/app/taskDeps.js';
import { runRequestedTick } from '../../shared/app/taskScheduler.js';

app.serviceBusQueue('scheduleTasksOnDemand', {
  queueName: '%BATON_SCHEDULER_QUEUE%',
  connection: 'ServiceBusConnection',
  handler: async (message) => {
    await runRequestedTick(taskDepsOf(await getServices()), message);
  },
});

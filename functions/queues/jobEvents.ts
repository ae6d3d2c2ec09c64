import * as df from 'durable-functions';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { relayJobEvent } from '../../shared/app/jobEvents.js';
import { getServices } from '../../shared/app/services.js';
import { taskDepsOf } from '../../shared/app/taskDeps.js';
import { applyTaskJobEvent, isTaskJobMessage } from '../../shared/app/taskJobs.js';

// A run's job event wakes its orchestration; a task job's event is recorded on the task.
df.app.client.serviceBusQueue('relayJobEvent', {
  queueName: '%BATON_JOB_EVENTS_QUEUE%',
  connection: 'ServiceBusConnection',
  handler: async (message, _client, context) => {
    if (isTaskJobMessage(message)) {
      await applyTaskJobEvent(taskDepsOf(await getServices()), message);
      return;
    }
    await relayJobEvent(DurableFunctionsClient.fromContext(context), message);
  },
});

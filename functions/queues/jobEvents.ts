import * as df from 'durable-functions';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { relayJobEvent } from '../../shared/app/jobEvents.js';

df.app.client.serviceBusQueue('relayJobEvent', {
  queueName: '%BATON_JOB_EVENTS_QUEUE%',
  connection: 'ServiceBusConnection',
  handler: async (message, _client, context) => {
    await relayJobEvent(DurableFunctionsClient.fromContext(context), message);
  },
});

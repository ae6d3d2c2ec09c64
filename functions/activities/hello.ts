import * as df from 'durable-functions';
import { createHelloActivities } from '../../shared/app/activities/hello.js';
import { getServices } from '../../shared/app/services.js';

const activities = async (): Promise<ReturnType<typeof createHelloActivities>> =>
  createHelloActivities(await getServices());

df.app.activity('sayHello', {
  handler: async (input: unknown) => (await activities()).sayHello(input),
});
df.app.activity('summarizeGreetings', {
  handler: async (input: unknown) => (await activities()).summarizeGreetings(input),
});

import * as df from 'durable-functions';
import { createHelloActivities } from '../../shared/app/activities/hello.js';
import { services } from '../../shared/app/services.js';

const activities = (): ReturnType<typeof createHelloActivities> =>
  createHelloActivities(services());

df.app.activity('sayHello', { handler: (input: unknown) => activities().sayHello(input) });
df.app.activity('summarizeGreetings', {
  handler: (input: unknown) => activities().summarizeGreetings(input),
});

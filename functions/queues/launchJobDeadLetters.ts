import { app, type InvocationContext } from '@azure/functions';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { isBatonError } from '../../shared/domain/errors.js';
import { failUndeliveredLaunch } from '../../shared/app/jobs.js';
import { getServices } from '../../shared/app/services.js';
import { taskDepsOf } from '../../shared/app/taskDeps.js';
import { failUndeliveredTaskLaunch, isTaskJobMessage } from '../../shared/app/taskJobs.js';

// A launch-job message dead-lettered (it failed on every delivery) fails its job with the
// reason, so the run or task waiting for it is told instead of waiting out its timeout.
app.serviceBusQueue('launchJobDeadLetters', {
  queueName: '%BATON_LAUNCH_JOB_QUEUE%/$DeadLetterQueue',
  connection: 'ServiceBusConnection',
  handler: async (message, context) => {
    const services = await getServices();
    const why = deadLetterReasonOf(context);
    try {
      if (isTaskJobMessage(message))
        await failUndeliveredTaskLaunch(taskDepsOf(services), message, why);
      else await failUndeliveredLaunch(jobDepsOf(services), message, why);
    } catch (error) {
      // A dead-letter queue has no delivery limit: a message that can never be handled (not a
      // launch message, its job or task gone) would come back forever. Logged and settled.
      if (!isBatonError(error) || !permanent.has(error.code)) throw error;
      context.warn(`dead-lettered launch message dropped: ${error.message}`);
    }
  },
});

const permanent = new Set(['validation', 'not_found', 'forbidden']);

/** Service Bus puts the reason in the dead letter's application properties. */
function deadLetterReasonOf(context: InvocationContext): string {
  const props = (context.triggerMetadata?.applicationProperties ?? {}) as Record<string, unknown>;
  const reason = typeof props.DeadLetterReason === 'string' ? props.DeadLetterReason : '';
  const description =
    typeof props.DeadLetterErrorDescription === 'string' ? props.DeadLetterErrorDescription : '';
  const text = [reason, description].filter((t) => t !== '').join(': ');
  return `the launch-job message was dead-lettered (${text === '' ? 'no reason given' : text})`;
}

import type * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { addSeconds } from '../domain/time.js';

/**
 * Follows something submitted elsewhere (a transfer, an HPC job) from inside an orchestrator:
 * durable timers with backoff between status polls until it is no longer active, and once its
 * time is up, `timeUp` (cancel it) gives the final status. The deadline counts from the call.
 * Deterministic: time comes from the context only.
 */
export interface PollPlan<S> {
  isActive: (status: S) => boolean;
  delaySeconds: (poll: number) => number;
  timeoutSeconds: number;
  poll: () => Generator<df.Task, S, unknown>;
  timeUp: () => Generator<df.Task, S, unknown>;
}

export function* pollUntilEnded<S>(
  context: OrchestrationContext,
  first: S,
  plan: PollPlan<S>,
): Generator<df.Task, S, unknown> {
  const deadline = addSeconds(context.df.currentUtcDateTime, plan.timeoutSeconds);
  let status = first;
  for (let poll = 0; plan.isActive(status); poll++) {
    if (context.df.currentUtcDateTime.getTime() >= deadline.getTime()) return yield* plan.timeUp();
    yield context.df.createTimer(
      addSeconds(context.df.currentUtcDateTime, plan.delaySeconds(poll)),
    );
    status = yield* plan.poll();
  }
  return status;
}

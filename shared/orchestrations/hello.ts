import * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { z } from 'zod';

/**
 * The hello pipeline: fan out `count` greeting activities, fan in to one summary. It exercises
 * every moving part of the engine (fan-out, retries, lake writes, custom status) in seconds.
 * Deterministic: no I/O, clock or randomness outside the context.
 */
export const helloParamsSchema = z
  .object({
    count: z.number().int().min(1).max(10_000).default(8),
    greeting: z.string().min(1).max(100).default('Hello'),
    /** Simulated work per greeting, to make runs long enough to watch (and to kill). */
    delayMs: z.number().int().min(0).max(60_000).default(0),
  })
  .strict();
export type HelloParams = z.infer<typeof helloParamsSchema>;

export interface HelloInput {
  runId: string;
  params: HelloParams;
}

export interface GreetingInput {
  runId: string;
  index: number;
  greeting: string;
  delayMs: number;
}

export interface HelloProgress {
  phase: 'greeting' | 'summarizing' | 'done';
  total: number;
}

export function* helloFanOut(context: OrchestrationContext): Generator<df.Task, unknown, unknown> {
  const { runId, params } = context.df.getInput<HelloInput>();
  const retry = new df.RetryOptions(1000, 3);
  retry.backoffCoefficient = 2;
  context.df.setCustomStatus({ phase: 'greeting', total: params.count } satisfies HelloProgress);
  const greetings = Array.from({ length: params.count }, (_, index) =>
    context.df.callActivityWithRetry('sayHello', retry, {
      runId,
      index,
      greeting: params.greeting,
      delayMs: params.delayMs,
    } satisfies GreetingInput),
  );
  yield context.df.Task.all(greetings);
  context.df.setCustomStatus({ phase: 'summarizing', total: params.count } satisfies HelloProgress);
  const summary = yield context.df.callActivity('summarizeGreetings', {
    runId,
    count: params.count,
  });
  context.df.setCustomStatus({ phase: 'done', total: params.count } satisfies HelloProgress);
  return summary;
}

import { setTimeout as sleep } from 'node:timers/promises';
import * as df from 'durable-functions';
import { installFunctionsCore } from '../shared/runtime/functionRegistry.js';

/**
 * Bench-only orchestrators and activities, registered with `df.app` exactly like the app's own
 * functions so that the engine drives them through the real durable-functions handler. The
 * activities are trivial on purpose: what is measured is the engine (replay, fsync'd episodes,
 * dispatch), not the work.
 */
installFunctionsCore();

export const benchNames = {
  increment: 'bench_increment',
  slowIncrement: 'bench_slowIncrement',
  flaky: 'bench_flaky',
  sequence: 'bench_sequence',
  fanOut: 'bench_fanOut',
  retryFanOut: 'bench_retryFanOut',
} as const;

export interface SequenceInput {
  steps: number;
}

export interface FanOutInput {
  n: number;
  /** Use the activity that waits 1 ms, so completions trickle in over many episodes. */
  slow?: boolean;
}

export interface RetryFanOutInput {
  n: number;
  /** Failed attempts before each activity succeeds. */
  failures: number;
}

interface FlakyInput {
  key: string;
  failures: number;
}

/** Attempts made per flaky key, so the bench can check that every retry really ran. */
export const flakyAttempts = new Map<string, number>();

df.app.activity(benchNames.increment, { handler: (n: unknown) => (n as number) + 1 });

df.app.activity(benchNames.slowIncrement, {
  handler: async (n: unknown) => {
    await sleep(1);
    return (n as number) + 1;
  },
});

df.app.activity(benchNames.flaky, {
  handler: (raw: unknown) => {
    const input = raw as FlakyInput;
    const attempt = (flakyAttempts.get(input.key) ?? 0) + 1;
    flakyAttempts.set(input.key, attempt);
    if (attempt <= input.failures)
      throw new Error(`${input.key}: attempt ${attempt} fails on purpose`);
    return attempt;
  },
});

/** `steps` activities one after another: one episode per step, each replaying all before it. */
df.app.orchestration(benchNames.sequence, function* (ctx) {
  const { steps } = ctx.df.getInput<SequenceInput>();
  let x = 0;
  for (let i = 0; i < steps; i++)
    x = (yield ctx.df.callActivity(benchNames.increment, x)) as number;
  return x;
});

/** `n` activities at once, joined with Task.all. Output: the sum of i + 1 over i < n. */
df.app.orchestration(benchNames.fanOut, function* (ctx) {
  const { n, slow } = ctx.df.getInput<FanOutInput>();
  const activity = slow === true ? benchNames.slowIncrement : benchNames.increment;
  const tasks = Array.from({ length: n }, (_, i) => ctx.df.callActivity(activity, i));
  const results = (yield ctx.df.Task.all(tasks)) as number[];
  return results.reduce((a, b) => a + b, 0);
});

/** `n` activities at once, each failing `failures` times before it succeeds (1 ms backoff). */
df.app.orchestration(benchNames.retryFanOut, function* (ctx) {
  const { n, failures } = ctx.df.getInput<RetryFanOutInput>();
  const retry = new df.RetryOptions(1, failures + 1);
  const tasks = Array.from({ length: n }, (_, i) =>
    ctx.df.callActivityWithRetry(benchNames.flaky, retry, {
      key: `${ctx.df.instanceId}:${i}`,
      failures,
    } satisfies FlakyInput),
  );
  const attempts = (yield ctx.df.Task.all(tasks)) as number[];
  return attempts.reduce((a, b) => a + b, 0);
});

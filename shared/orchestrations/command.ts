import type * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { z } from 'zod';
import { jobSpecInputSchema } from '../domain/jobSpec.js';
import { runJobAndWait, type JobOutcome } from './jobs.js';

/**
 * The `command` pipeline: run one job (a process locally, a container on ACI) and report how it
 * ended. It is the smallest user of the launch-job / job-events path that every container step
 * builds on, and what `baton run command` and scripts use to submit and wait.
 */
export const commandParamsSchema = jobSpecInputSchema.extend({
  timeoutSeconds: z
    .number()
    .int()
    .positive()
    .max(7 * 24 * 3600)
    .default(3600),
});
export type CommandParams = z.infer<typeof commandParamsSchema>;

export function* runCommand(
  context: OrchestrationContext,
): Generator<df.Task, JobOutcome, unknown> {
  const { runId, params } = context.df.getInput<{ runId: string; params: CommandParams }>();
  context.df.setCustomStatus({ phase: 'running' });
  const outcome = yield* runJobAndWait(context, {
    runId,
    stepId: 'command',
    attempt: 1,
    spec: params,
  });
  context.df.setCustomStatus({ phase: outcome.state });
  if (outcome.state !== 'succeeded') {
    throw new Error(
      `job ${outcome.jobId} ${outcome.state}${outcome.exitCode === undefined ? '' : ` with exit code ${outcome.exitCode}`}${outcome.message ? `: ${outcome.message}` : ''}`,
    );
  }
  return outcome;
}

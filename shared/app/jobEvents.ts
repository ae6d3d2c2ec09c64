import { z } from 'zod';
import { runIdSchema } from '../domain/runIds.js';
import { parseInput } from '../domain/validation.js';
import { terminalRuntimeStatuses, type OrchestrationClient } from '../ports/orchestrationClient.js';

/**
 * A job's state change arrives on the `job-events` queue (from a backend watcher, an HPC
 * callback, a container's exit) and is relayed to the run waiting for it as the external
 * event `job:<jobId>`, which the orchestrator races against its timeout timer.
 */
export const jobEventSchema = z
  .object({
    runId: runIdSchema,
    /** The waiting orchestration when it is not the run's own (a sub-orchestration). */
    instanceId: z.string().min(1).max(200).optional(),
    jobId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    state: z.enum(['running', 'succeeded', 'failed', 'canceled', 'timed_out']),
    exitCode: z.number().int().optional(),
    message: z.string().max(4000).optional(),
  })
  .strict();
export type JobEvent = z.infer<typeof jobEventSchema>;

export const jobEventName = (jobId: string): string => `job:${jobId}`;

export async function relayJobEvent(
  client: OrchestrationClient,
  message: unknown,
): Promise<JobEvent> {
  const event = parseInput(jobEventSchema, message, 'job-events message');
  const target = event.instanceId ?? event.runId;
  try {
    await client.raiseEvent(target, jobEventName(event.jobId), event);
  } catch (error) {
    // An orchestration that has ended (completed, failed, canceled, or purged) waits for
    // nothing: a late or redelivered event for it is done, not a failure to retry until the
    // message is dead-lettered. Anything else (the client unreachable) is retried.
    const status = await client.getStatus(target).catch(() => 'unknown' as const);
    if (status === 'unknown') throw error;
    if (status !== undefined && !terminalRuntimeStatuses.includes(status.runtimeStatus)) {
      throw error;
    }
  }
  return event;
}

import { z } from 'zod';
import { BatonError, isBatonError } from '../domain/errors.js';
import { isJobEnded } from '../domain/taskStates.js';
import type { TaskJobRecord } from '../domain/tasks.js';
import { lastLines } from '../domain/logLines.js';
import { parseInput } from '../domain/validation.js';
import type { TaskDeps } from './taskDeps.js';
import { jobsOf, readTask } from './tasks.js';

/**
 * `GET /api/tasks/{name}/logs` and `baton task logs`: the saved stdout/stderr of a task's jobs,
 * from the lake. By default the latest attempt of every job that did not succeed (what a user
 * reads when a task is broken or failed); `job` (and `attempt`) pick one.
 */
export const taskLogsQuerySchema = z
  .object({
    job: z
      .string()
      .regex(/^j\d{6,7}$/, 'a job key such as j000003')
      .optional(),
    attempt: z.coerce.number().int().min(1).max(1000).optional(),
    /** Keep the last N lines of each log. */
    tail: z.coerce.number().int().min(1).max(100_000).optional(),
  })
  .strict();

export interface TaskJobLog {
  key: string;
  item: string;
  attempt: number;
  state: string;
  exitCode?: number;
  path: string;
  text: string;
}

/** At most this many logs per reply without `job`: a task of 10,000 failed jobs is read by key. */
const maxLogs = 20;

export async function getTaskLogs(
  deps: TaskDeps,
  name: string,
  query: unknown,
): Promise<TaskJobLog[]> {
  const q = parseInput(taskLogsQuerySchema, query, 'query');
  await readTask(deps, name);
  const jobs = await jobsOf(deps, name);
  let picked: Array<{ job: TaskJobRecord; attempt: number }>;
  if (q.job !== undefined) {
    const job = jobs.find((j) => j.key === q.job);
    if (!job)
      throw new BatonError('not_found', `job: ${name} has no job ${q.job}`, { field: 'job' });
    picked = [{ job, attempt: q.attempt ?? latestLoggedAttempt(job) }];
  } else {
    picked = jobs
      .filter((j) => isJobEnded(j.state) && j.state !== 'succeeded')
      .slice(0, maxLogs)
      .map((job) => ({ job, attempt: latestLoggedAttempt(job) }));
  }
  const logs: TaskJobLog[] = [];
  for (const { job, attempt } of picked) {
    const record = job.attempts.find((a) => a.attempt === attempt);
    if (record?.logPath === undefined) {
      if (q.job !== undefined) {
        throw new BatonError(
          'not_found',
          `job ${job.key} has no saved log for attempt ${attempt}`,
          {
            field: 'attempt',
          },
        );
      }
      continue;
    }
    let text: string;
    try {
      text = (await deps.lake.read(record.logPath)).toString('utf8');
    } catch (error) {
      if (!isBatonError(error, 'not_found')) throw error;
      text = '';
    }
    if (q.tail !== undefined) text = lastLines(text, q.tail);
    logs.push({
      key: job.key,
      item: job.item.name,
      attempt,
      state: record.state,
      ...(record.exitCode === undefined ? {} : { exitCode: record.exitCode }),
      path: record.logPath,
      text,
    });
  }
  return logs;
}

function latestLoggedAttempt(job: TaskJobRecord): number {
  const logged = job.attempts.filter((a) => a.logPath !== undefined).map((a) => a.attempt);
  return logged.length > 0 ? Math.max(...logged) : job.attempt;
}

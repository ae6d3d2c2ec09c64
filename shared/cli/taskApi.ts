import { z } from 'zod';
import type { createTaskRequestSchema } from '../domain/tasks.js';
import { jobStates, taskEventTypes, taskStates } from '../domain/taskStates.js';
import { pathSegment, type ApiClient } from './apiClient.js';

/**
 * The CLI's side of `/api/tasks`: zod schemas of the replies (shared/app/tasks.ts builds them)
 * and one small function per route over {@link ApiClient.request}, which turns error bodies
 * into BatonErrors. The states come from the domain's tables, so a state the CLI does not know
 * is reported as an unexpected reply rather than shown as if it were understood.
 */

const taskStateSchema = z.enum(taskStates);
const jobStateSchema = z.enum(jobStates);

export const taskSummarySchema = z.object({
  name: z.string(),
  owner: z.string(),
  state: taskStateSchema,
  backend: z.string(),
  priority: z.number(),
  jobs: z.number(),
  byState: z.record(jobStateSchema, z.number()),
  percentDone: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type TaskSummaryDto = z.infer<typeof taskSummarySchema>;

export const taskJobSchema = z.object({
  key: z.string(),
  index: z.number(),
  item: z.string(),
  state: jobStateSchema,
  attempt: z.number(),
  maxAttempts: z.number(),
  gate: z.boolean(),
  exitCode: z.number().optional(),
  message: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  outputPath: z.string().optional(),
  logPath: z.string().optional(),
});
export type TaskJobDto = z.infer<typeof taskJobSchema>;

export const taskViewSchema = taskSummarySchema.extend({
  configDataset: z.string(),
  dataDataset: z.string(),
  exec: z.string(),
  image: z.string().optional(),
  cpu: z.number().optional(),
  memoryGb: z.number().optional(),
  timeoutSeconds: z.number(),
  maxRetries: z.number(),
  bypass: z.boolean(),
  gateSize: z.number(),
  message: z.string().optional(),
  history: z.array(
    z.object({
      at: z.string(),
      from: taskStateSchema,
      to: taskStateSchema,
      event: z.enum(taskEventTypes),
      by: z.string().optional(),
    }),
  ),
  jobList: z.array(taskJobSchema),
});
export type TaskViewDto = z.infer<typeof taskViewSchema>;

export const taskPlanSchema = z.object({
  dryRun: z.literal(true),
  task: taskViewSchema,
  sampleJobs: z.array(
    z.object({
      key: z.string(),
      item: z.string(),
      argv: z.array(z.string()),
      env: z.record(z.string(), z.string()),
    }),
  ),
});
export type TaskPlanDto = z.infer<typeof taskPlanSchema>;

export const deletedTaskSchema = z.object({
  name: z.string(),
  deleted: z.literal(true),
  filesRemoved: z.boolean(),
});
export type DeletedTaskDto = z.infer<typeof deletedTaskSchema>;

export const retriedTaskSchema = z.object({
  name: z.string(),
  state: taskStateSchema,
  requeued: z.number(),
});
export type RetriedTaskDto = z.infer<typeof retriedTaskSchema>;

export const killedTaskSchema = z.object({
  name: z.string(),
  state: taskStateSchema,
  canceled: z.number(),
});
export type KilledTaskDto = z.infer<typeof killedTaskSchema>;

/** The body of `POST /api/tasks` as sent (defaults are the server's); `dryRun` is per call. */
export type CreateTaskBody = Omit<z.input<typeof createTaskRequestSchema>, 'dryRun'>;

const taskPath = (name: string): string => `tasks/${pathSegment(name, 'task')}`;

/** Creates the task: its jobs are queued and the scheduler takes it from `registered`. */
export function createTask(api: ApiClient, body: CreateTaskBody): Promise<TaskViewDto> {
  return api.request(taskViewSchema, 'POST', 'tasks', body);
}

/** What creating the task would do (its view, the first jobs' commands); creates nothing. */
export function planTask(api: ApiClient, body: CreateTaskBody): Promise<TaskPlanDto> {
  return api.request(taskPlanSchema, 'POST', 'tasks', { ...body, dryRun: true });
}

export function listTasks(api: ApiClient, owner?: string): Promise<TaskSummaryDto[]> {
  const query = owner === undefined ? '' : `?${new URLSearchParams({ owner }).toString()}`;
  return api.request(z.array(taskSummarySchema), 'GET', `tasks${query}`);
}

export function getTask(api: ApiClient, name: string): Promise<TaskViewDto> {
  return api.request(taskViewSchema, 'GET', taskPath(name));
}

/** Owner only, and not while testing or running (kill first). */
export function deleteTask(
  api: ApiClient,
  name: string,
  removeFiles: boolean,
): Promise<DeletedTaskDto> {
  return api.request(
    deletedTaskSchema,
    'DELETE',
    `${taskPath(name)}${removeFiles ? '?removeFiles=true' : ''}`,
  );
}

/** Re-queues the failed, timed-out and canceled jobs of a broken, failed or killed task. */
export function retryTask(api: ApiClient, name: string): Promise<RetriedTaskDto> {
  return api.request(retriedTaskSchema, 'POST', `${taskPath(name)}/retry`);
}

/** Cancels the task's queued and running jobs; the task ends `killed`. */
export function killTask(api: ApiClient, name: string): Promise<KilledTaskDto> {
  return api.request(killedTaskSchema, 'POST', `${taskPath(name)}/kill`);
}

export const taskJobLogSchema = z.object({
  key: z.string(),
  item: z.string(),
  attempt: z.number(),
  state: z.string(),
  exitCode: z.number().optional(),
  path: z.string(),
  text: z.string(),
});
export type TaskJobLogDto = z.infer<typeof taskJobLogSchema>;

/** Saved job logs: one job's (`job`, `attempt`), else those of the jobs that did not succeed. */
export function getTaskLogs(
  api: ApiClient,
  name: string,
  options: { job?: string; attempt?: number; tail?: number },
): Promise<TaskJobLogDto[]> {
  const query = new URLSearchParams();
  if (options.job !== undefined) query.set('job', options.job);
  if (options.attempt !== undefined) query.set('attempt', String(options.attempt));
  if (options.tail !== undefined) query.set('tail', String(options.tail));
  const suffix = query.size === 0 ? '' : `?${query.toString()}`;
  return api.request(z.array(taskJobLogSchema), 'GET', `${taskPath(name)}/logs${suffix}`);
}

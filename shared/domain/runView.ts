import { describeValue } from './describe.js';
import type {
  InstanceStatus,
  RuntimeStatus,
  WorkItemRecord,
} from '../ports/orchestrationClient.js';

/**
 * What users see of a run: the durable status folded into steps with attempts. Pure, so the
 * same view comes out of the local engine and of Azure.
 */
export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'canceled';

export interface StepAttempt {
  attempt: number;
  status: 'scheduled' | 'completed' | 'failed';
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  error?: string;
}

export interface StepView {
  name: string;
  kind: WorkItemRecord['kind'];
  taskId?: number;
  /** `canceled`: a timer the run no longer waited for (a timeout that did not fire). */
  status: 'scheduled' | 'completed' | 'failed' | 'canceled';
  attempts: StepAttempt[];
  instanceId?: string;
}

export interface RunView {
  runId: string;
  pipeline: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  params: unknown;
  output: unknown;
  error?: string;
  progress: unknown;
  steps?: StepView[];
  /** Set on the answer to a dry run: validated, nothing started. */
  dryRun?: boolean;
}

export function toRunStatus(runtimeStatus: RuntimeStatus): RunStatus {
  switch (runtimeStatus) {
    case 'Pending':
      return 'pending';
    case 'Running':
    case 'ContinuedAsNew':
    case 'Suspended':
      return 'running';
    case 'Completed':
      return 'completed';
    case 'Failed':
      return 'failed';
    case 'Canceled':
    case 'Terminated':
      return 'canceled';
  }
}

/** Groups retries (`retryOf`) under the step they repeat; backoff timers are not steps. */
export function toSteps(history: readonly WorkItemRecord[]): StepView[] {
  const steps: StepView[] = [];
  const byTask = new Map<number, StepView>();
  for (const item of history) {
    if (item.kind === 'timer' && item.retryOf !== undefined) continue;
    const attempt: StepAttempt = { attempt: 1, status: item.status };
    if (item.scheduledAt) attempt.startedAt = item.scheduledAt;
    if (item.finishedAt) attempt.finishedAt = item.finishedAt;
    if (item.scheduledAt && item.finishedAt) {
      attempt.durationMs = Date.parse(item.finishedAt) - Date.parse(item.scheduledAt);
    }
    if (item.error) attempt.error = item.error;
    const owner = item.retryOf !== undefined ? byTask.get(item.retryOf) : undefined;
    if (owner) {
      attempt.attempt = owner.attempts.length + 1;
      owner.attempts.push(attempt);
      owner.status = item.status;
      continue;
    }
    const step: StepView = {
      name: item.name,
      kind: item.kind,
      status: item.status,
      attempts: [attempt],
    };
    if (item.taskId !== undefined) {
      step.taskId = item.taskId;
      byTask.set(item.taskId, step);
    }
    if (item.instanceId) step.instanceId = item.instanceId;
    steps.push(step);
  }
  return steps;
}

export function toRunView(
  record: { runId: string; pipeline: string; params: unknown; createdAt: string },
  status: InstanceStatus | undefined,
): RunView {
  const view: RunView = {
    runId: record.runId,
    pipeline: record.pipeline,
    status: status ? toRunStatus(status.runtimeStatus) : 'pending',
    createdAt: record.createdAt,
    updatedAt: status?.lastUpdatedTime ?? record.createdAt,
    params: record.params,
    output: status && status.runtimeStatus === 'Completed' ? status.output : null,
    progress: status?.customStatus ?? null,
  };
  if (status?.runtimeStatus === 'Failed' || status?.runtimeStatus === 'Terminated')
    view.error = describeValue(status.output ?? 'failed');
  if (status?.history) {
    const finished = view.status !== 'pending' && view.status !== 'running';
    view.steps = toSteps(status.history).map((step) =>
      finished && step.kind === 'timer' && step.status === 'scheduled'
        ? { ...step, status: 'canceled' }
        : step,
    );
  }
  return view;
}

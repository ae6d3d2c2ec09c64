import type { WorkItemRecord } from '../../ports/orchestrationClient.js';
import { EventType, type HistoryEvent } from './historyEvents.js';

/**
 * Folds a history into one record per scheduled piece of work (activity, sub-orchestration,
 * timer) plus received events: what `baton status` shows as steps and attempts.
 */
export function foldWorkItems(events: readonly HistoryEvent[]): WorkItemRecord[] {
  const byTask = new Map<number, WorkItemRecord>();
  const out: WorkItemRecord[] = [];
  for (const e of events) {
    switch (e.EventType) {
      case EventType.TaskScheduled:
      case EventType.SubOrchestrationInstanceCreated:
      case EventType.TimerCreated: {
        const record: WorkItemRecord = {
          kind:
            e.EventType === EventType.TaskScheduled
              ? 'activity'
              : e.EventType === EventType.TimerCreated
                ? 'timer'
                : 'subOrchestration',
          name: e.Name ?? (e.RetryOf !== undefined ? 'retry-backoff' : 'timer'),
          taskId: e.EventId,
          status: 'scheduled',
          scheduledAt: e.Timestamp,
          ...(e.InstanceId ? { instanceId: e.InstanceId } : {}),
          ...(e.RetryOf !== undefined ? { retryOf: e.RetryOf } : {}),
        };
        byTask.set(e.EventId, record);
        out.push(record);
        break;
      }
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.TimerFired: {
        const record = byTask.get(e.TaskScheduledId ?? e.TimerId ?? -1);
        if (record) Object.assign(record, { status: 'completed', finishedAt: e.Timestamp });
        break;
      }
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed: {
        const record = byTask.get(e.TaskScheduledId ?? -1);
        if (record) {
          Object.assign(record, { status: 'failed', finishedAt: e.Timestamp });
          record.error = e.FailureDetails?.ErrorMessage ?? e.Reason ?? 'failed';
        }
        break;
      }
      case EventType.EventRaised:
        out.push({
          kind: 'event',
          name: e.Name ?? '',
          status: 'completed',
          finishedAt: e.Timestamp,
        });
        break;
      default:
        break;
    }
  }
  return out;
}

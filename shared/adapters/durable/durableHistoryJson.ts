import { z } from 'zod';
import type { WorkItemRecord } from '../../ports/orchestrationClient.js';

/**
 * The history format of the Durable Functions status API (`showHistory=true`): one entry per
 * completed piece of work with `EventType` as a name, `FunctionName`, `ScheduledTime` and
 * `Timestamp`. The local engine emits it and the Azure client reads it, so both go through
 * the same converter. Unknown event types are ignored, unknown fields are allowed.
 */
export const durableHistoryEntrySchema = z
  .object({
    EventType: z.string(),
    FunctionName: z.string().optional(),
    Name: z.string().optional(),
    Timestamp: z.string().optional(),
    ScheduledTime: z.string().optional(),
    FireAt: z.string().optional(),
    Reason: z.string().optional(),
    Details: z.string().optional(),
    InstanceId: z.string().optional(),
    TaskScheduledId: z.number().optional(),
    RetryOf: z.number().optional(),
  })
  .loose();
export type DurableHistoryEntry = z.infer<typeof durableHistoryEntrySchema>;

const kinds: Record<string, { kind: WorkItemRecord['kind']; status: WorkItemRecord['status'] }> = {
  TaskScheduled: { kind: 'activity', status: 'scheduled' },
  TaskCompleted: { kind: 'activity', status: 'completed' },
  TaskFailed: { kind: 'activity', status: 'failed' },
  SubOrchestrationInstanceCreated: { kind: 'subOrchestration', status: 'scheduled' },
  SubOrchestrationInstanceCompleted: { kind: 'subOrchestration', status: 'completed' },
  SubOrchestrationInstanceFailed: { kind: 'subOrchestration', status: 'failed' },
  TimerCreated: { kind: 'timer', status: 'scheduled' },
  TimerFired: { kind: 'timer', status: 'completed' },
  EventRaised: { kind: 'event', status: 'completed' },
};

export function fromDurableHistoryJson(entries: unknown): WorkItemRecord[] {
  const parsed = z.array(durableHistoryEntrySchema).safeParse(entries);
  if (!parsed.success) return [];
  const out: WorkItemRecord[] = [];
  for (const e of parsed.data) {
    const known = kinds[e.EventType];
    if (!known) continue;
    const record: WorkItemRecord = {
      kind: known.kind,
      name: e.FunctionName ?? e.Name ?? (known.kind === 'timer' ? 'timer' : ''),
      status: known.status,
    };
    if (e.TaskScheduledId !== undefined) record.taskId = e.TaskScheduledId;
    if (e.ScheduledTime !== undefined) record.scheduledAt = e.ScheduledTime;
    if (known.status !== 'scheduled' && e.Timestamp !== undefined) record.finishedAt = e.Timestamp;
    if (known.status === 'scheduled' && e.Timestamp !== undefined) record.scheduledAt = e.Timestamp;
    if (known.status === 'failed') record.error = e.Reason ?? e.Details ?? 'failed';
    if (e.InstanceId !== undefined) record.instanceId = e.InstanceId;
    if (e.RetryOf !== undefined) record.retryOf = e.RetryOf;
    out.push(record);
  }
  return out;
}

/** The inverse, used by the local engine's status endpoint. */
export function toDurableHistoryJson(records: readonly WorkItemRecord[]): DurableHistoryEntry[] {
  const names: Record<WorkItemRecord['kind'], [string, string, string]> = {
    activity: ['TaskScheduled', 'TaskCompleted', 'TaskFailed'],
    subOrchestration: [
      'SubOrchestrationInstanceCreated',
      'SubOrchestrationInstanceCompleted',
      'SubOrchestrationInstanceFailed',
    ],
    timer: ['TimerCreated', 'TimerFired', 'TimerFired'],
    event: ['EventRaised', 'EventRaised', 'EventRaised'],
  };
  return records.map((r) => {
    const [scheduled, completed, failed] = names[r.kind];
    const eventType =
      r.status === 'scheduled' ? scheduled : r.status === 'completed' ? completed : failed;
    const entry: DurableHistoryEntry = { EventType: eventType };
    if (r.kind === 'event') entry.Name = r.name;
    else if (r.kind !== 'timer') entry.FunctionName = r.name;
    if (r.taskId !== undefined) entry.TaskScheduledId = r.taskId;
    if (r.retryOf !== undefined) entry.RetryOf = r.retryOf;
    if (r.instanceId !== undefined) entry.InstanceId = r.instanceId;
    if (r.status === 'scheduled') {
      if (r.scheduledAt !== undefined) entry.Timestamp = r.scheduledAt;
    } else {
      if (r.scheduledAt !== undefined) entry.ScheduledTime = r.scheduledAt;
      if (r.finishedAt !== undefined) entry.Timestamp = r.finishedAt;
    }
    if (r.error !== undefined) entry.Reason = r.error;
    return entry;
  });
}

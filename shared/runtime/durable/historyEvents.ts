/**
 * History events in the shape the durable-functions replay code reads (DTFx names and
 * numbers). The local engine persists exactly these, so a stored history can be fed to the
 * library's handler unchanged.
 */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventRaised: 15,
  ContinueAsNew: 16,
} as const;

export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  /** ISO 8601 on disk; the library turns it into a Date on its copy. */
  Timestamp: string;
  Name?: string;
  Input?: string;
  Result?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  FailureDetails?: FailureDetails;
  OrchestrationStatus?: string;
  Reason?: string;
  /** Baton: the task id whose retry this timer or re-attempt belongs to. */
  RetryOf?: number;
  /** Baton: on a retry timer, the chain stops trying (non-retriable error, retry timeout). */
  GiveUp?: boolean;
}

export interface FailureDetails {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace?: string;
  IsNonRetriable?: boolean;
}

/** JSON text as the library expects it: `undefined` is stored as `null`. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value ?? null);
}

export function fromJsonText(text: string | undefined): unknown {
  return text === undefined || text === '' ? undefined : JSON.parse(text);
}

export function isCompletionOf(event: HistoryEvent): number | undefined {
  switch (event.EventType) {
    case EventType.TaskCompleted:
    case EventType.TaskFailed:
    case EventType.SubOrchestrationInstanceCompleted:
    case EventType.SubOrchestrationInstanceFailed:
      return event.TaskScheduledId;
    case EventType.TimerFired:
      return event.TimerId;
    default:
      return undefined;
  }
}

export function isScheduling(event: HistoryEvent): boolean {
  return (
    event.EventType === EventType.TaskScheduled ||
    event.EventType === EventType.TimerCreated ||
    event.EventType === EventType.SubOrchestrationInstanceCreated
  );
}

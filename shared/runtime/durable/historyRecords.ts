import { randomUUID } from 'node:crypto';
import { BatonError } from '../../domain/errors.js';
import { describeValue } from '../../domain/describe.js';
import { EventType, toJsonText, type FailureDetails, type HistoryEvent } from './historyEvents.js';
import type { EpisodeOutcome, EpisodeRecord } from './instanceStore.js';
import { retryDelayMs, type ScheduledWork } from './replay.js';

/** Pure builders of the events and records the engine writes. */

export function creationRecord(
  generation: number,
  inboxSeq: number,
  name: string,
  input: unknown,
  at: string,
): EpisodeRecord {
  return {
    seq: 0,
    generation,
    executionId: randomUUID(),
    inboxSeq,
    events: [
      {
        EventType: EventType.ExecutionStarted,
        EventId: -1,
        IsPlayed: false,
        Timestamp: at,
        Name: name,
        Input: toJsonText(input),
      },
    ],
    outcome: { runtimeStatus: 'Pending' },
    at,
  };
}

export function orchestratorStarted(at: string): HistoryEvent {
  return { EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: false, Timestamp: at };
}

export function executionEnded(
  status: 'Completed' | 'Failed',
  value: unknown,
  at: string,
): HistoryEvent {
  return {
    EventType: status === 'Completed' ? EventType.ExecutionCompleted : EventType.ExecutionFailed,
    EventId: -1,
    IsPlayed: false,
    Timestamp: at,
    OrchestrationStatus: status,
    Result: toJsonText(value),
  };
}

export function taskCompleted(taskId: number, value: unknown, at: string): HistoryEvent {
  return {
    EventType: EventType.TaskCompleted,
    EventId: -1,
    IsPlayed: false,
    Timestamp: at,
    TaskScheduledId: taskId,
    Result: toJsonText(value),
  };
}

export function taskFailed(taskId: number, details: FailureDetails, at: string): HistoryEvent {
  return {
    EventType: EventType.TaskFailed,
    EventId: -1,
    IsPlayed: false,
    Timestamp: at,
    TaskScheduledId: taskId,
    FailureDetails: details,
  };
}

export function timerFired(taskId: number, fireAt: string, at: string): HistoryEvent {
  return {
    EventType: EventType.TimerFired,
    EventId: -1,
    IsPlayed: false,
    Timestamp: at,
    TimerId: taskId,
    FireAt: fireAt,
  };
}

export function eventRaised(name: string, input: string, at: string): HistoryEvent {
  return {
    EventType: EventType.EventRaised,
    EventId: -1,
    IsPlayed: false,
    Timestamp: at,
    Name: name,
    Input: input,
  };
}

export function childEnded(taskId: number, outcome: EpisodeOutcome, at: string): HistoryEvent {
  if (outcome.runtimeStatus === 'Completed') {
    return {
      EventType: EventType.SubOrchestrationInstanceCompleted,
      EventId: -1,
      IsPlayed: false,
      Timestamp: at,
      TaskScheduledId: taskId,
      Result: toJsonText(outcome.output),
    };
  }
  return {
    EventType: EventType.SubOrchestrationInstanceFailed,
    EventId: -1,
    IsPlayed: false,
    Timestamp: at,
    TaskScheduledId: taskId,
    FailureDetails: {
      ErrorType: 'OrchestrationFailure',
      ErrorMessage: outcome.error ?? describeValue(outcome.output ?? outcome.runtimeStatus),
    },
  };
}

/**
 * A child's id when the orchestrator does not choose one: the parent's id, its execution and
 * the task id, so a restarted or continued parent never adopts a child of an earlier execution.
 */
export function defaultChildId(
  parentInstanceId: string,
  parentExecutionId: string,
  taskId: number,
): string {
  return `${parentInstanceId}:${parentExecutionId.slice(0, 8)}:${taskId}`;
}

export function toSchedulingEvent(
  work: ScheduledWork,
  childIdFor: (taskId: number) => string,
  now: Date,
  giveUp: boolean,
): HistoryEvent {
  const base = { EventId: work.taskId, IsPlayed: false, Timestamp: now.toISOString() };
  const retry = 'retryOf' in work && work.retryOf !== undefined ? { RetryOf: work.retryOf } : {};
  switch (work.kind) {
    case 'activity':
      return {
        ...base,
        ...retry,
        EventType: EventType.TaskScheduled,
        Name: work.name,
        Input: toJsonText(work.input),
      };
    case 'subOrchestration':
      return {
        ...base,
        ...retry,
        EventType: EventType.SubOrchestrationInstanceCreated,
        Name: work.name,
        InstanceId: work.instanceId ?? childIdFor(work.taskId),
        Input: toJsonText(work.input),
      };
    case 'timer':
      return { ...base, EventType: EventType.TimerCreated, FireAt: work.fireAt };
    case 'retryTimer':
      return {
        ...base,
        EventType: EventType.TimerCreated,
        RetryOf: work.retryOf,
        ...(giveUp ? { GiveUp: true } : {}),
        FireAt: new Date(
          now.getTime() + (giveUp ? 0 : retryDelayMs(work.retry, work.failures)),
        ).toISOString(),
      };
  }
}

/**
 * What an activity's failure looks like in the history: type and message only. Stack traces
 * would bloat every later replay and carry machine paths; the engine logs them instead.
 */
export function toFailureDetails(error: unknown): FailureDetails {
  if (error instanceof BatonError) {
    return {
      ErrorType: `BatonError.${error.code}`,
      ErrorMessage: error.message,
      IsNonRetriable: !error.retryable,
    };
  }
  if (error instanceof Error) return { ErrorType: error.name, ErrorMessage: error.message };
  return { ErrorType: 'Error', ErrorMessage: describeValue(error) };
}

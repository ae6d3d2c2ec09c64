import { InvocationContext } from '../functionsApi.js';
import { EventType, isScheduling, type HistoryEvent } from './historyEvents.js';
import {
  assignedTasks,
  type LibraryAction,
  type LibraryRetryOptions,
  type LibraryTask,
} from './taskTracking.js';

/**
 * One orchestrator episode: the persisted history plus this episode's new events go through the
 * durable-functions handler; what comes back is checked against the history (determinism) and
 * turned into the new work the engine must carry out. Pure apart from calling the handler.
 */
export type ScheduledWork =
  | { kind: 'activity'; taskId: number; name: string; input: unknown; retryOf?: number }
  | {
      kind: 'subOrchestration';
      taskId: number;
      name: string;
      instanceId: string | undefined;
      input: unknown;
      retryOf?: number;
    }
  | { kind: 'timer'; taskId: number; fireAt: string; retryOf?: number }
  | {
      kind: 'retryTimer';
      taskId: number;
      retryOf: number;
      failures: number;
      retry: LibraryRetryOptions;
    };

export type EpisodeStatus = 'Running' | 'Completed' | 'Failed' | 'ContinuedAsNew';

export interface EpisodeResult {
  status: EpisodeStatus;
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  /** Work that the history has not recorded yet, in task-id order. */
  newWork: ScheduledWork[];
  continueAsNewInput?: unknown;
}

export interface EpisodeInput {
  instanceId: string;
  functionName: string;
  input: unknown;
  parentInstanceId?: string;
  /** Persisted history (not mutated). */
  history: readonly HistoryEvent[];
  /** Events of this episode, after the OrchestratorStarted that the engine adds. */
  newEvents: readonly HistoryEvent[];
  now: Date;
  /** The scheduling events of `history` by task id, when the caller keeps them indexed already. */
  recorded?: ReadonlyMap<number, HistoryEvent>;
  log?: (level: string, message: string) => void;
}

type LibraryEvent = Omit<HistoryEvent, 'Timestamp'> & { Timestamp: Date };

/** TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated, Execution* and OrchestratorCompleted. */
const ignoredByLibrary: ReadonlySet<number> = new Set([
  EventType.ExecutionCompleted,
  EventType.ExecutionFailed,
  EventType.ExecutionTerminated,
  EventType.TaskScheduled,
  EventType.SubOrchestrationInstanceCreated,
  EventType.TimerCreated,
  EventType.OrchestratorCompleted,
]);

const parsedTimestamps = new WeakMap<HistoryEvent, number>();

function toLibraryEvent(e: HistoryEvent, played: boolean): LibraryEvent {
  let ms = parsedTimestamps.get(e);
  if (ms === undefined) {
    ms = Date.parse(e.Timestamp);
    parsedTimestamps.set(e, ms);
  }
  return { ...e, IsPlayed: played, Timestamp: new Date(ms) };
}

export type OrchestrationHandler = (
  payload: unknown,
  context: InvocationContext,
) => Promise<unknown>;

interface LibraryState {
  isDone: boolean;
  actions: LibraryAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

export class NonDeterminismError extends Error {
  constructor(message: string) {
    super(`Non-deterministic orchestration: ${message}`);
    this.name = 'NonDeterminismError';
  }
}

const schemaV3 = 2;

export async function runEpisode(
  handler: OrchestrationHandler,
  episode: EpisodeInput,
): Promise<EpisodeResult> {
  // The library never reads scheduling events, so they are left out of its copy; and since it
  // turns every Timestamp string into a Date (mutating what it is given), each episode gets
  // fresh event objects, with dates built from a parse that is done once per event.
  const history: LibraryEvent[] = [];
  for (const e of episode.history)
    if (!ignoredByLibrary.has(e.EventType)) history.push(toLibraryEvent(e, true));
  history.push(toLibraryEvent(startedEvent(episode.now), false));
  for (const e of episode.newEvents) history.push(toLibraryEvent(e, false));

  const payload = {
    history,
    instanceId: episode.instanceId,
    isReplaying: episode.history.length > 0,
    upperSchemaVersion: schemaV3,
    input: episode.input,
    parentInstanceId: episode.parentInstanceId,
    longRunningTimerIntervalDuration: '3.00:00:00',
    // Local timers are never split into chunks: one TimerCreated per createTimer.
    maximumShortTimerDuration: '36500.00:00:00',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
  };
  const context = new InvocationContext({
    invocationId: `${episode.instanceId}:${episode.now.getTime()}`,
    functionName: episode.functionName,
    logHandler: (level, ...args) => {
      const ctxDf = (context as unknown as { df?: { isReplaying?: boolean } }).df;
      if (!ctxDf?.isReplaying) episode.log?.(level, args.map(String).join(' '));
    },
    options: { trigger: { type: 'orchestrationTrigger', name: 'context' } },
  });

  let state: LibraryState;
  let failed = false;
  try {
    state = (await handler(payload, context)) as LibraryState;
  } catch (error) {
    state = parseOrchestrationFailure(error);
    failed = true;
  }
  const executor = (context as unknown as { df?: { taskOrchestratorExecutor?: unknown } }).df
    ?.taskOrchestratorExecutor;
  const tasks = assignedTasks(executor);
  const flatActions = flattenActions(state.actions);
  const unsupported = flatActions.find((a) => [7, 8, 9, 13, 14].includes(a.actionType));
  if (unsupported) {
    return failure(
      state,
      `the local engine does not support action type ${unsupported.actionType} (entities, callHttp)`,
    );
  }

  let recorded = episode.recorded;
  if (!recorded) {
    const fromHistory = new Map<number, HistoryEvent>();
    for (const e of episode.history) if (isScheduling(e)) fromHistory.set(e.EventId, e);
    recorded = fromHistory;
  }

  const newWork: ScheduledWork[] = [];
  const seen = new Set<number>();
  for (const task of tasks) {
    let work: ScheduledWork;
    try {
      work = describeTask(task, episode.now);
    } catch (error) {
      return failure(state, error instanceof Error ? error.message : String(error));
    }
    seen.add(work.taskId);
    const previous = recorded.get(work.taskId);
    if (previous) {
      const mismatch = compareWithHistory(work, previous);
      if (mismatch) return failure(state, mismatch);
    } else {
      newWork.push(work);
    }
  }
  if (!failed) {
    for (const [taskId, e] of recorded) {
      if (!seen.has(taskId)) {
        return failure(
          state,
          `the history has ${describeEvent(e)} as task ${taskId}, which the code no longer schedules`,
        );
      }
    }
  }

  if (failed)
    return {
      status: 'Failed',
      error: state.error ?? 'orchestrator failed',
      customStatus: state.customStatus,
      newWork: [],
    };
  const continueAsNew = flatActions.find((a) => a.actionType === 4);
  if (state.isDone && continueAsNew) {
    return {
      status: 'ContinuedAsNew',
      customStatus: state.customStatus,
      newWork: [],
      continueAsNewInput: decodeActionInput(continueAsNew.input),
    };
  }
  if (state.isDone)
    return {
      status: 'Completed',
      output: state.output,
      customStatus: state.customStatus,
      newWork: [],
    };
  return { status: 'Running', customStatus: state.customStatus, newWork };
}

function failure(state: LibraryState, message: string): EpisodeResult {
  return {
    status: 'Failed',
    error: new NonDeterminismError(message).message,
    customStatus: state.customStatus,
    newWork: [],
  };
}

function startedEvent(now: Date): HistoryEvent {
  return {
    EventType: EventType.OrchestratorStarted,
    EventId: -1,
    IsPlayed: false,
    Timestamp: now.toISOString(),
  };
}

/**
 * The library rejects with `OrchestrationFailureError` whose message is
 * `"<bool>\n\n$OutOfProcData$:" + JSON(state)`; anything else is reported as it is.
 */
function parseOrchestrationFailure(error: unknown): LibraryState {
  const message = error instanceof Error ? error.message : String(error);
  const marker = '$OutOfProcData$:';
  const at = message.indexOf(marker);
  if (at >= 0) {
    try {
      const parsed = JSON.parse(message.slice(at + marker.length)) as LibraryState;
      return { ...parsed, error: parsed.error ?? 'orchestrator threw a non-Error value' };
    } catch {
      // fall through to the raw message
    }
  }
  return { isDone: false, actions: [], error: message };
}

function flattenActions(actions: LibraryAction[][] | undefined): LibraryAction[] {
  const out: LibraryAction[] = [];
  const visit = (a: LibraryAction): void => {
    out.push(a);
    for (const child of a.compoundActions ?? []) visit(child);
  };
  for (const group of actions ?? []) for (const a of group) visit(a);
  return out;
}

/** CallActivity(+Retry) and ContinueAsNew JSON-encode string inputs only; others pass raw. */
function decodeActionInput(input: unknown): unknown {
  return typeof input === 'string' ? (JSON.parse(input) as unknown) : input;
}

function describeTask(task: LibraryTask, now: Date): ScheduledWork {
  const taskId = task.id as number;
  const parent = task.parent;
  const isRetryStep = parent?.retryOptions !== undefined && task !== parent.innerTask;
  if (isRetryStep && parent) {
    const index = (parent.children ?? []).indexOf(task);
    const innerId = parent.innerTask?.id;
    const retryOf = typeof innerId === 'number' ? innerId : -1;
    if (index % 2 === 1) {
      return {
        kind: 'retryTimer',
        taskId,
        retryOf,
        failures: (index + 1) / 2,
        retry: parent.retryOptions as LibraryRetryOptions,
      };
    }
    const again = describeAction(parent.actionObj, taskId, now);
    return { ...again, retryOf };
  }
  return describeAction(task.actionObj, taskId, now);
}

function describeAction(
  action: LibraryAction | undefined,
  taskId: number,
  now: Date,
): ScheduledWork {
  switch (action?.actionType) {
    case 0:
    case 1:
      return {
        kind: 'activity',
        taskId,
        name: action.functionName ?? '',
        input: decodeActionInput(action.input),
      };
    case 2:
    case 3:
      return {
        kind: 'subOrchestration',
        taskId,
        name: action.functionName ?? '',
        instanceId: action.instanceId,
        input: action.input,
      };
    case 5: {
      const fireAt = action.fireAt instanceof Date ? action.fireAt : new Date(action.fireAt ?? now);
      return { kind: 'timer', taskId, fireAt: fireAt.toISOString() };
    }
    default:
      throw new Error(`task ${taskId} has an action of unknown type ${String(action?.actionType)}`);
  }
}

function compareWithHistory(work: ScheduledWork, e: HistoryEvent): string | undefined {
  if (sameWork(work, e)) return undefined;
  const expected = describeEvent(e);
  const actual = describeWork(work);
  return expected === actual
    ? undefined
    : `at task ${work.taskId} the history has ${expected} but the code now schedules ${actual}`;
}

function sameWork(work: ScheduledWork, e: HistoryEvent): boolean {
  switch (work.kind) {
    case 'activity':
      return e.EventType === EventType.TaskScheduled && e.Name === work.name;
    case 'subOrchestration':
      return e.EventType === EventType.SubOrchestrationInstanceCreated && e.Name === work.name;
    case 'timer':
      return e.EventType === EventType.TimerCreated && e.RetryOf === undefined;
    case 'retryTimer':
      return e.EventType === EventType.TimerCreated && e.RetryOf !== undefined;
  }
}

function describeEvent(e: HistoryEvent): string {
  switch (e.EventType) {
    case EventType.TaskScheduled:
      return `activity '${e.Name ?? ''}'`;
    case EventType.SubOrchestrationInstanceCreated:
      return `sub-orchestration '${e.Name ?? ''}'`;
    default:
      return e.RetryOf === undefined ? 'a timer' : 'a retry timer';
  }
}

function describeWork(work: ScheduledWork): string {
  switch (work.kind) {
    case 'activity':
      return `activity '${work.name}'`;
    case 'subOrchestration':
      return `sub-orchestration '${work.name}'`;
    case 'timer':
      return 'a timer';
    case 'retryTimer':
      return 'a retry timer';
  }
}

export function retryDelayMs(retry: LibraryRetryOptions, failures: number): number {
  if (failures >= retry.maxNumberOfAttempts) return 0;
  const coefficient = retry.backoffCoefficient ?? 1;
  const delay = retry.firstRetryIntervalInMilliseconds * coefficient ** Math.max(0, failures - 1);
  return Math.min(delay, retry.maxRetryIntervalInMilliseconds ?? Number.POSITIVE_INFINITY);
}

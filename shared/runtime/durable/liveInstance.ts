import type { InstanceStatus } from '../../ports/orchestrationClient.js';
import {
  fromJsonText,
  isCompletionOf,
  isScheduling,
  type FailureDetails,
  type HistoryEvent,
} from './historyEvents.js';
import type {
  EpisodeOutcome,
  EpisodeRecord,
  InboxMessage,
  InstanceFacts,
  LoadedInstance,
} from './instanceStore.js';

/**
 * What the engine keeps in memory of one instance. Everything here is either read from disk
 * or derived from what was read, so a restart rebuilds it exactly (see `loadLiveInstance`).
 */
export interface QueuedInboxMessage extends InboxMessage {
  /** Appended and fsynced: only durable messages may be consumed by an episode. */
  durable: boolean;
}

export interface LiveInstance {
  facts: InstanceFacts;
  generation: number;
  executionId: string;
  seq: number;
  /** Highest inbox seq consumed by a committed episode. */
  inboxSeq: number;
  /** Highest inbox seq ever handed out (consumed or not). */
  lastInboxSeq: number;
  start: HistoryEvent;
  input: unknown;
  /** Replay history of the current generation (episodes after the creation record). */
  history: HistoryEvent[];
  scheduled: Map<number, HistoryEvent>;
  completed: Set<number>;
  outcome: EpisodeOutcome;
  lastUpdatedTime: string;
  /** Completions (activities, timers, children) not yet committed. */
  pending: HistoryEvent[];
  inbox: QueuedInboxMessage[];
  armedTimers: Map<number, NodeJS.Timeout>;
  episodeRunning: boolean;
  episodeTimer: NodeJS.Timeout | undefined;
  lastEpisodeMs: number;
  failures: number;
  /** Activities of this execution queued or running; while some are, episodes wait to batch. */
  activitiesInFlight: number;
  /** The latest failure of each retry chain (keyed by the first attempt's task id). */
  lastFailure: Map<number, FailureDetails>;
  /** Retry chains that stop early (non-retriable error or retry timeout): no more real attempts. */
  givenUp: Set<number>;
}

const terminalStatuses: ReadonlySet<string> = new Set([
  'Completed',
  'Failed',
  'Terminated',
  'Canceled',
]);

export function isTerminal(inst: Pick<LiveInstance, 'outcome'>): boolean {
  return terminalStatuses.has(inst.outcome.runtimeStatus);
}

export function loadLiveInstance(loaded: LoadedInstance): LiveInstance {
  const { facts, episodes, inbox } = loaded;
  const creation = episodes[0];
  if (!creation) throw new Error(`instance ${facts.instanceId} has no creation record`);
  const last = episodes[episodes.length - 1] as EpisodeRecord;
  const history: HistoryEvent[] = [];
  for (const e of episodes.slice(1)) history.push(...e.events);
  const inst = freshGeneration(facts, creation, last);
  inst.history = history;
  inst.inbox = inbox.filter((m) => m.seq > last.inboxSeq).map((m) => ({ ...m, durable: true }));
  inst.lastInboxSeq = Math.max(last.inboxSeq, ...inbox.map((m) => m.seq));
  for (const e of history) indexEvent(inst, e);
  return inst;
}

/** The state of a generation that has only its creation record (`last` may be a later one). */
export function freshGeneration(
  facts: InstanceFacts,
  creation: EpisodeRecord,
  last: EpisodeRecord = creation,
): LiveInstance {
  const start = creation.events[0] as HistoryEvent;
  return {
    facts,
    generation: creation.generation,
    // Histories written before execution ids existed: the generation stands in for one.
    executionId: creation.executionId ?? `generation-${creation.generation}`,
    seq: last.seq,
    inboxSeq: last.inboxSeq,
    lastInboxSeq: last.inboxSeq,
    start,
    input: fromJsonText(start.Input),
    history: [],
    scheduled: new Map(),
    completed: new Set(),
    outcome: last.outcome,
    lastUpdatedTime: last.at,
    pending: [],
    inbox: [],
    armedTimers: new Map(),
    episodeRunning: false,
    episodeTimer: undefined,
    lastEpisodeMs: 0,
    failures: 0,
    activitiesInFlight: 0,
    lastFailure: new Map(),
    givenUp: new Set(),
  };
}

export function indexEvent(inst: LiveInstance, e: HistoryEvent): void {
  if (isScheduling(e)) inst.scheduled.set(e.EventId, e);
  if (e.GiveUp && e.RetryOf !== undefined) inst.givenUp.add(e.RetryOf);
  const done = isCompletionOf(e);
  if (done === undefined) return;
  inst.completed.add(done);
  if (e.FailureDetails)
    inst.lastFailure.set(inst.scheduled.get(done)?.RetryOf ?? done, e.FailureDetails);
}

export function toStatus(inst: LiveInstance): InstanceStatus {
  const o = inst.outcome;
  return {
    instanceId: inst.facts.instanceId,
    name: inst.facts.name,
    runtimeStatus: o.runtimeStatus,
    input: inst.input ?? null,
    output: (o.runtimeStatus === 'Failed' ? o.error : o.output) ?? null,
    customStatus: o.customStatus ?? null,
    createdTime: inst.facts.createdTime,
    lastUpdatedTime: inst.lastUpdatedTime,
  };
}

import { describeValue } from '../../domain/describe.js';
import { InvocationContext } from '../functionsApi.js';
import { BatonError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { InstanceQuery, InstanceStatus } from '../../ports/orchestrationClient.js';
import {
  EventType,
  fromJsonText,
  isCompletionOf,
  isScheduling,
  toJsonText,
  type FailureDetails,
  type HistoryEvent,
} from './historyEvents.js';
import { foldWorkItems } from './historyFold.js';
import {
  InstanceStore,
  type EpisodeOutcome,
  type EpisodeRecord,
  type InboxMessage,
  type InstanceFacts,
  type LoadedInstance,
} from './instanceStore.js';
import {
  retryDelayMs,
  runEpisode,
  type OrchestrationHandler,
  type ScheduledWork,
} from './replay.js';

/**
 * The local durable engine: runs orchestrators through the durable-functions handler with a
 * history kept on disk, executes the activities, timers, sub-orchestrations and external
 * events they ask for, and recovers all of it after a crash from the histories alone.
 *
 * Activity results are kept in memory until the next episode commits them; a crash before that
 * re-runs the activity (activities are at-least-once and idempotent by design) but a result is
 * never recorded twice: completions for ids that already have one are dropped.
 */
export type ActivityHandler = (input: unknown, context: InvocationContext) => unknown;

export interface FunctionLookup {
  orchestrator(name: string): OrchestrationHandler | undefined;
  activity(name: string): ActivityHandler | undefined;
}

export interface EngineOptions {
  root: string;
  functions: FunctionLookup;
  clock: Clock;
  /** Activities running at once (default 32). */
  activityConcurrency?: number;
  log?: (level: string, instanceId: string, message: string) => void;
  /** Called whenever an instance reaches a terminal status. */
  onTerminal?: (status: InstanceStatus) => void;
}

interface ActivityWork {
  instanceId: string;
  generation: number;
  taskId: number;
  name: string;
  input: unknown;
}

interface LiveInstance {
  facts: InstanceFacts;
  generation: number;
  seq: number;
  inboxSeq: number;
  start: HistoryEvent;
  input: unknown;
  /** Replay history of the current generation (episodes after the creation record). */
  history: HistoryEvent[];
  scheduled: Map<number, HistoryEvent>;
  completed: Set<number>;
  outcome: EpisodeOutcome;
  lastUpdatedTime: string;
  pending: HistoryEvent[];
  inbox: InboxMessage[];
  armedTimers: Map<number, NodeJS.Timeout>;
  episodeRunning: boolean;
  episodeTimer: NodeJS.Timeout | undefined;
  lastEpisodeMs: number;
  failures: number;
  /** Activities of this instance queued or running; while some are, episodes wait to batch. */
  activitiesInFlight: number;
  /** The latest failure of each retry chain (keyed by the first attempt's task id). */
  lastFailure: Map<number, FailureDetails>;
  /** Retry chains that stop early (non-retriable error or retry timeout): no more real attempts. */
  givenUp: Set<number>;
}

const terminal: ReadonlySet<string> = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);
const maxTimerDelay = 2 ** 31 - 1;

export class DurableEngine {
  private readonly store: InstanceStore;
  private readonly live = new Map<string, LiveInstance>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly activityQueue: ActivityWork[] = [];
  private activitiesRunning = 0;
  private readonly activityIdle: Array<() => void> = [];
  /** Set by stop(): nothing new is dispatched; what is outstanding is re-derived on restart. */
  private stopped = false;
  private readonly concurrency: number;

  constructor(private readonly options: EngineOptions) {
    this.store = new InstanceStore(options.root);
    this.concurrency = options.activityConcurrency ?? 32;
  }

  /** Loads every instance from disk and resumes whatever was unfinished. */
  async start(): Promise<void> {
    await this.store.init();
    await this.store.sweepLeftovers();
    // Load everything before resuming anything: a parent's recovery looks up its children.
    const loadedInstances: LiveInstance[] = [];
    for (const id of await this.store.listIds()) {
      const loaded = await this.store.load(id);
      if (!loaded) continue;
      const inst = this.fromDisk(loaded);
      this.live.set(inst.facts.instanceId, inst);
      loadedInstances.push(inst);
    }
    for (const inst of loadedInstances) this.resume(inst);
  }

  /** Stops dispatching; waits for running activities (bounded) so their results are not wasted. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    for (const inst of this.live.values()) {
      if (inst.episodeTimer) clearTimeout(inst.episodeTimer);
      inst.episodeTimer = undefined;
      for (const t of inst.armedTimers.values()) clearTimeout(t);
      inst.armedTimers.clear();
    }
    this.activityQueue.length = 0;
    if (this.activitiesRunning > 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.activityIdle.push(resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
      ]);
    }
    for (const inst of this.live.values()) while (inst.episodeRunning) await sleep(5);
    // Commit the results that arrived while draining, so a clean stop wastes no finished work.
    for (const inst of this.live.values()) {
      if (inst.pending.length > 0 && !terminal.has(inst.outcome.runtimeStatus))
        await this.runEpisodeFor(inst, true);
    }
  }

  // ---- client operations -------------------------------------------------------------

  async startInstance(
    name: string,
    instanceId: string,
    input: unknown,
    parent?: { instanceId: string; taskId: number },
  ): Promise<string> {
    if (!this.options.functions.orchestrator(name)) {
      throw new BatonError('not_found', `orchestrator '${name}' is not registered`);
    }
    const existing = this.live.get(instanceId);
    if (existing) {
      if (!terminal.has(existing.outcome.runtimeStatus)) {
        throw new BatonError(
          'conflict',
          `instance ${instanceId} is ${existing.outcome.runtimeStatus}`,
        );
      }
      await this.purge(instanceId);
    }
    const now = this.options.clock.now().toISOString();
    const facts: InstanceFacts = { instanceId, name, createdTime: now };
    if (parent) {
      facts.parentInstanceId = parent.instanceId;
      facts.parentTaskId = parent.taskId;
    }
    const first = creationRecord(0, 0, name, input, now);
    await this.store.create(facts, first);
    const inst = this.fromDisk({ facts, episodes: [first], inbox: [] });
    this.resume(inst);
    return instanceId;
  }

  async getStatus(instanceId: string, withHistory = false): Promise<InstanceStatus | undefined> {
    const inst = this.live.get(instanceId);
    if (!inst) return undefined;
    const status = toStatus(inst);
    if (withHistory) {
      // Finished instances keep no history in memory; read it back from disk.
      const loaded = terminal.has(inst.outcome.runtimeStatus)
        ? await this.store.load(instanceId)
        : undefined;
      const events = loaded ? loaded.episodes.slice(1).flatMap((e) => e.events) : inst.history;
      status.history = foldWorkItems(events);
    }
    return status;
  }

  list(query: InstanceQuery = {}): InstanceStatus[] {
    const out: InstanceStatus[] = [];
    for (const inst of this.live.values()) {
      const s = toStatus(inst);
      if (query.runtimeStatus && !query.runtimeStatus.includes(s.runtimeStatus)) continue;
      if (query.createdTimeFrom && s.createdTime < query.createdTimeFrom) continue;
      if (query.createdTimeTo && s.createdTime > query.createdTimeTo) continue;
      if (query.instanceIdPrefix && !s.instanceId.startsWith(query.instanceIdPrefix)) continue;
      out.push(s);
    }
    return out.sort((a, b) => a.createdTime.localeCompare(b.createdTime));
  }

  async raiseEvent(instanceId: string, eventName: string, data: unknown): Promise<void> {
    const inst = this.requireLive(instanceId);
    if (terminal.has(inst.outcome.runtimeStatus)) {
      throw new BatonError(
        'conflict',
        `instance ${instanceId} is ${inst.outcome.runtimeStatus}; it takes no more events`,
      );
    }
    await this.deliverInbox(inst, { kind: 'event', name: eventName, input: toJsonText(data) });
  }

  async terminate(instanceId: string, reason: string): Promise<void> {
    const inst = this.requireLive(instanceId);
    if (terminal.has(inst.outcome.runtimeStatus)) return;
    await this.deliverInbox(inst, { kind: 'terminate', reason });
  }

  async purge(instanceId: string): Promise<boolean> {
    const inst = this.live.get(instanceId);
    if (inst && !terminal.has(inst.outcome.runtimeStatus)) {
      throw new BatonError(
        'conflict',
        `instance ${instanceId} is ${inst.outcome.runtimeStatus}; only finished instances can be purged`,
      );
    }
    this.live.delete(instanceId);
    return this.store.remove(instanceId);
  }

  /** Resolves when the instance is terminal (or the timeout passes); returns its status. */
  async waitFor(instanceId: string, timeoutMs: number): Promise<InstanceStatus | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.getStatus(instanceId);
      if (!status || terminal.has(status.runtimeStatus)) return status;
      const left = deadline - Date.now();
      if (left <= 0) return status;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        const list = this.waiters.get(instanceId) ?? [];
        list.push(() => {
          clearTimeout(timer);
          resolve();
        });
        this.waiters.set(instanceId, list);
      });
    }
  }

  // ---- recovery ----------------------------------------------------------------------

  private fromDisk(loaded: LoadedInstance): LiveInstance {
    const { facts, episodes, inbox } = loaded;
    const creation = episodes[0];
    if (!creation) throw new Error(`instance ${facts.instanceId} has no creation record`);
    const start = creation.events[0] as HistoryEvent;
    const last = episodes[episodes.length - 1] as EpisodeRecord;
    const history: HistoryEvent[] = [];
    for (const e of episodes.slice(1)) history.push(...e.events);
    const inst: LiveInstance = {
      facts,
      generation: creation.generation,
      seq: last.seq,
      inboxSeq: last.inboxSeq,
      start,
      input: fromJsonText(start.Input),
      history,
      scheduled: new Map(),
      completed: new Set(),
      outcome: last.outcome,
      lastUpdatedTime: last.at,
      pending: [],
      inbox: inbox.filter((m) => m.seq > last.inboxSeq),
      armedTimers: new Map(),
      episodeRunning: false,
      episodeTimer: undefined,
      lastEpisodeMs: 0,
      failures: 0,
      activitiesInFlight: 0,
      lastFailure: new Map(),
      givenUp: new Set(),
    };
    for (const e of history) this.index(inst, e);
    return inst;
  }

  private index(inst: LiveInstance, e: HistoryEvent): void {
    if (isScheduling(e)) inst.scheduled.set(e.EventId, e);
    if (e.GiveUp && e.RetryOf !== undefined) inst.givenUp.add(e.RetryOf);
    const done = isCompletionOf(e);
    if (done === undefined) return;
    inst.completed.add(done);
    if (e.FailureDetails)
      inst.lastFailure.set(inst.scheduled.get(done)?.RetryOf ?? done, e.FailureDetails);
  }

  /**
   * durable-functions retries every failure until its attempts run out and knows no retry
   * timeout. The engine honours both: once a chain gives up, its backoff timers fire at once
   * and its re-attempts fail at once with the last error, until the library stops asking.
   */
  private shouldGiveUp(inst: LiveInstance, work: ScheduledWork, now: Date): boolean {
    if (work.kind !== 'retryTimer') return false;
    if (inst.givenUp.has(work.retryOf)) return true;
    if (inst.lastFailure.get(work.retryOf)?.IsNonRetriable === true) return true;
    const timeout = work.retry.retryTimeoutInMilliseconds;
    const first = inst.scheduled.get(work.retryOf)?.Timestamp;
    return (
      timeout !== undefined &&
      timeout > 0 &&
      first !== undefined &&
      now.getTime() - Date.parse(first) >= timeout
    );
  }

  /** Re-derives outstanding work from the history and sets the instance going again. */
  private resume(inst: LiveInstance): void {
    this.live.set(inst.facts.instanceId, inst);
    if (terminal.has(inst.outcome.runtimeStatus)) {
      inst.history = [];
      inst.scheduled.clear();
      inst.completed.clear();
      void this.notifyParentIfNeeded(inst);
      return;
    }
    for (const [taskId, e] of inst.scheduled) {
      if (inst.completed.has(taskId)) continue;
      this.dispatch(inst, e);
    }
    this.kick(inst);
  }

  private dispatch(inst: LiveInstance, e: HistoryEvent): void {
    if (this.stopped) return;
    switch (e.EventType) {
      case EventType.TaskScheduled:
        if (e.RetryOf !== undefined && inst.givenUp.has(e.RetryOf)) {
          inst.pending.push({
            EventType: EventType.TaskFailed,
            EventId: -1,
            IsPlayed: false,
            Timestamp: this.options.clock.now().toISOString(),
            TaskScheduledId: e.EventId,
            FailureDetails: inst.lastFailure.get(e.RetryOf) ?? {
              ErrorType: 'Error',
              ErrorMessage: 'retries given up',
            },
          });
          this.kick(inst);
          break;
        }
        inst.activitiesInFlight++;
        this.enqueueActivity({
          instanceId: inst.facts.instanceId,
          generation: inst.generation,
          taskId: e.EventId,
          name: e.Name ?? '',
          input: fromJsonText(e.Input),
        });
        break;
      case EventType.TimerCreated:
        this.armTimer(inst, e.EventId, e.FireAt ?? e.Timestamp);
        break;
      case EventType.SubOrchestrationInstanceCreated:
        if (e.RetryOf !== undefined && inst.givenUp.has(e.RetryOf)) {
          const last = inst.lastFailure.get(e.RetryOf);
          this.deliverChildResult(inst, e.EventId, {
            runtimeStatus: 'Failed',
            error: last?.ErrorMessage ?? 'retries given up',
          });
          break;
        }
        void this.ensureChild(inst, e).catch((error: unknown) => this.logError(inst, error));
        break;
      default:
        break;
    }
  }

  // ---- episodes ----------------------------------------------------------------------

  private kick(inst: LiveInstance): void {
    if (this.stopped || inst.episodeRunning || inst.episodeTimer) return;
    const hasWork = inst.pending.length > 0 || inst.inbox.length > 0 || inst.seq === 0;
    if (!hasWork || terminal.has(inst.outcome.runtimeStatus)) return;
    // Wait about as long as the last replay took, so that completions arriving meanwhile are
    // delivered together: replay cost stays a bounded share of the time however wide the fan-out.
    // With nothing in flight (a sequence of steps, a timer, an event) there is nothing to wait for.
    const batching = inst.activitiesInFlight > 0 ? Math.min(250, inst.lastEpisodeMs) : 0;
    const delay = batching + Math.min(1000, inst.failures * 100);
    inst.episodeTimer = setTimeout(() => {
      inst.episodeTimer = undefined;
      void this.runEpisodeFor(inst);
    }, delay);
  }

  private async runEpisodeFor(inst: LiveInstance, draining = false): Promise<void> {
    if ((this.stopped && !draining) || inst.episodeRunning) return;
    inst.episodeRunning = true;
    const started = performance.now();
    const inbound = this.takeInbound(inst);
    try {
      if (inbound.terminate !== undefined)
        await this.commitTermination(inst, inbound.terminate, inbound.inboxSeq);
      else await this.commitEpisode(inst, inbound.events, inbound.inboxSeq);
      inst.failures = 0;
    } catch (error) {
      // Storage trouble: put the events back and try again shortly.
      inst.pending.unshift(
        ...inbound.events.filter((e) => e.EventType !== EventType.ExecutionStarted),
      );
      inst.failures++;
      this.logError(inst, error);
    } finally {
      inst.lastEpisodeMs = performance.now() - started;
      inst.episodeRunning = false;
    }
    if (terminal.has(inst.outcome.runtimeStatus)) this.finish(inst);
    else this.kick(inst);
  }

  private takeInbound(inst: LiveInstance): {
    events: HistoryEvent[];
    terminate?: string;
    inboxSeq: number;
  } {
    const events: HistoryEvent[] = [];
    if (inst.seq === 0) events.push({ ...inst.start, Timestamp: inst.start.Timestamp });
    const seen = new Set<number>();
    for (const e of inst.pending) {
      const id = isCompletionOf(e);
      if (id === undefined) {
        events.push(e);
        continue;
      }
      if (inst.completed.has(id) || seen.has(id) || !inst.scheduled.has(id)) continue;
      seen.add(id);
      events.push(e);
    }
    inst.pending = [];
    let terminate: string | undefined;
    let inboxSeq = inst.inboxSeq;
    for (const m of inst.inbox) {
      inboxSeq = Math.max(inboxSeq, m.seq);
      if (m.kind === 'terminate') terminate ??= m.reason ?? 'terminated';
      else
        events.push({
          EventType: EventType.EventRaised,
          EventId: -1,
          IsPlayed: false,
          Timestamp: m.at,
          Name: m.name ?? '',
          Input: m.input ?? 'null',
        });
    }
    inst.inbox = [];
    return terminate === undefined ? { events, inboxSeq } : { events, terminate, inboxSeq };
  }

  private async commitEpisode(
    inst: LiveInstance,
    events: HistoryEvent[],
    inboxSeq: number,
  ): Promise<void> {
    const handler = this.options.functions.orchestrator(inst.facts.name);
    const now = this.options.clock.now();
    const nowIso = now.toISOString();
    const result = handler
      ? await runEpisode(handler, {
          instanceId: inst.facts.instanceId,
          functionName: inst.facts.name,
          input: inst.input,
          ...(inst.facts.parentInstanceId ? { parentInstanceId: inst.facts.parentInstanceId } : {}),
          history: inst.history,
          recorded: inst.scheduled,
          newEvents: events,
          now,
          log: (level, message) => this.options.log?.(level, inst.facts.instanceId, message),
        })
      : {
          status: 'Failed' as const,
          error: `orchestrator '${inst.facts.name}' is not registered`,
          newWork: [],
        };

    for (const e of events) {
      const failed = isCompletionOf(e);
      if (failed !== undefined && e.FailureDetails) {
        inst.lastFailure.set(inst.scheduled.get(failed)?.RetryOf ?? failed, e.FailureDetails);
      }
    }
    const scheduling = result.newWork.map((w) =>
      toSchedulingEvent(w, inst.facts.instanceId, now, this.shouldGiveUp(inst, w, now)),
    );
    const record: EpisodeRecord = {
      seq: inst.seq + 1,
      generation: inst.generation,
      inboxSeq,
      events: [
        {
          EventType: EventType.OrchestratorStarted,
          EventId: -1,
          IsPlayed: false,
          Timestamp: nowIso,
        },
        ...events,
        ...scheduling,
      ],
      outcome: {
        runtimeStatus: result.status === 'ContinuedAsNew' ? 'Running' : result.status,
        ...(result.output !== undefined ? { output: result.output } : {}),
        ...(result.error !== undefined ? { error: result.error } : {}),
        ...(result.customStatus !== undefined ? { customStatus: result.customStatus } : {}),
      },
      at: nowIso,
    };
    if (result.status === 'Completed' || result.status === 'Failed') {
      record.events.push({
        EventType:
          result.status === 'Completed' ? EventType.ExecutionCompleted : EventType.ExecutionFailed,
        EventId: -1,
        IsPlayed: false,
        Timestamp: nowIso,
        OrchestrationStatus: result.status,
        Result: toJsonText(result.status === 'Completed' ? result.output : result.error),
      });
    }
    if (result.status === 'ContinuedAsNew') {
      await this.continueAsNew(
        inst,
        result.continueAsNewInput,
        inboxSeq,
        nowIso,
        result.customStatus,
      );
      return;
    }
    await this.store.appendEpisode(inst.facts.instanceId, record);
    this.applyRecord(inst, record);
    for (const e of scheduling) this.dispatch(inst, e);
  }

  private applyRecord(inst: LiveInstance, record: EpisodeRecord): void {
    inst.seq = record.seq;
    inst.inboxSeq = record.inboxSeq;
    inst.outcome = record.outcome;
    inst.lastUpdatedTime = record.at;
    for (const e of record.events) {
      inst.history.push(e);
      this.index(inst, e);
    }
  }

  private async continueAsNew(
    inst: LiveInstance,
    input: unknown,
    inboxSeq: number,
    nowIso: string,
    customStatus: unknown,
  ): Promise<void> {
    const generation = inst.generation + 1;
    const first = creationRecord(generation, inboxSeq, inst.facts.name, input, nowIso);
    if (customStatus !== undefined) first.outcome.customStatus = customStatus;
    await this.store.restartHistory(inst.facts.instanceId, first);
    for (const t of inst.armedTimers.values()) clearTimeout(t);
    inst.armedTimers.clear();
    Object.assign(inst, {
      generation,
      seq: 0,
      inboxSeq,
      start: first.events[0],
      input,
      history: [],
      scheduled: new Map(),
      completed: new Set(),
      outcome: first.outcome,
      lastUpdatedTime: nowIso,
    });
  }

  private async commitTermination(
    inst: LiveInstance,
    reason: string,
    inboxSeq: number,
  ): Promise<void> {
    const nowIso = this.options.clock.now().toISOString();
    const record: EpisodeRecord = {
      seq: inst.seq + 1,
      generation: inst.generation,
      inboxSeq,
      events: [
        {
          EventType: EventType.ExecutionTerminated,
          EventId: -1,
          IsPlayed: false,
          Timestamp: nowIso,
          Reason: reason,
        },
      ],
      outcome: {
        runtimeStatus: 'Terminated',
        output: reason,
        customStatus: inst.outcome.customStatus,
      },
      at: nowIso,
    };
    await this.store.appendEpisode(inst.facts.instanceId, record);
    this.applyRecord(inst, record);
  }

  private finish(inst: LiveInstance): void {
    for (const t of inst.armedTimers.values()) clearTimeout(t);
    inst.armedTimers.clear();
    inst.history = [];
    inst.scheduled.clear();
    inst.completed.clear();
    const list = this.waiters.get(inst.facts.instanceId);
    this.waiters.delete(inst.facts.instanceId);
    for (const w of list ?? []) w();
    this.options.onTerminal?.(toStatus(inst));
    void this.notifyParentIfNeeded(inst);
  }

  // ---- work ---------------------------------------------------------------------------

  private enqueueActivity(work: ActivityWork): void {
    this.activityQueue.push(work);
    this.pumpActivities();
  }

  private pumpActivities(): void {
    while (
      !this.stopped &&
      this.activitiesRunning < this.concurrency &&
      this.activityQueue.length > 0
    ) {
      const work = this.activityQueue.shift() as ActivityWork;
      this.activitiesRunning++;
      void this.runActivity(work).finally(() => {
        this.activitiesRunning--;
        if (this.activitiesRunning === 0) for (const r of this.activityIdle.splice(0)) r();
        this.pumpActivities();
      });
    }
  }

  private async runActivity(work: ActivityWork): Promise<void> {
    const handler = this.options.functions.activity(work.name);
    let completion: HistoryEvent;
    try {
      if (!handler) throw new BatonError('not_found', `activity '${work.name}' is not registered`);
      const context = new InvocationContext({
        invocationId: `${work.instanceId}:${work.taskId}`,
        functionName: work.name,
        logHandler: (level, ...args) =>
          this.options.log?.(level, work.instanceId, `${work.name}: ${args.map(String).join(' ')}`),
        options: { trigger: { type: 'activityTrigger', name: 'input' } },
      });
      const value = await handler(work.input, context);
      completion = {
        EventType: EventType.TaskCompleted,
        EventId: -1,
        IsPlayed: false,
        Timestamp: this.options.clock.now().toISOString(),
        TaskScheduledId: work.taskId,
        Result: toJsonText(value),
      };
    } catch (error) {
      if (error instanceof Error && !(error instanceof BatonError && error.code !== 'internal')) {
        this.options.log?.(
          'warn',
          work.instanceId,
          `${work.name} (task ${work.taskId}) failed: ${error.stack ?? error.message}`,
        );
      }
      completion = {
        EventType: EventType.TaskFailed,
        EventId: -1,
        IsPlayed: false,
        Timestamp: this.options.clock.now().toISOString(),
        TaskScheduledId: work.taskId,
        FailureDetails: toFailureDetails(error),
      };
    }
    const inst = this.live.get(work.instanceId);
    if (inst) inst.activitiesInFlight = Math.max(0, inst.activitiesInFlight - 1);
    if (!inst || inst.generation !== work.generation || terminal.has(inst.outcome.runtimeStatus))
      return;
    inst.pending.push(completion);
    this.kick(inst);
  }

  private armTimer(inst: LiveInstance, taskId: number, fireAt: string): void {
    if (inst.armedTimers.has(taskId)) return;
    const delay = Math.max(0, Date.parse(fireAt) - this.options.clock.now().getTime());
    const fire = (): void => {
      const left = Date.parse(fireAt) - this.options.clock.now().getTime();
      if (left > 0) {
        inst.armedTimers.set(taskId, setTimeout(fire, Math.min(left, maxTimerDelay)));
        return;
      }
      inst.armedTimers.delete(taskId);
      inst.pending.push({
        EventType: EventType.TimerFired,
        EventId: -1,
        IsPlayed: false,
        Timestamp: this.options.clock.now().toISOString(),
        TimerId: taskId,
        FireAt: fireAt,
      });
      this.kick(inst);
    };
    inst.armedTimers.set(taskId, setTimeout(fire, Math.min(delay, maxTimerDelay)));
  }

  private async ensureChild(parent: LiveInstance, e: HistoryEvent): Promise<void> {
    const childId = e.InstanceId ?? `${parent.facts.instanceId}:${e.EventId}`;
    const child = this.live.get(childId);
    if (child) {
      const isOurs =
        child.facts.parentInstanceId === parent.facts.instanceId &&
        child.facts.parentTaskId === e.EventId;
      if (isOurs) {
        if (terminal.has(child.outcome.runtimeStatus)) await this.notifyParentIfNeeded(child);
        return;
      }
      if (!terminal.has(child.outcome.runtimeStatus)) {
        this.deliverChildResult(parent, e.EventId, {
          runtimeStatus: 'Failed',
          error: `instance ${childId} is already running`,
        });
        return;
      }
      await this.purge(childId);
    }
    await this.startInstance(e.Name ?? '', childId, fromJsonText(e.Input), {
      instanceId: parent.facts.instanceId,
      taskId: e.EventId,
    }).catch((error: unknown) => {
      this.deliverChildResult(parent, e.EventId, {
        runtimeStatus: 'Failed',
        error: error instanceof Error ? error.message : String(error),
      });
    });
  }

  private async notifyParentIfNeeded(child: LiveInstance): Promise<void> {
    const parentId = child.facts.parentInstanceId;
    const taskId = child.facts.parentTaskId;
    if (parentId === undefined || taskId === undefined) return;
    const parent = this.live.get(parentId);
    if (!parent || terminal.has(parent.outcome.runtimeStatus)) return;
    this.deliverChildResult(parent, taskId, child.outcome);
  }

  private deliverChildResult(parent: LiveInstance, taskId: number, outcome: EpisodeOutcome): void {
    if (parent.completed.has(taskId)) return;
    const at = this.options.clock.now().toISOString();
    parent.pending.push(
      outcome.runtimeStatus === 'Completed'
        ? {
            EventType: EventType.SubOrchestrationInstanceCompleted,
            EventId: -1,
            IsPlayed: false,
            Timestamp: at,
            TaskScheduledId: taskId,
            Result: toJsonText(outcome.output),
          }
        : {
            EventType: EventType.SubOrchestrationInstanceFailed,
            EventId: -1,
            IsPlayed: false,
            Timestamp: at,
            TaskScheduledId: taskId,
            FailureDetails: {
              ErrorType: 'OrchestrationFailure',
              ErrorMessage: outcome.error ?? describeValue(outcome.output ?? outcome.runtimeStatus),
            },
          },
    );
    this.kick(parent);
  }

  private async deliverInbox(
    inst: LiveInstance,
    message: Omit<InboxMessage, 'seq' | 'at'>,
  ): Promise<void> {
    const lastQueued = inst.inbox[inst.inbox.length - 1]?.seq ?? inst.inboxSeq;
    const full: InboxMessage = {
      ...message,
      seq: lastQueued + 1,
      at: this.options.clock.now().toISOString(),
    };
    inst.inbox.push(full);
    try {
      await this.store.appendInbox(inst.facts.instanceId, full);
    } catch (error) {
      inst.inbox = inst.inbox.filter((m) => m !== full);
      throw error;
    }
    this.kick(inst);
  }

  private requireLive(instanceId: string): LiveInstance {
    const inst = this.live.get(instanceId);
    if (!inst) throw new BatonError('not_found', `no instance with id ${instanceId}`);
    return inst;
  }

  private logError(inst: LiveInstance, error: unknown): void {
    this.options.log?.(
      'error',
      inst.facts.instanceId,
      error instanceof Error ? (error.stack ?? error.message) : String(error),
    );
  }
}

function creationRecord(
  generation: number,
  inboxSeq: number,
  name: string,
  input: unknown,
  at: string,
): EpisodeRecord {
  return {
    seq: 0,
    generation,
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

function toSchedulingEvent(
  work: ScheduledWork,
  instanceId: string,
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
        InstanceId: work.instanceId ?? `${instanceId}:${work.taskId}`,
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
function toFailureDetails(error: unknown): FailureDetails {
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

function toStatus(inst: LiveInstance): InstanceStatus {
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

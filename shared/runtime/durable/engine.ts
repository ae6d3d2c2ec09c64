import { crashDue, crashNow } from '../../adapters/local/fsPrimitives.js';
import { BatonError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { InstanceQuery, InstanceStatus } from '../../ports/orchestrationClient.js';
import {
  failSpan,
  inRunSpan,
  recordOrchestrationSpan,
  spanAttributes,
  spanNames,
} from '../../telemetry/tracing.js';
import { definedFields, LogFields, type LogFieldValues } from '../../telemetry/runLog.js';
import { InvocationContext } from '../functionsApi.js';
import { ActivityPool } from './activityPool.js';
import {
  EventType,
  fromJsonText,
  isCompletionOf,
  toJsonText,
  type HistoryEvent,
} from './historyEvents.js';
import { foldWorkItems } from './historyFold.js';
import {
  childEnded,
  creationRecord,
  defaultChildId,
  eventRaised,
  executionEnded,
  orchestratorStarted,
  taskCompleted,
  taskFailed,
  timerFired,
  toFailureDetails,
  toSchedulingEvent,
} from './historyRecords.js';
import {
  InstanceStore,
  type EpisodeOutcome,
  type EpisodeRecord,
  type InboxMessage,
  type InstanceFacts,
} from './instanceStore.js';
import {
  freshGeneration,
  indexEvent,
  isTerminal,
  loadLiveInstance,
  toStatus,
  type LiveInstance,
  type QueuedInboxMessage,
} from './liveInstance.js';
import {
  runEpisode,
  type EpisodeResult,
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
 * never recorded twice: completions for ids that already have one are dropped, and results of
 * an earlier execution under the same instance id (a restart, a continue-as-new) are told apart
 * by the execution id.
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
  /**
   * Every line names its instance and carries `runId` (the top-level instance's id: a
   * sub-orchestration's lines belong to the run that started it) and, for an activity's
   * lines, `step` (the activity's name), `attempt` and `jobId` when its input names one.
   */
  log?: (level: string, instanceId: string, message: string, fields: LogFieldValues) => void;
  /** Called whenever an instance reaches a terminal status. */
  onTerminal?: (status: InstanceStatus) => void;
}

interface ActivityWork {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  input: unknown;
  /** 1 for the first execution of a task, n for its (n-1)th retry. */
  attempt: number;
}

interface Inbound {
  /** Everything the episode hands to the orchestrator, in order. */
  events: HistoryEvent[];
  /** The pending completions taken (put back if the episode cannot be committed). */
  completions: HistoryEvent[];
  /** The inbox messages taken (put back likewise). */
  messages: QueuedInboxMessage[];
  terminate?: string;
  inboxSeq: number;
}

const maxTimerDelay = 2 ** 31 - 1;

export class DurableEngine {
  private readonly store: InstanceStore;
  private readonly live = new Map<string, LiveInstance>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly activities: ActivityPool<ActivityWork>;
  /** Set by stop(): nothing new is dispatched; what is outstanding is re-derived on restart. */
  private stopped = false;

  constructor(private readonly options: EngineOptions) {
    this.store = new InstanceStore(options.root);
    this.activities = new ActivityPool(options.activityConcurrency ?? 32, (work) =>
      this.runActivity(work),
    );
  }

  /** Loads every instance from disk and resumes whatever was unfinished. */
  async start(): Promise<void> {
    await this.store.init();
    await this.store.sweepLeftovers();
    // Load everything before resuming anything: a parent's recovery looks up its children.
    const loaded: LiveInstance[] = [];
    const skip = (what: string, why: string): void => this.log('error', what, `skipped: ${why}`);
    for (const id of await this.store.listIds((name) => skip(name, 'not an instance folder'))) {
      try {
        const found = await this.store.load(id);
        if (!found) continue;
        const inst = loadLiveInstance(found);
        this.live.set(id, inst);
        loaded.push(inst);
      } catch (error) {
        skip(id, error instanceof Error ? error.message : String(error));
      }
    }
    for (const inst of loaded) this.resume(inst);
  }

  /** Stops dispatching; lets running activities finish (bounded) and commits their results. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    for (const inst of this.live.values()) {
      if (inst.episodeTimer) clearTimeout(inst.episodeTimer);
      inst.episodeTimer = undefined;
      this.disarmTimers(inst);
    }
    await this.activities.close(graceMs);
    for (const inst of this.live.values()) while (inst.episodeRunning) await sleep(5);
    for (const inst of this.live.values()) {
      if (inst.pending.length > 0 && !isTerminal(inst)) await this.runEpisodeFor(inst, true);
    }
  }

  // ---- client operations -------------------------------------------------------------

  async startInstance(
    name: string,
    instanceId: string,
    input: unknown,
    parent?: { instanceId: string; taskId: number; executionId: string },
  ): Promise<string> {
    if (!this.options.functions.orchestrator(name)) {
      throw new BatonError('not_found', `orchestrator '${name}' is not registered`);
    }
    const existing = this.live.get(instanceId);
    if (existing) {
      if (!isTerminal(existing)) {
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
      facts.parentExecutionId = parent.executionId;
    }
    const first = creationRecord(0, 0, name, input, now);
    await this.store.create(facts, first);
    this.resume(loadLiveInstance({ facts, episodes: [first], inbox: [] }));
    return instanceId;
  }

  async getStatus(instanceId: string, withHistory = false): Promise<InstanceStatus | undefined> {
    const inst = this.live.get(instanceId);
    if (!inst) return undefined;
    const status = toStatus(inst);
    if (withHistory) {
      // Finished instances keep no history in memory; read it back from disk.
      const loaded = isTerminal(inst) ? await this.store.load(instanceId) : undefined;
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
    if (isTerminal(inst)) {
      throw new BatonError(
        'conflict',
        `instance ${instanceId} is ${inst.outcome.runtimeStatus}; it takes no more events`,
      );
    }
    await this.deliverInbox(inst, { kind: 'event', name: eventName, input: toJsonText(data) });
  }

  async terminate(instanceId: string, reason: string): Promise<void> {
    const inst = this.requireLive(instanceId);
    if (isTerminal(inst)) return;
    await this.deliverInbox(inst, { kind: 'terminate', reason });
  }

  async purge(instanceId: string): Promise<boolean> {
    const inst = this.live.get(instanceId);
    if (inst && !isTerminal(inst)) {
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
      if (
        !status ||
        ['Completed', 'Failed', 'Terminated', 'Canceled'].includes(status.runtimeStatus)
      )
        return status;
      const left = deadline - Date.now();
      if (left <= 0) return status;
      await new Promise<void>((resolve) => {
        const waiters = this.waiters.get(instanceId) ?? new Set();
        this.waiters.set(instanceId, waiters);
        const wake = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          if (waiters.size === 0 && this.waiters.get(instanceId) === waiters)
            this.waiters.delete(instanceId);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 1000));
        waiters.add(wake);
      });
    }
  }

  // ---- recovery ----------------------------------------------------------------------

  /** Re-derives outstanding work from the history and sets the instance going again. */
  private resume(inst: LiveInstance): void {
    this.live.set(inst.facts.instanceId, inst);
    if (isTerminal(inst)) {
      this.forgetHistory(inst);
      this.notifyParentIfNeeded(inst);
      return;
    }
    for (const [taskId, e] of inst.scheduled) {
      if (!inst.completed.has(taskId)) this.dispatch(inst, e);
    }
    this.kick(inst);
  }

  private dispatch(inst: LiveInstance, e: HistoryEvent): void {
    if (this.stopped) return;
    const givenUp = e.RetryOf !== undefined && inst.givenUp.has(e.RetryOf);
    switch (e.EventType) {
      case EventType.TaskScheduled:
        if (givenUp) {
          const last = inst.lastFailure.get(e.RetryOf as number) ?? {
            ErrorType: 'Error',
            ErrorMessage: 'retries given up',
          };
          inst.pending.push(taskFailed(e.EventId, last, this.nowIso()));
          this.kick(inst);
          break;
        }
        inst.activitiesInFlight++;
        this.activities.enqueue({
          instanceId: inst.facts.instanceId,
          executionId: inst.executionId,
          taskId: e.EventId,
          name: e.Name ?? '',
          input: fromJsonText(e.Input),
          attempt: attemptOf(inst, e),
        });
        break;
      case EventType.TimerCreated:
        this.armTimer(inst, e.EventId, e.FireAt ?? e.Timestamp);
        break;
      case EventType.SubOrchestrationInstanceCreated:
        if (givenUp) {
          const last = inst.lastFailure.get(e.RetryOf as number);
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
    if (this.stopped || inst.episodeRunning || inst.episodeTimer || isTerminal(inst)) return;
    const hasWork = inst.pending.length > 0 || inst.inbox.some((m) => m.durable) || inst.seq === 0;
    if (!hasWork) return;
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
    if ((this.stopped && !draining) || inst.episodeRunning || isTerminal(inst)) return;
    inst.episodeRunning = true;
    const started = performance.now();
    const inbound = this.takeInbound(inst);
    try {
      if (inbound.terminate !== undefined)
        await this.commitTermination(inst, inbound.terminate, inbound.inboxSeq);
      else await this.commitEpisode(inst, inbound);
      inst.failures = 0;
    } catch (error) {
      // Storage trouble: nothing of this episode was committed. Put back exactly what was
      // taken (the inbox messages as messages, so their seqs are consumed only once) and retry.
      inst.pending.unshift(...inbound.completions);
      inst.inbox.unshift(...inbound.messages);
      inst.failures++;
      this.logError(inst, error);
    } finally {
      inst.lastEpisodeMs = performance.now() - started;
      inst.episodeRunning = false;
    }
    if (isTerminal(inst)) this.finish(inst);
    else this.kick(inst);
  }

  private takeInbound(inst: LiveInstance): Inbound {
    const events: HistoryEvent[] = [];
    if (inst.seq === 0) events.push({ ...inst.start });
    const completions: HistoryEvent[] = [];
    const seen = new Set<number>();
    for (const e of inst.pending) {
      const id = isCompletionOf(e);
      if (id === undefined || inst.completed.has(id) || seen.has(id) || !inst.scheduled.has(id))
        continue;
      seen.add(id);
      completions.push(e);
    }
    events.push(...completions);
    inst.pending = [];
    // Only messages already on disk, in seq order: a later one may still be being appended.
    const messages: QueuedInboxMessage[] = [];
    while (inst.inbox[0]?.durable) messages.push(inst.inbox.shift() as QueuedInboxMessage);
    let terminate: string | undefined;
    let inboxSeq = inst.inboxSeq;
    for (const m of messages) {
      inboxSeq = Math.max(inboxSeq, m.seq);
      if (m.kind === 'terminate') terminate ??= m.reason ?? 'terminated';
      else events.push(eventRaised(m.name ?? '', m.input ?? 'null', m.at));
    }
    return {
      events,
      completions,
      messages,
      inboxSeq,
      ...(terminate === undefined ? {} : { terminate }),
    };
  }

  private async commitEpisode(inst: LiveInstance, inbound: Inbound): Promise<void> {
    const now = this.options.clock.now();
    const result = await this.replay(inst, inbound.events, now);
    for (const e of inbound.completions) {
      const failed = isCompletionOf(e);
      if (failed !== undefined && e.FailureDetails)
        inst.lastFailure.set(inst.scheduled.get(failed)?.RetryOf ?? failed, e.FailureDetails);
    }
    let built: { record: EpisodeRecord; scheduling: HistoryEvent[] };
    try {
      built = this.buildRecord(inst, inbound, result, now);
      JSON.stringify(built.record);
      if (result.status === 'ContinuedAsNew') JSON.stringify(result.continueAsNewInput ?? null);
    } catch (error) {
      // The orchestrator produced something JSON cannot carry (a BigInt, a cycle): the run
      // fails with that reason instead of retrying a commit that can never succeed.
      const reason = `orchestration state cannot be stored: ${error instanceof Error ? error.message : String(error)}`;
      built = this.buildRecord(
        inst,
        inbound,
        { status: 'Failed', error: reason, newWork: [] },
        now,
      );
    }
    const { record, scheduling } = built;
    if (result.status === 'ContinuedAsNew' && record.outcome.runtimeStatus === 'Running') {
      await this.continueAsNew(
        inst,
        result.continueAsNewInput,
        inbound.inboxSeq,
        now.toISOString(),
        result.customStatus,
      );
      return;
    }
    await this.store.appendEpisode(inst.facts.instanceId, record);
    this.applyRecord(inst, record);
    for (const e of scheduling) this.dispatch(inst, e);
  }

  private async replay(
    inst: LiveInstance,
    events: HistoryEvent[],
    now: Date,
  ): Promise<EpisodeResult> {
    const handler = this.options.functions.orchestrator(inst.facts.name);
    if (!handler)
      return {
        status: 'Failed',
        error: `orchestrator '${inst.facts.name}' is not registered`,
        newWork: [],
      };
    return runEpisode(handler, {
      instanceId: inst.facts.instanceId,
      functionName: inst.facts.name,
      input: inst.input,
      ...(inst.facts.parentInstanceId ? { parentInstanceId: inst.facts.parentInstanceId } : {}),
      history: inst.history,
      recorded: inst.scheduled,
      newEvents: events,
      now,
      log: (level, message) => this.log(level, inst.facts.instanceId, message),
    });
  }

  private buildRecord(
    inst: LiveInstance,
    inbound: Inbound,
    result: EpisodeResult,
    now: Date,
  ): { record: EpisodeRecord; scheduling: HistoryEvent[] } {
    const nowIso = now.toISOString();
    const childIdFor = (taskId: number): string =>
      defaultChildId(inst.facts.instanceId, inst.executionId, taskId);
    const scheduling = result.newWork.map((w) =>
      toSchedulingEvent(w, childIdFor, now, this.shouldGiveUp(inst, w, now)),
    );
    const record: EpisodeRecord = {
      seq: inst.seq + 1,
      generation: inst.generation,
      inboxSeq: inbound.inboxSeq,
      events: [orchestratorStarted(nowIso), ...inbound.events, ...scheduling],
      outcome: {
        runtimeStatus: result.status === 'ContinuedAsNew' ? 'Running' : result.status,
        ...(result.output !== undefined ? { output: result.output } : {}),
        ...(result.error !== undefined ? { error: result.error } : {}),
        ...(result.customStatus !== undefined ? { customStatus: result.customStatus } : {}),
      },
      at: nowIso,
    };
    if (result.status === 'Completed')
      record.events.push(executionEnded('Completed', result.output, nowIso));
    if (result.status === 'Failed')
      record.events.push(executionEnded('Failed', result.error, nowIso));
    return { record, scheduling };
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

  private applyRecord(inst: LiveInstance, record: EpisodeRecord): void {
    inst.seq = record.seq;
    inst.inboxSeq = record.inboxSeq;
    inst.outcome = record.outcome;
    inst.lastUpdatedTime = record.at;
    for (const e of record.events) {
      inst.history.push(e);
      indexEvent(inst, e);
    }
  }

  /** A fresh history and a new execution: nothing of the old generation carries over. */
  private async continueAsNew(
    inst: LiveInstance,
    input: unknown,
    inboxSeq: number,
    nowIso: string,
    customStatus: unknown,
  ): Promise<void> {
    const first = creationRecord(inst.generation + 1, inboxSeq, inst.facts.name, input, nowIso);
    if (customStatus !== undefined) first.outcome.customStatus = customStatus;
    await this.store.restartHistory(inst.facts.instanceId, first);
    this.disarmTimers(inst);
    const next = freshGeneration(inst.facts, first);
    next.lastInboxSeq = inst.lastInboxSeq;
    next.inbox = inst.inbox;
    Object.assign(inst, next);
  }

  private async commitTermination(
    inst: LiveInstance,
    reason: string,
    inboxSeq: number,
  ): Promise<void> {
    const nowIso = this.nowIso();
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
    this.disarmTimers(inst);
    this.forgetHistory(inst);
    const waiters = this.waiters.get(inst.facts.instanceId);
    this.waiters.delete(inst.facts.instanceId);
    for (const wake of waiters ?? []) wake();
    const status = toStatus(inst);
    this.traceInstance(inst, status);
    this.options.onTerminal?.(status);
    this.notifyParentIfNeeded(inst);
  }

  private forgetHistory(inst: LiveInstance): void {
    inst.history = [];
    inst.scheduled.clear();
    inst.completed.clear();
    inst.pending = [];
  }

  // ---- work ---------------------------------------------------------------------------

  private async runActivity(work: ActivityWork): Promise<void> {
    const current = (): LiveInstance | undefined => {
      const inst = this.live.get(work.instanceId);
      return inst && inst.executionId === work.executionId ? inst : undefined;
    };
    const before = current();
    if (!before || isTerminal(before)) {
      if (before) before.activitiesInFlight = Math.max(0, before.activitiesInFlight - 1);
      return; // the execution that asked for it is gone: do not run work nobody waits for
    }
    const handler = this.options.functions.activity(work.name);
    const runId = this.runIdOf(work.instanceId);
    const fields = activityLogFields(work);
    const started = performance.now();
    const completion = await inRunSpan(
      spanNames.activity(work.name),
      { runId, instanceId: work.instanceId },
      {
        [spanAttributes.runId]: runId,
        [spanAttributes.instanceId]: work.instanceId,
        [spanAttributes.activity]: work.name,
        [spanAttributes.taskId]: work.taskId,
        [spanAttributes.attempt]: work.attempt,
        ...(fields.jobId === undefined ? {} : { [spanAttributes.jobId]: fields.jobId }),
      },
      async (span): Promise<HistoryEvent> => {
        try {
          if (!handler)
            throw new BatonError('not_found', `activity '${work.name}' is not registered`);
          const context = new InvocationContext({
            invocationId: `${work.instanceId}:${work.taskId}`,
            functionName: work.name,
            logHandler: (level, ...all) => {
              const extra = all.filter((a): a is LogFields => a instanceof LogFields);
              const args = all.filter((a) => !(a instanceof LogFields));
              this.log(
                level,
                work.instanceId,
                `${work.name}: ${args.map(String).join(' ')}`,
                Object.assign({}, fields, ...extra.map((f) => f.fields)) as LogFieldValues,
              );
            },
            options: { trigger: { type: 'activityTrigger', name: 'input' } },
          });
          const result = await handler(work.input, context);
          // BATON_CRASH_AT (test/chaos): the activity's side effects are done, its result is not
          // recorded yet; after a restart it runs again and must change nothing twice.
          if (crashDue('activity')) crashNow();
          this.log(
            'debug',
            work.instanceId,
            `${work.name} (task ${work.taskId}, attempt ${work.attempt}) completed in ${Math.round(performance.now() - started)} ms`,
            fields,
          );
          return taskCompleted(work.taskId, result, this.nowIso());
        } catch (error) {
          if (
            error instanceof Error &&
            !(error instanceof BatonError && error.code !== 'internal')
          ) {
            this.log(
              'warn',
              work.instanceId,
              `${work.name} (task ${work.taskId}, attempt ${work.attempt}) failed: ${error.stack ?? error.message}`,
              fields,
            );
          } else {
            this.log(
              'debug',
              work.instanceId,
              `${work.name} (task ${work.taskId}, attempt ${work.attempt}) failed: ${error instanceof Error ? error.message : String(error)}`,
              fields,
            );
          }
          // The activity's failure is the span's; the engine itself goes on (a completion).
          failSpan(span, error);
          return taskFailed(work.taskId, toFailureDetails(error), this.nowIso());
        }
      },
    );
    const inst = current();
    if (!inst) return;
    inst.activitiesInFlight = Math.max(0, inst.activitiesInFlight - 1);
    if (isTerminal(inst)) return;
    inst.pending.push(completion);
    this.kick(inst);
  }

  private armTimer(inst: LiveInstance, taskId: number, fireAt: string): void {
    if (inst.armedTimers.has(taskId)) return;
    const executionId = inst.executionId;
    const fire = (): void => {
      if (inst.executionId !== executionId) return;
      const left = Date.parse(fireAt) - this.options.clock.now().getTime();
      if (left > 0) {
        inst.armedTimers.set(taskId, setTimeout(fire, Math.min(left, maxTimerDelay)));
        return;
      }
      inst.armedTimers.delete(taskId);
      inst.pending.push(timerFired(taskId, fireAt, this.nowIso()));
      this.kick(inst);
    };
    const delay = Math.max(0, Date.parse(fireAt) - this.options.clock.now().getTime());
    inst.armedTimers.set(taskId, setTimeout(fire, Math.min(delay, maxTimerDelay)));
  }

  private disarmTimers(inst: LiveInstance): void {
    for (const t of inst.armedTimers.values()) clearTimeout(t);
    inst.armedTimers.clear();
  }

  // ---- sub-orchestrations ------------------------------------------------------------

  private isChildOf(child: LiveInstance, parent: LiveInstance, taskId: number): boolean {
    return (
      child.facts.parentInstanceId === parent.facts.instanceId &&
      child.facts.parentTaskId === taskId &&
      child.facts.parentExecutionId === parent.executionId
    );
  }

  private async ensureChild(parent: LiveInstance, e: HistoryEvent): Promise<void> {
    const childId =
      e.InstanceId ?? defaultChildId(parent.facts.instanceId, parent.executionId, e.EventId);
    const child = this.live.get(childId);
    if (child) {
      if (this.isChildOf(child, parent, e.EventId)) {
        if (isTerminal(child)) this.notifyParentIfNeeded(child);
        return;
      }
      if (!isTerminal(child)) {
        this.deliverChildResult(parent, e.EventId, {
          runtimeStatus: 'Failed',
          error: `instance ${childId} is already running`,
        });
        return;
      }
      await this.purge(childId);
    }
    try {
      await this.startInstance(e.Name ?? '', childId, fromJsonText(e.Input), {
        instanceId: parent.facts.instanceId,
        taskId: e.EventId,
        executionId: parent.executionId,
      });
    } catch (error) {
      this.deliverChildResult(parent, e.EventId, {
        runtimeStatus: 'Failed',
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** A finished child reports to the execution that started it, and to no other. */
  private notifyParentIfNeeded(child: LiveInstance): void {
    const { parentInstanceId, parentTaskId } = child.facts;
    if (parentInstanceId === undefined || parentTaskId === undefined) return;
    const parent = this.live.get(parentInstanceId);
    if (!parent || isTerminal(parent) || !this.isChildOf(child, parent, parentTaskId)) return;
    const scheduled = parent.scheduled.get(parentTaskId);
    if (
      scheduled?.EventType !== EventType.SubOrchestrationInstanceCreated ||
      scheduled.InstanceId !== child.facts.instanceId
    )
      return;
    this.deliverChildResult(parent, parentTaskId, child.outcome);
  }

  private deliverChildResult(parent: LiveInstance, taskId: number, outcome: EpisodeOutcome): void {
    if (parent.completed.has(taskId)) return;
    parent.pending.push(childEnded(taskId, outcome, this.nowIso()));
    this.kick(parent);
  }

  // ---- inbox ---------------------------------------------------------------------------

  private async deliverInbox(
    inst: LiveInstance,
    message: Omit<InboxMessage, 'seq' | 'at'>,
  ): Promise<void> {
    const queued: QueuedInboxMessage = {
      ...message,
      seq: ++inst.lastInboxSeq,
      at: this.nowIso(),
      durable: false,
    };
    inst.inbox.push(queued);
    try {
      const { durable: _durable, ...onDisk } = queued;
      await this.store.appendInbox(inst.facts.instanceId, onDisk);
    } catch (error) {
      inst.inbox = inst.inbox.filter((m) => m !== queued);
      throw error;
    }
    queued.durable = true;
    this.kick(inst);
  }

  private requireLive(instanceId: string): LiveInstance {
    const inst = this.live.get(instanceId);
    if (!inst) throw new BatonError('not_found', `no instance with id ${instanceId}`);
    return inst;
  }

  private nowIso(): string {
    return this.options.clock.now().toISOString();
  }

  private logError(inst: LiveInstance, error: unknown): void {
    this.log(
      'error',
      inst.facts.instanceId,
      error instanceof Error ? (error.stack ?? error.message) : String(error),
    );
  }

  private log(level: string, instanceId: string, message: string, fields?: LogFieldValues): void {
    this.options.log?.(level, instanceId, message, {
      runId: this.runIdOf(instanceId),
      ...fields,
    });
  }

  /**
   * The run an instance belongs to: the top of its chain of parents (a sweep's trials, a model
   * run's iterations and a beamline's hops are sub-orchestrations of the run's instance).
   */
  runIdOf(instanceId: string): string {
    let id = instanceId;
    for (let depth = 0; depth < 64; depth++) {
      const parent = this.live.get(id)?.facts.parentInstanceId;
      if (parent === undefined) return id;
      id = parent;
    }
    return id;
  }

  /** The instance's span, recorded once it has ended (its activities' spans already name it). */
  private traceInstance(inst: LiveInstance, status: InstanceStatus): void {
    const runId = this.runIdOf(inst.facts.instanceId);
    const failed = status.runtimeStatus === 'Failed';
    recordOrchestrationSpan({
      orchestration: inst.facts.name,
      runId,
      instanceId: inst.facts.instanceId,
      ...(inst.facts.parentInstanceId === undefined
        ? {}
        : { parentInstanceId: inst.facts.parentInstanceId }),
      start: new Date(status.createdTime),
      end: new Date(status.lastUpdatedTime),
      attributes: {
        [spanAttributes.runId]: runId,
        [spanAttributes.instanceId]: inst.facts.instanceId,
        [spanAttributes.orchestration]: inst.facts.name,
        [spanAttributes.status]: status.runtimeStatus,
      },
      outcome: failed
        ? { ok: false, message: describeError(status.output ?? inst.outcome.error) }
        : status.runtimeStatus === 'Completed'
          ? { ok: true }
          : { ok: false, message: status.runtimeStatus.toLowerCase() },
    });
  }
}

/** An activity's line fields: its name as the step, its attempt, the job its input names. */
function activityLogFields(work: ActivityWork): LogFieldValues {
  const input = typeof work.input === 'object' && work.input !== null ? work.input : {};
  const { jobId } = input as { jobId?: unknown };
  return definedFields({ step: work.name, attempt: work.attempt, jobId });
}

/** 1 + the earlier executions of the same retry chain (retries name the chain's first task). */
function attemptOf(inst: LiveInstance, e: HistoryEvent): number {
  if (e.RetryOf === undefined) return 1;
  let attempt = 1;
  for (const [taskId, scheduled] of inst.scheduled) {
    if (
      scheduled.EventType === EventType.TaskScheduled &&
      scheduled.RetryOf === e.RetryOf &&
      taskId < e.EventId
    )
      attempt++;
  }
  return attempt + 1;
}

function describeError(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value ?? 'failed');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

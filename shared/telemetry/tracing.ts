import {
  ROOT_CONTEXT,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  RandomIdGenerator,
  type IdGenerator,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { recordJobEnded, recordRetry } from './metrics.js';
import { spanIdOfInstance, traceIdOfRun } from './traceIds.js';

/**
 * Baton's spans: one trace per run (trace id derived from the run id, see traceIds.ts), the
 * orchestration as the root span (span id derived from the instance id), and under it one span
 * per activity execution, job and transfer. Spans are made by the host around invocations
 * (the local engine) and by the use cases that launch jobs and transfers, never inside
 * orchestrator generators, which must stay deterministic.
 *
 * Spans go to Baton's own tracer provider when one is installed (the local host, with the
 * OTLP exporter; tests, with an in-memory exporter) and otherwise to the global one (in Azure,
 * the one `@azure/monitor-opentelemetry` registers; nothing at all when none is).
 */
export const spanNames = {
  orchestration: (name: string): string => `orchestration ${name}`,
  activity: (name: string): string => `activity ${name}`,
  jobLaunch: 'job.launch',
  job: 'job',
  /** One attempt of a task's job: tasks are not runs, so each task has its own trace. */
  taskJob: 'task.job',
  transfer: 'transfer',
} as const;

/**
 * Lets a span take ids chosen by Baton (the run's trace id, the instance's span id) while
 * every other span keeps random ones. The override is set right before a synchronous
 * `startSpan` and cleared right after, so no other span can pick it up.
 */
class RunIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  next: { traceId?: string; spanId?: string } = {};
  generateTraceId(): string {
    const id = this.next.traceId;
    delete this.next.traceId;
    return id ?? this.random.generateTraceId();
  }
  generateSpanId(): string {
    const id = this.next.spanId;
    delete this.next.spanId;
    return id ?? this.random.generateSpanId();
  }
}

let installed: { provider: BasicTracerProvider; ids: RunIdGenerator } | undefined;

/**
 * Sends Baton's spans to these processors from now on. Returns a stop function that flushes
 * and shuts them down (and uninstalls the provider if it is still the current one).
 */
export function installTracing(processors: SpanProcessor[]): () => Promise<void> {
  const ids = new RunIdGenerator();
  const provider = new BasicTracerProvider({
    idGenerator: ids,
    spanProcessors: processors,
    resource: resourceFromAttributes({ 'service.name': 'baton' }),
  });
  const mine = { provider, ids };
  installed = mine;
  return async () => {
    if (installed === mine) installed = undefined;
    await provider.shutdown();
  };
}

export function tracingInstalled(): boolean {
  return installed !== undefined;
}

function tracer(): Tracer {
  return installed?.provider.getTracer('baton') ?? trace.getTracer('baton');
}

/** Where a span hangs: the run's trace, under the span of an orchestration instance. */
export interface SpanParent {
  runId: string;
  /** The instance whose span is the parent; the run's own (root) instance by default. */
  instanceId?: string;
}

/** A context whose (remote) parent is the orchestration span of `parent.instanceId`. */
export function contextOfRun(parent: SpanParent): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: traceIdOfRun(parent.runId),
    spanId: spanIdOfInstance(parent.instanceId ?? parent.runId),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/**
 * Runs `work` in a span under the run's trace: OK when it resolves, ERROR (with the exception
 * recorded) when it throws, ended either way.
 */
export async function inRunSpan<T>(
  name: string,
  parent: SpanParent,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(name, { attributes }, contextOfRun(parent));
  const attempt = attributes[spanAttributes.attempt];
  if (name.startsWith('activity ') && typeof attempt === 'number' && attempt > 1) {
    recordRetry('activity');
  }
  try {
    const result = await work(span);
    // `work` may have marked it failed itself (an activity that failed without throwing here).
    if (!failedSpans.has(span)) span.setStatus({ code: SpanStatusCode.OK });
    return result;
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Spans marked failed, so a later OK does not overwrite the status (the OTel API cannot read it). */
const failedSpans = new WeakSet<Span>();

/** Marks a span failed with the error's message (and records it as an exception event). */
export function failSpan(span: Span, error: unknown): void {
  failedSpans.add(span);
  if (error instanceof Error) span.recordException(error);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

export interface PastSpan {
  name: string;
  parent: SpanParent;
  start: Date | number;
  end: Date | number;
  attributes: Attributes;
  /** `ok`, or the failure's message; undefined leaves the status unset. */
  outcome?: SpanOutcome;
}

export type SpanOutcome = { ok: true } | { ok: false; message: string };

/** A job's or transfer's end as a span outcome: `succeeded` is OK, anything else an error. */
export function outcomeOfState(
  what: string,
  state: string,
  message: string | undefined,
): SpanOutcome {
  return state === 'succeeded'
    ? { ok: true }
    : { ok: false, message: message ?? `${what} ${state}` };
}

/**
 * Records a span for something that already happened (a job, a transfer) under its run. A job
 * span also feeds the job-duration and retry metrics (shared/telemetry/metrics.ts), so every
 * place that traces a job's end measures it too.
 */
export function recordPastSpan(past: PastSpan): void {
  const span = tracer().startSpan(
    past.name,
    { attributes: past.attributes, startTime: past.start },
    contextOfRun(past.parent),
  );
  endPastSpan(span, past);
  if (past.name === spanNames.job || past.name === spanNames.taskJob) {
    const a = past.attributes;
    const attempt = a[spanAttributes.attempt];
    recordJobEnded({
      source: past.name === spanNames.job ? 'run' : 'task',
      backend: String(a[spanAttributes.backend] ?? 'unknown'),
      state: String(a[spanAttributes.jobState] ?? 'unknown'),
      seconds: (timeOf(past.end) - timeOf(past.start)) / 1000,
      attempt: typeof attempt === 'number' ? attempt : 1,
    });
  }
}

function timeOf(at: Date | number): number {
  return typeof at === 'number' ? at : at.getTime();
}

/** The trace key of a task: its jobs' spans share one trace, apart from any run's. */
export function taskTraceKey(task: string): string {
  return `task:${task}`;
}

/**
 * One attempt of a task's job, recorded when it ends: a span in the task's own trace (trace id
 * derived from {@link taskTraceKey}, as a run's is from its id), under the task's derived span
 * id, with the job's key, attempt, compute job id and end state.
 */
export function recordTaskJobSpan(job: {
  task: string;
  key: string;
  attempt: number;
  computeJobId: string;
  backend: string;
  state: string;
  exitCode?: number;
  message?: string;
  start: Date | number;
  end: Date | number;
}): void {
  const key = taskTraceKey(job.task);
  recordPastSpan({
    name: spanNames.taskJob,
    parent: { runId: key, instanceId: key },
    start: job.start,
    end: job.end,
    attributes: {
      [spanAttributes.task]: job.task,
      [spanAttributes.taskJobKey]: job.key,
      [spanAttributes.attempt]: job.attempt,
      [spanAttributes.jobId]: job.computeJobId,
      [spanAttributes.backend]: job.backend,
      [spanAttributes.jobState]: job.state,
      ...(job.exitCode === undefined ? {} : { [spanAttributes.exitCode]: job.exitCode }),
    },
    outcome: outcomeOfState('job', job.state, job.message),
  });
}

/**
 * Records an orchestration instance's span with the ids its work already refers to: trace id
 * from the run, span id from the instance; a sub-orchestration hangs under its parent
 * instance's span, a run's own instance is the root of the trace.
 */
export function recordOrchestrationSpan(
  past: Omit<PastSpan, 'parent' | 'name'> & {
    orchestration: string;
    runId: string;
    instanceId: string;
    parentInstanceId?: string;
  },
): void {
  const ids = installed?.ids;
  if (ids)
    ids.next = { traceId: traceIdOfRun(past.runId), spanId: spanIdOfInstance(past.instanceId) };
  const span = tracer().startSpan(
    spanNames.orchestration(past.orchestration),
    {
      attributes: past.attributes,
      startTime: past.start,
      root: past.parentInstanceId === undefined,
    },
    past.parentInstanceId === undefined
      ? ROOT_CONTEXT
      : contextOfRun({ runId: past.runId, instanceId: past.parentInstanceId }),
  );
  if (ids) ids.next = {};
  endPastSpan(span, past);
}

function endPastSpan(span: Span, past: Pick<PastSpan, 'end' | 'outcome'>): void {
  if (past.outcome?.ok === true) span.setStatus({ code: SpanStatusCode.OK });
  else if (past.outcome?.ok === false)
    span.setStatus({ code: SpanStatusCode.ERROR, message: past.outcome.message });
  span.end(past.end);
}

/** Attribute names shared by every Baton span (one spelling for dashboards and queries). */
export const spanAttributes = {
  runId: 'baton.run_id',
  instanceId: 'baton.instance_id',
  orchestration: 'baton.orchestration',
  status: 'baton.status',
  activity: 'baton.activity',
  taskId: 'baton.task_id',
  attempt: 'baton.attempt',
  stepId: 'baton.step',
  jobId: 'baton.job_id',
  task: 'baton.task',
  taskJobKey: 'baton.task_job',
  backend: 'baton.backend',
  jobState: 'baton.job_state',
  exitCode: 'baton.exit_code',
  transferId: 'baton.transfer_id',
  transferFrom: 'baton.transfer_from',
  transferTo: 'baton.transfer_to',
  transferBytes: 'baton.transfer_bytes',
  transferFiles: 'baton.transfer_files',
  transferState: 'baton.transfer_state',
} as const;

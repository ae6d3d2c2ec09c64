import { parseBaseUrl, parseRetryAfter, sendOnce } from '../http/restClient.js';
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { BatonError, isBatonError, type ErrorCode } from '../../domain/errors.js';
import {
  mlflowParentRunIdTag,
  quoteMlflowKey,
  quoteMlflowString,
  toMlflowFilter,
  toMlflowOrderBy,
} from '../../domain/runFilter.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import {
  defaultMaxResults,
  sortArtifacts,
  trackerInput,
  userTags,
  type ArtifactRef,
  type EndStatus,
  type Experiment,
  type MetricInput,
  type MetricPoint,
  type ParamValue,
  type RunRecord,
  type RunStatus,
  type RunSummary,
  type SearchRunsInput,
  type StartRunInput,
  type Tracker,
} from '../../ports/tracker.js';

export interface MlflowTrackerOptions {
  /** The tracking server, e.g. `http://127.0.0.1:5000` (the `/api/2.0/mlflow/...` paths are added). */
  baseUrl: string;
  /**
   * Name of an environment variable holding a bearer token (e.g. `MLFLOW_TRACKING_TOKEN`). The
   * token is read once, sent as `Authorization: Bearer …`, and never logged or put in errors.
   */
  tokenEnvVar?: string;
  /** Where `tokenEnvVar` is looked up (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Per request, including reading the body (default 10 s). */
  timeoutMs?: number;
  /** Retries of throttling (429), server errors (5xx), timeouts and network faults. */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  clock?: Clock;
  /** Runs per `runs/search` page (default 1000). */
  searchPageSize?: number;
  fetch?: typeof fetch;
}

// MLflow's documented batch limits for runs/log-batch.
const maxBatchParams = 100;
const maxBatchTags = 100;
const maxBatchMetrics = 1000;

/** Artifact references are tags `baton.artifact.<hash of the path>` holding `{path, kind}`. */
const artifactTagPrefix = 'baton.artifact.';
/** A token on every created run, so a retried `runs/create` finds the run it already made. */
const startTokenTag = 'baton.startToken';
const runNameTag = 'mlflow.runName';

// ---------------------------------------------------------------------------------------------
// Wire shapes (MLflow REST API 2.0). Protobuf JSON may omit fields at their default value and
// may carry int64 as strings, so both are accepted; unknown fields are ignored.

const int64 = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
]);
const metricValue = z.union([
  z.number(),
  z.enum(['NaN', 'Infinity', '-Infinity']).transform(Number),
]);
const keyValueWire = z.object({ key: z.string(), value: z.string().default('') });
const metricWire = z.object({
  key: z.string(),
  value: metricValue.default(0),
  timestamp: int64.default(0),
  step: int64.default(0),
});
const runStatusWire = z
  .enum(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'])
  .transform((status): RunStatus => (status === 'SCHEDULED' ? 'RUNNING' : status));
const runInfoWire = z
  .object({
    run_id: z.string().optional(),
    run_uuid: z.string().optional(),
    run_name: z.string().optional(),
    experiment_id: z.string(),
    status: runStatusWire.default('RUNNING'),
    start_time: int64.nullish(),
    end_time: int64.nullish(),
    lifecycle_stage: z.string().optional(),
  })
  .transform((info, ctx) => {
    const runId = info.run_id ?? info.run_uuid;
    if (runId === undefined || runId === '') {
      ctx.addIssue({ code: 'custom', message: 'run_info has neither run_id nor run_uuid' });
      return z.NEVER;
    }
    return { ...info, runId };
  });
const runWire = z.object({
  info: runInfoWire,
  data: z
    .object({
      metrics: z.array(metricWire).default([]),
      params: z.array(keyValueWire).default([]),
      tags: z.array(keyValueWire).default([]),
    })
    .default({ metrics: [], params: [], tags: [] }),
});
type RunWire = z.output<typeof runWire>;

const experimentWire = z.object({
  experiment_id: z.string(),
  name: z.string(),
  lifecycle_stage: z.string().optional(),
});
const getExperimentResponse = z.object({ experiment: experimentWire });
const createExperimentResponse = z.object({ experiment_id: z.string() });
const runResponse = z.object({ run: runWire });
const searchRunsResponse = z.object({
  runs: z.array(runWire).default([]),
  next_page_token: z.string().optional(),
});
const metricHistoryResponse = z.object({
  metrics: z.array(metricWire).default([]),
  next_page_token: z.string().optional(),
});
const emptyResponse = z.object({});
const errorBody = z.object({ error_code: z.string().optional(), message: z.string().optional() });

type Outcome<T> = { ok: true; value: T } | { ok: false; error: BatonError; retryAfterMs?: number };

/**
 * The Tracker over MLflow's tracking REST API 2.0 (`fetch`, no SDK). Runs nest through the
 * `mlflow.parentRunId` tag, as the MLflow UI and clients nest them. Artifacts are not
 * uploaded to MLflow's artifact store: outputs already live in the lake, so a run records
 * references (tags `baton.artifact.<hash>` = `{"path","kind"}`) and the files stay where
 * they are.
 *
 * Every response is parsed with zod (an unexpected shape is `internal`). Errors map by
 * MLflow's `error_code`: RESOURCE_ALREADY_EXISTS → conflict, RESOURCE_DOES_NOT_EXIST →
 * not_found, INVALID_PARAMETER_VALUE → validation (or conflict when it was a changed param);
 * 429, 5xx, timeouts and network faults are retried with exponential backoff (honouring
 * Retry-After) and end as `unavailable`. A retried `runs/create` first looks for the run a
 * lost response may have created (by a token tag), so a retry never makes a second run.
 */
export class MlflowTracker implements Tracker {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: Clock;
  private readonly pageSize: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: MlflowTrackerOptions) {
    this.baseUrl = parseBaseUrl(options.baseUrl, 'in tokenEnvVar');
    if (options.tokenEnvVar !== undefined) {
      const token = (options.env ?? process.env)[options.tokenEnvVar];
      if (token === undefined || token === '') {
        throw new BatonError(
          'validation',
          `tokenEnvVar: the environment variable ${options.tokenEnvVar} is not set`,
          { field: 'tokenEnvVar' },
        );
      }
      this.#token = token;
    }
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.attempts = Math.max(1, options.retry?.attempts ?? 4);
    this.baseDelayMs = options.retry?.baseDelayMs ?? 200;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
    this.pageSize = options.searchPageSize ?? 1000;
    this.fetchImpl = options.fetch ?? fetch;
  }

  async getOrCreateExperiment(name: string): Promise<string> {
    const valid = trackerInput.experimentName(name);
    const existing = await this.lookupExperiment(valid);
    if (existing !== undefined) return usableExperimentId(existing);
    try {
      const created = await this.call(
        'POST',
        'experiments/create',
        { name: valid },
        createExperimentResponse,
      );
      return created.experiment_id;
    } catch (error) {
      // A concurrent creator (or our own retried create) got there first.
      if (!isBatonError(error, 'conflict')) throw error;
      const raced = await this.lookupExperiment(valid);
      if (raced === undefined) throw error;
      return usableExperimentId(raced);
    }
  }

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    const found = await this.lookupExperiment(trackerInput.experimentName(name));
    if (found === undefined || found.lifecycle_stage === 'deleted') return undefined;
    return { experimentId: found.experiment_id, name: found.name };
  }

  async startRun(raw: StartRunInput): Promise<string> {
    const input = trackerInput.startRun(raw);
    if (input.parentRunId !== undefined) {
      const parent = await this.fetchRun(input.parentRunId, 'parent run');
      if (parent.info.experiment_id !== input.experimentId) {
        throw new BatonError(
          'validation',
          `input.parentRunId: run ${input.parentRunId} belongs to another experiment`,
          { field: 'input.parentRunId' },
        );
      }
    }
    const token = randomUUID();
    const tags: Record<string, string> = { ...input.tags, [startTokenTag]: token };
    if (input.parentRunId !== undefined) tags[mlflowParentRunIdTag] = input.parentRunId;
    // Older servers only know the tag; newer ones accept both when they agree.
    if (input.name !== undefined) tags[runNameTag] = input.name;
    const body = {
      experiment_id: input.experimentId,
      ...(input.name === undefined ? {} : { run_name: input.name }),
      start_time: input.startTime ?? this.now(),
      tags: toKeyValues(tags),
    };
    const created = await this.call('POST', 'runs/create', body, runResponse, {
      recover: async () => {
        const found = await this.search([input.experimentId], {
          filter: `tags.${quoteMlflowKey(startTokenTag)} = ${quoteMlflowString(token)}`,
          maxResults: 1,
        });
        return found[0] === undefined ? undefined : { run: found[0] };
      },
    });
    return created.run.info.runId;
  }

  async logParams(runId: string, params: Record<string, ParamValue>): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.params(params);
    for (const batch of chunked(toKeyValues(valid), maxBatchParams)) {
      try {
        await this.call('POST', 'runs/log-batch', { run_id: id, params: batch }, emptyResponse);
      } catch (error) {
        if (isBatonError(error, 'validation')) await this.explainParamChange(id, valid, error);
        throw error;
      }
    }
  }

  async logMetrics(runId: string, metrics: readonly MetricInput[]): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.metrics(metrics);
    const now = this.now();
    const wire = valid.map((m) => ({
      key: m.key,
      value: m.value,
      timestamp: m.timestamp ?? now,
      step: m.step ?? 0,
    }));
    for (const batch of chunked(wire, maxBatchMetrics)) {
      await this.call('POST', 'runs/log-batch', { run_id: id, metrics: batch }, emptyResponse);
    }
  }

  async setTags(runId: string, tags: Record<string, string>): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.tags(tags);
    for (const batch of chunked(toKeyValues(valid), maxBatchTags)) {
      await this.call('POST', 'runs/log-batch', { run_id: id, tags: batch }, emptyResponse);
    }
  }

  async logArtifact(runId: string, artifact: ArtifactRef): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.artifact(artifact);
    const key = `${artifactTagPrefix}${createHash('sha256').update(valid.path).digest('hex').slice(0, 24)}`;
    const value = JSON.stringify(valid.kind === undefined ? { path: valid.path } : valid);
    await this.call('POST', 'runs/set-tag', { run_id: id, key, value }, emptyResponse);
  }

  async endRun(runId: string, status: EndStatus, endTime?: number): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.endStatus(status);
    const at = trackerInput.endTime(endTime) ?? this.now();
    const current = await this.fetchRun(id);
    if (current.info.status === valid) return;
    if (current.info.status !== 'RUNNING') {
      throw new BatonError('conflict', `run ${id} already ended as ${current.info.status}`);
    }
    const body = { run_id: id, status: valid, end_time: at };
    await this.call('POST', 'runs/update', body, z.object({ run_info: runInfoWire.optional() }));
  }

  async getRun(runId: string): Promise<RunRecord> {
    const id = trackerInput.runId(runId);
    const run = await this.fetchRun(id);
    const metricHistory: Record<string, MetricPoint[]> = {};
    for (const key of new Set(run.data.metrics.map((m) => m.key))) {
      metricHistory[key] = await this.metricHistory(id, key);
    }
    return { ...fromRunWire(run), metricHistory };
  }

  async searchRuns(raw: SearchRunsInput): Promise<RunSummary[]> {
    const input = trackerInput.search(raw);
    const runs = await this.search([...new Set(input.experimentIds)], {
      filter: toMlflowFilter(input.filter ?? {}),
      ...(input.orderBy === undefined ? {} : { orderBy: toMlflowOrderBy(input.orderBy) }),
      maxResults: input.maxResults ?? defaultMaxResults,
    });
    return runs.map(fromRunWire);
  }

  // -------------------------------------------------------------------------------------------

  private now(): number {
    return this.clock.now().getTime();
  }

  private async lookupExperiment(
    name: string,
  ): Promise<z.output<typeof experimentWire> | undefined> {
    try {
      const found = await this.call(
        'GET',
        'experiments/get-by-name',
        { experiment_name: name },
        getExperimentResponse,
      );
      return found.experiment;
    } catch (error) {
      if (isBatonError(error, 'not_found')) return undefined;
      throw error;
    }
  }

  private async fetchRun(runId: string, what = 'run'): Promise<RunWire> {
    try {
      return (await this.call('GET', 'runs/get', { run_id: runId }, runResponse)).run;
    } catch (error) {
      if (isBatonError(error, 'not_found')) {
        throw new BatonError('not_found', `${what} ${runId} not found`, { cause: error });
      }
      throw error;
    }
  }

  /** Pages through `metrics/get-history` (servers without paging return everything at once). */
  private async metricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const points: MetricPoint[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.call(
        'GET',
        'metrics/get-history',
        {
          run_id: runId,
          metric_key: key,
          ...(pageToken === undefined ? {} : { page_token: pageToken }),
        },
        metricHistoryResponse,
      );
      for (const m of page.metrics) {
        points.push({ key, value: m.value, step: m.step, timestamp: m.timestamp });
      }
      pageToken = page.next_page_token || undefined;
    } while (pageToken !== undefined);
    return points.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
  }

  private async search(
    experimentIds: string[],
    query: { filter: string; orderBy?: string; maxResults: number },
  ): Promise<RunWire[]> {
    const runs: RunWire[] = [];
    let pageToken: string | undefined;
    do {
      const body = {
        experiment_ids: experimentIds,
        filter: query.filter,
        run_view_type: 'ACTIVE_ONLY',
        max_results: Math.min(this.pageSize, query.maxResults - runs.length),
        order_by: query.orderBy === undefined ? [] : [query.orderBy],
        ...(pageToken === undefined ? {} : { page_token: pageToken }),
      };
      const page = await this.call('POST', 'runs/search', body, searchRunsResponse);
      runs.push(...page.runs);
      pageToken = page.next_page_token || undefined;
    } while (pageToken !== undefined && runs.length < query.maxResults);
    return runs.slice(0, query.maxResults);
  }

  /**
   * MLflow reports a changed param as INVALID_PARAMETER_VALUE; the port's answer is
   * `conflict`. Rather than trusting the message text, compare with what the run holds.
   */
  private async explainParamChange(
    runId: string,
    params: Record<string, string>,
    original: BatonError,
  ): Promise<void> {
    const run = await this.fetchRun(runId);
    for (const { key, value: before } of run.data.params) {
      if (Object.hasOwn(params, key) && params[key] !== before) {
        throw new BatonError(
          'conflict',
          `param "${key}" of run ${runId} is already "${before}"; params cannot change (got "${params[key]}")`,
          { field: `params.${key}`, cause: original },
        );
      }
    }
  }

  /** One API call with retries; `recover` runs before each retry to detect a lost success. */
  private async call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    endpoint: string,
    payload: Record<string, unknown>,
    schema: S,
    options: { recover?: () => Promise<z.output<S> | undefined> } = {},
  ): Promise<z.output<S>> {
    let delay = this.baseDelayMs;
    for (let attempt = 1; ; attempt++) {
      let outcome: Outcome<z.output<S>>;
      try {
        const recovered = attempt > 1 ? await options.recover?.() : undefined;
        outcome =
          recovered === undefined
            ? await this.once(method, endpoint, payload, schema)
            : { ok: true, value: recovered };
      } catch (error) {
        if (!isBatonError(error)) throw error;
        outcome = { ok: false, error };
      }
      if (outcome.ok) return outcome.value;
      const { error } = outcome;
      if (!(error.code === 'unavailable' && error.retryable)) throw error;
      if (attempt >= this.attempts) {
        throw new BatonError(
          'unavailable',
          `${error.message} (gave up after ${attempt} attempt${attempt === 1 ? '' : 's'})`,
          { cause: error.cause ?? error, retryable: true },
        );
      }
      await sleep(Math.min(outcome.retryAfterMs ?? delay, this.maxDelayMs));
      delay *= 2;
    }
  }

  private async once<S extends z.ZodType>(
    method: 'GET' | 'POST',
    endpoint: string,
    payload: Record<string, unknown>,
    schema: S,
  ): Promise<Outcome<z.output<S>>> {
    const what = `MLflow ${endpoint}`;
    const url = new URL(`${this.baseUrl}/api/2.0/mlflow/${endpoint}`);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    let body: string | undefined;
    if (method === 'GET') {
      for (const [key, value] of Object.entries(payload)) url.searchParams.set(key, String(value));
    } else {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(payload);
    }
    const sent = await sendOnce({
      fetchImpl: this.fetchImpl,
      url,
      init: { method, headers, ...(body === undefined ? {} : { body }) },
      timeoutMs: this.timeoutMs,
      what,
      where: this.baseUrl,
    });
    if (!sent.ok) return sent;
    const { status, text, retryAfter } = sent;
    let json: unknown;
    try {
      json = text.trim() === '' ? {} : (JSON.parse(text) as unknown);
    } catch (error) {
      if (status >= 200 && status < 300) {
        return {
          ok: false,
          error: new BatonError('internal', `${what}: the reply is not JSON`, { cause: error }),
        };
      }
      json = undefined;
    }
    if (status < 200 || status >= 300) {
      const parsed = errorBody.safeParse(json);
      const failure = fromHttpError(what, status, parsed.success ? parsed.data : {});
      const retryAfterMs = parseRetryAfter(retryAfter);
      return { ok: false, error: failure, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where =
        issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
      return {
        ok: false,
        error: new BatonError(
          'internal',
          `${what}: unexpected reply${where}: ${issue?.message ?? ''}`,
        ),
      };
    }
    return { ok: true, value: parsed.data };
  }
}

// ---------------------------------------------------------------------------------------------
// Converters

function fromRunWire(run: RunWire): RunSummary {
  const tags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
  const artifacts: ArtifactRef[] = [];
  for (const [key, value] of Object.entries(tags)) {
    if (!key.startsWith(artifactTagPrefix)) continue;
    const artifact = artifactTagValue.safeParse(safeJson(value));
    // Tags are editable by anyone in the MLflow UI; a mangled record is skipped, not fatal.
    if (artifact.success) artifacts.push(artifact.data);
  }
  const name = run.info.run_name || tags[runNameTag] || undefined;
  const parentRunId = tags[mlflowParentRunIdTag];
  return {
    runId: run.info.runId,
    experimentId: run.info.experiment_id,
    ...(name === undefined ? {} : { name }),
    status: run.info.status,
    ...(parentRunId === undefined || parentRunId === '' ? {} : { parentRunId }),
    startTime: run.info.start_time ?? 0,
    ...(run.info.end_time === undefined ||
    run.info.end_time === null ||
    run.info.status === 'RUNNING'
      ? {}
      : { endTime: run.info.end_time }),
    params: Object.fromEntries(run.data.params.map((p) => [p.key, p.value])),
    metrics: Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value])),
    tags: userTags(tags),
    artifacts: sortArtifacts(artifacts),
  };
}

const artifactTagValue = z
  .object({ path: z.string().min(1), kind: z.string().optional() })
  .transform((a): ArtifactRef =>
    a.kind === undefined ? { path: a.path } : { path: a.path, kind: a.kind },
  );

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function toKeyValues(record: Record<string, string>): { key: string; value: string }[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}

function chunked<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function usableExperimentId(experiment: z.output<typeof experimentWire>): string {
  if (experiment.lifecycle_stage === 'deleted') {
    throw new BatonError(
      'conflict',
      `experiment "${experiment.name}" exists in MLflow's trash (deleted); restore it or use another name`,
    );
  }
  return experiment.experiment_id;
}

const codeByMlflowError: Record<string, ErrorCode> = {
  RESOURCE_ALREADY_EXISTS: 'conflict',
  ALREADY_EXISTS: 'conflict',
  RESOURCE_CONFLICT: 'conflict',
  RESOURCE_DOES_NOT_EXIST: 'not_found',
  NOT_FOUND: 'not_found',
  INVALID_PARAMETER_VALUE: 'validation',
  BAD_REQUEST: 'validation',
  MALFORMED_REQUEST: 'validation',
  INVALID_STATE: 'precondition_failed',
  PERMISSION_DENIED: 'forbidden',
  UNAUTHENTICATED: 'forbidden',
  CUSTOMER_UNAUTHORIZED: 'forbidden',
  // The server does not speak this API (a wrong base URL, an old server): our setup's fault.
  ENDPOINT_NOT_FOUND: 'internal',
  NOT_IMPLEMENTED: 'internal',
  REQUEST_LIMIT_EXCEEDED: 'unavailable',
  RESOURCE_EXHAUSTED: 'unavailable',
  TEMPORARILY_UNAVAILABLE: 'unavailable',
  DEADLINE_EXCEEDED: 'unavailable',
  INTERNAL_ERROR: 'unavailable',
};

/**
 * MLflow's error_code decides (it sends INVALID_STATE with a 500, which no retry fixes);
 * without a known one (a proxy's page, an unknown code) the HTTP status does.
 */
function fromHttpError(
  what: string,
  status: number,
  body: { error_code?: string | undefined; message?: string | undefined },
): BatonError {
  const known =
    body.error_code !== undefined && Object.hasOwn(codeByMlflowError, body.error_code)
      ? codeByMlflowError[body.error_code]
      : undefined;
  const code: ErrorCode =
    known ??
    (status === 429 || (status >= 500 && status !== 501)
      ? 'unavailable'
      : status === 401 || status === 403
        ? 'forbidden'
        : status === 404 || status === 501
          ? 'internal'
          : 'validation');
  const detail = [body.error_code, body.message]
    .filter((s) => s !== undefined && s !== '')
    .join(' ');
  return new BatonError(code, `${what}: HTTP ${status}${detail === '' ? '' : ` ${detail}`}`, {
    retryable: code === 'unavailable',
  });
}

import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { listenOnLoopback } from './listenOnLoopback.js';

/**
 * An in-memory stand-in for MLflow's tracking REST API 2.0, wide enough for the MlflowTracker
 * adapter: experiments get-by-name/create, runs create/log-batch/set-tag/update/get/search and
 * metrics/get-history, with MLflow's request and response shapes and its error bodies
 * (`{error_code, message}` with the status MLflow gives each code: RESOURCE_ALREADY_EXISTS and
 * INVALID_PARAMETER_VALUE are 400, RESOURCE_DOES_NOT_EXIST 404, ENDPOINT_NOT_FOUND 404).
 *
 * Behaviour copied from MLflow's source (mlflow/server/handlers.py, store/tracking/
 * sqlalchemy_store.py, utils/search_utils.py, exceptions.py):
 * - params are write-once ("Changing param values is not allowed", INVALID_PARAMETER_VALUE);
 * - a metric identical to a logged one (key, value, timestamp, step) is not stored twice
 *   (the SQL store's primary key), the latest value is the highest (step, timestamp, value);
 * - log-batch limits: 1000 metrics, 100 params, 100 tags, 1000 in all;
 * - search filters: AND-ed comparisons, entity `metrics|params|tags|attributes` (and their
 *   aliases), keys bare or in backticks or double quotes, string values in single or double
 *   quotes with the outer quotes stripped and nothing unescaped; order_by with ASC/DESC, runs
 *   without the value last, ties by start_time DESC then run id; page_token is base64 JSON
 *   `{"offset": n}` and is returned whenever a page is full;
 * - protobuf JSON: empty repeated fields are omitted (`{}` for a search without runs);
 * - a run without run_name gets a generated name, stored in the `mlflow.runName` tag too.
 *
 * Not modelled: artifact endpoints, deletion/restore, LIKE/ILIKE/IN, datasets, experiment
 * tags, run_view_type (all runs are active), real authentication (a fixed bearer token).
 */
export interface MlflowServer {
  /** `http://127.0.0.1:<port>`: pass as the tracker's `baseUrl`. */
  readonly url: string;
  /** Every request, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Requests to endpoints this server does not implement (answered 404 ENDPOINT_NOT_FOUND). */
  readonly unknown: RecordedRequest[];
  /** Answers the next `count` requests (that `when` accepts) with an MLflow error body. */
  failNext(count: number, status: number, options?: FailureOptions): void;
  /** Holds the next `count` requests (that `when` accepts) for `ms` before handling them. */
  delayNext(count: number, ms: number, when?: RequestMatcher): void;
  /** Answers the next `count` requests (that `when` accepts) with 200 and this raw body. */
  malformNext(count: number, body: string, when?: RequestMatcher): void;
  clearFaults(): void;
  /** How many runs the server holds (white-box: a retried create must not make two). */
  runCount(): number;
  close(): Promise<void>;
}

export interface RecordedRequest {
  method: string;
  /** Below `/api/2.0/mlflow/`, e.g. `runs/search`. */
  endpoint: string;
  query: Record<string, string>;
  /** The parsed JSON body of a POST (undefined for GET). */
  body: unknown;
  headers: IncomingHttpHeaders;
}

export type RequestMatcher = (request: RecordedRequest) => boolean;

export interface FailureOptions {
  /** Default: TEMPORARILY_UNAVAILABLE (503), REQUEST_LIMIT_EXCEEDED (429), INTERNAL_ERROR. */
  errorCode?: string;
  message?: string;
  /** A Retry-After header value (seconds). */
  retryAfter?: string;
  when?: RequestMatcher;
  /** Handle the request first, then answer with the failure (a response lost on the way). */
  afterHandling?: boolean;
}

export interface MlflowServerOptions {
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string;
  /** Caps `max_results` of runs/search, so paging is exercised with few runs. */
  maxSearchPageSize?: number;
  /** When set, metrics/get-history pages by this many points. */
  historyPageSize?: number;
}

interface Fault {
  remaining: number;
  when: RequestMatcher | undefined;
}

interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: 'active';
  creation_time: number;
  last_update_time: number;
}

interface Point {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

interface Run {
  runId: string;
  experimentId: string;
  runName: string;
  userId: string;
  status: string;
  startTime: number;
  endTime: number | undefined;
  params: Map<string, string>;
  tags: Map<string, string>;
  history: Map<string, Point[]>;
  latest: Map<string, Point>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

const invalid = (message: string): ApiError =>
  new ApiError(400, 'INVALID_PARAMETER_VALUE', message);
const missing = (name: string): ApiError =>
  invalid(
    `Missing value for required parameter '${name}'. See the API docs for more information about request parameters.`,
  );

const runStatuses = new Set(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']);

export async function startMlflowServer(options: MlflowServerOptions = {}): Promise<MlflowServer> {
  const requests: RecordedRequest[] = [];
  const unknown: RecordedRequest[] = [];
  const failures: (Fault & { status: number; options: FailureOptions })[] = [];
  const delays: (Fault & { ms: number })[] = [];
  const malformed: (Fault & { body: string })[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const experiments = new Map<string, Experiment>();
  const runs = new Map<string, Run>();
  let nextExperimentId = 1;
  const now = (): number => Date.now();
  experiments.set('0', {
    experiment_id: '0',
    name: 'Default',
    artifact_location: 'mlflow-artifacts:/0',
    lifecycle_stage: 'active',
    creation_time: now(),
    last_update_time: now(),
  });

  function take<F extends Fault>(list: F[], request: RecordedRequest): F | undefined {
    const fault = list.find((f) => f.remaining > 0 && (f.when === undefined || f.when(request)));
    if (fault !== undefined) fault.remaining -= 1;
    return fault;
  }

  // ---- handlers ------------------------------------------------------------------------------

  const handlers: Record<string, (request: RecordedRequest) => unknown> = {
    'GET experiments/get-by-name': ({ query }) => {
      const name = query.experiment_name;
      if (name === undefined || name === '') throw missing('experiment_name');
      const found = [...experiments.values()].find((e) => e.name === name);
      if (found === undefined) {
        throw new ApiError(
          404,
          'RESOURCE_DOES_NOT_EXIST',
          `Could not find experiment with name '${name}'`,
        );
      }
      return { experiment: found };
    },

    'POST experiments/create': ({ body }) => {
      const name = stringField(body, 'name', true);
      if ([...experiments.values()].some((e) => e.name === name)) {
        throw new ApiError(400, 'RESOURCE_ALREADY_EXISTS', `Experiment '${name}' already exists.`);
      }
      const id = String(nextExperimentId++);
      experiments.set(id, {
        experiment_id: id,
        name,
        artifact_location: `mlflow-artifacts:/${id}`,
        lifecycle_stage: 'active',
        creation_time: now(),
        last_update_time: now(),
      });
      return { experiment_id: id };
    },

    'POST runs/create': ({ body }) => {
      const experimentId = stringField(body, 'experiment_id', false) ?? '0';
      if (!experiments.has(experimentId)) {
        throw new ApiError(
          404,
          'RESOURCE_DOES_NOT_EXIST',
          `No Experiment with id=${experimentId} exists`,
        );
      }
      const tags = keyValues(body, 'tags');
      for (const tag of tags) validateKey(tag.key, 'tag');
      let runName = stringField(body, 'run_name', false);
      const tagName = tags.find((t) => t.key === 'mlflow.runName')?.value;
      if (runName !== undefined && tagName !== undefined && runName !== tagName) {
        throw invalid(
          `Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${runName}', mlflow.runName='${tagName}').`,
        );
      }
      runName = runName ?? tagName ?? `run-${runs.size + 1}-${randomUUID().slice(0, 4)}`;
      const run: Run = {
        runId: randomUUID().replace(/-/g, ''),
        experimentId,
        runName,
        userId: stringField(body, 'user_id', false) ?? 'baton',
        status: 'RUNNING',
        startTime: intField(body, 'start_time') ?? now(),
        endTime: undefined,
        params: new Map(),
        tags: new Map(tags.map((t) => [t.key, t.value])),
        history: new Map(),
        latest: new Map(),
      };
      run.tags.set('mlflow.runName', runName);
      runs.set(run.runId, run);
      return { run: runToJson(run) };
    },

    'POST runs/log-batch': ({ body }) => {
      const run = findRun(stringField(body, 'run_id', true));
      const metrics = arrayField(body, 'metrics');
      const params = keyValues(body, 'params');
      const tags = keyValues(body, 'tags');
      if (metrics.length > 1000)
        throw invalid(
          `A batch logging request can contain at most 1000 metrics. Got ${metrics.length} metrics.`,
        );
      if (params.length > 100)
        throw invalid(
          `A batch logging request can contain at most 100 params. Got ${params.length} params.`,
        );
      if (tags.length > 100)
        throw invalid(
          `A batch logging request can contain at most 100 tags. Got ${tags.length} tags.`,
        );
      if (metrics.length + params.length + tags.length > 1000) {
        throw invalid(
          'A batch logging request can contain at most 1000 metrics, params, and tags in total.',
        );
      }
      const points = metrics.map(toPoint);
      for (const p of params) {
        validateKey(p.key, 'param');
        if (p.value.length > 6000)
          throw invalid(
            `Param value '${p.value.slice(0, 20)}...' had length ${p.value.length}, which exceeded length limit of 6000`,
          );
        const before = run.params.get(p.key);
        if (before !== undefined && before !== p.value) {
          throw invalid(
            `Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${before}' for run ID='${run.runId}'. Attempted logging new value '${p.value}'.`,
          );
        }
      }
      for (const t of tags) validateKey(t.key, 'tag');
      for (const p of params) run.params.set(p.key, p.value);
      for (const t of tags) run.tags.set(t.key, t.value);
      for (const point of points) logPoint(run, point);
      return {};
    },

    'POST runs/set-tag': ({ body }) => {
      const run = findRun(stringField(body, 'run_id', true));
      const key = stringField(body, 'key', true);
      validateKey(key, 'tag');
      run.tags.set(key, stringField(body, 'value', false) ?? '');
      return {};
    },

    'POST runs/update': ({ body }) => {
      const run = findRun(stringField(body, 'run_id', true));
      const status = stringField(body, 'status', false);
      if (status !== undefined) {
        if (!runStatuses.has(status))
          throw invalid(`Invalid value "${status}" for parameter 'status'`);
        run.status = status;
      }
      const endTime = intField(body, 'end_time');
      if (endTime !== undefined) run.endTime = endTime;
      const name = stringField(body, 'run_name', false);
      if (name !== undefined) {
        run.runName = name;
        run.tags.set('mlflow.runName', name);
      }
      return { run_info: runInfoToJson(run) };
    },

    'GET runs/get': ({ query }) => {
      const runId = query.run_id ?? query.run_uuid;
      if (runId === undefined || runId === '') throw missing('run_id');
      return { run: runToJson(findRun(runId)) };
    },

    'POST runs/search': ({ body }) => {
      const ids = arrayField(body, 'experiment_ids').map(String);
      const maxResults = intField(body, 'max_results') ?? 1000;
      if (maxResults < 1 || maxResults > 50_000) {
        throw invalid(
          `Invalid value ${maxResults} for parameter 'max_results' supplied. It must be at most 50000`,
        );
      }
      const clauses = parseFilter(stringField(body, 'filter', false) ?? '');
      const orderBy = arrayField(body, 'order_by').map((o) => parseOrderBy(String(o)));
      const offset = parsePageToken(stringField(body, 'page_token', false));
      const matching = [...runs.values()].filter(
        (run) => ids.includes(run.experimentId) && clauses.every((c) => clauseMatches(run, c)),
      );
      const sorted = sortRuns(matching, orderBy);
      const pageSize = Math.min(maxResults, options.maxSearchPageSize ?? maxResults);
      const page = sorted.slice(offset, offset + pageSize);
      const out: Record<string, unknown> = {};
      if (page.length > 0) out.runs = page.map(runToJson);
      if (page.length === pageSize) {
        out.next_page_token = Buffer.from(JSON.stringify({ offset: offset + pageSize })).toString(
          'base64',
        );
      }
      return out;
    },

    'GET metrics/get-history': ({ query }) => {
      const runId = query.run_id ?? query.run_uuid;
      if (runId === undefined || runId === '') throw missing('run_id');
      const key = query.metric_key;
      if (key === undefined || key === '') throw missing('metric_key');
      const points = findRun(runId).history.get(key) ?? [];
      const size = options.historyPageSize;
      if (size === undefined) return points.length === 0 ? {} : { metrics: points };
      const offset = parsePageToken(query.page_token);
      const page = points.slice(offset, offset + size);
      const out: Record<string, unknown> = {};
      if (page.length > 0) out.metrics = page;
      if (offset + size < points.length) {
        out.next_page_token = Buffer.from(JSON.stringify({ offset: offset + size })).toString(
          'base64',
        );
      }
      return out;
    },
  };

  function findRun(runId: string): Run {
    const run = runs.get(runId);
    if (run === undefined)
      throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Run with id=${runId} not found`);
    return run;
  }

  function logPoint(run: Run, point: Point): void {
    const history = run.history.get(point.key) ?? [];
    const duplicate = history.some(
      (p) => p.value === point.value && p.timestamp === point.timestamp && p.step === point.step,
    );
    if (!duplicate) history.push(point);
    run.history.set(point.key, history);
    const latest = run.latest.get(point.key);
    if (latest === undefined || compareTuple(point, latest) > 0) run.latest.set(point.key, point);
  }

  // ---- HTTP plumbing --------------------------------------------------------------------------

  const server = createServer((req, res) => {
    receive(req)
      .then((raw) => route(req, res, raw))
      .catch((error: unknown) =>
        reply(res, 500, { error_code: 'INTERNAL_ERROR', message: String(error) }),
      );
  });

  async function route(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const prefix = '/api/2.0/mlflow/';
    const endpoint = url.pathname.startsWith(prefix)
      ? url.pathname.slice(prefix.length)
      : url.pathname;
    let body: unknown;
    let badJson = false;
    if (req.method === 'POST' && raw !== '') {
      try {
        body = JSON.parse(raw) as unknown;
      } catch {
        badJson = true;
      }
    }
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      endpoint,
      query: Object.fromEntries(url.searchParams),
      body,
      headers: req.headers,
    };
    requests.push(request);

    const delay = take(delays, request);
    if (delay !== undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, delay.ms);
        timers.add(timer);
      });
      if (res.destroyed) return;
    }
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      return reply(res, 401, {
        error_code: 'UNAUTHENTICATED',
        message: 'Invalid or missing bearer token',
      });
    }
    const failure = take(failures, request);
    if (failure !== undefined && failure.options.afterHandling !== true) return fail(res, failure);
    const bad = take(malformed, request);
    if (bad !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(bad.body);
      return;
    }
    const handler = handlers[`${request.method} ${endpoint}`];
    if (handler === undefined || !url.pathname.startsWith(prefix)) {
      unknown.push(request);
      return reply(res, 404, {
        error_code: 'ENDPOINT_NOT_FOUND',
        message: `No API endpoint found for ${request.method} ${url.pathname}`,
      });
    }
    if (badJson)
      return reply(res, 400, {
        error_code: 'MALFORMED_REQUEST',
        message: 'Invalid JSON in request body',
      });
    try {
      const result = handler(request);
      if (failure !== undefined) return fail(res, failure);
      return reply(res, 200, result);
    } catch (error) {
      if (error instanceof ApiError) {
        return reply(res, error.status, { error_code: error.errorCode, message: error.message });
      }
      return reply(res, 500, { error_code: 'INTERNAL_ERROR', message: String(error) });
    }
  }

  function fail(res: ServerResponse, failure: { status: number; options: FailureOptions }): void {
    const errorCode =
      failure.options.errorCode ??
      (failure.status === 503
        ? 'TEMPORARILY_UNAVAILABLE'
        : failure.status === 429
          ? 'REQUEST_LIMIT_EXCEEDED'
          : 'INTERNAL_ERROR');
    const headers: Record<string, string> =
      failure.options.retryAfter === undefined ? {} : { 'retry-after': failure.options.retryAfter };
    reply(
      res,
      failure.status,
      { error_code: errorCode, message: failure.options.message ?? 'injected failure' },
      headers,
    );
  }

  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    unknown,
    failNext(count, status, failureOptions = {}) {
      failures.push({
        remaining: count,
        when: failureOptions.when,
        status,
        options: failureOptions,
      });
    },
    delayNext(count, ms, when) {
      delays.push({ remaining: count, when, ms });
    },
    malformNext(count, body, when) {
      malformed.push({ remaining: count, when, body });
    },
    clearFaults() {
      failures.length = 0;
      delays.length = 0;
      malformed.length = 0;
    },
    runCount: () => runs.size,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

// ---- request helpers ----------------------------------------------------------------------------

function receive(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null
    ? (body as Record<string, unknown>)[name]
    : undefined;
}

function stringField(body: unknown, name: string, required: true): string;
function stringField(body: unknown, name: string, required: false): string | undefined;
function stringField(body: unknown, name: string, required: boolean): string | undefined {
  const value = field(body, name);
  if (value === undefined || value === null || value === '') {
    if (required) throw missing(name);
    return undefined;
  }
  if (typeof value !== 'string')
    throw invalid(
      `Invalid value ${JSON.stringify(value)} for parameter '${name}' supplied. Hint: Value was of type '${typeof value}'.`,
    );
  return value;
}

function intField(body: unknown, name: string): number | undefined {
  const value = field(body, name);
  if (value === undefined || value === null) return undefined;
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number)) {
    throw invalid(`Invalid value ${JSON.stringify(value)} for parameter '${name}' supplied.`);
  }
  return number;
}

function arrayField(body: unknown, name: string): unknown[] {
  const value = field(body, name);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw invalid(`Invalid value for parameter '${name}': expected a list`);
  return value;
}

function keyValues(body: unknown, name: string): { key: string; value: string }[] {
  return arrayField(body, name).map((item) => ({
    key: stringField(item, 'key', true),
    value: stringField(item, 'value', false) ?? '',
  }));
}

function toPoint(item: unknown): Point {
  const key = stringField(item, 'key', true);
  validateKey(key, 'metric');
  const value = field(item, 'value');
  if (typeof value !== 'number')
    throw invalid(`Got invalid value ${String(value)} for metric '${key}'`);
  const timestamp = intField(item, 'timestamp');
  if (timestamp === undefined) throw missing('metrics[].timestamp');
  return { key, value, timestamp, step: intField(item, 'step') ?? 0 };
}

/** MLflow's `_validate_*_name`: word characters, `/ . - space` (and `:`), a normalised path. */
function validateKey(key: string, what: string): void {
  const parts = key.split('/');
  if (
    !/^[/\w.\- :]*$/.test(key) ||
    key.length > 250 ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  ) {
    throw invalid(
      `Invalid ${what} name: '${key}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).`,
    );
  }
}

function parsePageToken(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {
      offset?: unknown;
    };
    if (typeof parsed.offset === 'number' && Number.isInteger(parsed.offset) && parsed.offset > 0) {
      return parsed.offset;
    }
  } catch {
    // fall through
  }
  throw invalid(`Invalid page token, could not base64-decode`);
}

// ---- JSON shapes ----------------------------------------------------------------------------------

function runInfoToJson(run: Run): Record<string, unknown> {
  return {
    run_id: run.runId,
    run_uuid: run.runId,
    run_name: run.runName,
    experiment_id: run.experimentId,
    user_id: run.userId,
    status: run.status,
    start_time: run.startTime,
    ...(run.endTime === undefined ? {} : { end_time: run.endTime }),
    artifact_uri: `mlflow-artifacts:/${run.experimentId}/${run.runId}/artifacts`,
    lifecycle_stage: 'active',
  };
}

function runToJson(run: Run): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  if (run.latest.size > 0) data.metrics = [...run.latest.values()];
  if (run.params.size > 0) data.params = [...run.params].map(([key, value]) => ({ key, value }));
  if (run.tags.size > 0) data.tags = [...run.tags].map(([key, value]) => ({ key, value }));
  return { info: runInfoToJson(run), data, inputs: {} };
}

// ---- search: filter, order ---------------------------------------------------------------------------

type Entity = 'metric' | 'param' | 'tag' | 'attribute';

interface Clause {
  entity: Entity;
  key: string;
  comparator: string;
  value: string | number;
}

const entityAliases: Record<string, Entity> = {
  metric: 'metric',
  metrics: 'metric',
  param: 'param',
  params: 'param',
  parameter: 'param',
  parameters: 'param',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
};

const numericAttributes = new Set(['start_time', 'end_time']);
const stringAttributes = new Set([
  'run_id',
  'run_name',
  'status',
  'user_id',
  'artifact_uri',
  'lifecycle_stage',
]);

/** `entity.key` with the key bare (dots allowed), in backticks or in double quotes. */
function readIdentifier(text: string, at: number): { entity: Entity; key: string; end: number } {
  const head = /^([A-Za-z]+)\./.exec(text.slice(at));
  const entity = head === null ? undefined : entityAliases[head[1]?.toLowerCase() ?? ''];
  if (head === null || entity === undefined) {
    throw invalid(
      `Invalid identifier at '${text.slice(at, at + 20)}'. Columns should be specified as 'attribute.<key>', 'metric.<key>', 'tag.<key>', 'dataset.<key>', or 'param.'.`,
    );
  }
  let pos = at + head[0].length;
  let key: string;
  const quote = text[pos];
  if (quote === '`' || quote === '"') {
    const close = text.indexOf(quote, pos + 1);
    if (close < 0) throw invalid(`Invalid filter: unclosed ${quote}`);
    key = text.slice(pos + 1, close);
    pos = close + 1;
  } else {
    const bare = /^[A-Za-z0-9_.]+/.exec(text.slice(pos));
    if (bare === null)
      throw invalid(`Invalid filter: expected a key at '${text.slice(pos, pos + 20)}'`);
    key = bare[0];
    pos += bare[0].length;
  }
  if (entity === 'attribute' && !numericAttributes.has(key) && !stringAttributes.has(key)) {
    throw invalid(`Invalid attribute key '${key}' specified.`);
  }
  return { entity, key, end: pos };
}

function parseFilter(filter: string): Clause[] {
  const clauses: Clause[] = [];
  let pos = 0;
  const skip = (): void => {
    while (pos < filter.length && /\s/.test(filter[pos] ?? '')) pos++;
  };
  skip();
  if (pos >= filter.length) return clauses;
  for (;;) {
    const identifier = readIdentifier(filter, pos);
    pos = identifier.end;
    skip();
    const comparator = /^(>=|<=|!=|=|>|<)/.exec(filter.slice(pos))?.[0];
    if (comparator === undefined)
      throw invalid(
        `Invalid comparison clause. Expected comparison found '${filter.slice(pos, pos + 10)}'`,
      );
    pos += comparator.length;
    skip();
    let value: string | number;
    const quote = filter[pos];
    if (quote === "'" || quote === '"') {
      // sqlparse's string token: '' and \' do not end it; MLflow then strips the outer quotes only.
      let end = pos + 1;
      for (;;) {
        const c = filter[end];
        if (c === undefined) throw invalid(`Invalid filter: unclosed string`);
        if (c === quote && filter[end + 1] === quote) end += 2;
        else if (c === '\\' && filter[end + 1] === quote) end += 2;
        else if (c === quote) break;
        else end += 1;
      }
      value = filter.slice(pos + 1, end);
      pos = end + 1;
    } else {
      const number = /^-?(\d+(\.\d*)?|\.\d+)([eE]-?\d+)?/.exec(filter.slice(pos))?.[0];
      if (number === undefined)
        throw invalid(`Invalid filter: expected a value at '${filter.slice(pos, pos + 10)}'`);
      value = Number(number);
      pos += number.length;
    }
    const numeric =
      identifier.entity === 'metric' ||
      (identifier.entity === 'attribute' && numericAttributes.has(identifier.key));
    if (numeric && typeof value !== 'number')
      throw invalid(`Expected numeric value type for metric. Found ${value}`);
    if (!numeric && typeof value !== 'string') {
      throw invalid(
        `Expected a quoted string value for ${identifier.entity} (e.g. 'my-value'). Got value ${value}`,
      );
    }
    if (!numeric && comparator !== '=' && comparator !== '!=') {
      throw invalid(`Invalid comparator '${comparator}' not one of '{'!=', '='}'`);
    }
    clauses.push({ entity: identifier.entity, key: identifier.key, comparator, value });
    skip();
    if (pos >= filter.length) return clauses;
    const and = /^and\s/i.exec(filter.slice(pos));
    if (and === null) throw invalid(`Invalid clause(s) in filter string: '${filter.slice(pos)}'`);
    pos += and[0].length;
    skip();
  }
}

function valueOf(run: Run, entity: Entity, key: string): string | number | undefined {
  switch (entity) {
    case 'metric':
      return run.latest.get(key)?.value;
    case 'param':
      return run.params.get(key);
    case 'tag':
      return run.tags.get(key);
    case 'attribute':
      return {
        run_id: run.runId,
        run_name: run.runName,
        status: run.status,
        user_id: run.userId,
        start_time: run.startTime,
        end_time: run.endTime,
        lifecycle_stage: 'active',
        artifact_uri: '',
      }[key];
  }
}

function clauseMatches(run: Run, clause: Clause): boolean {
  const lhs = valueOf(run, clause.entity, clause.key);
  if (lhs === undefined) return false;
  const rhs = clause.value;
  switch (clause.comparator) {
    case '=':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
    case '>':
      return lhs > rhs;
    case '>=':
      return lhs >= rhs;
    case '<':
      return lhs < rhs;
    case '<=':
      return lhs <= rhs;
    default:
      return false;
  }
}

interface OrderClause {
  entity: Entity;
  key: string;
  ascending: boolean;
}

function parseOrderBy(text: string): OrderClause {
  let rest = text.trim();
  let ascending = true;
  const direction = /\s+(asc|desc)$/i.exec(rest);
  if (direction !== null) {
    ascending = direction[1]?.toLowerCase() === 'asc';
    rest = rest.slice(0, direction.index);
  }
  const identifier = readIdentifier(rest, 0);
  if (identifier.end !== rest.length)
    throw invalid(`Invalid order_by clause '${text}'. Could not be parsed.`);
  return { entity: identifier.entity, key: identifier.key, ascending };
}

function compareTuple(a: Point, b: Point): number {
  return a.step - b.step || a.timestamp - b.timestamp || a.value - b.value;
}

/** MLflow's SearchUtils.sort: natural order, then a stable sort per clause, last clause first. */
function sortRuns(list: Run[], orderBy: OrderClause[]): Run[] {
  let sorted = [...list].sort(
    (a, b) => b.startTime - a.startTime || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0),
  );
  for (const clause of [...orderBy].reverse()) {
    sorted = [...sorted].sort((a, b) => {
      const va = valueOf(a, clause.entity, clause.key);
      const vb = valueOf(b, clause.entity, clause.key);
      if (va === undefined || vb === undefined) return va === vb ? 0 : va === undefined ? 1 : -1;
      const order = va < vb ? -1 : va > vb ? 1 : 0;
      return clause.ascending ? order : -order;
    });
  }
  return sorted;
}

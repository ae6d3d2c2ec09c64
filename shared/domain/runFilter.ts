import { z } from 'zod';
import { BatonError } from './errors.js';

/**
 * Run finding for the Tracker port, as pure functions over plain data: the key rule tracked
 * names follow, the structured filter and order `searchRuns` takes, the parser of the CLI's
 * strings (`--metric "f1>0.8"`, `--tag k=v`, `--order-by metric.f1 DESC`), the translation to
 * MLflow's search syntax, and the in-memory evaluation the local adapter runs. One evaluation
 * serves every adapter that filters in memory, so "what matches" has one definition.
 */

// ---------------------------------------------------------------------------------------------
// Names

export const maxTrackerKeyLength = 250;

/**
 * Param, metric and tag keys, as MLflow validates them: letters, digits, `_ - . / space`, at
 * most 250 characters, and usable as a relative path (MLflow's file store writes one file per
 * key), so no empty, `.` or `..` segment between slashes and no leading or trailing slash.
 * One addition: `__proto__` is refused.
 */
export const trackerKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(maxTrackerKeyLength, `must be at most ${maxTrackerKeyLength} characters`)
  .regex(/^[A-Za-z0-9_\-. /]+$/, 'only letters, digits, _ - . / and space are allowed')
  .refine(
    (key) => key.split('/').every((part) => part !== '' && part !== '.' && part !== '..'),
    'must be a relative path: no empty, "." or ".." part between slashes',
  )
  // Keys become object keys in plain records; assigning this one would set the prototype.
  .refine((key) => key !== '__proto__', '"__proto__" is not allowed');

/**
 * Tag keys the adapters keep for themselves (parent links, artifact records, idempotency
 * tokens): users may not set or filter on them, and runs never show them.
 */
export const reservedTagPrefixes = ['mlflow.', 'baton.'] as const;

export function isReservedTagKey(key: string): boolean {
  return reservedTagPrefixes.some((prefix) => key.startsWith(prefix));
}

export const userTagKeySchema = trackerKeySchema.refine(
  (key) => !isReservedTagKey(key),
  `the prefixes ${reservedTagPrefixes.join(' and ')} are reserved for the tracker`,
);

export const runStatuses = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED'] as const;
export type RunStatus = (typeof runStatuses)[number];
export const runStatusSchema = z.enum(runStatuses);

// ---------------------------------------------------------------------------------------------
// The structured filter and order

export const metricOps = ['>', '>=', '<', '<=', '='] as const;
export type MetricOp = (typeof metricOps)[number];

export interface MetricCondition {
  key: string;
  op: MetricOp;
  value: number;
}

/** Every condition must hold (AND); MLflow's search has no OR either. */
export interface RunFilter {
  /** Tag equality. */
  tags?: Record<string, string>;
  /** Conditions on each run's latest value of a metric; a run without the metric never matches. */
  metrics?: MetricCondition[];
  /** Param equality, compared as text (params are stored as text). */
  params?: Record<string, string>;
  /** Only the children of this run (the trials of a sweep). */
  parentRunId?: string;
  status?: RunStatus;
}

/** Attributes a search may order by. */
export const orderAttributes = ['start_time', 'end_time', 'run_name', 'status'] as const;
export type OrderAttribute = (typeof orderAttributes)[number];

export type RunOrderBy =
  | { kind: 'metric' | 'param'; key: string; direction: 'ASC' | 'DESC' }
  | { kind: 'attribute'; key: OrderAttribute; direction: 'ASC' | 'DESC' };

export const runIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (max 64)');

const paramValueSchema = z
  .union([z.string(), z.number().finite(), z.boolean()])
  .transform((value) => String(value));

export const metricConditionSchema = z.strictObject({
  key: trackerKeySchema,
  op: z.enum(metricOps),
  value: z.number().finite('must be a finite number'),
});

export const runFilterSchema = z.strictObject({
  tags: z.record(userTagKeySchema, z.string()).optional(),
  metrics: z.array(metricConditionSchema).max(50).optional(),
  params: z.record(trackerKeySchema, paramValueSchema).optional(),
  parentRunId: runIdSchema.optional(),
  status: runStatusSchema.optional(),
});

export const runOrderBySchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.enum(['metric', 'param']),
    key: trackerKeySchema,
    direction: z.enum(['ASC', 'DESC']),
  }),
  z.strictObject({
    kind: z.literal('attribute'),
    key: z.enum(orderAttributes),
    direction: z.enum(['ASC', 'DESC']),
  }),
]);

// ---------------------------------------------------------------------------------------------
// CLI strings → structured filter

function flagError(flag: string, message: string): BatonError {
  return new BatonError('validation', `${flag}: ${message}`, { field: flag });
}

function checkKey(key: string, flag: string, what: string, schema = trackerKeySchema): string {
  const result = schema.safeParse(key);
  if (!result.success) {
    throw flagError(flag, `${what} "${key}": ${result.error.issues[0]?.message ?? 'invalid'}`);
  }
  return key;
}

const numberText = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * `f1>0.8`, `loss <= 0.2`, `val f1=1`: the key is everything before the first comparison
 * character (keys cannot contain `<`, `>` or `=`), the value a decimal number.
 */
export function parseMetricCondition(text: string, flag = '--metric'): MetricCondition {
  const match = /^([^<>=]+?)\s*(>=|<=|>|<|=)\s*(.*)$/.exec(text.trim());
  if (match === null) {
    throw flagError(flag, `expected KEY OP NUMBER with OP one of > >= < <= =, got "${text}"`);
  }
  const [, rawKey = '', op = '', rawValue = ''] = match;
  const value = rawValue.trim();
  if (!numberText.test(value)) {
    throw flagError(flag, `"${value}" is not a number (in "${text}")`);
  }
  const number = Number(value);
  if (!Number.isFinite(number)) throw flagError(flag, `"${value}" is out of range`);
  return { key: checkKey(rawKey.trim(), flag, 'metric'), op: op as MetricOp, value: number };
}

/** `k=v`: split at the first `=`, so the value may hold `=`; an empty value is allowed. */
export function parseKeyValue(text: string, flag: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw flagError(flag, `expected KEY=VALUE, got "${text}"`);
  const keySchema = flag === '--tag' ? userTagKeySchema : trackerKeySchema;
  return [checkKey(text.slice(0, at).trim(), flag, 'key', keySchema), text.slice(at + 1)];
}

/** Repeated `--tag k=v` flags; the same key twice with different values can never match. */
export function parseKeyValues(texts: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const text of texts) {
    const [key, value] = parseKeyValue(text, flag);
    if (Object.hasOwn(out, key) && out[key] !== value) {
      throw flagError(flag, `"${key}" is given twice with different values`);
    }
    out[key] = value;
  }
  return out;
}

const orderKinds: Record<string, 'metric' | 'param' | 'attribute'> = {
  metric: 'metric',
  metrics: 'metric',
  param: 'param',
  params: 'param',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
};

/**
 * `metric.f1`, `param.lr`, `attribute.start_time`, each with an optional ` DESC` or ` ASC`
 * (default ASC, as in MLflow). A key with spaces may be written bare or in backticks.
 */
export function parseOrderBy(text: string, flag = '--order-by'): RunOrderBy {
  let rest = text.trim();
  let direction: 'ASC' | 'DESC' = 'ASC';
  const suffix = /\s+(asc|desc)$/i.exec(rest);
  if (suffix !== null) {
    direction = suffix[1]?.toUpperCase() === 'DESC' ? 'DESC' : 'ASC';
    rest = rest.slice(0, suffix.index).trimEnd();
  }
  const dot = rest.indexOf('.');
  const kind = dot > 0 ? orderKinds[rest.slice(0, dot).toLowerCase()] : undefined;
  if (kind === undefined) {
    throw flagError(
      flag,
      `expected metric.KEY, param.KEY or attribute.NAME, optionally followed by DESC, got "${text}"`,
    );
  }
  let key = rest.slice(dot + 1).trim();
  if (key.length >= 2 && key.startsWith('`') && key.endsWith('`')) key = key.slice(1, -1);
  if (kind === 'attribute') {
    const attribute = orderAttributes.find((name) => name === key);
    if (attribute === undefined) {
      throw flagError(flag, `unknown attribute "${key}"; one of ${orderAttributes.join(', ')}`);
    }
    return { kind, key: attribute, direction };
  }
  return { kind, key: checkKey(key, flag, kind), direction };
}

export const maxSearchResults = 50_000;

/** A positive integer up to {@link maxSearchResults} (MLflow's own ceiling). */
export function parseMaxResults(text: string, flag = '--max'): number {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw flagError(flag, `expected a positive whole number, got "${text}"`);
  }
  if (value > maxSearchResults) throw flagError(flag, `must be at most ${maxSearchResults}`);
  return value;
}

export interface RunQueryFlags {
  tag?: readonly string[];
  param?: readonly string[];
  metric?: readonly string[];
  status?: string;
  parent?: string;
  orderBy?: string;
  max?: string;
}

export interface RunQuery {
  filter: RunFilter;
  orderBy?: RunOrderBy;
  maxResults?: number;
}

/** All of `baton runs find`'s filter flags at once; every error names its flag. */
export function parseRunQuery(flags: RunQueryFlags): RunQuery {
  const filter: RunFilter = {};
  if (flags.tag !== undefined && flags.tag.length > 0) {
    filter.tags = parseKeyValues(flags.tag, '--tag');
  }
  if (flags.param !== undefined && flags.param.length > 0) {
    filter.params = parseKeyValues(flags.param, '--param');
  }
  if (flags.metric !== undefined && flags.metric.length > 0) {
    filter.metrics = flags.metric.map((text) => parseMetricCondition(text, '--metric'));
  }
  if (flags.status !== undefined) {
    const status = runStatuses.find((s) => s === flags.status?.trim().toUpperCase());
    if (status === undefined) {
      throw flagError('--status', `expected one of ${runStatuses.join(', ')}`);
    }
    filter.status = status;
  }
  if (flags.parent !== undefined) {
    const parent = runIdSchema.safeParse(flags.parent.trim());
    if (!parent.success) throw flagError('--parent', parent.error.issues[0]?.message ?? '');
    filter.parentRunId = parent.data;
  }
  const query: RunQuery = { filter };
  if (flags.orderBy !== undefined) query.orderBy = parseOrderBy(flags.orderBy, '--order-by');
  if (flags.max !== undefined) query.maxResults = parseMaxResults(flags.max, '--max');
  return query;
}

/**
 * The best trial of a sweep through the ordinary search path: the sweep's finished children,
 * ordered by the objective, first one only. A child that never logged the metric sorts last,
 * so the caller should still check the winner has it (none of the trials may have).
 */
export function bestTrialQuery(input: {
  sweepRunId: string;
  metric: string;
  goal: 'maximize' | 'minimize';
  status?: RunStatus;
}): Required<RunQuery> {
  return {
    filter: { parentRunId: input.sweepRunId, status: input.status ?? 'FINISHED' },
    orderBy: {
      kind: 'metric',
      key: input.metric,
      direction: input.goal === 'maximize' ? 'DESC' : 'ASC',
    },
    maxResults: 1,
  };
}

// ---------------------------------------------------------------------------------------------
// Structured filter → MLflow's search syntax

/** The tag MLflow (UI and clients) uses to nest a run under its parent. */
export const mlflowParentRunIdTag = 'mlflow.parentRunId';

/**
 * A key in an MLflow identifier: bare when it is a plain identifier, else in backticks (MLflow
 * strips one pair of quotes or backticks; a key containing a backtick cannot be written).
 */
export function quoteMlflowKey(key: string, field = 'key'): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return key;
  if (key.includes('`')) {
    throw new BatonError('validation', `${field}: "${key}" contains a backtick`, { field });
  }
  return `\`${key}\``;
}

/**
 * A string literal for MLflow's filter. MLflow's parser removes the outer quotes and does not
 * unescape anything inside (neither `''` nor `\'`), so there is no escape sequence to use:
 * the literal is quoted with whichever quote character the value does not contain. A value
 * containing both, or ending in a backslash (sqlparse would read `\'` as an escaped quote and
 * swallow the rest of the filter), cannot be expressed and is refused.
 */
export function quoteMlflowString(value: string, field = 'value'): string {
  if (value.endsWith('\\')) {
    throw new BatonError(
      'validation',
      `${field}: MLflow's filter cannot express a value ending in \\`,
      {
        field,
      },
    );
  }
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw new BatonError(
    'validation',
    `${field}: MLflow's filter cannot express a value containing both ' and "`,
    { field },
  );
}

/** A number as sqlparse reads one: no `+` in the exponent, never NaN or Infinity. */
export function formatMlflowNumber(value: number, field = 'value'): string {
  if (!Number.isFinite(value)) {
    throw new BatonError('validation', `${field}: must be a finite number`, { field });
  }
  return String(Object.is(value, -0) ? 0 : value).replace('e+', 'e');
}

/** `metrics.f1 > 0.8 and tags.k = 'v'`; '' for an empty filter. */
export function toMlflowFilter(filter: RunFilter): string {
  const clauses: string[] = [];
  for (const [i, condition] of (filter.metrics ?? []).entries()) {
    const field = `filter.metrics[${i}]`;
    clauses.push(
      `metrics.${quoteMlflowKey(condition.key, `${field}.key`)} ${condition.op} ${formatMlflowNumber(condition.value, `${field}.value`)}`,
    );
  }
  for (const [key, value] of Object.entries(filter.params ?? {})) {
    clauses.push(
      `params.${quoteMlflowKey(key, 'filter.params')} = ${quoteMlflowString(value, `filter.params.${key}`)}`,
    );
  }
  for (const [key, value] of Object.entries(filter.tags ?? {})) {
    clauses.push(
      `tags.${quoteMlflowKey(key, 'filter.tags')} = ${quoteMlflowString(value, `filter.tags.${key}`)}`,
    );
  }
  if (filter.parentRunId !== undefined) {
    clauses.push(
      `tags.${quoteMlflowKey(mlflowParentRunIdTag)} = ${quoteMlflowString(filter.parentRunId, 'filter.parentRunId')}`,
    );
  }
  if (filter.status !== undefined) clauses.push(`attributes.status = '${filter.status}'`);
  return clauses.join(' and ');
}

/** `metrics.f1 DESC`, `attributes.start_time ASC`. */
export function toMlflowOrderBy(orderBy: RunOrderBy): string {
  const entity =
    orderBy.kind === 'metric' ? 'metrics' : orderBy.kind === 'param' ? 'params' : 'attributes';
  return `${entity}.${quoteMlflowKey(orderBy.key, 'orderBy.key')} ${orderBy.direction}`;
}

// ---------------------------------------------------------------------------------------------
// In-memory evaluation (MLflow's semantics)

/** What filtering and ordering read from a run. */
export interface SearchableRun {
  runId: string;
  name?: string;
  status: RunStatus;
  parentRunId?: string;
  /** Milliseconds since the epoch. */
  startTime: number;
  endTime?: number;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** Each metric's latest value. */
  metrics: Record<string, number>;
}

const compareNumbers: Record<MetricOp, (a: number, b: number) => boolean> = {
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '=': (a, b) => a === b,
};

export function matchesRunFilter(run: SearchableRun, filter: RunFilter): boolean {
  for (const condition of filter.metrics ?? []) {
    const value = Object.hasOwn(run.metrics, condition.key)
      ? run.metrics[condition.key]
      : undefined;
    if (value === undefined || !compareNumbers[condition.op](value, condition.value)) return false;
  }
  const equal = (have: Record<string, string>, want: Record<string, string> | undefined) =>
    Object.entries(want ?? {}).every(
      ([key, value]) => Object.hasOwn(have, key) && have[key] === value,
    );
  if (!equal(run.params, filter.params) || !equal(run.tags, filter.tags)) return false;
  if (filter.parentRunId !== undefined && run.parentRunId !== filter.parentRunId) return false;
  return filter.status === undefined || run.status === filter.status;
}

function sortValue(run: SearchableRun, orderBy: RunOrderBy): number | string | undefined {
  const pick = <V>(record: Record<string, V>): V | undefined =>
    Object.hasOwn(record, orderBy.key) ? record[orderBy.key] : undefined;
  switch (orderBy.kind) {
    case 'metric':
      return pick(run.metrics);
    case 'param':
      return pick(run.params);
    case 'attribute':
      switch (orderBy.key) {
        case 'start_time':
          return run.startTime;
        case 'end_time':
          return run.endTime;
        case 'run_name':
          return run.name;
        case 'status':
          return run.status;
      }
  }
}

/** Code-unit order, as Python and SQL `BINARY` compare text (not `localeCompare`). */
function compareScalars(a: number | string, b: number | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * MLflow's order: by the requested key (params as text), runs without a value always last
 * whatever the direction; ties, and no order at all, by start time newest first, then run id.
 */
export function compareRuns(orderBy?: RunOrderBy): (a: SearchableRun, b: SearchableRun) => number {
  return (a, b) => {
    if (orderBy !== undefined) {
      const va = sortValue(a, orderBy);
      const vb = sortValue(b, orderBy);
      if (va === undefined || vb === undefined) {
        if (va !== vb) return va === undefined ? 1 : -1;
      } else {
        const order = compareScalars(va, vb);
        if (order !== 0) return orderBy.direction === 'DESC' ? -order : order;
      }
    }
    return b.startTime - a.startTime || compareScalars(a.runId, b.runId);
  };
}

/** Filter, order, then keep the first `maxResults`. */
export function selectRuns<R extends SearchableRun>(
  runs: readonly R[],
  query: { filter?: RunFilter; orderBy?: RunOrderBy; maxResults: number },
): R[] {
  return runs
    .filter((run) => matchesRunFilter(run, query.filter ?? {}))
    .sort(compareRuns(query.orderBy))
    .slice(0, query.maxResults);
}

import { z } from 'zod';
import { normalizeLakePath } from '../domain/paths.js';
import {
  maxSearchResults,
  runFilterSchema,
  runIdSchema,
  runOrderBySchema,
  runStatusSchema,
  isReservedTagKey,
  trackerKeySchema,
  userTagKeySchema,
  type RunFilter,
  type RunOrderBy,
  type RunStatus,
  type SearchableRun,
} from '../domain/runFilter.js';
import { parseInput } from '../domain/validation.js';

export type { MetricCondition, RunFilter, RunOrderBy, RunStatus } from '../domain/runFilter.js';
export { isReservedTagKey, reservedTagPrefixes } from '../domain/runFilter.js';

/**
 * Experiment tracking (issue 8): experiments, runs nested one level (a sweep parent and its
 * trial children), immutable params, metrics with steps, tags, artifact references and status.
 * Adapters: MLflow over its REST API, and the state store locally. Every method validates its
 * input (`validation`, naming the field) before any I/O; a missing run or parent is
 * `not_found`; re-logging a param with another value, or ending a run a second time with
 * another status, is `conflict`; a tracker that cannot be reached is `unavailable` (after the
 * adapter's retries). All failures are {@link BatonError}s.
 *
 * Tag keys starting with `mlflow.` or `baton.` are reserved for the adapters (parent links,
 * artifact records, idempotency tokens): setting one is a `validation` error, and they are
 * never returned in {@link RunSummary.tags}.
 */
export interface Tracker {
  /** The experiment's id, creating it on first use; concurrent callers get the same id. */
  getOrCreateExperiment(name: string): Promise<string>;
  /** Undefined when no experiment has that name (lookups never create one). */
  getExperimentByName(name: string): Promise<Experiment | undefined>;
  /** Starts a RUNNING run and returns its id; a parent must exist in the same experiment. */
  startRun(input: StartRunInput): Promise<string>;
  /** Params are write-once: the same value again is fine, another value is `conflict`. */
  logParams(runId: string, params: Record<string, ParamValue>): Promise<void>;
  /** Appends to each metric's history; the latest value is the one with the highest step. */
  logMetrics(runId: string, metrics: readonly MetricInput[]): Promise<void>;
  /** Sets or overwrites tags. */
  setTags(runId: string, tags: Record<string, string>): Promise<void>;
  /** Records a lake path the run produced; logging the same path again updates its kind. */
  logArtifact(runId: string, artifact: ArtifactRef): Promise<void>;
  /**
   * Ends a run. Ending it again with the same status is a no-op (a retried call succeeds);
   * with another status it is `conflict`. Logging to an ended run stays allowed, as in MLflow
   * (a late evaluation metric).
   */
  endRun(runId: string, status: EndStatus, endTime?: number): Promise<void>;
  /** Everything about one run, including each metric's full history; `not_found` if absent. */
  getRun(runId: string): Promise<RunRecord>;
  /**
   * Runs of the given experiments that match every condition of the filter, ordered (see
   * `compareRuns` in shared/domain/runFilter.ts for MLflow's order), at most `maxResults`.
   * Unknown experiment ids contribute nothing.
   */
  searchRuns(input: SearchRunsInput): Promise<RunSummary[]>;
}

export type ParamValue = string | number | boolean;
export type EndStatus = Exclude<RunStatus, 'RUNNING'>;

export interface Experiment {
  experimentId: string;
  name: string;
}

export interface StartRunInput {
  experimentId: string;
  name?: string;
  parentRunId?: string;
  tags?: Record<string, string>;
  /** Milliseconds since the epoch; defaults to the adapter's clock. */
  startTime?: number;
}

export interface MetricInput {
  key: string;
  /** Finite (JSON, and therefore the REST API, cannot carry NaN or Infinity). */
  value: number;
  /** Defaults to 0, as in MLflow. */
  step?: number;
  /** Milliseconds since the epoch; defaults to the adapter's clock. */
  timestamp?: number;
}

export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

/** A file or folder in the lake that a run produced (a model, a checkpoint, a report). */
export interface ArtifactRef {
  /** A lake path (relative, `/`-separated; see `normalizeLakePath`). */
  path: string;
  kind?: string;
}

export interface RunSummary extends SearchableRun {
  experimentId: string;
  /** As given to startRun; MLflow makes one up (`bemused-owl-123`) when none was given. */
  name?: string;
  /** Param values as text: numbers and booleans are stored as their `String()`. */
  params: Record<string, string>;
  /** Each metric's latest value (highest step, then latest timestamp, then largest value). */
  metrics: Record<string, number>;
  /** User tags only (reserved prefixes removed). */
  tags: Record<string, string>;
  /** Sorted by path. */
  artifacts: ArtifactRef[];
}

export interface RunRecord extends RunSummary {
  /** Every logged point per metric key, ordered by step, then timestamp. */
  metricHistory: Record<string, MetricPoint[]>;
}

export interface SearchRunsInput {
  experimentIds: string[];
  filter?: RunFilter;
  orderBy?: RunOrderBy;
  /** Defaults to 1000 (MLflow's default); at most 50,000. */
  maxResults?: number;
}

// ---------------------------------------------------------------------------------------------
// Input validation shared by the adapters (so both refuse exactly the same inputs)

/** MLflow's limits for values (MLflow 2.x: params 6000, tags 5000 before 2.8, 8000 after). */
export const maxParamValueLength = 6000;
export const maxTagValueLength = 5000;
export const defaultMaxResults = 1000;

const tagsSchema = z
  .record(
    userTagKeySchema,
    z.string().max(maxTagValueLength, `must be at most ${maxTagValueLength} characters`),
  )
  .refine((tags) => Object.keys(tags).length <= 1000, 'at most 1000 tags at once');

const epochMsSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const experimentNameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(500, 'must be at most 500 characters')
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

export const experimentIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (max 64)');

export const startRunInputSchema = z.strictObject({
  experimentId: experimentIdSchema,
  name: z.string().trim().min(1).max(250).optional(),
  parentRunId: runIdSchema.optional(),
  tags: tagsSchema.optional(),
  startTime: epochMsSchema.optional(),
});

export const paramsSchema = z
  .record(
    trackerKeySchema,
    z
      .union([z.string(), z.number().finite(), z.boolean()])
      .transform((value) => String(value))
      .pipe(
        z.string().max(maxParamValueLength, `must be at most ${maxParamValueLength} characters`),
      ),
  )
  .refine((params) => Object.keys(params).length <= 1000, 'at most 1000 params at once');

export const metricInputsSchema = z
  .array(
    z.strictObject({
      key: trackerKeySchema,
      value: z.number().finite('must be a finite number'),
      step: z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).optional(),
      timestamp: epochMsSchema.optional(),
    }),
  )
  .max(10_000, 'at most 10,000 points at once');

export const userTagsSchema = tagsSchema;

export const artifactRefSchema = z.strictObject({
  path: z.string().transform((path, ctx) => {
    try {
      const normalized = normalizeLakePath(path);
      if (normalized === '') throw new Error('must not be the lake root');
      return normalized;
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
  kind: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (max 64)')
    .optional(),
});

export const endStatusSchema = runStatusSchema.exclude(['RUNNING']);

export const searchRunsInputSchema = z.strictObject({
  experimentIds: z.array(experimentIdSchema).min(1, 'at least one experiment').max(100),
  filter: runFilterSchema.optional(),
  orderBy: runOrderBySchema.optional(),
  maxResults: z.number().int().min(1).max(maxSearchResults).optional(),
});

/** Parsed and normalised inputs, one helper per method so adapters cannot drift apart. */
export const trackerInput = {
  experimentName: (name: unknown): string => parseInput(experimentNameSchema, name, 'name'),
  runId: (runId: unknown, field = 'runId'): string => parseInput(runIdSchema, runId, field),
  startRun: (input: unknown): z.output<typeof startRunInputSchema> =>
    parseInput(startRunInputSchema, input, 'input'),
  params: (params: unknown): Record<string, string> => parseInput(paramsSchema, params, 'params'),
  metrics: (metrics: unknown): z.output<typeof metricInputsSchema> =>
    parseInput(metricInputsSchema, metrics, 'metrics'),
  tags: (tags: unknown): Record<string, string> => parseInput(userTagsSchema, tags, 'tags'),
  artifact: (artifact: unknown): ArtifactRef => parseInput(artifactRefSchema, artifact, 'artifact'),
  endStatus: (status: unknown): EndStatus => parseInput(endStatusSchema, status, 'status'),
  endTime: (time: unknown): number | undefined =>
    parseInput(epochMsSchema.optional(), time, 'endTime'),
  search: (input: unknown): z.output<typeof searchRunsInputSchema> =>
    parseInput(searchRunsInputSchema, input, 'input'),
};

/** Sorted copy, so both adapters return artifacts in the same order. */
export function sortArtifacts(artifacts: Iterable<ArtifactRef>): ArtifactRef[] {
  return [...artifacts].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Without reserved keys. */
export function userTags(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([key]) => !isReservedTagKey(key)));
}

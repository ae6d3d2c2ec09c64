import { createHash, randomUUID } from 'node:crypto';
import { BatonError, isBatonError, notFound } from '../../domain/errors.js';
import { selectRuns } from '../../domain/runFilter.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import type { StateStore, StoredDocument } from '../../ports/stateStore.js';
import {
  defaultMaxResults,
  sortArtifacts,
  trackerInput,
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

/** The collections this adapter uses; a cloud state store must provide them. */
export const trackerCollections = {
  /** pk = id = experiment id (derived from the name). */
  experiments: 'trackerExperiments',
  /** pk = experiment id, id = run id: a search reads one partition per experiment. */
  runs: 'trackerRuns',
  /** pk = id = run id → the run's experiment, so a run id alone finds its document. */
  runIndex: 'trackerRunIndex',
  /** pk = run id: each metric's history in chunks of at most `metricChunkSize` points. */
  metrics: 'trackerMetrics',
} as const;

export interface StateStoreTrackerOptions {
  store: StateStore;
  clock?: Clock;
  /**
   * Points per history document (default 1000). History is never capped: a long training run
   * fills one chunk after another, and each write rewrites one chunk only.
   */
  metricChunkSize?: number;
  /** Run ids (default: 32 hex characters, like MLflow's). */
  newRunId?: () => string;
}

interface ExperimentDoc {
  experimentId: string;
  name: string;
  createdAt: number;
}

interface LatestPoint {
  value: number;
  step: number;
  timestamp: number;
}

interface RunDoc {
  runId: string;
  experimentId: string;
  name?: string;
  status: RunStatus;
  parentRunId?: string;
  startTime: number;
  endTime?: number;
  params: Record<string, string>;
  tags: Record<string, string>;
  latestMetrics: Record<string, LatestPoint>;
  artifacts: ArtifactRef[];
}

interface RunIndexDoc {
  runId: string;
  experimentId: string;
}

interface MetricChunkDoc {
  runId: string;
  key: string;
  chunk: number;
  points: LatestPoint[];
}

/** Optimistic-concurrency retries before a write gives up as `unavailable`. */
const maxWriteAttempts = 50;

/**
 * The Tracker over the StateStore port: the local adapter (FileStateStore) that needs no
 * tracking server, and one that would work on Cosmos DB too. Every read-modify-write of a run
 * is an etag-checked replace, retried on a concurrent change, so parallel trials logging to
 * the same run (or a sweep parent) lose nothing. Searches read the runs of each experiment and
 * apply the filter and order in memory with the same functions that define MLflow's
 * semantics (shared/domain/runFilter.ts).
 *
 * Metric history lives in its own documents, chunked, and is deduplicated against the newest
 * chunk: re-sending a batch that was already written (a retry) adds nothing.
 */
export class StateStoreTracker implements Tracker {
  private readonly store: StateStore;
  private readonly clock: Clock;
  private readonly chunkSize: number;
  private readonly newRunId: () => string;

  constructor(options: StateStoreTrackerOptions) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.chunkSize = options.metricChunkSize ?? 1000;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1) {
      throw new BatonError('validation', 'metricChunkSize: must be a positive integer', {
        field: 'metricChunkSize',
      });
    }
    this.newRunId = options.newRunId ?? (() => randomUUID().replace(/-/g, ''));
  }

  async getOrCreateExperiment(name: string): Promise<string> {
    const valid = trackerInput.experimentName(name);
    const existing = await this.getExperimentByName(valid);
    if (existing !== undefined) return existing.experimentId;
    const experimentId = experimentIdFor(valid);
    const body: ExperimentDoc = { experimentId, name: valid, createdAt: this.now() };
    try {
      await this.store.create(trackerCollections.experiments, {
        id: experimentId,
        pk: experimentId,
        body,
      });
    } catch (error) {
      // Someone created it between our read and our create: theirs is ours (same id).
      if (!isBatonError(error, 'conflict')) throw error;
    }
    return experimentId;
  }

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    const valid = trackerInput.experimentName(name);
    const experimentId = experimentIdFor(valid);
    const doc = await this.store.read<ExperimentDoc>(
      trackerCollections.experiments,
      experimentId,
      experimentId,
    );
    if (doc === undefined) return undefined;
    if (doc.body.name !== valid) {
      throw new BatonError('internal', `experiment id ${experimentId} collides for "${valid}"`);
    }
    return { experimentId, name: doc.body.name };
  }

  async startRun(raw: StartRunInput): Promise<string> {
    const input = trackerInput.startRun(raw);
    const experiment = await this.store.read<ExperimentDoc>(
      trackerCollections.experiments,
      input.experimentId,
      input.experimentId,
    );
    if (experiment === undefined) throw notFound(`experiment ${input.experimentId}`);
    if (input.parentRunId !== undefined) {
      const parent = await this.findRun(input.parentRunId, 'parent run');
      if (parent.body.experimentId !== input.experimentId) {
        throw new BatonError(
          'validation',
          `input.parentRunId: run ${input.parentRunId} belongs to another experiment`,
          { field: 'input.parentRunId' },
        );
      }
    }
    const runId = trackerInput.runId(this.newRunId(), 'newRunId()');
    const index: RunIndexDoc = { runId, experimentId: input.experimentId };
    await this.store.create(trackerCollections.runIndex, { id: runId, pk: runId, body: index });
    const body: RunDoc = {
      runId,
      experimentId: input.experimentId,
      ...(input.name === undefined ? {} : { name: input.name }),
      status: 'RUNNING',
      ...(input.parentRunId === undefined ? {} : { parentRunId: input.parentRunId }),
      startTime: input.startTime ?? this.now(),
      params: {},
      tags: input.tags ?? {},
      latestMetrics: {},
      artifacts: [],
    };
    await this.store.create(trackerCollections.runs, { id: runId, pk: input.experimentId, body });
    return runId;
  }

  async logParams(runId: string, params: Record<string, ParamValue>): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.params(params);
    await this.updateRun(id, (run) => {
      let changed = false;
      for (const [key, value] of Object.entries(valid)) {
        if (Object.hasOwn(run.params, key)) {
          const before = run.params[key];
          if (before !== value) {
            throw new BatonError(
              'conflict',
              `param "${key}" of run ${id} is already "${before}"; params cannot change (got "${value}")`,
              { field: `params.${key}` },
            );
          }
        } else {
          run.params[key] = value;
          changed = true;
        }
      }
      return changed ? run : undefined;
    });
  }

  async logMetrics(runId: string, metrics: readonly MetricInput[]): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.metrics(metrics);
    if (valid.length === 0) return;
    await this.findRun(id);
    const now = this.now();
    const byKey = new Map<string, LatestPoint[]>();
    for (const metric of valid) {
      const point = {
        value: metric.value,
        step: metric.step ?? 0,
        timestamp: metric.timestamp ?? now,
      };
      const list = byKey.get(metric.key);
      if (list === undefined) byKey.set(metric.key, [point]);
      else list.push(point);
    }
    // History first: if the run update below fails, a retry re-sends the same points and the
    // deduplication keeps the history single.
    for (const [key, points] of byKey) await this.appendHistory(id, key, points);
    await this.updateRun(id, (run) => {
      let changed = false;
      for (const [key, points] of byKey) {
        for (const point of points) {
          const current = Object.hasOwn(run.latestMetrics, key)
            ? run.latestMetrics[key]
            : undefined;
          if (current === undefined || isLaterPoint(point, current)) {
            run.latestMetrics[key] = point;
            changed = true;
          }
        }
      }
      return changed ? run : undefined;
    });
  }

  async setTags(runId: string, tags: Record<string, string>): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.tags(tags);
    await this.updateRun(id, (run) => {
      const changed = Object.entries(valid).some(
        ([key, value]) => !Object.hasOwn(run.tags, key) || run.tags[key] !== value,
      );
      return changed ? { ...run, tags: { ...run.tags, ...valid } } : undefined;
    });
  }

  async logArtifact(runId: string, artifact: ArtifactRef): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.artifact(artifact);
    await this.updateRun(id, (run) => {
      const same = run.artifacts.find((a) => a.path === valid.path);
      if (same !== undefined && same.kind === valid.kind) return undefined;
      const others = run.artifacts.filter((a) => a.path !== valid.path);
      return { ...run, artifacts: sortArtifacts([...others, valid]) };
    });
  }

  async endRun(runId: string, status: EndStatus, endTime?: number): Promise<void> {
    const id = trackerInput.runId(runId);
    const valid = trackerInput.endStatus(status);
    const at = trackerInput.endTime(endTime) ?? this.now();
    await this.updateRun(id, (run) => {
      if (run.status === valid) return undefined;
      if (run.status !== 'RUNNING') {
        throw new BatonError('conflict', `run ${id} already ended as ${run.status}`);
      }
      return { ...run, status: valid, endTime: at };
    });
  }

  async getRun(runId: string): Promise<RunRecord> {
    const id = trackerInput.runId(runId);
    const run = await this.findRun(id);
    const chunks = await this.store.query<MetricChunkDoc>(trackerCollections.metrics, { pk: id });
    chunks.sort((a, b) => a.body.chunk - b.body.chunk);
    const history = new Map<string, MetricPoint[]>();
    for (const { body } of chunks) {
      const points = history.get(body.key) ?? [];
      for (const p of body.points) points.push({ key: body.key, ...p });
      history.set(body.key, points);
    }
    for (const points of history.values()) {
      points.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
    }
    return { ...toSummary(run.body), metricHistory: Object.fromEntries(history) };
  }

  async searchRuns(raw: SearchRunsInput): Promise<RunSummary[]> {
    const input = trackerInput.search(raw);
    const runs: RunSummary[] = [];
    for (const experimentId of new Set(input.experimentIds)) {
      const docs = await this.store.query<RunDoc>(trackerCollections.runs, { pk: experimentId });
      for (const doc of docs) runs.push(toSummary(doc.body));
    }
    return selectRuns(runs, {
      ...(input.filter === undefined ? {} : { filter: input.filter }),
      ...(input.orderBy === undefined ? {} : { orderBy: input.orderBy }),
      maxResults: input.maxResults ?? defaultMaxResults,
    });
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  private async findRun(runId: string, what = 'run'): Promise<StoredDocument<RunDoc>> {
    const index = await this.store.read<RunIndexDoc>(trackerCollections.runIndex, runId, runId);
    const run =
      index === undefined
        ? undefined
        : await this.store.read<RunDoc>(trackerCollections.runs, index.body.experimentId, runId);
    if (run === undefined) throw notFound(`${what} ${runId}`);
    return run;
  }

  /**
   * Read, change, replace if unchanged meanwhile; again on a concurrent write. `change` gets a
   * copy and returns undefined when there is nothing to write; what it throws propagates.
   */
  private async updateRun(
    runId: string,
    change: (run: RunDoc) => RunDoc | undefined,
  ): Promise<void> {
    for (let attempt = 1; attempt <= maxWriteAttempts; attempt++) {
      const current = await this.findRun(runId);
      const next = change(structuredClone(current.body));
      if (next === undefined) return;
      try {
        await this.store.replace(
          trackerCollections.runs,
          { id: current.id, pk: current.pk, body: next },
          current.etag,
        );
        return;
      } catch (error) {
        if (!isBatonError(error, 'precondition_failed')) throw error;
      }
    }
    throw contended(`run ${runId}`);
  }

  /**
   * Appends points to a metric's newest chunk, opening new chunks as they fill. A point equal
   * (step, timestamp and value) to one already in the newest chunk is skipped.
   */
  private async appendHistory(runId: string, key: string, points: LatestPoint[]): Promise<void> {
    let pending = points;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > maxWriteAttempts) throw contended(`metric "${key}" of run ${runId}`);
      const [newest] = await this.store.query<MetricChunkDoc>(trackerCollections.metrics, {
        pk: runId,
        where: { key },
        orderBy: { field: 'chunk', direction: 'desc' },
        limit: 1,
      });
      const fresh =
        newest === undefined
          ? pending
          : pending.filter((p) => !newest.body.points.some((q) => samePoint(p, q)));
      if (fresh.length === 0) return;
      try {
        if (newest !== undefined && newest.body.points.length < this.chunkSize) {
          const room = this.chunkSize - newest.body.points.length;
          const body: MetricChunkDoc = {
            ...newest.body,
            points: [...newest.body.points, ...fresh.slice(0, room)],
          };
          await this.store.replace(
            trackerCollections.metrics,
            { id: newest.id, pk: runId, body },
            newest.etag,
          );
          pending = fresh.slice(room);
        } else {
          const chunk = newest === undefined ? 0 : newest.body.chunk + 1;
          const body: MetricChunkDoc = {
            runId,
            key,
            chunk,
            points: fresh.slice(0, this.chunkSize),
          };
          await this.store.create(trackerCollections.metrics, {
            id: chunkId(key, chunk),
            pk: runId,
            body,
          });
          pending = fresh.slice(this.chunkSize);
        }
      } catch (error) {
        if (!isBatonError(error, 'precondition_failed') && !isBatonError(error, 'conflict')) {
          throw error;
        }
      }
    }
  }
}

/** Deterministic from the name, so concurrent creators of one experiment agree on its id. */
function experimentIdFor(name: string): string {
  return `e${createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 24)}`;
}

/** Keys may hold `/` and spaces, which document ids may not (Cosmos DB): ids use a hash. */
function chunkId(key: string, chunk: number): string {
  const keyHash = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 24);
  return `m${keyHash}-${String(chunk).padStart(6, '0')}`;
}

/** MLflow's "latest": the highest step, then the latest timestamp, then the largest value. */
function isLaterPoint(a: LatestPoint, b: LatestPoint): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return a.value > b.value;
}

function samePoint(a: LatestPoint, b: LatestPoint): boolean {
  return a.step === b.step && a.timestamp === b.timestamp && a.value === b.value;
}

function contended(what: string): BatonError {
  return new BatonError('unavailable', `${what} is being changed by too many writers; try again`);
}

function toSummary(run: RunDoc): RunSummary {
  return {
    runId: run.runId,
    experimentId: run.experimentId,
    ...(run.name === undefined ? {} : { name: run.name }),
    status: run.status,
    ...(run.parentRunId === undefined ? {} : { parentRunId: run.parentRunId }),
    startTime: run.startTime,
    ...(run.endTime === undefined ? {} : { endTime: run.endTime }),
    params: { ...run.params },
    metrics: Object.fromEntries(Object.entries(run.latestMetrics).map(([k, p]) => [k, p.value])),
    tags: { ...run.tags },
    artifacts: sortArtifacts(run.artifacts),
  };
}

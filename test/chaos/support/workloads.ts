import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { FileStateStore } from '../../../shared/adapters/local/fileStateStore.js';
import { StateStoreTracker } from '../../../shared/adapters/local/stateStoreTracker.js';
import { catalogueCollection } from '../../../shared/adapters/local/stateStoreCatalogue.js';
import { beamlineRetentionCollection } from '../../../shared/app/beamline.js';
import { lakeTempPrefix } from '../../../shared/domain/paths.js';
import { taskJobsCollection, tasksCollection } from '../../../shared/domain/tasks.js';
import type { TaskJobRecord, TaskRecord } from '../../../shared/domain/tasks.js';
import type { SweepOutput } from '../../../shared/orchestrations/sweepTypes.js';
import { api, repoRoot } from '../../helpers/hostProcess.js';
import { copyBeamlineExample } from '../../helpers/beamlineSources.js';

/**
 * The crash suite's mix: small versions of the examples, derived from them at run time so they
 * follow the examples as those change. Every job runs through fixtures/journal.mjs, which
 * appends one line per process launched to a journal outside the state folder. Names and run
 * ids are fixed, so a run under kills and the uninterrupted reference write the same paths.
 */
export const journalScript = path.join(import.meta.dirname, '..', 'fixtures', 'journal.mjs');
const examples = path.join(repoRoot, 'examples');

/** One workload's folders: `sources` is BATON_MODEL_SOURCES_ROOT, `journal` is outside both. */
export interface Lane {
  stateDir: string;
  sources: string;
  journal: string;
}

export type Progress = 'running' | 'completed' | 'failed';

export interface Workload {
  name: string;
  /** Files in place before the host first starts (lake inputs, configs, scripts). */
  prepare(lane: Lane): Promise<void>;
  /** Starts it through the HTTP API (the host is up and not armed to crash). */
  submit(url: string, lane: Lane): Promise<void>;
  progress(url: string): Promise<Progress>;
  /** Output files: label → sha256 (or `present` for files whose content carries a clock). */
  outputs(url: string, lane: Lane): Promise<Map<string, string>>;
  /** Transitions recorded more than once in its documents (0 in a correct run). */
  duplicateTransitions(lane: Lane, url: string): Promise<string[]>;
}

const user = 'tester';
const taskName = `user.${user}.chaos_scan`;
const taskJobs = 8;
const modelDatabank = 'chaos_model';
const modelRunId = 'chaos-model';
const beamlineRunId = 'chaos-beamline';
const sweepRunId = 'chaos-sweep';
const detectorPath = 'landing/bl832/chaos/scan_0001.h5';

const journaled = (lane: Lane, argv: string[]): string[] => [
  'node',
  journalScript,
  lane.journal,
  ...argv,
];

async function post(url: string, route: string, body: unknown, ok: number[]): Promise<void> {
  const response = await api<unknown>(`${url}${route}`, 'POST', body);
  if (!ok.includes(response.status))
    throw new Error(`POST ${route}: ${response.status} ${JSON.stringify(response.body)}`);
}

async function runProgress(url: string, runId: string): Promise<Progress> {
  const view = await api<{ status: string }>(`${url}/api/runs/${runId}`);
  if (view.status === 404) return 'running'; // not started yet (the submit is retried)
  const status = view.body.status;
  if (status === 'pending' || status === 'running') return 'running';
  return status === 'completed' ? 'completed' : 'failed';
}

/** A run's output with clock-dependent fields removed (durations, rates, times). */
async function runOutput(url: string, runId: string, lane: Lane): Promise<string> {
  const view = await api<{ status: string; output: unknown }>(`${url}/api/runs/${runId}`);
  const text = JSON.stringify(stable({ status: view.body.status, output: view.body.output }));
  // Kept as text (it is short), so a difference can be shown.
  return laneNeutral(Buffer.from(text), laneRootOf(lane)).toString();
}

// Times, durations and rates; and the ids the tracker draws at random for each run.
const clockKeys = /(At|Ms|Time|time|Seconds|seconds|duration|rate|mtime|Date|date|elapsed)$/;
const randomIdKeys = /^(trackerRunId|sweepRunId|experimentId)$/;
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  // A model step's summary line ends in its timings and resource use ("done, 0.3 s, cpu avg
  // 19 %…"), or says "done (recorded already)" when a re-run found its result recorded.
  if (typeof value === 'string') return value.replace(/^(iteration \d+ [a-z]+: done)\b.*$/s, '$1');
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (!clockKeys.test(key) && !randomIdKeys.test(key)) out[key] = stable(inner);
  }
  return out;
}

/** The lane's own folder (a temp name) written as `<lane>`, so two lanes' files compare. */
export function laneNeutral(data: Buffer, laneRoot: string): Buffer {
  const text = data.toString('latin1');
  return text.includes(laneRoot)
    ? Buffer.from(text.replaceAll(laneRoot, '<lane>'), 'latin1')
    : data;
}

export function laneRootOf(lane: Lane): string {
  return path.dirname(lane.stateDir);
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Files below `root` as `label/relative → sha256`; files matching `volatile` (their content
 * carries a clock: logs, state files with times) are compared by presence only.
 */
export async function hashTree(
  laneRoot: string,
  root: string,
  label: string,
  volatile: RegExp[] = [],
  out = new Map<string, string>(),
): Promise<Map<string, string>> {
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const relative = path.relative(root, full).split(path.sep).join('/');
    if (relative.split('/').some((part) => part.startsWith(lakeTempPrefix))) continue;
    const key = `${label}/${relative}`;
    out.set(
      key,
      volatile.some((v) => v.test(relative))
        ? 'present'
        : sha256(laneNeutral(await readFile(full), laneRoot)),
    );
  }
  return out;
}

function store(lane: Lane): FileStateStore {
  return new FileStateStore({ root: path.join(lane.stateDir, 'state') });
}

function duplicatesOf(keys: string[]): string[] {
  const seen = new Set<string>();
  const dup: string[] = [];
  for (const key of keys) {
    if (seen.has(key)) dup.push(key);
    seen.add(key);
  }
  return dup;
}

// ---- a task of many jobs (examples/tasks) ------------------------------------------------

export const taskWorkload: Workload = {
  name: 'task',
  async prepare(lane) {
    const lake = path.join(lane.stateDir, 'lake', user, 'chaos');
    await cp(path.join(examples, 'tasks', 'data'), path.join(lake, 'data'), { recursive: true });
    const configs = (await readdir(path.join(examples, 'tasks', 'configs'))).sort();
    await mkdir(path.join(lake, 'configs'), { recursive: true });
    for (const name of configs.slice(0, taskJobs)) {
      await cp(path.join(examples, 'tasks', 'configs', name), path.join(lake, 'configs', name));
    }
  },
  async submit(url, lane) {
    for (const [name, lakePath] of [
      [`user.${user}.chaos_data`, `${user}/chaos/data`],
      [`user.${user}.chaos_configs`, `${user}/chaos/configs`],
    ]) {
      await post(url, '/api/datasets', { name, path: lakePath }, [201, 409]);
    }
    const exec = journaled(lane, ['sh', '%DATA/scan.sh', '%IN', '%DATA', '%OUT']).join(' ');
    await post(
      url,
      '/api/tasks',
      {
        name: taskName,
        configDataset: `user.${user}.chaos_configs`,
        dataDataset: `user.${user}.chaos_data`,
        exec,
        maxRetries: 0,
      },
      [201, 409],
    );
  },
  async progress(url) {
    const view = await api<{ state: string }>(`${url}/api/tasks/${taskName}`);
    if (view.status === 404) return 'running';
    if (['registered', 'testing', 'running'].includes(view.body.state)) return 'running';
    return view.body.state === 'finished' ? 'completed' : 'failed';
  },
  async outputs(url, lane) {
    const out = await hashTree(
      laneRootOf(lane),
      path.join(lane.stateDir, 'lake', 'tasks'),
      'lake/tasks',
      // A job's log is its output plus nothing clock-dependent, but the runner may add lines.
      [/\/logs\//],
    );
    const view = await api<{ state: string; jobList: Array<Record<string, unknown>> }>(
      `${url}/api/tasks/${taskName}`,
    );
    const jobs = view.body.jobList.map((job) => ({
      key: job.key,
      state: job.state,
      attempt: job.attempt,
      exitCode: job.exitCode,
      outputPath: job.outputPath,
    }));
    out.set('task view', sha256(JSON.stringify({ state: view.body.state, jobs })));
    return out;
  },
  async duplicateTransitions(lane) {
    const found: string[] = [];
    const docs = store(lane);
    const task = await docs.read<TaskRecord>(tasksCollection, taskName, taskName);
    const history = (task?.body.history ?? []).map((h) => `${h.from}>${h.to}:${h.event}`);
    found.push(...duplicatesOf(history).map((h) => `task history ${h}`));
    for (const job of await docs.query<TaskJobRecord>(taskJobsCollection, { pk: taskName })) {
      const attempts = job.body.attempts.map((a) => String(a.attempt));
      found.push(...duplicatesOf(attempts).map((a) => `task job ${job.body.key} attempt ${a}`));
    }
    return found;
  },
};

// ---- a model run (examples/transport-model), synced to the lake after each step -----------

interface ModelConfig {
  sub_components: Record<
    string,
    { commands: Array<{ command: string[]; env?: Record<string, string> }> }
  >;
}

export const modelWorkload: Workload = {
  name: 'model',
  async prepare(lane) {
    const source = path.join(lane.sources, 'model');
    await cp(path.join(examples, 'transport-model'), source, { recursive: true });
  },
  async submit(url, lane) {
    const source = path.join(lane.sources, 'model');
    const config = parse(
      await readFile(path.join(examples, 'transport-model', 'orca_model_config.yaml'), 'utf8'),
    ) as ModelConfig;
    for (const component of Object.values(config.sub_components)) {
      for (const command of component.commands) {
        command.command = journaled(lane, command.command);
        if (command.env?.ACTIVITYSIM_SECONDS !== undefined) command.env.ACTIVITYSIM_SECONDS = '0';
      }
    }
    await post(
      url,
      '/api/databanks',
      { name: modelDatabank, config: stringify(config), sourceDir: source },
      [201, 409],
    );
    await post(
      url,
      '/api/runs',
      {
        pipeline: 'model',
        runId: modelRunId,
        params: { databank: modelDatabank, mode: 'cloud_production', projectFolder: 'chaos' },
      },
      [202, 409],
    );
  },
  progress: (url) => runProgress(url, modelRunId),
  async outputs(url, lane) {
    // Logs, the state file and each step's folder archive (it holds the step's runs.log) carry
    // times; everything the models compute (the outputs' archives) must match byte for byte.
    const volatile = [
      /(^|\/)orca_orchestrator\.log$/,
      /(^|\/)orca_model_state\.json$/,
      /(^|\/)performance\//,
      /^[a-z]+\.zip$/,
      /(^|\/)runs\.log$/,
    ];
    const out = await hashTree(
      laneRootOf(lane),
      path.join(lane.stateDir, 'databanks', modelDatabank, 'outputs'),
      'databank/outputs',
      volatile,
    );
    await hashTree(
      laneRootOf(lane),
      path.join(lane.stateDir, 'lake', 'chaos', modelDatabank),
      'lake/model',
      volatile,
      out,
    );
    out.set('run output', await runOutput(url, modelRunId, lane));
    return out;
  },
  async duplicateTransitions() {
    return []; // its transitions are the durable history's (checked for every instance)
  },
};

// ---- the beamline new-file flow (examples/beamline) -----------------------------------------

interface BeamlineConfig {
  hpc: Record<string, { local?: Record<string, unknown> }>;
}

export const beamlineWorkload: Workload = {
  name: 'beamline',
  async prepare(lane) {
    const config = parse(
      await readFile(path.join(examples, 'beamline', 'beamline.yaml'), 'utf8'),
    ) as BeamlineConfig;
    for (const site of Object.values(config.hpc)) {
      const local = site.local ?? {};
      for (const step of ['reconstruct', 'multi_resolution']) {
        const argv = local[step];
        if (Array.isArray(argv)) local[step] = journaled(lane, argv as string[]);
      }
    }
    await copyBeamlineExample(lane.sources, stringify(config));
    const detector = path.join(lane.stateDir, 'lake', ...detectorPath.split('/'));
    await mkdir(path.dirname(detector), { recursive: true });
    await writeFile(detector, 'HDF5 stand-in: 832 projections of a chaos sample\n'.repeat(2000));
  },
  async submit(url) {
    await post(
      url,
      '/api/runs',
      {
        pipeline: 'beamline',
        runId: beamlineRunId,
        params: { config: 'beamline.yaml', path: detectorPath },
      },
      [202, 409],
    );
  },
  progress: (url) => runProgress(url, beamlineRunId),
  async outputs(url, lane) {
    const out = await hashTree(laneRootOf(lane), path.join(lane.sources, 'endpoints'), 'endpoints');
    out.set('run output', await runOutput(url, beamlineRunId, lane));
    return out;
  },
  async duplicateTransitions(lane) {
    const docs = store(lane);
    const found: string[] = [];
    const records = await docs.query<{ name: string; files: Array<{ path: string }> }>(
      catalogueCollection,
    );
    found.push(
      ...duplicatesOf(records.map((r) => r.body.files.map((f) => f.path).join(','))).map(
        (f) => `catalogue record of ${f}`,
      ),
    );
    const entries = await docs.query<{ runId: string; endpoint: string; path: string }>(
      beamlineRetentionCollection,
    );
    found.push(
      ...duplicatesOf(entries.map((e) => `${e.body.runId} ${e.body.endpoint} ${e.body.path}`)).map(
        (e) => `retention entry ${e}`,
      ),
    );
    return found;
  },
};

// ---- a small sweep (examples/ml/sweep.json) ---------------------------------------------------

export const sweepWorkload: Workload = {
  name: 'sweep',
  async prepare() {},
  async submit(url, lane) {
    const example = JSON.parse(
      await readFile(path.join(examples, 'ml', 'sweep.json'), 'utf8'),
    ) as Record<string, unknown>;
    const params = {
      ...example,
      experiment: 'chaos',
      space: {
        lr: { type: 'loguniform', low: 0.01, high: 1 },
        epochs: { type: 'int', low: 10, high: 40, step: 10 },
      },
      budget: { maxTrials: 4 },
      parallelism: 2,
      // Random sampling draws each trial from the seed and its index alone, so the trials do
      // not depend on the order earlier ones ended in (TPE's do): comparable across runs.
      sampler: { kind: 'random' },
      pruner: { kind: 'none' },
      trial: {
        argv: journaled(lane, ['node', path.join(examples, 'ml', 'train.mjs')]),
        timeoutSeconds: 60,
      },
    };
    await post(url, '/api/runs', { pipeline: 'sweep', runId: sweepRunId, params }, [202, 409]);
  },
  progress: (url) => runProgress(url, sweepRunId),
  async outputs(url, lane) {
    const out = await hashTree(
      laneRootOf(lane),
      path.join(lane.stateDir, 'sweeps', sweepRunId),
      'sweeps',
    );
    out.set('run output', await runOutput(url, sweepRunId, lane));
    return out;
  },
  async duplicateTransitions(lane, url) {
    const view = await api<{ output: SweepOutput | null }>(`${url}/api/runs/${sweepRunId}`);
    const output = view.body.output;
    if (!output) return ['sweep: no output to find its trials by'];
    const tracker = new StateStoreTracker({ store: store(lane) });
    const children = await tracker.searchRuns({
      experimentIds: [output.tracking.experimentId],
      filter: { parentRunId: output.tracking.sweepRunId },
    });
    return duplicatesOf(children.map((run) => run.tags.trial ?? '?')).map(
      (trial) => `tracked trial ${trial}`,
    );
  },
};

export const workloads: Workload[] = [modelWorkload, taskWorkload, beamlineWorkload, sweepWorkload];

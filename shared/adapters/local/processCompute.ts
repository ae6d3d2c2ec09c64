import { checkArgv, checkEnv } from '../../domain/jobSpec.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, open, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { BatonError, isBatonError, notFound } from '../../domain/errors.js';
import { checkMonitor } from '../../domain/jobMetrics.js';
import { resolveInside, isInsidePath } from '../../domain/paths.js';
import { systemClock } from '../../ports/clock.js';
import type { Clock } from '../../ports/clock.js';
import { terminalJobStates } from '../../ports/compute.js';
import { errnoOf, listNames, processAlive } from './fsPrimitives.js';
import type {
  ComputeBackend,
  JobMetricSample,
  JobSpec,
  JobState,
  JobStatus,
} from '../../ports/compute.js';

/** Configuration of {@link LocalProcessBackend}. */
export interface LocalProcessBackendOptions {
  /** State folder: one sub-folder per job (spec, status, output.log). */
  root: string;
  /** Jobs' `cwd` must resolve inside this folder (symlinks included). Defaults to `root`. */
  workRoot?: string;
  /** Timestamps the backend itself writes (pending, supervisor lost). */
  clock?: Clock;
  /** How often `cancel` re-reads the status while it waits. Default 100 ms. */
  pollIntervalMs?: number;
  /** SIGTERM-to-SIGKILL grace on timeout and cancel. Default 2000 ms (tests shorten it). */
  killGraceMs?: number;
  /** Overrides {@link locateSupervisor}, e.g. for a bundled deployment. */
  supervisorPath?: string;
}

/**
 * Only these host variables reach a job (and its supervisor); everything else, notably
 * credentials in the host's environment, does not leak. A job gets what its spec's `env` adds
 * on top. PATH falls back to `/usr/local/bin:/usr/bin:/bin` when the host has none.
 */
export const inheritedEnvKeys = ['PATH', 'HOME', 'LANG', 'TMPDIR'] as const;

const jobIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
const supervisorFile = 'processSupervisor.mjs';
/** metrics.csv's header, as processSupervisor.mjs writes it (METRICS_HEADER there). */
const metricsHeader =
  'at,elapsed_s,cpu_percent,rss_bytes,system_memory_used_bytes,system_memory_total_bytes,processes';
/** A job folder with no supervisor after this long was abandoned mid-launch. */
const launchGraceMs = 30_000;

const statusRecord = z.object({
  state: z.enum(['pending', 'running', 'succeeded', 'failed', 'canceled', 'timed_out']),
  exitCode: z.number().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  message: z.string().optional(),
  createdAt: z.string().optional(),
  pid: z.number().optional(),
  pgid: z.number().optional(),
  supervisorPid: z.number().optional(),
  bootId: z.string().optional(),
});
type StatusRecord = z.infer<typeof statusRecord>;
const supervisorRecord = z.object({
  pid: z.number(),
  startTime: z.number().optional(),
  bootId: z.string().optional(),
});
type SupervisorRecord = z.infer<typeof supervisorRecord>;

/**
 * Runs jobs as local processes that survive the host: each job gets a detached supervisor
 * (processSupervisor.mjs) that owns it and records its status on disk, so any later process
 * pointed at the same `root` can query, tail or cancel it. Launch is idempotent by jobId
 * because only the caller whose `mkdir` of the job folder succeeds starts anything.
 *
 * Layout: `<root>/<jobId>/{spec.json,status.json,supervisor.json,cancel,output.log}`, folder
 * 0700 and files 0600 because spec.json holds the job's env; a job launched with `monitor` adds
 * `metrics.csv` (the supervisor's samples of the job's process group, Linux only) or, on a host
 * without /proc, `metrics.unavailable` saying why there are none. `status` double-checks a
 * "running" record against the live process table (boot id, pid start time, zombies), so a
 * reboot or a SIGKILLed supervisor surfaces as `failed: supervisor lost` instead of hanging.
 * POSIX only (process groups); Windows is not supported.
 */
export class LocalProcessBackend implements ComputeBackend {
  readonly name = 'local';
  private readonly root: string;
  private readonly workRoot: string;
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly killGraceMs: number;
  private readonly supervisorPath: string;

  constructor(options: LocalProcessBackendOptions) {
    this.root = path.resolve(options.root);
    this.workRoot = path.resolve(options.workRoot ?? options.root);
    this.clock = options.clock ?? systemClock;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.killGraceMs = options.killGraceMs ?? 2000;
    this.supervisorPath = options.supervisorPath ?? locateSupervisor();
  }

  async launch(spec: JobSpec): Promise<JobStatus> {
    const jobId = checkJobId(spec.jobId);
    const argv = checkArgv(spec.argv);
    const env = { ...safeHostEnv(), ...checkEnv(spec.env) };
    const timeoutSeconds = checkTimeout(spec.timeoutSeconds);
    const monitor = checkMonitor(spec.monitor);
    await io(() => mkdir(this.root, { recursive: true }), 'create the job root');
    const cwd = await this.resolveCwd(spec.cwd);
    const dir = this.jobDir(jobId);
    let repeated = false;
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw unavailable('create the job folder', error);
      repeated = true;
    }
    const createdAt = this.clock.now().toISOString();
    const jobSpec = {
      jobId,
      argv,
      env,
      cwd,
      timeoutSeconds,
      killGraceMs: this.killGraceMs,
      ...(monitor === undefined ? {} : { monitor }),
    };
    if (repeated) {
      await removeDeadWritersTemps(dir);
      // Launched before. If no supervisor ever claimed the job (the launcher died between
      // creating the folder and spawning it), finish that launch; the claim file keeps a
      // supervisor that was merely slow from running the job a second time.
      if (
        existsSync(path.join(dir, 'supervisor.claim')) ||
        ((await readStatus(dir))?.state !== 'pending' && existsSync(path.join(dir, 'status.json')))
      ) {
        return this.status(jobId);
      }
      if (!existsSync(path.join(dir, 'spec.json'))) {
        await writeJsonAtomic(path.join(dir, 'spec.json'), jobSpec);
      }
      // A fresh start time: the launch grace counts from this spawn, not the one that died.
      await writeJsonAtomic(path.join(dir, 'status.json'), { state: 'pending', createdAt });
      await this.startSupervisor(dir).catch(() => undefined);
      return this.status(jobId);
    }
    try {
      await writeJsonAtomic(path.join(dir, 'spec.json'), jobSpec);
      await writeJsonAtomic(path.join(dir, 'status.json'), { state: 'pending', createdAt });
      await this.startSupervisor(dir);
    } catch (error) {
      const message = `could not start supervisor: ${errorText(error)}`;
      const failed = { state: 'failed', createdAt, message, finishedAt: createdAt };
      await writeJsonAtomic(path.join(dir, 'status.json'), failed).catch(() => undefined);
    }
    return this.status(jobId);
  }

  async status(jobId: string): Promise<JobStatus> {
    const dir = await this.existingJobDir(jobId);
    const record = await readStatus(dir);
    if (record !== undefined && isTerminal(record.state)) return toJobStatus(jobId, record);
    if (await this.isAlive(dir, record)) return toJobStatus(jobId, record ?? { state: 'pending' });
    // The supervisor is gone: whatever it wrote last is final; re-read to not overwrite it.
    const latest = await readStatus(dir);
    if (latest !== undefined && isTerminal(latest.state)) return toJobStatus(jobId, latest);
    const canceled = existsSync(path.join(dir, 'cancel'));
    const started = latest?.state === 'running' || existsSync(path.join(dir, 'supervisor.json'));
    const lost: StatusRecord = {
      ...latest,
      state: canceled ? 'canceled' : 'failed',
      finishedAt: this.clock.now().toISOString(),
      message: canceled ? 'canceled' : started ? 'supervisor lost' : 'supervisor never started',
    };
    await removeDeadWritersTemps(dir);
    await writeJsonAtomic(path.join(dir, 'status.json'), lost);
    return toJobStatus(jobId, lost);
  }

  async logs(jobId: string, options: { tail?: number } = {}): Promise<string> {
    const tail = options.tail;
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) {
      throw invalid('tail', 'must be a non-negative integer');
    }
    const dir = await this.existingJobDir(jobId);
    const file = path.join(dir, 'output.log');
    try {
      return tail === undefined ? await readFile(file, 'utf8') : await readTail(file, tail);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return '';
      throw unavailable('read the job log', error);
    }
  }

  /**
   * The supervisor's samples from metrics.csv: [] for a job launched without `monitor`, one
   * not sampled yet, or a host without /proc. Safe while the job runs: a line still being
   * appended (no newline yet) is left for the next call.
   */
  async metrics(jobId: string): Promise<JobMetricSample[]> {
    const dir = await this.existingJobDir(jobId);
    let text: string;
    try {
      text = await readFile(path.join(dir, 'metrics.csv'), 'utf8');
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return [];
      throw unavailable('read the job metrics', error);
    }
    return parseMetricsCsv(text, path.join(dir, 'metrics.csv'));
  }

  async cancel(jobId: string): Promise<JobStatus> {
    let current = await this.status(jobId);
    if (isTerminal(current.state)) return current;
    const dir = this.jobDir(jobId);
    // Marker first, then read supervisor.json: a supervisor not yet listed will see the marker.
    const stamp = `${this.clock.now().toISOString()}\n`;
    await io(() => writeFile(path.join(dir, 'cancel'), stamp), 'request cancellation');
    const supervisor = await readSupervisor(dir);
    if (supervisor !== undefined && supervisorAlive(supervisor)) {
      signal(supervisor.pid, 'SIGTERM');
    } else {
      await this.killOrphanedGroup(await readStatus(dir));
    }
    const deadline = Date.now() + Math.max(5000, this.killGraceMs + 3000);
    while (!isTerminal(current.state) && Date.now() < deadline) {
      await sleep(this.pollIntervalMs);
      current = await this.status(jobId);
    }
    return current;
  }

  /** Supervisors rewrite `<root>/.ended` when their job ends; a watch on the root sees it. */
  onJobsEnded(listener: () => void): () => void {
    mkdirSync(this.root, { recursive: true });
    let watcher: FSWatcher;
    try {
      watcher = watch(this.root, { persistent: false }, (_event, name) => {
        if (name === '.ended') listener();
      });
    } catch {
      return () => undefined; // no file watching here: the watcher's ticks still find the ends
    }
    watcher.on('error', () => watcher.close());
    return () => watcher.close();
  }

  async release(jobId: string): Promise<void> {
    let current: JobStatus;
    try {
      current = await this.status(jobId);
    } catch (error) {
      if (isBatonError(error, 'not_found')) return;
      throw error;
    }
    if (!isTerminal(current.state)) {
      throw new BatonError(
        'conflict',
        `job ${jobId} is ${current.state}: cancel it before releasing`,
      );
    }
    // Renamed away first, so a reader never sees a half-deleted folder as a job.
    const dir = this.jobDir(jobId);
    const doomed = `${dir}.released-${process.pid}-${Date.now()}`;
    try {
      await rename(dir, doomed);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return;
      throw unavailable('release the job folder', error);
    }
    await rm(doomed, { recursive: true, force: true });
  }

  private async startSupervisor(dir: string): Promise<void> {
    const child = spawn(process.execPath, [this.supervisorPath, dir], {
      cwd: dir,
      env: safeHostEnv(),
      detached: true,
      stdio: 'ignore',
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    child.unref();
  }

  /** The supervisor died but left the job running (it was SIGKILLed): stop the group ourselves. */
  private async killOrphanedGroup(record: StatusRecord | undefined): Promise<void> {
    const pgid = record?.pgid;
    if (pgid === undefined || !sameBoot(record?.bootId) || !groupAlive(pgid)) return;
    signal(-pgid, 'SIGTERM');
    const deadline = Date.now() + this.killGraceMs;
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
    if (groupAlive(pgid)) signal(-pgid, 'SIGKILL');
  }

  private async isAlive(dir: string, record: StatusRecord | undefined): Promise<boolean> {
    const supervisor = await readSupervisor(dir);
    if (supervisor !== undefined && supervisorAlive(supervisor)) return true;
    const pgid = record?.pgid;
    if (pgid !== undefined && sameBoot(record?.bootId) && groupAlive(pgid)) return true;
    if (supervisor !== undefined || record?.state === 'running') return false;
    // No supervisor has reported yet: launching, unless the folder is old (host died mid-launch).
    const since = record?.createdAt ? Date.parse(record.createdAt) : (await stat(dir)).mtimeMs;
    return this.clock.now().getTime() - since < launchGraceMs;
  }

  private async resolveCwd(cwd: string | undefined): Promise<string> {
    if (cwd !== undefined && typeof cwd !== 'string') throw invalid('cwd', 'must be a string');
    const target = resolveInside(this.workRoot, cwd ?? '', 'cwd');
    let real: string;
    let realRoot: string;
    try {
      [real, realRoot] = await Promise.all([realpath(target), realpath(this.workRoot)]);
    } catch {
      throw invalid('cwd', 'does not exist');
    }
    if (!isInsidePath(realRoot, real)) {
      throw invalid('cwd', 'escapes its root folder');
    }
    if (!(await stat(real)).isDirectory()) throw invalid('cwd', 'is not a directory');
    return real;
  }

  private jobDir(jobId: string): string {
    return path.join(this.root, checkJobId(jobId));
  }

  private async existingJobDir(jobId: string): Promise<string> {
    const dir = this.jobDir(jobId);
    if (!existsSync(dir)) throw notFound(`job ${jobId}`);
    return dir;
  }
}

/**
 * Polls a backend until the job is terminal, with a modest backoff (x1.5 up to 8 polls' worth).
 * Any backend: tests, the CLI's `--wait` and activities all need "block until done".
 * Throws `unavailable` (retryable) when the job is still running after `timeoutMs`.
 */
export async function waitForJob(
  backend: ComputeBackend,
  jobId: string,
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<JobStatus> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 100;
  const maxDelay = Math.max(pollMs, Math.min(pollMs * 8, 2000));
  const deadline = Date.now() + timeoutMs;
  let delay = pollMs;
  for (;;) {
    const current = await backend.status(jobId);
    if (isTerminal(current.state)) return current;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new BatonError(
        'unavailable',
        `job ${jobId} still ${current.state} after ${timeoutMs} ms`,
      );
    }
    await sleep(Math.min(delay, left));
    delay = Math.min(delay * 1.5, maxDelay);
  }
}

/**
 * Finds processSupervisor.mjs. It is plain JS that tsc does not copy, so: next to this module
 * (running the .ts sources via tsx), else `shared/adapters/local/` under the nearest ancestor
 * holding a package.json (running compiled dist/, which sits inside the package root).
 */
export function locateSupervisor(moduleUrl: string = import.meta.url): string {
  const here = path.dirname(fileURLToPath(moduleUrl));
  const sibling = path.join(here, supervisorFile);
  if (existsSync(sibling)) return sibling;
  for (let dir = here; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'shared', 'adapters', 'local', supervisorFile);
    if (existsSync(path.join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new BatonError('internal', `${supervisorFile} not found near ${here}`);
}

/** A metrics.csv row's numbers, once their count is checked. */
type Six = [number, number, number, number, number, number];

/**
 * metrics.csv's complete lines as samples. The text after the last newline is a line the
 * supervisor is still writing, so it is ignored; so is a line that does not parse (a crash
 * mid-write), rather than failing every later read. A wrong header is `internal`.
 */
function parseMetricsCsv(text: string, file = 'metrics.csv'): JobMetricSample[] {
  const lines = text.split('\n');
  lines.pop();
  if (lines.length === 0) return [];
  if (lines[0] !== metricsHeader) throw new BatonError('internal', `${file}: unexpected header`);
  const samples: JobMetricSample[] = [];
  for (const line of lines.slice(1)) {
    const [at = '', ...cells] = line.split(',');
    const numbers = cells.map((cell) => (cell.trim() === '' ? NaN : Number(cell)));
    if (numbers.length !== 6 || !numbers.every(Number.isFinite) || Number.isNaN(Date.parse(at))) {
      continue;
    }
    const [elapsedSeconds, cpuPercent, rssBytes, used, total, processes] = numbers as Six;
    samples.push({
      at,
      elapsedSeconds,
      cpuPercent,
      rssBytes,
      systemMemoryUsedBytes: used,
      systemMemoryTotalBytes: total,
      processes,
    });
  }
  return samples;
}

function isTerminal(state: JobState): boolean {
  return terminalJobStates.includes(state);
}

function toJobStatus(jobId: string, record: StatusRecord): JobStatus {
  const out: JobStatus = { jobId, state: record.state };
  if (record.exitCode !== undefined) out.exitCode = record.exitCode;
  if (record.startedAt !== undefined) out.startedAt = record.startedAt;
  if (record.finishedAt !== undefined) out.finishedAt = record.finishedAt;
  if (record.message !== undefined) out.message = record.message;
  return out;
}

function safeHostEnv(): Record<string, string> {
  // The folder of the node running Baton comes first, so `node` in a command is this node
  // (nvm and similar install it outside the standard folders).
  const env: Record<string, string> = {
    PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
  };
  for (const key of inheritedEnvKeys) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

function checkJobId(jobId: unknown): string {
  if (typeof jobId !== 'string' || !jobIdPattern.test(jobId)) {
    throw invalid('jobId', 'must match ^[a-z0-9][a-z0-9-]{0,62}$');
  }
  return jobId;
}

function checkTimeout(seconds: unknown): number | undefined {
  if (seconds === undefined) return undefined;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw invalid('timeoutSeconds', 'must be a positive number');
  }
  return seconds;
}

async function readStatus(dir: string): Promise<StatusRecord | undefined> {
  return readRecord(path.join(dir, 'status.json'), statusRecord);
}

async function readSupervisor(dir: string): Promise<SupervisorRecord | undefined> {
  return readRecord(path.join(dir, 'supervisor.json'), supervisorRecord);
}

async function readRecord<S extends z.ZodType>(
  file: string,
  schema: S,
): Promise<z.output<S> | undefined> {
  const value = await readJson(file);
  if (value === undefined) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BatonError('internal', `${file} is corrupt`);
  return parsed.data;
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw unavailable(`read ${path.basename(file)}`, error);
  }
}

/**
 * Temp files (`.<name>.<pid>.<random>.tmp`, see writeJsonAtomic) whose writer is gone: a host
 * killed while it wrote spec.json or status.json. Removed before this process writes there; a
 * job folder is small, so listing it is cheap.
 */
async function removeDeadWritersTemps(dir: string): Promise<void> {
  for (const name of await listNames(dir)) {
    const pid = Number(/^\.[a-z]+\.json\.(\d+)\.[a-z0-9]+\.tmp$/.exec(name)?.[1] ?? NaN);
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) {
      await rm(path.join(dir, name), { force: true });
    }
  }
}

/** temp + fsync + rename, so a reader (or a crash) never sees half a file. */
async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const temp = `${path.dirname(file)}/.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(value, null, 2) + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}

/** Reads backwards in chunks so tailing a large log does not load all of it. */
async function readTail(file: string, lines: number): Promise<string> {
  if (lines === 0) return '';
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    let start = size;
    let chunks: Buffer[] = [];
    let newlines = 0;
    while (start > 0 && newlines <= lines) {
      const length = Math.min(64 * 1024, start);
      start -= length;
      const chunk = Buffer.alloc(length);
      await handle.read(chunk, 0, length, start);
      chunks = [chunk, ...chunks];
      for (const byte of chunk) if (byte === 0x0a) newlines += 1;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const parts = text.split('\n');
    const trailing = text.endsWith('\n');
    if (trailing) parts.pop();
    const kept = parts.slice(-lines).join('\n');
    return trailing ? `${kept}\n` : kept;
  } finally {
    await handle.close();
  }
}

/** Alive, not a zombie, and the same process that wrote the record (pid reuse, reboot). */
function supervisorAlive(record: SupervisorRecord): boolean {
  if (!sameBoot(record.bootId) || !processAlive(record.pid)) return false;
  const stat = readProcStat(record.pid);
  if (stat === undefined) return true; // no /proc (macOS): trust kill(0)
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return record.startTime === undefined || record.startTime === stat.startTime;
}

/** A non-zombie member of the group exists (zombies linger where PID 1 does not reap). */
function groupAlive(pgid: number): boolean {
  if (!processAlive(-pgid)) return false;
  if (!existsSync('/proc/self/stat')) return true;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') {
      return true;
    }
  }
  return false;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // ESRCH: already gone.
  }
}

function readProcStat(pid: number): { state: string; pgrp: number; startTime: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', pgrp: Number(fields[2]), startTime: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

let currentBootId: string | null | undefined;
function sameBoot(recorded: string | undefined): boolean {
  if (currentBootId === undefined) {
    try {
      currentBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      currentBootId = null;
    }
  }
  return recorded === undefined || currentBootId === null || recorded === currentBootId;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function invalid(field: string, why: string): BatonError {
  return new BatonError('validation', `${field}: ${why}`, { field });
}

function unavailable(what: string, cause: unknown): BatonError {
  return new BatonError('unavailable', `could not ${what}: ${errorText(cause)}`, { cause });
}

async function io<T>(action: () => Promise<T>, what: string): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw unavailable(what, error);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

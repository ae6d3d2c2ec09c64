// @ts-check
/**
 * Baton's local job supervisor: `node processSupervisor.mjs <jobDir>`.
 *
 * Plain JavaScript on purpose: LocalProcessBackend spawns it with `process.execPath` directly,
 * so it must run without tsx (development) and without a build step (dist/). It is started
 * detached from the host (own session and process group), which is what lets a job outlive
 * the host that launched it; this process then owns the job's lifecycle and is the only
 * writer of `status.json` until it exits.
 *
 * Files in <jobDir> (written by the backend unless noted):
 *   spec.json        { jobId, argv, env, cwd, timeoutSeconds?, killGraceMs, monitor? }
 *   status.json      pending (backend) -> running -> terminal (this script), atomic temp+rename
 *   supervisor.json  { pid, startTime?, bootId? } (this script, after its signal handlers exist)
 *   cancel           marker written by cancel() before it signals us
 *   output.log       the job's stdout and stderr, appended
 *   metrics.csv      with `monitor`: one resource sample per line (this script, appended)
 *   metrics.unavailable  with `monitor` on a host without /proc: why nothing is sampled
 *
 * The job runs in its own process group (pgid = its pid); timeout and cancel send SIGTERM to
 * the whole group, then SIGKILL after the grace period, and leftover group members are killed
 * when the job's main process exits, as a container runtime would. Linux and macOS only.
 *
 * Monitoring (Linux only: it reads /proc) samples the job's process group every
 * `monitor.intervalSeconds` and once more when the main process exits, before leftovers are
 * reaped. CPU time is utime+stime+cutime+cstime of every group member (cutime/cstime carry
 * the children they already reaped, so short-lived subprocesses count) plus what this script
 * reaped itself (the main process, via its own cutime/cstime), so the figure stays right after
 * the main process is gone. Processes that leave the group (setsid) are not followed, exactly
 * as cancel does not follow them. A sampling failure never touches the job.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** @typedef {'running' | 'succeeded' | 'failed' | 'canceled' | 'timed_out'} State */
/**
 * @typedef {{
 *   state: string, pgrp: number, startTime: number,
 *   ticks: number, reapedTicks: number, rssPages: number,
 * }} ProcStat
 * @typedef {{
 *   intervalMs: number, clockTicks: number, pageSize: number, reapedTicksBase: number,
 *   startMs: number, lastMs: number, lastTicks: number, lastElapsed: string,
 *   timer?: ReturnType<typeof setInterval>,
 * }} Monitor
 */

/** metrics.csv's header; LocalProcessBackend.metrics parses exactly these columns. */
const METRICS_HEADER =
  'at,elapsed_s,cpu_percent,rss_bytes,system_memory_used_bytes,system_memory_total_bytes,processes';
const MIN_INTERVAL_SECONDS = 0.1;
const MAX_INTERVAL_SECONDS = 3600;

const MAX_TIMER_MS = 2 ** 31 - 1;
const jobDir = process.argv[2];
if (jobDir === undefined || jobDir === '') {
  process.stderr.write('usage: processSupervisor.mjs <jobDir>\n');
  process.exit(2);
}

/** @type {null | 'canceled' | 'timed_out'} */
let stopReason = null;
let leaderExited = false;
let finished = false;
let pgid = 0;
let killGraceMs = 2000;
/** @type {Record<string, unknown>} */
let base = {};
/** @type {Monitor | undefined} */
let monitor;

// Handlers first: supervisor.json is written only after they exist, so cancel() never
// signals a supervisor that would die of the signal instead of recording 'canceled'.
process.on('SIGTERM', () => requestStop('canceled'));
process.on('SIGINT', () => requestStop('canceled'));
process.on('SIGHUP', () => {});
process.on('uncaughtException', (error) => crash(error));

main();

function main() {
  // One supervisor per job, whoever spawned it: a launch repeated after a crash may start a
  // second one while the first is still coming up, and only the one that claims the job runs it.
  try {
    fs.closeSync(fs.openSync(file('supervisor.claim'), 'wx', 0o600));
  } catch (error) {
    if (error && error.code === 'EEXIST') process.exit(0);
    throw error;
  }
  writeJsonAtomic('supervisor.json', {
    pid: process.pid,
    startTime: readStat(process.pid)?.startTime,
    bootId: readBootId(),
  });
  const spec = JSON.parse(fs.readFileSync(file('spec.json'), 'utf8'));
  killGraceMs = typeof spec.killGraceMs === 'number' ? spec.killGraceMs : killGraceMs;
  base = { supervisorPid: process.pid, bootId: readBootId() };
  if (fs.existsSync(file('cancel'))) {
    finish('canceled', { message: 'canceled before start' });
    return;
  }
  // Before the spawn: getconf's children must be reaped before the baseline of reaped time.
  const monitorPlan = planMonitor(spec.monitor);
  const out = fs.openSync(file('output.log'), 'a', 0o600);
  /** @type {import('node:child_process').ChildProcess} */
  let child;
  try {
    child = spawn(spec.argv[0], spec.argv.slice(1), {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      shell: false,
      stdio: ['ignore', out, out],
    });
  } finally {
    fs.closeSync(out);
  }
  child.on('error', (error) => {
    if (child.pid === undefined)
      finish('failed', { message: `could not start job: ${error.message}` });
  });
  if (child.pid === undefined) return; // 'error' follows
  pgid = child.pid;
  const startedAt = new Date().toISOString();
  if (monitorPlan !== undefined) startMonitor(monitorPlan);
  base = { ...base, pid: child.pid, pgid, startedAt };
  writeJsonAtomic('status.json', { ...base, state: 'running' });
  child.on('exit', (code, signal) => void onLeaderExit(code, signal));
  if (typeof spec.timeoutSeconds === 'number') armTimeout(Date.now() + spec.timeoutSeconds * 1000);
  if (fs.existsSync(file('cancel'))) requestStop('canceled'); // raced with cancel()
}

/** @param {number} deadline */
function armTimeout(deadline) {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return requestStop('timed_out');
  setTimeout(() => armTimeout(deadline), Math.min(remaining, MAX_TIMER_MS)).unref();
}

/** @param {'canceled' | 'timed_out'} reason */
function requestStop(reason) {
  if (stopReason !== null || leaderExited || finished) return;
  if (pgid === 0) return finish('canceled', { message: 'canceled before start' });
  stopReason = reason;
  killGroup('SIGTERM');
  setTimeout(() => killGroup('SIGKILL'), killGraceMs).unref();
}

/**
 * @param {number | null} code
 * @param {NodeJS.Signals | null} signal
 */
async function onLeaderExit(code, signal) {
  leaderExited = true;
  stopMonitor();
  await reapGroup();
  const exitCode = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : undefined);
  const state = stopReason ?? (code === 0 ? 'succeeded' : 'failed');
  const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
  const message =
    stopReason === 'timed_out'
      ? `timed out (${why})`
      : stopReason === 'canceled'
        ? `canceled (${why})`
        : code === 0
          ? undefined
          : why;
  finish(state, { exitCode, message });
}

/** Kills what is left of the job's group: SIGTERM, then SIGKILL after the grace period. */
async function reapGroup() {
  if (!groupAlive()) return;
  killGroup('SIGTERM');
  const deadline = Date.now() + killGraceMs;
  while (groupAlive() && Date.now() < deadline) await sleep(50);
  if (!groupAlive()) return;
  killGroup('SIGKILL');
  const hardDeadline = Date.now() + 1000;
  while (groupAlive() && Date.now() < hardDeadline) await sleep(20);
}

/**
 * @param {State} state
 * @param {{ exitCode?: number, message?: string }} extra
 */
function finish(state, extra) {
  if (finished) return;
  finished = true;
  writeJsonAtomic('status.json', {
    ...base,
    state,
    ...extra,
    finishedAt: new Date().toISOString(),
  });
  // A nudge for a host watching the job root (onJobsEnded): rewriting one small file is enough.
  try {
    fs.writeFileSync(path.join(path.dirname(path.resolve(jobDir)), '.ended'), `${Date.now()}\n`);
  } catch {
    // only latency is lost
  }
  process.exit(0);
}

/** @param {unknown} error */
function crash(error) {
  try {
    if (pgid !== 0) killGroup('SIGKILL');
    finished = false;
    const text = error instanceof Error ? error.message : String(error);
    finish('failed', { message: `supervisor error: ${text}` });
  } catch {
    process.exit(1);
  }
}

/** @param {NodeJS.Signals} signal */
function killGroup(signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** True while a non-zombie process remains in the job's group (zombies count as dead). */
function groupAlive() {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM';
  }
  if (!fs.existsSync('/proc/self/stat')) return true;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') return true;
  }
  return false;
}

/**
 * What monitoring needs, read once before the job starts; undefined when not asked for, or
 * when this host has no /proc (then metrics.unavailable says so).
 * @param {unknown} requested spec.monitor, validated by the backend
 * @returns {Omit<Monitor, 'startMs' | 'lastMs'> | undefined}
 */
function planMonitor(requested) {
  if (typeof requested !== 'object' || requested === null) return undefined;
  const seconds = /** @type {{ intervalSeconds?: unknown }} */ (requested).intervalSeconds;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return undefined;
  if (!fs.existsSync('/proc/self/stat') || !fs.existsSync('/proc/meminfo')) {
    writeText(
      'metrics.unavailable',
      `no /proc on this host (${process.platform}): resource samples are taken on Linux only\n`,
    );
    return undefined;
  }
  try {
    const clockTicks = getconf('CLK_TCK', 100);
    const pageSize = getconf('PAGESIZE', 4096);
    const clamped = Math.min(Math.max(seconds, MIN_INTERVAL_SECONDS), MAX_INTERVAL_SECONDS);
    return {
      intervalMs: clamped * 1000,
      clockTicks,
      pageSize,
      reapedTicksBase: readStat(process.pid)?.reapedTicks ?? 0,
      lastTicks: 0,
      lastElapsed: '',
    };
  } catch {
    return undefined; // monitoring is best effort; the job runs regardless
  }
}

/** @param {Omit<Monitor, 'startMs' | 'lastMs'>} plan */
function startMonitor(plan) {
  const now = performance.now();
  /** @type {Monitor} */
  const started = { ...plan, startMs: now, lastMs: now };
  try {
    const fd = fs.openSync(file('metrics.csv'), 'a', 0o600);
    try {
      if (fs.fstatSync(fd).size === 0) fs.writeSync(fd, `${METRICS_HEADER}\n`);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return;
  }
  monitor = started;
  started.timer = setInterval(sample, started.intervalMs);
  started.timer.unref();
}

/** The final sample, as the main process exits (before leftovers are reaped); then no more. */
function stopMonitor() {
  if (monitor === undefined) return;
  clearInterval(monitor.timer);
  sample();
  monitor = undefined;
}

/** Appends one line to metrics.csv; never throws (a failed sample is a missing line). */
function sample() {
  const m = monitor;
  if (m === undefined) return;
  try {
    const now = performance.now();
    const elapsed = ((now - m.startMs) / 1000).toFixed(3);
    if (elapsed === m.lastElapsed) return; // elapsed_s strictly increases
    const group = groupUsage();
    const reaped = (readStat(process.pid)?.reapedTicks ?? m.reapedTicksBase) - m.reapedTicksBase;
    const ticks = group.ticks + reaped;
    const seconds = (now - m.lastMs) / 1000;
    const cpu =
      seconds > 0 ? Math.max(0, ((ticks - m.lastTicks) / m.clockTicks / seconds) * 100) : 0;
    const memory = readMeminfo();
    const line = [
      new Date().toISOString(),
      elapsed,
      cpu.toFixed(2),
      group.rssPages * m.pageSize,
      memory.total - memory.available,
      memory.total,
      group.processes,
    ].join(',');
    fs.appendFileSync(file('metrics.csv'), `${line}\n`, { mode: 0o600 });
    m.lastMs = now;
    m.lastTicks = ticks;
    m.lastElapsed = elapsed;
  } catch {
    // A vanished job folder, a full disk: skip this sample, keep the job.
  }
}

/** CPU ticks, resident pages and live processes of the job's group, from /proc. */
function groupUsage() {
  let ticks = 0;
  let rssPages = 0;
  let processes = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat === undefined || stat.pgrp !== pgid) continue;
    ticks += stat.ticks + stat.reapedTicks;
    if (stat.state === 'Z' || stat.state === 'X') continue;
    rssPages += stat.rssPages;
    processes += 1;
  }
  return { ticks, rssPages, processes };
}

/** MemTotal and MemAvailable of /proc/meminfo, in bytes (MemFree where MemAvailable is missing). */
function readMeminfo() {
  const text = fs.readFileSync('/proc/meminfo', 'utf8');
  /** @param {string} key */
  const kib = (key) => {
    const match = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const total = kib('MemTotal') ?? 0;
  return { total, available: kib('MemAvailable') ?? kib('MemFree') ?? total };
}

/**
 * `getconf <name>` as a positive integer, else the fallback (argv array, no shell).
 * @param {string} name
 * @param {number} fallback
 */
function getconf(name, fallback) {
  const result = spawnSync('getconf', [name], { encoding: 'utf8', timeout: 2000 });
  const value = Number.parseInt(typeof result.stdout === 'string' ? result.stdout : '', 10);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/**
 * Fields of /proc/<pid>/stat (proc(5); numbered from 1, the name in parentheses is field 2).
 * @param {number} pid
 * @returns {ProcStat | undefined}
 */
function readStat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields[0] is field 3 (state), so field n is fields[n - 3].
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const field = (/** @type {number} */ n) => Number(fields[n - 3]) || 0;
    return {
      state: fields[0] ?? '',
      pgrp: Number(fields[2]),
      startTime: Number(fields[19]),
      ticks: field(14) + field(15), // utime + stime
      reapedTicks: field(16) + field(17), // cutime + cstime: children this process waited for
      rssPages: field(24),
    };
  } catch {
    return undefined;
  }
}

function readBootId() {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * @param {string} name
 * @param {unknown} value
 */
function writeJsonAtomic(name, value) {
  const temp = file(`.${name}.${process.pid}.tmp`);
  const fd = fs.openSync(temp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file(name));
}

/**
 * @param {string} name
 * @param {string} text
 */
function writeText(name, text) {
  try {
    fs.writeFileSync(file(name), text, { mode: 0o600 });
  } catch {
    // Only informative.
  }
}

/** @param {string} name */
function file(name) {
  return path.join(/** @type {string} */ (jobDir), name);
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

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
 *   spec.json        { jobId, argv, env, cwd, timeoutSeconds?, killGraceMs }
 *   status.json      pending (backend) -> running -> terminal (this script), atomic temp+rename
 *   supervisor.json  { pid, startTime?, bootId? } (this script, after its signal handlers exist)
 *   cancel           marker written by cancel() before it signals us
 *   output.log       the job's stdout and stderr, appended
 *
 * The job runs in its own process group (pgid = its pid); timeout and cancel send SIGTERM to
 * the whole group, then SIGKILL after the grace period, and leftover group members are killed
 * when the job's main process exits, as a container runtime would. Linux and macOS only.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** @typedef {'running' | 'succeeded' | 'failed' | 'canceled' | 'timed_out'} State */
/** @typedef {{ state: string, pgrp: number, startTime: number }} ProcStat */

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

// Handlers first: supervisor.json is written only after they exist, so cancel() never
// signals a supervisor that would die of the signal instead of recording 'canceled'.
process.on('SIGTERM', () => requestStop('canceled'));
process.on('SIGINT', () => requestStop('canceled'));
process.on('SIGHUP', () => {});
process.on('uncaughtException', (error) => crash(error));

main();

function main() {
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
 * @param {number} pid
 * @returns {ProcStat | undefined}
 */
function readStat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', pgrp: Number(fields[2]), startTime: Number(fields[19]) };
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

/** @param {string} name */
function file(name) {
  return path.join(/** @type {string} */ (jobDir), name);
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

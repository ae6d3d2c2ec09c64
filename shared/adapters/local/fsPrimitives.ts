import { createHash, randomUUID } from 'node:crypto';
import {
  link,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatonError } from '../../domain/errors.js';

// File-system primitives of the local adapters: portable file names, atomic writes, and locks
// that hold within a process (promise chains) and across processes (exclusive lock files).

/**
 * Maps any string to a file name that is the same on every file system: only `a-z 0-9 - _` stay
 * literal, everything else (dots, upper case, non-ASCII) becomes `%XX` of its UTF-8 bytes. That
 * keeps `Run1` and `run1` apart on case-insensitive disks (macOS, Windows) and makes `.`/`..`
 * impossible. Names that would exceed NAME_MAX become `~<sha256>`; callers keep the original
 * value inside the file.
 */
export function encodeName(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const plain =
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x5f;
    out += plain
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out.length <= 200 ? out : `~${createHash('sha256').update(value).digest('hex')}`;
}

export function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** Points of the local host where `BATON_CRASH_AT` can kill it (see {@link crashDue}). */
export type CrashPoint = 'history' | 'activity' | 'lake-upload' | 'state-write';
const crashPoints: readonly CrashPoint[] = ['history', 'activity', 'lake-upload', 'state-write'];

/**
 * `BATON_CRASH_AT=<point>:<n>[,<point>:<n>…]`, a test hook of the crash-injection suite
 * (test/chaos): the process SIGKILLs itself the nth time it passes `<point>`. Kills sent from
 * outside at random moments rarely land inside the few milliseconds that matter (a history line
 * half appended, an activity whose side effects are done but whose result is not recorded, a
 * lake file half uploaded, a state document half written); these points put a kill exactly
 * there. Read once when the module loads; unset (always, outside that suite) a pass costs one
 * comparison. A malformed value stops the process at once rather than test nothing.
 */
const crashPlan: Map<CrashPoint, number> | undefined = parseCrashAt(process.env.BATON_CRASH_AT);
const crashPasses = new Map<CrashPoint, number>();

export function parseCrashAt(value: string | undefined): Map<CrashPoint, number> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const plan = new Map<CrashPoint, number>();
  for (const part of value.split(',')) {
    const match = /^\s*([a-z-]+):(\d+)\s*$/.exec(part);
    const point = match?.[1] as CrashPoint | undefined;
    const n = Number(match?.[2]);
    if (point === undefined || !crashPoints.includes(point) || !(n >= 1)) {
      throw new Error(
        `setting.BATON_CRASH_AT: expected <point>:<n>[,…] with point one of ${crashPoints.join(', ')} and n >= 1, got ${JSON.stringify(value)}`,
      );
    }
    plan.set(point, n);
  }
  return plan;
}

/** Counts a pass through `point`; true on the pass `BATON_CRASH_AT` names (then call crashNow). */
export function crashDue(point: CrashPoint): boolean {
  if (crashPlan === undefined) return false;
  const n = (crashPasses.get(point) ?? 0) + 1;
  crashPasses.set(point, n);
  return crashPlan.get(point) === n;
}

/** SIGKILL, as `kill -9` from outside would: no handler, no flush, no clean-up runs. */
export function crashNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL did not stop the process');
}

/**
 * Temp files carry their writer's process id (`<prefix><pid>-<uuid><suffix>`), so a later
 * process can tell a crashed writer's leftovers from a live writer's file: a kill between a
 * temp's creation and its publication leaves one behind, and nothing else would remove it.
 * Temps this process is still writing are remembered, so two writers in one process never
 * remove each other's. The local adapters live on one machine, so a pid answers for a writer.
 */
const liveTemps = new Set<string>();

export function claimTempPath(dir: string, prefix: string, suffix = ''): string {
  const temp = path.join(dir, `${prefix}${process.pid}-${randomUUID()}${suffix}`);
  liveTemps.add(temp);
  return temp;
}

export function releaseTempPath(temp: string): void {
  liveTemps.delete(temp);
}

/** Whether the temp at `full` (its name continuing with `afterPrefix`) was left by a writer that is gone. */
export function isLeftoverTemp(full: string, afterPrefix: string): boolean {
  const pid = Number(/^(\d+)-/.exec(afterPrefix)?.[1] ?? Number.NaN);
  if (!Number.isInteger(pid)) return true; // written before temps carried a pid
  return pid === process.pid ? !liveTemps.has(full) : !processAlive(pid);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === 'EPERM';
  }
}

/** Temp files start with '.', which no encoded name does, so directory scans skip them. */
function tempPathFor(target: string): string {
  return claimTempPath(path.dirname(target), `.${path.basename(target)}.`, '.tmp');
}

/**
 * Writes via a synced temp file in the same folder, then renames (or, for createOnly, hard-links,
 * which fails with EEXIST instead of overwriting). A crash leaves the old file or the new one,
 * and possibly the temp file beside it; `sweepTemps` removes such leftovers of writers that are
 * gone (never a live writer's) before writing.
 */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: { createOnly?: boolean; sweepTemps?: boolean } = {},
): Promise<void> {
  if (options.sweepTemps === true) await removeTempFiles(target);
  const temp = tempPathFor(target);
  try {
    const handle = await open(temp, 'wx');
    try {
      if (crashDue('state-write')) {
        await handle.writeFile(data.slice(0, data.length >> 1));
        crashNow();
      }
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.createOnly === true) {
      await link(temp, target);
      await unlink(temp);
    } else {
      await rename(temp, target);
    }
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  } finally {
    releaseTempPath(temp);
  }
}

/** Removes the temp files of `target` that writers which are gone left behind. */
export async function removeTempFiles(target: string): Promise<void> {
  const prefix = `.${path.basename(target)}.`;
  const dir = path.dirname(target);
  for (const name of await listNames(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const full = path.join(dir, name);
    if (isLeftoverTemp(full, name.slice(prefix.length))) await rm(full, { force: true });
  }
}

/** Removes the temps named `<prefix>…` in `folder` whose writers are gone; returns the count. */
export async function removeLeftoverTempsIn(folder: string, prefix: string): Promise<number> {
  const names = await listNames(folder);
  return removeLeftoverTempPaths(
    names.map((name) => path.join(folder, name)),
    prefix,
  );
}

/**
 * Removes, among `paths` (files or folders, anywhere), those named `<prefix>…` whose writers are
 * gone; returns the count.
 */
export async function removeLeftoverTempPaths(
  paths: Iterable<string>,
  prefix: string,
): Promise<number> {
  let removed = 0;
  for (const full of paths) {
    const name = path.basename(full);
    if (!name.startsWith(prefix) || !isLeftoverTemp(full, name.slice(prefix.length))) continue;
    await rm(full, { recursive: true, force: true }).catch(() => undefined);
    removed++;
  }
  return removed;
}

/** `.<base>.<pid>-<uuid>.tmp`, as writeFileAtomic names its temps: the part after `<base>.`. */
export function atomicWriteTempSuffix(name: string): string | undefined {
  return /^\..+\.(\d+-[0-9a-f-]{36}\.tmp)$/.exec(name)?.[1];
}

const chains = new Map<string, Promise<void>>();

/** Serialises async work per key in this process, so same-process callers queue instead of polling a lock file. */
export async function withKeyedMutex<R>(key: string, fn: () => Promise<R>): Promise<R> {
  const previous = chains.get(key) ?? Promise.resolve();
  let release = (): void => undefined;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  chains.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (chains.get(key) === tail) chains.delete(key);
  }
}

export interface FileLockOptions {
  /** A lock file older than this is presumed orphaned by a crashed process and broken. */
  staleMs: number;
  /** Give up with `unavailable` after this long. */
  timeoutMs: number;
}

/**
 * Mutual exclusion across processes: `lockFile` is created with O_EXCL and removed afterwards.
 * Within this process callers queue on a promise chain first, so at most one of them polls.
 */
export async function withFileLock<R>(
  lockFile: string,
  options: FileLockOptions,
  fn: () => Promise<R>,
): Promise<R> {
  return withKeyedMutex(lockFile, async () => {
    const token = await acquireLockFile(lockFile, options);
    try {
      return await fn();
    } finally {
      await releaseLockFile(lockFile, token);
    }
  });
}

async function acquireLockFile(lockFile: string, options: FileLockOptions): Promise<string> {
  const token = `${process.pid}:${randomUUID()}`;
  const deadline = Date.now() + options.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockFile, 'wx');
      try {
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      return token;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') {
        await mkdir(path.dirname(lockFile), { recursive: true });
        continue;
      }
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    await breakIfStale(lockFile, options.staleMs);
    if (Date.now() > deadline) {
      throw new BatonError('unavailable', `timed out waiting for lock ${lockFile}`, {
        retryable: true,
      });
    }
    await sleep(Math.min(2 + attempt, 25) * (0.5 + Math.random()));
  }
}

/**
 * Breaks an orphaned lock by renaming it away (one breaker wins per inode). If the inode moved is
 * not the stale one we saw, a live holder re-created the lock meanwhile: put it back.
 */
async function breakIfStale(lockFile: string, staleMs: number): Promise<void> {
  let seen;
  try {
    seen = await stat(lockFile);
  } catch {
    return;
  }
  if (Date.now() - seen.mtimeMs <= staleMs) return;
  const aside = `${lockFile}.stale-${randomUUID()}`;
  try {
    await rename(lockFile, aside);
  } catch {
    return;
  }
  const moved = await stat(aside);
  if (moved.ino !== seen.ino) await link(aside, lockFile).catch(() => undefined);
  await rm(aside, { force: true });
}

/** Only removes the lock if it is still ours (it may have been broken as stale meanwhile). */
async function releaseLockFile(lockFile: string, token: string): Promise<void> {
  const current = await readFile(lockFile, 'utf8').catch(() => undefined);
  if (current === token) await rm(lockFile, { force: true });
}

/** Sorted entries of a folder; a missing folder has none. */
export async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return [];
    throw err;
  }
}

/** Whether anything (a file, folder or link, not followed) is at `target`. */
export async function pathExists(target: string): Promise<boolean> {
  try {
    await lstat(target);
    return true;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Files written without their own fsync (a sync's many small files), made durable together
 * by `flush`: each file, then each folder that got a new name, fsynced concurrently so the
 * file system commits them in a few journal transactions instead of one per file. Until then
 * a power cut may lose or empty a file that was published — never leave a half-written one
 * visible while the machine runs (writes are still temp + rename).
 */
export class PendingFlush {
  private readonly files = new Set<string>();

  add(file: string): void {
    this.files.add(file);
  }

  get size(): number {
    return this.files.size;
  }

  /**
   * Flushes what was added before the call. Flushes run one after another, so a caller whose
   * files another caller's flush took waits for that flush too; a failed flush gives its files
   * back (the next flush tries them again) and fails its own caller.
   */
  flush(concurrency = 32): Promise<void> {
    const run = this.inflight.then(() => this.flushNow(concurrency));
    this.inflight = run.catch(() => undefined);
    return run;
  }

  private inflight: Promise<void> = Promise.resolve();

  private async flushNow(concurrency: number): Promise<void> {
    const files = [...this.files];
    this.files.clear();
    const folders = [...new Set(files.map((file) => path.dirname(file)))];
    try {
      for (const batch of [files, folders]) {
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < batch.length) {
            await syncPath(batch[next++] as string);
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
      }
    } catch (error) {
      for (const file of files) this.files.add(file);
      throw error;
    }
  }
}

/** fsync of a file or folder; gone since (replaced, removed) is fine: its writer flushed it. */
async function syncPath(target: string): Promise<void> {
  let handle;
  try {
    handle = await open(target, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems refuse fsync on a folder (EINVAL, EISDIR): the files are synced.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF') throw error;
  } finally {
    await handle.close();
  }
}

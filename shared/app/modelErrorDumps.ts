import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import {
  cp,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { errorDumpsFolder } from '../domain/databankLayout.js';
import { isInsidePath } from '../domain/paths.js';
import { BatonError } from '../domain/errors.js';
import { withKeyedMutex } from '../adapters/local/fsPrimitives.js';

/**
 * The seed's error dump: when a command fails, everything needed to understand it, in
 * `error_dumps/<stamp>_iter<n>_<step>/`: the failed step's folder, the databank's top-level files
 * (config, state, orchestrator log), `system_info.json` and `error_info.json` (exit code, the
 * command, the last log lines). Built under a temp name and renamed, so a dump is whole.
 * The environment is never dumped: it may hold secrets.
 */
export interface ErrorDumpInfo {
  runId: string;
  iteration: number;
  step: string;
  command: { index: number; description: string | undefined; argv: string[] };
  jobId: string;
  state: string;
  exitCode?: number;
  message?: string;
  lastLogLines: string[];
}

export async function createErrorDump(
  databankDir: string,
  info: ErrorDumpInfo,
  now: Date,
): Promise<string> {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const name = `${stamp}_iter${info.iteration}_${info.step}`;
  const dumps = path.join(databankDir, errorDumpsFolder);
  // Deliveries of one failure in this process queue here, so the second finds the first's dump.
  return withKeyedMutex(`error-dump:${dumps}:${info.jobId}`, () =>
    buildErrorDump(databankDir, dumps, name, info, now),
  );
}

async function buildErrorDump(
  databankDir: string,
  dumps: string,
  name: string,
  info: ErrorDumpInfo,
  now: Date,
): Promise<string> {
  // A retried activity finds the dump its first attempt made for the same job.
  const earlier = await dumpOfJob(dumps, info.jobId);
  if (earlier !== undefined) return `${errorDumpsFolder}/${earlier}`;
  const target = path.join(dumps, name);
  const building = path.join(dumps, `.${name}.${randomUUID()}.tmp`);
  await mkdir(building, { recursive: true });
  try {
    const stepDir = path.join(databankDir, info.step);
    if (await isFolder(stepDir)) {
      await cp(stepDir, path.join(building, info.step), {
        recursive: true,
        filter: async (from) => !(await lstat(from)).isSymbolicLink(),
      });
    }
    for (const entry of await readdir(databankDir, { withFileTypes: true })) {
      if (entry.isFile() && !entry.name.startsWith('.')) {
        await cp(path.join(databankDir, entry.name), path.join(building, entry.name));
      }
    }
    await writeFile(path.join(building, 'system_info.json'), JSON.stringify(systemInfo(), null, 2));
    await writeFile(
      path.join(building, 'error_info.json'),
      JSON.stringify({ ...info, failedAt: now.toISOString() }, null, 2),
    );
    const chosen = await publishDump(building, target, info.jobId);
    return `${errorDumpsFolder}/${chosen}`;
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Renames the built dump to the first free name. Should two processes build a dump of one
 * failure at once (the in-process queue cannot see the other), a name taken by a dump of the
 * same job is that dump, and after publishing the dump whose name sorts first is kept and
 * the later one removes itself. Returns the name kept.
 */
async function publishDump(building: string, target: string, jobId: string): Promise<string> {
  let chosen: string | undefined;
  for (let n = 1; chosen === undefined; n++) {
    const candidate = n === 1 ? target : `${target}-${n}`;
    if ((await lstat(candidate).catch(() => undefined)) !== undefined) {
      if ((await jobOfDump(candidate)) === jobId) {
        await rm(building, { recursive: true, force: true });
        return path.basename(candidate);
      }
      continue;
    }
    try {
      await rename(building, candidate);
      chosen = candidate;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      n--; // taken meanwhile: look at it again
    }
  }
  const first = await dumpOfJob(path.dirname(chosen), jobId);
  if (first !== undefined && first !== path.basename(chosen)) {
    await rm(chosen, { recursive: true, force: true });
    return first;
  }
  return path.basename(chosen);
}

function systemInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    node: process.version,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    loadAverage: os.loadavg(),
    memoryTotalBytes: os.totalmem(),
    memoryFreeBytes: os.freemem(),
    uptimeSeconds: os.uptime(),
  };
}

async function isFolder(dir: string): Promise<boolean> {
  const info = await lstat(dir).catch(() => undefined);
  return info?.isDirectory() === true;
}

/** The first dump (by name) of the job, if any. */
async function dumpOfJob(dumps: string, jobId: string): Promise<string | undefined> {
  const names = (await readdir(dumps).catch(() => [] as string[])).sort();
  for (const name of names.filter((n) => !n.startsWith('.'))) {
    if ((await jobOfDump(path.join(dumps, name))) === jobId) return name;
  }
  return undefined;
}

async function jobOfDump(dump: string): Promise<unknown> {
  try {
    const info = JSON.parse(await readFile(path.join(dump, 'error_info.json'), 'utf8')) as {
      jobId?: unknown;
    };
    return info.jobId;
  } catch {
    return undefined; // not a dump (or unreadable): not the one
  }
}

// ---------------------------------------------------------------------------------------------
// reading dumps back (the portal's error-dump links)

/** A dump as the run page lists it: what failed, and the files to download. */
export interface ErrorDumpListing {
  name: string;
  iteration: number;
  step: string;
  jobId: string;
  state: string;
  exitCode?: number;
  message?: string;
  failedAt?: string;
  /** Dump-relative POSIX paths of its regular files, with their sizes. */
  files: Array<{ path: string; size: number }>;
}

const dumpInfoSchema = z.object({
  runId: z.string(),
  iteration: z.number().int(),
  step: z.string(),
  jobId: z.string(),
  state: z.string(),
  exitCode: z.number().int().optional(),
  message: z.string().optional(),
  failedAt: z.string().optional(),
});

/** A dump's folder name as createErrorDump makes them (no separators, no leading dot). */
const dumpNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** The dumps in the databank that `runId` made, oldest first (their names start with a stamp). */
export async function listErrorDumps(
  databankDir: string,
  runId: string,
): Promise<ErrorDumpListing[]> {
  const dumps = path.join(databankDir, errorDumpsFolder);
  if (!(await isFolder(dumps))) return [];
  const out: ErrorDumpListing[] = [];
  for (const entry of await readdir(dumps, { withFileTypes: true })) {
    if (!entry.isDirectory() || !dumpNamePattern.test(entry.name) || entry.name.includes('..'))
      continue;
    const info = await readDumpInfo(path.join(dumps, entry.name));
    if (info?.runId !== runId) continue;
    const { runId: _ours, ...rest } = info;
    out.push({
      name: entry.name,
      ...rest,
      files: await regularFilesBelow(path.join(dumps, entry.name)),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * One file of one of the run's dumps, for download. Refused (`not_found`, saying no more) when
 * the dump is not the run's, or the path leaves the dump, passes a symbolic link or is not a
 * regular file; `validation` for a malformed name or path; at most `maxBytes`.
 */
export async function readErrorDumpFile(
  databankDir: string,
  runId: string,
  dump: string,
  relative: string,
  maxBytes = 64 * 1024 * 1024,
): Promise<{ name: string; bytes: Buffer }> {
  if (!dumpNamePattern.test(dump) || dump.includes('..')) {
    throw new BatonError('validation', 'dump: not an error dump name', { field: 'dump' });
  }
  const segments = relative.split('/');
  if (
    relative === '' ||
    segments.some(
      (s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0'),
    )
  ) {
    throw new BatonError('validation', 'path: a relative path inside the dump', { field: 'path' });
  }
  const dumpDir = path.join(databankDir, errorDumpsFolder, dump);
  const gone = new BatonError(
    'not_found',
    `error dump ${dump} has no file ${relative} of this run`,
    { field: 'path' },
  );
  if (!(await isFolder(dumpDir)) || (await readDumpInfo(dumpDir))?.runId !== runId) throw gone;
  // Every segment is looked at with lstat: a link anywhere on the way is not followed.
  let current = dumpDir;
  for (const [i, segment] of segments.entries()) {
    current = path.join(current, segment);
    const info = await lstat(current).catch(() => undefined);
    const last = i === segments.length - 1;
    if (info === undefined || info.isSymbolicLink()) throw gone;
    if (last ? !info.isFile() : !info.isDirectory()) throw gone;
    if (last && info.size > maxBytes) {
      throw new BatonError('validation', `path: ${relative} is larger than ${maxBytes} bytes`, {
        field: 'path',
      });
    }
  }
  return { name: segments[segments.length - 1] ?? 'file', bytes: await readConfined(current) };

  /**
   * The checks above looked at paths; a link swapped in since must still not be followed: the
   * file is opened without following a final link, and its real path must be inside the dump
   * and be the very file opened.
   */
  async function readConfined(file: string): Promise<Buffer> {
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => {
      throw gone;
    });
    try {
      const opened = await handle.stat();
      const real = await realpath(file).catch(() => undefined);
      const realDump = await realpath(dumpDir).catch(() => undefined);
      const there = real === undefined ? undefined : await stat(real).catch(() => undefined);
      if (
        !opened.isFile() ||
        real === undefined ||
        realDump === undefined ||
        !isInsidePath(realDump, real) ||
        there?.ino !== opened.ino ||
        there.dev !== opened.dev
      ) {
        throw gone;
      }
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }
}

async function readDumpInfo(dumpDir: string): Promise<z.infer<typeof dumpInfoSchema> | undefined> {
  try {
    const parsed = dumpInfoSchema.safeParse(
      JSON.parse(await readFile(path.join(dumpDir, 'error_info.json'), 'utf8')),
    );
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function regularFilesBelow(dir: string): Promise<Array<{ path: string; size: number }>> {
  const out: Array<{ path: string; size: number }> = [];
  const walk = async (folder: string, prefix: string): Promise<void> => {
    // A duplicate dump removes itself (publishDump) while a listing may be reading it.
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) await walk(full, rel);
      else if (entry.isFile()) {
        const info = await lstat(full).catch(() => undefined);
        if (info !== undefined) out.push({ path: rel, size: info.size });
      }
    }
  };
  await walk(dir, '');
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

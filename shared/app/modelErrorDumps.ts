import { randomUUID } from 'node:crypto';
import { cp, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorDumpsFolder } from '../domain/databankLayout.js';

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
    const chosen = await freeName(target);
    await rename(building, chosen);
    return `${errorDumpsFolder}/${path.basename(chosen)}`;
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    throw error;
  }
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

/** Two failures in the same second (a redelivered activity) must not collide. */
async function freeName(target: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? target : `${target}-${n}`;
    if ((await lstat(candidate).catch(() => undefined)) === undefined) return candidate;
  }
}

async function dumpOfJob(dumps: string, jobId: string): Promise<string | undefined> {
  const names = await readdir(dumps).catch(() => [] as string[]);
  for (const name of names.filter((n) => !n.startsWith('.'))) {
    try {
      const info = JSON.parse(
        await readFile(path.join(dumps, name, 'error_info.json'), 'utf8'),
      ) as {
        jobId?: unknown;
      };
      if (info.jobId === jobId) return name;
    } catch {
      // not a dump of ours (or unreadable): not the one
    }
  }
  return undefined;
}

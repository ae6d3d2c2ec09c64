import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { outputArchiveName, outputsFolder } from '../domain/databankLayout.js';
import type { OutputArchive } from '../domain/modelConfig.js';
import { writeDeterministicZip } from './databankZip.js';
import { claimTempPath, releaseTempPath, removeTempFiles } from '../adapters/local/fsPrimitives.js';

/**
 * What happens to a sub-component's folder after its step: output archives are built
 * (`outputs/{step}_{archive_name}_iter{n}.zip` from the files its `pattern` matches, relative to
 * the step's folder) and `cleanup_patterns` are applied. Patterns are globs (picomatch); one
 * without a `/` matches a name at any depth, as `*.tmp` means in the seed's configs. Symbolic
 * links are never followed: a link is archived as nothing and cleaned up as itself.
 */

export interface BuiltArchive {
  name: string;
  /** Databank-relative path. */
  path: string;
  files: number;
}

/** Regular files below `dir`, as sorted POSIX paths relative to it (links and hidden skipped). */
export async function filesBelow(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .filter((rel) => !rel.split('/').some((part) => part.startsWith('.')))
    .sort();
}

function matcher(pattern: string): (relative: string) => boolean {
  return picomatch(pattern, { basename: !pattern.includes('/'), dot: false });
}

/** Builds each archive of the step; an archive whose pattern matches nothing is not written. */
export async function buildOutputArchives(
  databankDir: string,
  step: string,
  iteration: number,
  archives: readonly OutputArchive[],
): Promise<{ built: BuiltArchive[]; empty: string[] }> {
  const stepDir = path.join(databankDir, step);
  const files = await filesBelow(stepDir);
  const built: BuiltArchive[] = [];
  const empty: string[] = [];
  for (const archive of archives) {
    const isMatch = matcher(archive.pattern);
    const selected = files.filter((file) => isMatch(file));
    if (selected.length === 0) {
      empty.push(archive.pattern);
      continue;
    }
    const name = outputArchiveName(step, archive.archive_name, iteration);
    const target = path.join(databankDir, outputsFolder, name);
    await writeZip(stepDir, selected, target);
    built.push({ name, path: `${outputsFolder}/${name}`, files: selected.length });
  }
  return { built, empty };
}

/** Deletes what the cleanup patterns match below the step folder; returns what went. */
export async function applyCleanupPatterns(
  stepDir: string,
  patterns: readonly string[],
): Promise<string[]> {
  if (patterns.length === 0) return [];
  const matchers = patterns.map(matcher);
  let entries;
  try {
    entries = await readdir(stepDir, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  const relative = entries
    .map((e) => path.relative(stepDir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .filter((rel) => matchers.some((isMatch) => isMatch(rel)))
    // Shallow first, so a matched folder goes whole and its matched children are skipped.
    .sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1));
  const removed: string[] = [];
  for (const rel of relative) {
    if (removed.some((parent) => rel.startsWith(`${parent}/`))) continue;
    const full = path.join(stepDir, ...rel.split('/'));
    const info = await lstat(full).catch(() => undefined);
    if (info === undefined) continue;
    await rm(full, { recursive: info.isDirectory(), force: true });
    removed.push(rel);
  }
  return removed;
}

/**
 * A zip of `files` (relative to `baseDir`) at `target`, built beside it and renamed: the archive
 * is complete or absent. Deterministic (databankZip.ts), so the same files give the same bytes
 * and a sync skips an unchanged archive.
 */
async function writeZip(baseDir: string, files: readonly string[], target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  // A step re-run after a crash mid-zip first removes the half archive that run left.
  await removeTempFiles(target);
  const temp = claimTempPath(path.dirname(target), `.${path.basename(target)}.`, '.tmp');
  const entries = await Promise.all(
    files.map(async (file) => ({
      path: file,
      isDirectory: false,
      mode: (await lstat(path.join(baseDir, ...file.split('/')))).mode,
    })),
  );
  try {
    await writeDeterministicZip(baseDir, entries, temp);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  } finally {
    releaseTempPath(temp);
  }
}

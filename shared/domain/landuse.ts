import { z } from 'zod';
import { parseInput } from './validation.js';

/**
 * Land-use archives hold one folder or one file per model year, named in many ways:
 * `2017/landuse.csv`, `landuse_2017.csv`, `lu-2017-taz.csv`, `LU2017.dbf`. The rule:
 *
 *   An entry belongs to model year Y when some maximal run of ASCII digits in its path (any
 *   folder or the file name) is exactly the four digits of Y.
 *
 * "Maximal run" means the digits are bounded by a non-digit or the ends of the path, so
 * `20170.csv`, `12017/x.csv` and `2017.5` (digits `2017` then `5`: matches, `.` is a boundary)
 * behave predictably: the first two do not match 2017, the last does. Letters count as a
 * boundary (`lu2017.csv` matches) because such names are common in model exports. A path that
 * names several years (`2017_2018/x.csv`) belongs to each of them. Folder entries (ending
 * `/`) and macOS resource-fork copies under `__MACOSX/` never belong to a year: folders are
 * created as needed for the files, and the resource forks are not land-use data.
 */
export function entryMatchesModelYear(entryPath: string, modelYear: number): boolean {
  if (entryPath.endsWith('/') || isMacResourceFork(entryPath)) return false;
  const year = String(modelYear);
  for (const run of entryPath.match(/[0-9]+/g) ?? []) {
    if (run === year) return true;
  }
  return false;
}

export function isMacResourceFork(entryPath: string): boolean {
  return entryPath === '__MACOSX' || entryPath.startsWith('__MACOSX/');
}

/** A model year: a whole number from 1900 to 2200 (always four digits, which the rule needs). */
export const modelYearSchema = z
  .number({ error: 'must be a year (a whole number from 1900 to 2200)' })
  .int('must be a whole number')
  .min(1900, 'must be from 1900 to 2200')
  .max(2200, 'must be from 1900 to 2200');

/** Parses a model year given as a number or as the text of one (from a CLI flag). */
export function parseModelYear(value: unknown, field = 'modelYear'): number {
  const candidate =
    typeof value === 'string' && /^\s*[0-9]+\s*$/.test(value) ? Number(value) : value;
  return parseInput(modelYearSchema, candidate, field);
}

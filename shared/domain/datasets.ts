import { BatonError } from './errors.js';
import { normalizeLakePath } from './paths.js';

/**
 * Dataset and task names, Orchestra's policy: `user.<owner>.<rest>`, e.g.
 * `user.jodafons.my_data_file.pic`. The owner is the user who registered the name, and only
 * they may use it as a task's output or delete it; the name never becomes a path by itself, but
 * its characters are kept path-safe anyway (no separators, no `..`, no leading or trailing dot).
 */
export const ownerPattern = /^[a-z][a-z0-9_-]{0,31}$/;
/** The longest `<rest>` after `user.<owner>.`. */
export const maxNameRestLength = 200;

export type ScopedNameKind = 'dataset' | 'task';

export interface ScopedName {
  owner: string;
  rest: string;
}

const namePrefix = 'user.';
const restChar = /^[A-Za-z0-9._-]$/;

/**
 * Splits `user.<owner>.<rest>` and checks every part. Throws `validation` (field `dataset`
 * unless given) naming what is wrong: the prefix, the owner, or the rest (its length, a path
 * separator, `..`, a leading or trailing dot, or the first character not allowed).
 */
export function parseDatasetName(name: unknown, field = 'dataset'): ScopedName {
  return parseScopedName(name, field);
}

/** The same policy as {@link parseDatasetName}, for task names (field `task`). */
export function parseTaskName(name: unknown, field = 'task'): ScopedName {
  return parseScopedName(name, field);
}

/**
 * Checks that `caller` owns the dataset or task `name`: a `validation` error for a bad name,
 * `forbidden` when the owner is someone else. Returns the parsed name.
 */
export function assertOwner(
  name: unknown,
  caller: string,
  kind: ScopedNameKind = 'dataset',
): ScopedName {
  const parsed = parseScopedName(name, kind);
  if (parsed.owner !== caller) {
    throw new BatonError(
      'forbidden',
      `${kind}: user.${parsed.owner}.* names belong to ${parsed.owner}, not to ${describeCaller(caller)}`,
      { field: kind },
    );
  }
  return parsed;
}

/** `user.<owner>.<rest>`, checked, so callers never assemble names by hand. */
export function formatScopedName(
  owner: string,
  rest: string,
  kind: ScopedNameKind = 'dataset',
): string {
  const name = `${namePrefix}${owner}.${rest}`;
  parseScopedName(name, kind);
  return name;
}

function parseScopedName(name: unknown, field: string): ScopedName {
  const bad = (why: string): BatonError =>
    new BatonError('validation', `${field}: ${why}`, { field });
  const example = 'e.g. user.jodafons.my_data';
  if (typeof name !== 'string') throw bad('must be a string');
  if (name.includes('\0')) throw bad('must not contain NUL');
  if (!name.startsWith(namePrefix)) throw bad(`must start with user.<owner>. (${example})`);
  const afterPrefix = name.slice(namePrefix.length);
  const dot = afterPrefix.indexOf('.');
  const owner = dot === -1 ? afterPrefix : afterPrefix.slice(0, dot);
  if (owner === '') throw bad(`the owner after "user." is missing (${example})`);
  if (!ownerPattern.test(owner)) {
    throw bad(
      'the owner must be 1-32 characters: a lower-case letter, then lower-case letters, digits, _ or -',
    );
  }
  const rest = dot === -1 ? '' : afterPrefix.slice(dot + 1);
  if (rest === '') throw bad(`the name after "user.${owner}." is missing (${example})`);
  if (rest.length > maxNameRestLength) {
    throw bad(`the name after "user.${owner}." must be at most ${maxNameRestLength} characters`);
  }
  if (/[/\\]/.test(rest)) throw bad('must not contain a path separator (/ or \\)');
  if (rest.includes('..')) throw bad('must not contain ".." (an empty part between dots)');
  if (rest.startsWith('.') || rest.endsWith('.')) throw bad('must not start or end with a dot');
  for (const char of rest) {
    if (!restChar.test(char)) {
      throw bad(
        `character ${codePointLabel(char)} is not allowed (only letters, digits, ., _ and -)`,
      );
    }
  }
  return { owner, rest };
}

function codePointLabel(char: string): string {
  const hex = (char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  const printable = /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(char) ? ` "${char}"` : '';
  return `U+${hex}${printable}`;
}

function describeCaller(caller: string): string {
  return ownerPattern.test(caller) ? caller : 'the caller';
}

/** A lake listing entry (the Lake port's `LakeEntry` fits). */
export interface DatasetEntry {
  path: string;
  isDirectory: boolean;
}

/** One unit of work in a dataset: a file, by its lake path and its name within the dataset. */
export interface DatasetItem {
  /** The file's lake path (normalised). */
  path: string;
  /** Relative to the dataset's folder; for a dataset that is one file, its base name. */
  name: string;
}

/**
 * A dataset points at one lake file or folder. Given that path and the lake's listing of it
 * (`stat` for a file, `list(path, { recursive })` for a folder; the folder's own entry may be
 * included), returns its items: the file itself, or every file in the folder, deduplicated and
 * sorted by path (code-unit order, as the lakes list). Hidden entries (any name below the dataset
 * folder starting with `.`, which covers the lakes' `.baton-tmp-` temp files and `.DS_Store`)
 * and folders are skipped. An empty folder gives no items; whether that is an error is the
 * caller's call. An entry outside `datasetPath` is a caller bug (`internal`).
 */
export function datasetItems(datasetPath: string, entries: readonly DatasetEntry[]): DatasetItem[] {
  const root = normalizeLakePath(datasetPath, 'path');
  const normalized = entries.map((entry) => ({
    path: normalizeLakePath(entry.path, 'path'),
    isDirectory: entry.isDirectory,
  }));
  const self = normalized.find((entry) => entry.path === root);
  if (self !== undefined && !self.isDirectory) {
    const name = root.slice(root.lastIndexOf('/') + 1);
    return [{ path: root, name }];
  }
  const prefix = root === '' ? '' : `${root}/`;
  const byPath = new Map<string, DatasetItem>();
  for (const entry of normalized) {
    if (entry.path === root) continue;
    if (!entry.path.startsWith(prefix)) {
      throw new BatonError(
        'internal',
        `listing entry ${entry.path} is outside dataset folder ${root}`,
      );
    }
    const name = entry.path.slice(prefix.length);
    if (entry.isDirectory || name.split('/').some((part) => part.startsWith('.'))) continue;
    byPath.set(entry.path, { path: entry.path, name });
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

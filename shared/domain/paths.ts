import path from 'node:path';
import { BatonError } from './errors.js';

export const maxLakeNameBytes = 255;
export const maxLakePathLength = 1024;

/**
 * Normalises a lake path given by a user or a config and refuses anything that could escape
 * the store's root. Returns '' for the root itself. Pure: adapters call it before any I/O.
 */
export function normalizeLakePath(input: string, field = 'path'): string {
  if (input.includes('\0')) throw invalid(field, 'must not contain NUL');
  // A lone surrogate has no UTF-8 form: the file system would store U+FFFD, so two different
  // paths would name one file.
  if (/[\uD800-\uDFFF]/u.test(input)) {
    throw invalid(field, 'must be valid Unicode (no lone surrogates)');
  }
  if (input.includes('\\')) throw invalid(field, 'must use / as separator');
  if (input.startsWith('/')) throw invalid(field, 'must be relative (no leading /)');
  const parts: string[] = [];
  for (const part of input.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw invalid(field, 'must not contain ..');
    // File systems (and ADLS path segments) stop at 255 bytes per name.
    if (Buffer.byteLength(part, 'utf8') > maxLakeNameBytes) {
      throw invalid(field, `each name must be at most ${maxLakeNameBytes} bytes`);
    }
    parts.push(part);
  }
  const joined = parts.join('/');
  // Blob names (ADLS paths) are at most 1024 characters.
  if (joined.length > maxLakePathLength) {
    throw invalid(field, `must be at most ${maxLakePathLength} characters`);
  }
  return joined;
}

/**
 * Resolves a user-supplied relative path under `root` and guarantees the result stays inside
 * it (no `..` escape, no absolute path). Symlinks are the caller's concern.
 */
export function resolveInside(root: string, relative: string, field = 'path'): string {
  const normalized = normalizeLakePath(relative, field);
  const absoluteRoot = path.resolve(root);
  const target = path.resolve(absoluteRoot, normalized);
  const prefix = absoluteRoot.endsWith(path.sep) ? absoluteRoot : absoluteRoot + path.sep;
  if (target !== absoluteRoot && !target.startsWith(prefix)) {
    throw invalid(field, 'escapes its root folder');
  }
  return target;
}

/**
 * Whether absolute path `target` is `root` or below it (lexically; resolve symlinks first where
 * they matter). Also right for the file-system root itself, where `root + sep` would be `//`.
 */
export function isInsidePath(root: string, target: string): boolean {
  const relative = path.relative(path.resolve(root), path.resolve(target));
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function invalid(field: string, why: string): BatonError {
  return new BatonError('validation', `${field}: ${why}`, { field });
}

/**
 * Lakes write through a temp file beside the target and rename it into place, so readers only
 * see complete files; the temp files carry this prefix, which no lake path may use.
 */
export const lakeTempPrefix = '.baton-tmp-';

import type { z } from 'zod';
import { BatonError } from './errors.js';

/**
 * Parses untrusted input at a boundary. The error names the first offending field as a dotted
 * path (`params.count`), prefixed by `where` (`body`, `--count`, a file name), never a stack.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue ? formatIssuePath(issue.path) : '';
  const field = path === '' ? where : where === '' ? path : `${where}.${path}`;
  const message = issue ? issue.message : 'invalid input';
  return throwValidation(field, message);
}

export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function throwValidation(field: string, message: string): never {
  throw new BatonError('validation', `${field}: ${message}`, { field });
}

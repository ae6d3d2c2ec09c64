import { z } from 'zod';
import { BatonError } from './errors.js';

/**
 * What a job may ask for, checked the same way by every compute backend (before any process or
 * container exists) and by the API (the zod schema, whose errors name the field).
 */
export const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const jobSpecInputSchema = z
  .object({
    argv: z.array(z.string().min(1)).min(1),
    image: z.string().min(1).max(400).optional(),
    env: z
      .record(
        z.string().regex(envNamePattern, 'environment variable names are letters, digits and _'),
        z.string(),
      )
      .optional(),
    cpu: z.number().positive().max(64).optional(),
    memoryGb: z.number().positive().max(512).optional(),
    timeoutSeconds: z
      .number()
      .int()
      .positive()
      .max(7 * 24 * 3600)
      .optional(),
  })
  .strict();
export type JobSpecInput = z.infer<typeof jobSpecInputSchema>;

/**
 * An argv array: strings without NUL or lone surrogates, the program name not empty. Never
 * joined into a shell line. A lone surrogate has no UTF-8 form, so the process would get U+FFFD
 * instead of what was asked for: refused rather than silently changed.
 */
export function checkArgv(argv: unknown): string[] {
  if (!Array.isArray(argv) || argv.length === 0) throw invalid('argv', 'must be a non-empty array');
  return argv.map((arg: unknown, i) => {
    if (typeof arg !== 'string' || arg.includes('\0')) {
      throw invalid(`argv[${i}]`, 'must be a string without NUL');
    }
    if (hasLoneSurrogate(arg)) {
      throw invalid(`argv[${i}]`, 'must be valid Unicode (no lone surrogates)');
    }
    if (i === 0 && arg === '') throw invalid('argv[0]', 'must not be empty');
    return arg;
  });
}

export function checkEnv(env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== 'object' || env === null) throw invalid('env', 'must be an object');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!envNamePattern.test(key)) throw invalid(`env.${key}`, 'is not a valid variable name');
    if (typeof value !== 'string' || value.includes('\0')) {
      throw invalid(`env.${key}`, 'must be a string without NUL');
    }
    if (hasLoneSurrogate(value)) {
      throw invalid(`env.${key}`, 'must be valid Unicode (no lone surrogates)');
    }
    out[key] = value;
  }
  return out;
}

/** Half of a surrogate pair on its own: it cannot be encoded as UTF-8 for the process. */
export function hasLoneSurrogate(text: string): boolean {
  return /[\uD800-\uDFFF]/u.test(text);
}

function invalid(field: string, why: string): BatonError {
  return new BatonError('validation', `${field}: ${why}`, { field });
}

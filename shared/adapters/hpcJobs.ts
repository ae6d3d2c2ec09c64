import { BatonError } from '../domain/errors.js';
import type { HpcJobRequest } from '../ports/hpc.js';

/**
 * What every HpcController checks before it talks to a site, so the local, NERSC and ALCF
 * controllers refuse the same requests the same way: job ids are ComputeBackend / Slurm job
 * names (`[a-z0-9-]`, at most 63), and site paths are absolute POSIX paths of plain characters
 * (`A-Za-z0-9._-/`, no `..` or empty segments) — the NERSC batch script embeds them, so nothing
 * a shell would interpret may pass.
 */
export const hpcJobIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const sitePathPattern = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._-]+)+\/?$/;

export function validateHpcJobId(jobId: string): string {
  if (!hpcJobIdPattern.test(jobId)) {
    throw new BatonError(
      'validation',
      'jobId: lower-case letters, digits and "-", starting with a letter or digit (at most 63)',
      { field: 'jobId' },
    );
  }
  return jobId;
}

export function validateSitePath(value: string, field: string): string {
  if (value.length > 1024 || !sitePathPattern.test(value)) {
    throw new BatonError(
      'validation',
      `${field}: must be an absolute path of letters, digits and ._-/ (no "..", at most 1024)`,
      { field },
    );
  }
  return value;
}

export function validateHpcRequest(request: HpcJobRequest): HpcJobRequest {
  validateHpcJobId(request.jobId);
  validateSitePath(request.input, 'input');
  validateSitePath(request.output, 'output');
  return request;
}

/** The two kinds of work a site does; the ALCF function and the scripts are told which. */
export type HpcTask = 'reconstruct' | 'multi_resolution';

/**
 * A folder for the local site, whose scripts get it as one argv element (no shell, no batch
 * script): absolute, no `.`/`..` segments, no control characters — spaces and non-ASCII
 * letters are fine, unlike the sites' batch scripts.
 */
export function validateLocalPath(value: string, field: string): string {
  const segments = value.split('/').slice(1);
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u001f\u007f]/.test(value);
  if (
    !value.startsWith('/') ||
    value.length > 4096 ||
    bad ||
    segments.some((s) => s === '.' || s === '..')
  ) {
    throw new BatonError(
      'validation',
      `${field}: must be an absolute path without "." or ".." segments or control characters`,
      { field },
    );
  }
  return value;
}

import { createHash } from 'node:crypto';

/**
 * A job's id is derived from run, step and attempt, so every side effect keyed by it (the
 * container group's name, the process folder, the launch message id, the job document) is the
 * same when an activity or a message is delivered twice. Container groups allow
 * `[a-z0-9-]`, 63 characters at most; a longer id keeps a readable prefix and a hash.
 */
export const jobIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function jobIdFor(runId: string, stepId: string, attempt: number): string {
  const full = `${runId}-${stepId}-a${attempt}`;
  const readable = full
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (readable.length <= 63 && readable === full) return readable;
  // Anything changed by the clean-up could collide with another id: add a hash of the original.
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  const prefix = readable.slice(0, 63 - hash.length - 1).replace(/-+$/g, '') || 'job';
  return `${prefix}-${hash}`;
}

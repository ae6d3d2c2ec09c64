import { z } from 'zod';

/**
 * Run ids name folders, documents and durable instances, so they are restricted to characters
 * that are safe in all of them (and never contain ':' which marks sub-orchestration ids).
 */
export const runIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/,
    'letters, digits, _ and - only (max 80), starting with a letter or digit',
  );

/** `<pipeline>-<yyyymmddthhmmss>-<6 random hex>`: sortable by time and readable in a listing. */
export function newRunId(pipeline: string, now: Date, randomHex: string): string {
  // Lower case throughout, so ids derived from it (job ids, container group names) stay readable.
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').toLowerCase();
  const safe =
    pipeline
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .slice(0, 40)
      .replace(/^-+|-+$/g, '') || 'run';
  return `${safe}-${stamp}-${randomHex.slice(0, 6)}`;
}

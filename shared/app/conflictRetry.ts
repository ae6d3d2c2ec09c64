import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Etag-checked read-modify-write loops (a job's record, a task's) retry a write that lost the
 * race on a fresh read. Immediate retries in lockstep let only one of N writers through per
 * round, so a handful of attempts starved the rest under real contention (many events for one
 * task at once) and their updates failed. These loops therefore retry this many times, each
 * after a random wait that grows with the attempt (full jitter, capped), which spreads the
 * writers out: 50 writers of one document all land within a few hundred milliseconds.
 */
export const maxConflictRetries = 64;

const capMs = 100;

/** Waits before the `attempt`-th retry (0-based) of a write that lost an etag race. */
export async function backoffAfterConflict(attempt: number): Promise<void> {
  const ceiling = Math.min(capMs, 2 ** Math.min(attempt + 1, 7));
  await sleep(Math.random() * ceiling);
}

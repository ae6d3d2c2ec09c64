import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BatonError } from './errors.js';
import { normalizeLakePath } from './paths.js';

/**
 * Retention: a scheduled deletion of a path at an endpoint after N days. An entry is keyed by
 * endpoint and path, so scheduling the same path again moves its date instead of adding a
 * second deletion. Pure: the pruner asks `isDue` with its own clock.
 */
export const retentionEndpoints = ['lake'] as const;
export type RetentionEndpoint = (typeof retentionEndpoints)[number];

export type RetentionState = 'scheduled' | 'pruned' | 'gone' | 'canceled';

export interface RetentionEntry {
  endpoint: RetentionEndpoint;
  path: string;
  /** ISO 8601 */
  scheduledAt: string;
  dueAt: string;
  reason: string;
  requestedBy: string;
  state: RetentionState;
  prunedAt?: string;
  attempts: number;
  lastError?: string;
}

export const retentionRequestSchema = z
  .object({
    endpoint: z.enum(retentionEndpoints).default('lake'),
    path: z.string().min(1).max(1024),
    afterDays: z.number().min(0).max(3650),
    reason: z.string().max(500).default(''),
  })
  .strict();
export type RetentionRequest = z.infer<typeof retentionRequestSchema>;

export function retentionIdFor(endpoint: string, path: string): string {
  return createHash('sha256').update(`${endpoint}\n${path}`).digest('hex').slice(0, 40);
}

/** Normalises the path (no escape from the endpoint's root; the root itself is refused). */
export function retentionPath(path: string): string {
  const normalized = normalizeLakePath(path, 'path');
  if (normalized === '') {
    throw new BatonError('validation', 'path: the root of an endpoint is never pruned', {
      field: 'path',
    });
  }
  return normalized;
}

export function dueAtFor(now: Date, afterDays: number): string {
  return new Date(now.getTime() + afterDays * 24 * 3600 * 1000).toISOString();
}

export function isDue(entry: Pick<RetentionEntry, 'state' | 'dueAt'>, now: Date): boolean {
  return entry.state === 'scheduled' && Date.parse(entry.dueAt) <= now.getTime();
}

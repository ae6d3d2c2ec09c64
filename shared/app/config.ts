import path from 'node:path';
import { z } from 'zod';
import { parseInput } from '../domain/validation.js';

/**
 * App settings, read once at start-up. A missing or malformed setting fails here with its
 * name, never at the first request. Azure adapters (cosmos, adls, servicebus, aci) are chosen
 * with the same settings once they are built; until then only the local ones are accepted.
 */
const configSchema = z.object({
  BATON_STATE_DIR: z.string().min(1).default('.baton'),
  BATON_STATE: z.enum(['file']).default('file'),
  BATON_LAKE: z.enum(['folder']).default('folder'),
  BATON_BUS: z.enum(['file']).default('file'),
  BATON_COMPUTE: z.enum(['local']).default('local'),
  BATON_BUS_MAX_DELIVERY_COUNT: z.coerce.number().int().min(1).max(100).default(5),
  BATON_HEARTBEAT_SCHEDULE: z.string().min(1).default('0 * * * * *'),
  BATON_LANDING_PATH: z.string().min(1).default('landing'),
  BATON_JOB_EVENTS_QUEUE: z.string().min(1).default('job-events'),
  BATON_LAUNCH_JOB_QUEUE: z.string().min(1).default('launch-job'),
  /** NCRONTAB of the job watcher, which notices jobs that ended. */
  BATON_JOB_WATCH_SCHEDULE: z.string().min(1).default('*/5 * * * * *'),
  /** Activities the local engine runs at once. */
  BATON_ACTIVITY_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(32),
});

export type BatonConfig = z.infer<typeof configSchema> & { stateDir: string };

export function loadConfig(env: Record<string, string | undefined>): BatonConfig {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape).flatMap((key) =>
      env[key] === undefined || env[key] === '' ? [] : [[key, env[key]]],
    ),
  );
  const parsed = parseInput(configSchema, known, 'setting');
  return { ...parsed, stateDir: path.resolve(parsed.BATON_STATE_DIR) };
}

/** The settings as `%NAME%` binding expressions see them: every key, defaults filled in. */
export function appSettingsOf(config: BatonConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape))
    out[key] = String(config[key as keyof BatonConfig]);
  return out;
}

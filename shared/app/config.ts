import { isInsidePath } from '../domain/paths.js';
import path from 'node:path';
import { z } from 'zod';
import { BatonError } from '../domain/errors.js';
import { parseBackendSlots } from '../domain/tasks.js';
import { parseInput } from '../domain/validation.js';
import { parseUserNameRules } from './identity.js';

/**
 * App settings, read once at start-up. A missing or malformed setting fails here with its
 * name, never at the first request. The adapter behind each port is chosen by setting:
 * local ones by default (one machine, no account), Azure ones for the deployed app, each
 * Azure choice requiring the settings it needs.
 */
const configSchema = z.object({
  BATON_STATE_DIR: z.string().min(1).default('.baton'),
  /**
   * Who vouches for callers: `local` (the local host's sign-in; platform identity headers never
   * trusted) or `appservice` (App Service Authentication's `x-ms-client-principal*` headers).
   */
  BATON_AUTH: z.enum(['local', 'appservice']).default('local'),
  BATON_STATE: z.enum(['file', 'cosmos']).default('file'),
  BATON_LAKE: z.enum(['folder', 'adls']).default('folder'),
  BATON_BUS: z.enum(['file', 'servicebus']).default('file'),
  BATON_COMPUTE: z.enum(['local', 'aci']).default('local'),
  /** Experiment tracking: `state` (runs in the state store) or `mlflow` (needs BATON_MLFLOW_URL). */
  BATON_TRACKER: z.enum(['state', 'mlflow']).default('state'),
  /** MLflow tracking server, e.g. http://127.0.0.1:5000 (BATON_TRACKER=mlflow). */
  BATON_MLFLOW_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Name of the environment variable holding MLflow's bearer token (never the token itself). */
  BATON_MLFLOW_TOKEN_ENV: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .optional(),
  /** Names of the environment variables holding the NERSC Superfacility and Globus Compute tokens (never the tokens). */
  BATON_NERSC_TOKEN_ENV: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .optional(),
  BATON_ALCF_TOKEN_ENV: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .optional(),
  BATON_BUS_MAX_DELIVERY_COUNT: z.coerce.number().int().min(1).max(100).default(5),
  BATON_HEARTBEAT_SCHEDULE: z.string().min(1).default('0 * * * * *'),
  BATON_LANDING_PATH: z.string().min(1).default('landing'),
  BATON_JOB_EVENTS_QUEUE: z.string().min(1).default('job-events'),
  BATON_LAUNCH_JOB_QUEUE: z.string().min(1).default('launch-job'),
  /** NCRONTAB of the job watcher, which notices jobs that ended. */
  BATON_JOB_WATCH_SCHEDULE: z.string().min(1).default('*/5 * * * * *'),
  /** NCRONTAB of the pruner, which deletes what retention says is due. */
  BATON_PRUNE_SCHEDULE: z.string().min(1).default('0 0 * * * *'),
  /** NCRONTAB of the verified beamline pruner (daily at 02:00 by default). */
  BATON_BEAMLINE_PRUNE_SCHEDULE: z.string().min(1).default('0 0 2 * * *'),
  /** Beamline configs the beamline pruner timer prunes: comma-separated paths inside BATON_MODEL_SOURCES_ROOT; empty = none. */
  BATON_BEAMLINE_CONFIGS: z.string().default(''),
  /** Queue of on-demand scheduler ticks (sent after a submit or a finished job). */
  BATON_SCHEDULER_QUEUE: z.string().min(1).default('schedule-tasks'),
  /** NCRONTAB of the periodic scheduler tick. */
  BATON_SCHEDULER_SCHEDULE: z.string().min(1).default('0 */5 * * * *'),
  /** Slots per backend: `local=4` or `local=3;aci=20,cpu=40,memoryGb=160` (see backendSlots). */
  BATON_BACKEND_SLOTS: z.string().min(1).default('local=4'),
  /** Jobs a task's test gate runs before the rest are released (Orchestra ran 10). */
  BATON_TASK_TEST_JOBS: z.coerce.number().int().min(1).max(1000).default(10),
  /** First retry delay of a failed task job; doubles per attempt, at most 10 minutes. */
  BATON_TASK_RETRY_BACKOFF_SECONDS: z.coerce.number().min(0).max(600).default(30),
  /** Folder of model-run databanks on this machine; empty means `<BATON_STATE_DIR>/databanks`. */
  BATON_DATABANK_ROOT: z.string().default(''),
  /** Model configs' template and input folders must be inside this one; empty means the host's working folder. */
  BATON_MODEL_SOURCES_ROOT: z.string().default(''),
  /**
   * The local host exports traces to this OTLP/HTTP collector (base URL, e.g.
   * http://127.0.0.1:4318; traces go to <url>/v1/traces). Unset: no export. Azure uses
   * Application Insights (APPLICATIONINSIGHTS_CONNECTION_STRING) instead.
   */
  BATON_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** Activities the local engine runs at once. */
  BATON_ACTIVITY_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(32),
  /** Azure: Cosmos DB account endpoint and database (BATON_STATE=cosmos). */
  BATON_COSMOS_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  BATON_COSMOS_DATABASE: z.string().min(1).max(255).default('baton'),
  /** Azure: ADLS Gen2 account URL (https://<account>.dfs.core.windows.net) and filesystem (BATON_LAKE=adls). */
  BATON_LAKE_ACCOUNT_URL: z.url({ protocol: /^https?$/ }).optional(),
  BATON_LAKE_FILESYSTEM: z
    .string()
    .regex(
      /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/,
      'a filesystem name: 3-63 lower-case letters, digits and single dashes',
    )
    .default('lake'),
  /** Azure: Service Bus namespace host, <namespace>.servicebus.windows.net (BATON_BUS=servicebus). */
  BATON_SERVICEBUS_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$/, 'a host name')
    .optional(),
  /** Azure: where job container groups go (BATON_COMPUTE=aci). */
  BATON_ACI_SUBSCRIPTION_ID: z.uuid().optional(),
  BATON_ACI_RESOURCE_GROUP: z
    .string()
    .regex(/^[-\w._()]{1,90}$/, 'a resource group name')
    .optional(),
  BATON_ACI_LOCATION: z
    .string()
    .regex(/^[a-z0-9]+$/, 'an Azure region name such as westeurope')
    .optional(),
  /** NCRONTAB of the slot sampler: slot use per backend into the 24 h slot history. */
  BATON_SLOT_SAMPLE_SCHEDULE: z.string().min(1).default('*/30 * * * * *'),
  /**
   * How an Entra principal's name becomes a user name (shared/app/identity.ts): `principal`
   * (as given) or `local-part` (before the `@`, for the domains in BATON_USER_DOMAINS).
   */
  BATON_USER_NAME_FROM: z.enum(['principal', 'local-part']).default('principal'),
  /** Comma-separated domains whose principals' local parts are user names (local-part). */
  BATON_USER_DOMAINS: z.string().default(''),
  /** Explicit principal=name entries, `;`-separated; they win over BATON_USER_NAME_FROM. */
  BATON_USER_NAMES: z.string().default(''),
});

/** Settings an Azure adapter cannot start without. */
const requiredWhen: Array<{
  setting: keyof z.infer<typeof configSchema>;
  when: (c: z.infer<typeof configSchema>) => boolean;
  because: string;
}> = [
  {
    setting: 'BATON_COSMOS_ENDPOINT',
    when: (c) => c.BATON_STATE === 'cosmos',
    because: 'BATON_STATE=cosmos',
  },
  {
    setting: 'BATON_LAKE_ACCOUNT_URL',
    when: (c) => c.BATON_LAKE === 'adls',
    because: 'BATON_LAKE=adls',
  },
  {
    setting: 'BATON_SERVICEBUS_NAMESPACE',
    when: (c) => c.BATON_BUS === 'servicebus',
    because: 'BATON_BUS=servicebus',
  },
  {
    setting: 'BATON_MLFLOW_URL',
    when: (c) => c.BATON_TRACKER === 'mlflow',
    because: 'BATON_TRACKER=mlflow',
  },
  {
    setting: 'BATON_ACI_SUBSCRIPTION_ID',
    when: (c) => c.BATON_COMPUTE === 'aci',
    because: 'BATON_COMPUTE=aci',
  },
  {
    setting: 'BATON_ACI_RESOURCE_GROUP',
    when: (c) => c.BATON_COMPUTE === 'aci',
    because: 'BATON_COMPUTE=aci',
  },
  {
    setting: 'BATON_ACI_LOCATION',
    when: (c) => c.BATON_COMPUTE === 'aci',
    because: 'BATON_COMPUTE=aci',
  },
];

export type BatonConfig = z.infer<typeof configSchema> & {
  stateDir: string;
  /** Absolute folder of the databanks (BATON_DATABANK_ROOT, or `<stateDir>/databanks`). */
  databankRoot: string;
  /** Absolute folder that model configs' sources must be inside. */
  modelSourcesRoot: string;
};

export function loadConfig(env: Record<string, string | undefined>): BatonConfig {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape).flatMap((key) =>
      env[key] === undefined || env[key] === '' ? [] : [[key, env[key]]],
    ),
  );
  const parsed = parseInput(configSchema, known, 'setting');
  for (const rule of requiredWhen) {
    if (rule.when(parsed) && parsed[rule.setting] === undefined) {
      const field = `setting.${rule.setting}`;
      throw new BatonError('validation', `${field}: required when ${rule.because}`, { field });
    }
  }
  parseBackendSlots(parsed.BATON_BACKEND_SLOTS);
  parseUserNameRules({
    BATON_USER_NAME_FROM: parsed.BATON_USER_NAME_FROM,
    BATON_USER_DOMAINS: parsed.BATON_USER_DOMAINS,
    BATON_USER_NAMES: parsed.BATON_USER_NAMES,
  });
  const stateDir = path.resolve(parsed.BATON_STATE_DIR);
  const databankRoot =
    parsed.BATON_DATABANK_ROOT === ''
      ? path.join(stateDir, 'databanks')
      : path.resolve(parsed.BATON_DATABANK_ROOT);
  if (!isInsidePath(stateDir, databankRoot)) {
    // Model steps run with their databank folder as working folder, and the local process
    // backend only runs jobs inside its work root, the state folder.
    throw new BatonError(
      'validation',
      `setting.BATON_DATABANK_ROOT: must be inside BATON_STATE_DIR (${stateDir}), where jobs may run`,
      { field: 'setting.BATON_DATABANK_ROOT' },
    );
  }
  const modelSourcesRoot = path.resolve(parsed.BATON_MODEL_SOURCES_ROOT || '.');
  return { ...parsed, stateDir, databankRoot, modelSourcesRoot };
}

/** The settings as `%NAME%` binding expressions see them: every key, defaults filled in. */
export function appSettingsOf(config: BatonConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = config[key as keyof BatonConfig];
    if (value !== undefined) out[key] = String(value);
  }
  return out;
}

/** Every setting the app reads, for the check that Bicep and the sample settings declare them. */
export const settingNames: readonly string[] = Object.keys(configSchema.shape);

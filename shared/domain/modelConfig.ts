import { configError, configErrorMap, parseYamlConfig } from './yamlConfig.js';
import { z } from 'zod';
import { BatonError } from './errors.js';
import { envNamePattern, hasLoneSurrogate } from './jobSpec.js';
import { splitShellWords } from './shellWords.js';
import { formatIssuePath } from './validation.js';

/**
 * The ORCA-style transport model configuration (`orca_model_config.yaml`) and run state
 * (`orca_model_state.json`), accepted as the seed orchestrator writes them. Everything here is
 * pure: the caller reads the files and hands over their text.
 *
 * Rules chosen:
 * - Field names stay exactly as in the YAML (snake_case); Baton's additions are per command
 *   `timeout` (seconds), `retries` (0–10), `env` and `iterations` (`all`, `first`, `last` or a
 *   list of iteration numbers), and per sub-component `image`, `cpu` and `memory` (GB).
 * - `command` is a list of strings (argv as is) or a string split by `splitShellWords`; the
 *   normalized command carries `argv` only. Nothing is ever run through a shell.
 * - Step (sub-component) names are folder names in the databank, so they are letters, digits,
 *   `.`, `_`, `-`, not starting with `.`, `_` or `-`.
 * - `first` is iteration 1 of the model and `last` is the run's total, so a run resumed with
 *   `start_at: 2` skips `first`-only commands and `--iterations N` moves `last` to N.
 * - Unknown keys are accepted and reported as warnings (the seed's users have extra keys).
 */

export const maxModelIterations = 1000;
export const maxCommandRetries = 10;
const maxTimeoutSeconds = 7 * 24 * 3600;
const stepNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$/;
const stepNameMessage =
  'step names are 1-60 letters, digits, ".", "_" and "-", starting with a letter or digit';

export type IterationSelector = 'all' | 'first' | 'last' | readonly number[];

export interface ModelCommand {
  description: string | undefined;
  argv: string[];
  /** Seconds; undefined means the backend's default. */
  timeout: number | undefined;
  retries: number;
  env: Record<string, string>;
  iterations: IterationSelector;
}

export interface OutputArchive {
  pattern: string;
  archive_name: string;
}

export interface SubComponent {
  template_dir: string | undefined;
  commands: ModelCommand[];
  output_archives: OutputArchive[];
  cleanup_patterns: string[];
  image: string | undefined;
  cpu: number | undefined;
  /** GB. */
  memory: number | undefined;
}

export interface InputDataItem {
  source: string;
  target: string;
}

export interface CloudMode {
  adls_url: string;
  adls_container: string;
  adls_folder: string;
}

export interface PerformanceMonitoring {
  enabled: boolean;
  poll_interval: number;
  track_memory: boolean;
  track_cpu: boolean;
}

export interface ModelConfig {
  model_steps: string[];
  iterations: { total: number; start_at: number };
  sub_components: Record<string, SubComponent>;
  input_data: Record<string, InputDataItem[]>;
  operational_mode: { cloud: CloudMode | undefined };
  performance_monitoring: PerformanceMonitoring;
}

export interface ModelConfigWarning {
  field: string;
  message: string;
}

const text = z.string().min(1, 'must not be empty');

const selectorSchema = z.union(
  [
    z.enum(['all', 'first', 'last']),
    z
      .array(
        z
          .number()
          .int('iteration numbers are whole numbers')
          .min(1, 'iteration numbers start at 1'),
      )
      .min(1, 'must list at least one iteration'),
  ],
  {
    error: (issue) =>
      issue.input === undefined
        ? 'required'
        : 'must be "all", "first", "last" or a non-empty list of iteration numbers',
  },
);

const commandValueSchema = z.union(
  [z.string(), z.array(z.string()).min(1, 'must list at least one argument')],
  {
    error: (issue) =>
      issue.input === undefined
        ? 'required'
        : 'must be a string or a non-empty list of string arguments',
  },
);

const commandSchema = z.object({
  description: z.string().optional(),
  command: commandValueSchema,
  timeout: z
    .number()
    .positive('must be a positive number of seconds')
    .max(maxTimeoutSeconds, `must be at most ${maxTimeoutSeconds} seconds (7 days)`)
    .optional(),
  retries: z
    .number()
    .int('must be a whole number')
    .min(0, 'must be between 0 and 10')
    .max(maxCommandRetries, 'must be between 0 and 10')
    .optional(),
  env: z
    .record(
      z.string().regex(envNamePattern, 'environment variable names are letters, digits and _'),
      z.union([z.string(), z.number(), z.boolean()], {
        error: 'must be a string, number or boolean',
      }),
    )
    .optional(),
  iterations: selectorSchema.optional(),
});

const subComponentSchema = z.object({
  template_dir: text.optional(),
  commands: z.array(commandSchema).min(1, 'must list at least one command'),
  output_archives: z.array(z.object({ pattern: text, archive_name: text })).optional(),
  cleanup_patterns: z.array(text).optional(),
  image: text.max(400).optional(),
  cpu: z.number().positive('must be positive').max(64, 'must be at most 64').optional(),
  memory: z
    .number()
    .positive('must be a positive number of GB')
    .max(512, 'must be at most 512 GB')
    .optional(),
});

const stepName = z.string().regex(stepNamePattern, stepNameMessage);

const configSchema = z.object({
  model_steps: z.array(stepName).min(1, 'must list at least one step'),
  iterations: z.object({
    total: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(maxModelIterations, `must be at most ${maxModelIterations}`),
    start_at: z.number().int('must be a whole number').optional(),
  }),
  sub_components: z.record(stepName, subComponentSchema),
  input_data: z.record(z.string(), z.array(z.object({ source: text, target: text }))).optional(),
  operational_mode: z
    .object({
      cloud: z
        .object({
          adls_url: z.url('must be a URL'),
          adls_container: text,
          adls_folder: text,
        })
        .optional(),
    })
    .optional(),
  performance_monitoring: z
    .object({
      enabled: z.boolean().optional(),
      poll_interval: z.number().positive('must be a positive number of seconds').optional(),
      track_memory: z.boolean().optional(),
      track_cpu: z.boolean().optional(),
    })
    .optional(),
});
type RawConfig = z.output<typeof configSchema>;

/**
 * Parses and validates the text of a model config file. Errors are BatonError('validation')
 * with the message `<file>: <field path>: <why>` and `field` set to the path (YAML syntax errors
 * name `<file>:<line>:<column>` instead).
 */
export function parseModelConfig(
  source: string,
  fileName: string,
): { config: ModelConfig; warnings: ModelConfigWarning[] } {
  const raw = parseYamlConfig(source, fileName);
  const result = configSchema.safeParse(raw, { error: configErrorMap });
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue ? formatIssuePath(issue.path) : '';
    let message = issue?.message ?? 'invalid configuration';
    if (issue?.code === 'invalid_key') message = issue.issues[0]?.message ?? message;
    if (path === '' && issue?.code === 'invalid_type') {
      message = `must be a YAML mapping with model_steps, iterations and sub_components`;
    }
    throw configError(fileName, path, message);
  }
  const warnings: ModelConfigWarning[] = [];
  collectUnknownKeys(raw, result.data, [], (field) => {
    warnings.push({ field, message: `${fileName}: ${field}: unknown key, ignored` });
  });
  const config = normalize(result.data, fileName, warnings);
  return { config, warnings };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reports keys of `raw` that the schema stripped from `parsed`, walking both in step. */
function collectUnknownKeys(
  raw: unknown,
  parsed: unknown,
  path: PropertyKey[],
  report: (field: string) => void,
): void {
  if (Array.isArray(raw) && Array.isArray(parsed)) {
    raw.forEach((item: unknown, i) => {
      collectUnknownKeys(item, parsed[i], [...path, i], report);
    });
    return;
  }
  if (!isRecord(raw) || !isRecord(parsed)) return;
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(parsed, key)) report(formatIssuePath([...path, key]));
    else collectUnknownKeys(raw[key], parsed[key], [...path, key], report);
  }
}

function normalize(raw: RawConfig, fileName: string, warnings: ModelConfigWarning[]): ModelConfig {
  const total = raw.iterations.total;
  const startAt = raw.iterations.start_at ?? 1;
  if (startAt < 1 || startAt > total) {
    throw configError(
      fileName,
      'iterations.start_at',
      `must be between 1 and iterations.total (${total}), got ${startAt}`,
    );
  }
  const seen = new Set<string>();
  raw.model_steps.forEach((step, i) => {
    if (seen.has(step))
      throw configError(fileName, `model_steps[${i}]`, `"${step}" is listed twice`);
    seen.add(step);
    // The seed's own example lists steps it never defines: accepted as written (with a
    // warning), and refused only when a run would actually have to execute such a step.
    if (!Object.hasOwn(raw.sub_components, step)) {
      const field = `model_steps[${i}]`;
      warnings.push({
        field,
        message: `${fileName}: ${field}: step "${step}" has no entry under sub_components; a run that includes it is refused`,
      });
    }
  });
  const subComponents: Record<string, SubComponent> = {};
  for (const [name, component] of Object.entries(raw.sub_components)) {
    if (!seen.has(name)) {
      const field = `sub_components.${name}`;
      warnings.push({ field, message: `${fileName}: ${field}: not in model_steps, never run` });
    }
    subComponents[name] = {
      template_dir: component.template_dir,
      commands: component.commands.map((command, i) =>
        normalizeCommand(command, `sub_components.${name}.commands[${i}]`, total, fileName),
      ),
      output_archives: component.output_archives ?? [],
      cleanup_patterns: component.cleanup_patterns ?? [],
      image: component.image,
      cpu: component.cpu,
      memory: component.memory,
    };
  }
  const monitoring = raw.performance_monitoring ?? {};
  return {
    model_steps: [...raw.model_steps],
    iterations: { total, start_at: startAt },
    sub_components: subComponents,
    input_data: raw.input_data ?? {},
    operational_mode: { cloud: raw.operational_mode?.cloud },
    performance_monitoring: {
      enabled: monitoring.enabled ?? false,
      poll_interval: monitoring.poll_interval ?? 1,
      track_memory: monitoring.track_memory ?? true,
      track_cpu: monitoring.track_cpu ?? true,
    },
  };
}

type RawCommand = RawConfig['sub_components'][string]['commands'][number];

function normalizeCommand(
  command: RawCommand,
  path: string,
  total: number,
  fileName: string,
): ModelCommand {
  const selector = command.iterations ?? 'all';
  if (Array.isArray(selector)) {
    const listed = new Set<number>();
    selector.forEach((n, i) => {
      const field = `${path}.iterations[${i}]`;
      if (n > total) {
        throw configError(fileName, field, `iteration ${n} is beyond iterations.total (${total})`);
      }
      if (listed.has(n)) throw configError(fileName, field, `iteration ${n} is listed twice`);
      listed.add(n);
    });
  }
  // fromEntries, not assignment, so that a variable named __proto__ stays an own property.
  const env: Record<string, string> = Object.fromEntries(
    Object.entries(command.env ?? {}).map(([key, value]) => {
      const rendered = String(value);
      if (rendered.includes('\0')) {
        throw configError(fileName, `${path}.env.${key}`, 'must not contain NUL');
      }
      if (hasLoneSurrogate(rendered)) {
        throw configError(fileName, `${path}.env.${key}`, 'must be valid Unicode');
      }
      return [key, rendered];
    }),
  );
  return {
    description: command.description,
    argv: commandArgv(command.command, `${path}.command`, fileName),
    timeout: command.timeout,
    retries: command.retries ?? 0,
    env,
    iterations: Array.isArray(selector) ? [...selector].sort((a, b) => a - b) : selector,
  };
}

function commandArgv(value: string | string[], field: string, fileName: string): string[] {
  if (Array.isArray(value)) {
    value.forEach((arg, i) => {
      if (arg.includes('\0')) throw configError(fileName, `${field}[${i}]`, 'must not contain NUL');
      if (hasLoneSurrogate(arg)) {
        throw configError(fileName, `${field}[${i}]`, 'must be valid Unicode');
      }
    });
    if (value[0] === '') throw configError(fileName, `${field}[0]`, 'program must not be empty');
    return [...value];
  }
  if (hasLoneSurrogate(value)) throw configError(fileName, field, 'must be valid Unicode');
  let argv: string[];
  try {
    argv = splitShellWords(value);
  } catch (error) {
    if (error instanceof BatonError) throw configError(fileName, field, error.message);
    throw error;
  }
  if (argv.length === 0) throw configError(fileName, field, 'must not be empty');
  if (argv[0] === '') throw configError(fileName, field, 'program must not be empty');
  return argv;
}

// ---------------------------------------------------------------------------------------------
// Planning

export interface ModelRunOptions {
  /** `--iterations N`: overrides iterations.total. */
  iterations?: number;
  /** `--steps a b`: a subset of model_steps; runs in model_steps order. */
  steps?: readonly string[];
  /** Overrides iterations.start_at (e.g. to resume). */
  startAt?: number;
}

export interface PlannedCommand extends ModelCommand {
  /** Position in the sub-component's `commands`, stable across iterations. */
  index: number;
}

export interface ModelPlanEntry {
  iteration: number;
  step: string;
  /** The step's commands selected for this iteration; may be empty. */
  commands: PlannedCommand[];
}

export interface ModelRunPlan {
  startAt: number;
  totalIterations: number;
  steps: string[];
  /** Iterations startAt..totalIterations, each running every step in order. */
  entries: ModelPlanEntry[];
}

function optionError(field: string, why: string): BatonError {
  return new BatonError('validation', `${field}: ${why}`, { field });
}

/**
 * The ordered (iteration × step) list a run executes, with each command's `iterations` selector
 * applied. Every step appears in every iteration, even when none of its commands is selected
 * there, so that the state file's step indices stay the same across iterations.
 */
export function planModelRun(config: ModelConfig, options: ModelRunOptions = {}): ModelRunPlan {
  const total = options.iterations ?? config.iterations.total;
  if (!Number.isInteger(total) || total < 1 || total > maxModelIterations) {
    throw optionError('--iterations', `must be a whole number from 1 to ${maxModelIterations}`);
  }
  const startAt = options.startAt ?? config.iterations.start_at;
  if (!Number.isInteger(startAt) || startAt < 1 || startAt > total) {
    const field = options.startAt === undefined ? '--iterations' : '--start-at';
    throw optionError(
      field,
      options.startAt === undefined
        ? `${total} is below iterations.start_at (${startAt})`
        : `must be a whole number from 1 to ${total}`,
    );
  }
  let steps = config.model_steps;
  if (options.steps !== undefined) {
    if (options.steps.length === 0) throw optionError('--steps', 'name at least one step');
    for (const step of options.steps) {
      if (!config.model_steps.includes(step)) {
        throw optionError(
          '--steps',
          `unknown step "${step}" (model_steps: ${config.model_steps.join(', ')})`,
        );
      }
    }
    const wanted = new Set(options.steps);
    steps = config.model_steps.filter((step) => wanted.has(step));
  }
  const entries: ModelPlanEntry[] = [];
  for (let iteration = startAt; iteration <= total; iteration += 1) {
    for (const step of steps) {
      const component = config.sub_components[step];
      if (component === undefined) {
        const index = config.model_steps.indexOf(step);
        throw new BatonError(
          'validation',
          `model_steps[${index}]: step "${step}" has no entry under sub_components, so it cannot run (define it, or leave it out with --steps)`,
          { field: `model_steps[${index}]` },
        );
      }
      const commands = component.commands
        .map((command, index): PlannedCommand => ({ ...command, index }))
        .filter((command) => selects(command.iterations, iteration, total));
      entries.push({ iteration, step, commands });
    }
  }
  return { startAt, totalIterations: total, steps: [...steps], entries };
}

export function selects(selector: IterationSelector, iteration: number, total: number): boolean {
  if (selector === 'all') return true;
  if (selector === 'first') return iteration === 1;
  if (selector === 'last') return iteration === total;
  return selector.includes(iteration);
}

// ---------------------------------------------------------------------------------------------
// State (`orca_model_state.json`, field names exactly as the seed writes them)

export const modelRunStatuses = ['running', 'completed', 'failed'] as const;
export type ModelRunStatus = (typeof modelRunStatuses)[number];

export interface ModelState {
  start_at: number;
  total_iterations: number;
  current_iteration: number;
  steps: string[];
  /** Steps completed in `current_iteration`, in order. */
  completed_steps: string[];
  /** Index in `steps` of the next step to run (`steps.length` once the run is complete). */
  current_step_index: number;
  status: ModelRunStatus;
  /** `YYYY-MM-DD HH:MM:SS`, UTC. */
  start_time: string;
  last_updated: string;
}

export interface ModelStepRef {
  iteration: number;
  step: string;
}

/** The seed's timestamp format (`2025-01-15 10:30:00`), in UTC. */
export function formatStateTime(instant: Date): string {
  return instant.toISOString().slice(0, 19).replace('T', ' ');
}

export function initialModelState(config: ModelConfig, plan: ModelRunPlan, now: Date): ModelState {
  for (const step of plan.steps) {
    if (!config.model_steps.includes(step)) {
      throw new BatonError('internal', `plan step "${step}" is not in the config's model_steps`);
    }
  }
  const time = formatStateTime(now);
  return {
    start_at: plan.startAt,
    total_iterations: plan.totalIterations,
    current_iteration: plan.startAt,
    steps: [...plan.steps],
    completed_steps: [],
    current_step_index: 0,
    status: 'running',
    start_time: time,
    last_updated: time,
  };
}

/**
 * Records that `completed` finished. Completing a step already recorded (a redelivered result)
 * returns the state unchanged; completing one out of order is a 'conflict'.
 */
export function advanceModelState(
  state: ModelState,
  completed: ModelStepRef,
  now: Date,
): ModelState {
  const stepIndex = state.steps.indexOf(completed.step);
  if (stepIndex < 0) {
    throw new BatonError('conflict', `step "${completed.step}" is not one of this run's steps`);
  }
  if (completed.iteration < state.start_at || completed.iteration > state.total_iterations) {
    throw new BatonError(
      'conflict',
      `iteration ${completed.iteration} is outside this run (${state.start_at}..${state.total_iterations})`,
    );
  }
  const next = resumePoint(state);
  if (next === null) return state;
  const order = compare(completed.iteration, stepIndex, next.iteration, next.stepIndex);
  if (order < 0) return state;
  if (order > 0) {
    throw new BatonError(
      'conflict',
      `step "${completed.step}" of iteration ${completed.iteration} completed before ` +
        `step "${next.step}" of iteration ${next.iteration}`,
    );
  }
  const last_updated = formatStateTime(now);
  if (stepIndex + 1 < state.steps.length) {
    return {
      ...state,
      current_iteration: completed.iteration,
      completed_steps: state.steps.slice(0, stepIndex + 1),
      current_step_index: stepIndex + 1,
      status: 'running',
      last_updated,
    };
  }
  if (completed.iteration < state.total_iterations) {
    return {
      ...state,
      current_iteration: completed.iteration + 1,
      completed_steps: [],
      current_step_index: 0,
      status: 'running',
      last_updated,
    };
  }
  return {
    ...state,
    current_iteration: completed.iteration,
    completed_steps: [...state.steps],
    current_step_index: state.steps.length,
    status: 'completed',
    last_updated,
  };
}

/** Marks the run failed; the completed steps stay, so a resumed run continues after them. */
export function failModelState(state: ModelState, now: Date): ModelState {
  return { ...state, status: 'failed', last_updated: formatStateTime(now) };
}

function compare(iterA: number, stepA: number, iterB: number, stepB: number): number {
  return iterA !== iterB ? iterA - iterB : stepA - stepB;
}

/**
 * Where a resumed run continues: the first step of `current_iteration` not in
 * `completed_steps` (the list is trusted over `current_step_index`, as a hand-edited file is more
 * likely to fix the list), or the first step of the next iteration. Null when nothing is left.
 */
export function resumePoint(
  state: ModelState,
): { iteration: number; step: string; stepIndex: number } | null {
  if (state.status === 'completed') return null;
  const stepIndex = state.steps.findIndex((step) => !state.completed_steps.includes(step));
  if (stepIndex >= 0) {
    return { iteration: state.current_iteration, step: state.steps[stepIndex] ?? '', stepIndex };
  }
  const first = state.steps[0];
  if (state.current_iteration >= state.total_iterations || first === undefined) return null;
  return { iteration: state.current_iteration + 1, step: first, stepIndex: 0 };
}

/** The entries of `plan` a run resumed from `state` still has to execute. */
export function remainingEntries(plan: ModelRunPlan, state: ModelState): ModelPlanEntry[] {
  const next = resumePoint(state);
  if (next === null) return [];
  return plan.entries.filter((entry) => {
    const index = state.steps.indexOf(entry.step);
    return compare(entry.iteration, index, next.iteration, state.steps.indexOf(next.step)) >= 0;
  });
}

const stateSchema = z.object({
  start_at: z.number().int().min(1),
  total_iterations: z.number().int().min(1).max(maxModelIterations),
  current_iteration: z.number().int().min(1),
  steps: z.array(stepName).min(1),
  completed_steps: z.array(z.string()),
  current_step_index: z.number().int().min(0),
  status: z.enum(modelRunStatuses),
  start_time: z.string(),
  last_updated: z.string(),
});

/** Parses the text of a state file; errors name `<file>: <field>`. Extra keys are ignored. */
export function parseModelState(source: string, fileName: string): ModelState {
  let raw: unknown;
  try {
    raw = JSON.parse(source) as unknown;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new BatonError('validation', `${fileName}: invalid JSON: ${why}`, {
      field: fileName,
      cause,
    });
  }
  const result = stateSchema.safeParse(raw, { error: configErrorMap });
  if (!result.success) {
    const issue = result.error.issues[0];
    throw configError(
      fileName,
      issue ? formatIssuePath(issue.path) : '',
      issue?.message ?? 'invalid',
    );
  }
  const state = result.data;
  if (
    state.current_iteration < state.start_at ||
    state.current_iteration > state.total_iterations
  ) {
    throw configError(
      fileName,
      'current_iteration',
      `must be between start_at (${state.start_at}) and total_iterations (${state.total_iterations})`,
    );
  }
  state.completed_steps.forEach((step, i) => {
    if (!state.steps.includes(step)) {
      throw configError(fileName, `completed_steps[${i}]`, `"${step}" is not in steps`);
    }
  });
  if (state.current_step_index > state.steps.length) {
    throw configError(fileName, 'current_step_index', `must be at most ${state.steps.length}`);
  }
  return state;
}

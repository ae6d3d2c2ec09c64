import { z } from 'zod';
import { normalizeLakePath } from '../domain/paths.js';

/**
 * What the `model` pipeline takes (the seed's `run_models` options) and what its orchestrators
 * pass each other. Shared by the orchestrators (no I/O) and the activities.
 */
export const modelRunParamsSchema = z
  .object({
    databank: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'a databank name: letters, digits, ".", "_", "-"')
      .refine((name) => !name.includes('..'), 'must not contain ".."'),
    config: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, 'a file name in the databank')
      .default('orca_model_config.yaml'),
    state: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, 'a file name in the databank')
      .default('orca_model_state.json'),
    mode: z.enum(['local_testing', 'cloud_production']).default('local_testing'),
    iterations: z.number().int().min(1).max(1000).optional(),
    steps: z.array(z.string().min(1).max(100)).min(1).max(100).optional(),
    /** Start over even when the state file says the run completed or stopped midway. */
    overwrite: z.boolean().default(false),
    /** A lake folder: relative, no `..` (checked again where the sync uses it). */
    projectFolder: z
      .string()
      .min(1)
      .max(400)
      .refine(isLakePath, 'a lake folder: relative, "/" separators, no ".." or NUL')
      .optional(),
  })
  .strict();
export type ModelRunParams = z.infer<typeof modelRunParamsSchema>;

function isLakePath(value: string): boolean {
  try {
    return normalizeLakePath(value) !== '';
  } catch {
    return false;
  }
}

export interface PlannedModelCommand {
  index: number;
  description?: string;
  argv: string[];
  env: Record<string, string>;
  timeoutSeconds?: number;
  retries: number;
}

export interface PlannedModelStep {
  iteration: number;
  step: string;
  /** The step folder relative to the compute backend's work root. */
  cwd: string;
  image?: string;
  cpu?: number;
  memoryGb?: number;
  commands: PlannedModelCommand[];
}

export interface ModelMonitoring {
  intervalSeconds: number;
  trackCpu: boolean;
  trackMemory: boolean;
}

/** What `prepareModelRun` decided: the steps still to run, in order. */
export interface PreparedModelRun {
  databank: string;
  /** Empty when the state file says the run is complete (and no --overwrite). */
  steps: PlannedModelStep[];
  alreadyCompleted: boolean;
  resumedFrom?: { iteration: number; step: string };
  totalIterations: number;
  monitor?: ModelMonitoring;
  cloud: boolean;
  projectFolder: string;
}

/** The input of one iteration's sub-orchestration. */
export interface ModelIterationInput {
  runId: string;
  params: ModelRunParams;
  iteration: number;
  steps: PlannedModelStep[];
  monitor?: ModelMonitoring;
  cloud: boolean;
  projectFolder: string;
}

export interface ModelIterationResult {
  iteration: number;
  completedSteps: string[];
  summaries: string[];
  failure?: { step: string; command: number; message: string; dump: string };
}

/** The durable step id of one command attempt: `i<iteration>-<step>-c<command>`. */
export function modelJobStepId(iteration: number, step: string, command: number): string {
  return `i${iteration}-${step}-c${command}`.slice(0, 80);
}

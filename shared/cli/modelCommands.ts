import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { checkDatabankName, defaultConfigFileName } from '../domain/databankLayout.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { pathSegment, type ApiClient } from './apiClient.js';
import { err, out, withConnection } from './commandSupport.js';
import type { GlobalOptions } from './connection.js';
import { exitForRun, renderRun } from './output.js';
import { waitForRun } from './waitForRun.js';

/**
 * The seed's model-run actions: `baton databank init <name>` (initialize_databank) and
 * `baton run <databank>` (run_models, through the `model` pipeline). The config is read here,
 * where the user's files are, and sent with the folder it came from; the host resolves the
 * config's template and input folders against that folder.
 */

const initResultSchema = z.object({
  name: z.string(),
  path: z.string(),
  dryRun: z.boolean(),
  replaced: z.boolean(),
  steps: z.array(
    z.object({ action: z.string(), target: z.string(), source: z.string().optional() }),
  ),
  warnings: z.array(z.object({ path: z.string(), message: z.string() }).passthrough()),
});
type InitResult = z.infer<typeof initResultSchema>;

const planSchema = z.object({
  databank: z.string(),
  alreadyCompleted: z.boolean(),
  resumedFrom: z.object({ iteration: z.number(), step: z.string() }).optional(),
  totalIterations: z.number(),
  cloud: z.boolean(),
  projectFolder: z.string(),
  steps: z.array(
    z.object({
      iteration: z.number(),
      step: z.string(),
      commands: z.array(
        z.object({
          index: z.number(),
          description: z.string().optional(),
          argv: z.array(z.string()),
        }),
      ),
    }),
  ),
  state: z.unknown().optional(),
});

export interface ModelRunOptions {
  config?: string;
  state?: string;
  mode?: 'local_testing' | 'cloud_production';
  iterations?: number;
  steps?: string[];
  overwrite?: boolean;
  projectFolder?: string;
  dryRun?: boolean;
  wait: boolean;
  timeout: number;
  runId?: string;
}

/** True when any model-run flag was given (they make no sense for other pipelines). */
export function hasModelFlags(options: ModelRunOptions): boolean {
  return (
    options.config !== undefined ||
    options.state !== undefined ||
    options.mode !== undefined ||
    options.iterations !== undefined ||
    options.steps !== undefined ||
    options.overwrite === true ||
    options.projectFolder !== undefined
  );
}

export function registerDatabankCommands(program: Command): void {
  const databank = program
    .command('databank')
    .description('model-run databanks (scenario folders): create one from a config');
  databank
    .command('init')
    .description('create a databank from a config: folders, templates, input data, config')
    .argument('<name>', 'databank name')
    .option('--config <file>', 'the config file', defaultConfigFileName)
    .option('--overwrite', 'replace an existing databank (its outputs go too)')
    .option('--dry-run', 'print what would be created; change nothing')
    .action(
      async (
        name: string,
        options: { config: string; overwrite?: boolean; dryRun?: boolean },
        command: Command,
      ) => {
        checkDatabankName(name, 'name');
        const body = await initBody(name, options.config, options);
        await withConnection(command, async ({ api }, g) => {
          const result = await api.request(initResultSchema, 'POST', 'databanks', body);
          out(g.json ? JSON.stringify(result) : renderInit(result));
        });
      },
    );
}

/** `baton run <databank>`: creates the databank first when it is missing and a config is at hand. */
export async function runModel(
  databank: string,
  options: ModelRunOptions,
  command: Command,
): Promise<void> {
  checkDatabankName(databank, 'databank');
  const configPath = options.config ?? defaultConfigFileName;
  const params = {
    databank,
    config: path.basename(configPath),
    ...(options.state === undefined ? {} : { state: options.state }),
    ...(options.mode === undefined ? {} : { mode: options.mode }),
    ...(options.iterations === undefined ? {} : { iterations: options.iterations }),
    ...(options.steps === undefined ? {} : { steps: options.steps }),
    ...(options.overwrite === true ? { overwrite: true } : {}),
    ...(options.projectFolder === undefined ? {} : { projectFolder: options.projectFolder }),
  };
  await withConnection(command, async ({ api, embedded }, g) => {
    const plan = await planOrInit(api, databank, configPath, params, options, g);
    if (options.dryRun === true) {
      out(g.json ? JSON.stringify(plan) : renderPlan(plan));
      return;
    }
    if (plan.alreadyCompleted) {
      out(
        g.json
          ? JSON.stringify(plan)
          : `databank ${databank}: the state file says the run completed; nothing to do (--overwrite starts over)`,
      );
      return;
    }
    let run = await api.startRun('model', params, options.runId);
    if (!g.json) {
      const from = plan.resumedFrom
        ? `resuming at iteration ${plan.resumedFrom.iteration}, step ${plan.resumedFrom.step}`
        : `${plan.steps.length} steps`;
      err(`started ${run.runId} (model ${databank}: ${from})`);
    }
    if (!options.wait) {
      if (embedded && !g.json)
        err(`no host is running on ${g.stateDir}: the run goes on when one is (baton up)`);
      out(g.json ? JSON.stringify(run) : renderRun(run));
      return;
    }
    run = await waitForRun(api, run.runId, {
      timeoutMs: options.timeout * 1000,
      interactive: process.stderr.isTTY === true && !g.json,
      verbose: g.verbose === true,
      write: err,
    });
    run = await api.getRun(run.runId);
    out(g.json ? JSON.stringify(run) : renderRun(run));
    exitForRun(run);
  });
}

async function planOrInit(
  api: ApiClient,
  databank: string,
  configPath: string,
  params: Record<string, unknown>,
  options: ModelRunOptions,
  g: GlobalOptions,
): Promise<z.infer<typeof planSchema>> {
  const plan = (): Promise<z.infer<typeof planSchema>> =>
    api.request(planSchema, 'POST', `databanks/${pathSegment(databank, 'databank')}/plan`, params);
  try {
    return await plan();
  } catch (error) {
    // A missing databank is created from the config at hand, as the seed's run_models does.
    if (!isBatonError(error, 'not_found') || error.field !== 'databank') throw error;
    if (!existsSync(configPath)) {
      throw new BatonError(
        'not_found',
        `'${databank}' is neither a pipeline (see: baton pipelines) nor a databank, and there is no config at ${configPath} to create the databank from (--config FILE)`,
        { field: '--config' },
      );
    }
    const body = await initBody(databank, configPath, { dryRun: options.dryRun === true });
    const created = await api.request(initResultSchema, 'POST', 'databanks', body);
    if (!g.json)
      err(
        options.dryRun === true
          ? renderInit(created)
          : `created databank ${created.name} at ${created.path}`,
      );
    if (options.dryRun === true) {
      throw new BatonError(
        'precondition_failed',
        `dry run: databank ${databank} would be created first; the run plan needs it (run baton databank init ${databank} first to see it)`,
      );
    }
    return plan();
  }
}

async function initBody(
  name: string,
  configPath: string,
  options: { overwrite?: boolean; dryRun?: boolean },
): Promise<Record<string, unknown>> {
  const absolute = path.resolve(configPath);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch {
    throw new BatonError('validation', `--config: cannot read ${configPath}`, {
      field: '--config',
    });
  }
  return {
    name,
    config: text,
    configFileName: path.basename(absolute),
    sourceDir: path.dirname(absolute),
    overwrite: options.overwrite === true,
    dryRun: options.dryRun === true,
  };
}

function renderInit(result: InitResult): string {
  const lines = [
    `${result.dryRun ? 'would create' : 'created'} databank ${result.name} at ${result.path}${result.replaced ? ' (replacing the existing one)' : ''}`,
    ...result.steps.map(
      (s) =>
        `  ${s.action.padEnd(14)} ${s.target}${s.source === undefined ? '' : `  ← ${s.source}`}`,
    ),
    ...result.warnings.map((w) => `  warning: ${w.path}: ${w.message}`),
  ];
  return lines.join('\n');
}

function renderPlan(plan: z.infer<typeof planSchema>): string {
  if (plan.alreadyCompleted)
    return `databank ${plan.databank}: complete; nothing to run (--overwrite starts over)`;
  const lines = [
    `dry run: model ${plan.databank}, ${plan.steps.length} step(s) over ${plan.totalIterations} iteration(s)${plan.cloud ? `, synced to ${plan.projectFolder}/` : ''}`,
  ];
  if (plan.resumedFrom) {
    lines.push(`resumes at iteration ${plan.resumedFrom.iteration}, step ${plan.resumedFrom.step}`);
  }
  for (const step of plan.steps) {
    lines.push(`  iteration ${step.iteration} ${step.step}`);
    for (const c of step.commands) {
      lines.push(
        `    ${c.index}: ${c.description ?? ''}${c.description ? ' — ' : ''}${JSON.stringify(c.argv)}`,
      );
    }
  }
  lines.push('nothing was started');
  return lines.join('\n');
}

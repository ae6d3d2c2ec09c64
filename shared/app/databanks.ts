import { randomUUID } from 'node:crypto';
import {
  appendFile,
  cp,
  lstat,
  mkdir,
  readFile,
  realpath,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { errnoOf, pathExists } from '../adapters/local/fsPrimitives.js';
import {
  checkDatabankFileName,
  checkDatabankName,
  defaultConfigFileName,
  inputsFolder,
  orchestratorLogFileName,
  outputsFolder,
} from '../domain/databankLayout.js';
import { BatonError } from '../domain/errors.js';
import {
  parseModelConfig,
  type ModelConfig,
  type ModelConfigWarning,
} from '../domain/modelConfig.js';
import { resolveInside, isInsidePath } from '../domain/paths.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import type { StateStore } from '../ports/stateStore.js';

/**
 * Databanks on this machine (`BATON_DATABANK_ROOT/<name>/`): creating one from a config, the
 * way the seed's `initialize_databank` does, and the helpers every model-run step uses (where a
 * databank is, its config, its orchestrator log).
 *
 * Sources named by a config (`template_dir`, `input_data[].source`) are paths on this machine.
 * They resolve against the folder the config came from (`sourceDir`), which must lie inside
 * `sourcesRoot` (the host's working folder by default), and must stay inside `sourceDir`, so a
 * request cannot make the host copy arbitrary files into a databank.
 */
export interface DatabankDeps {
  clock: Clock;
  /** Folder holding the databanks. */
  databankRoot: string;
  /** Config folders (`sourceDir`) must be inside this one. */
  sourcesRoot: string;
  /** Where model runs hold their databank locks (an `--overwrite` must not pull a databank from under a run). */
  state?: StateStore;
}

/** The collection of model-run locks (one document per databank in use; see modelRun.ts). */
export const modelRunLocksCollection = 'modelRunLocks';

export const initDatabankRequestSchema = z
  .object({
    name: z.string().min(1).max(100),
    /** The config file's text (YAML). */
    config: z
      .string()
      .min(1)
      .max(1024 * 1024),
    /** Its file name in the databank. */
    configFileName: z.string().min(1).max(200).default(defaultConfigFileName),
    /** Absolute folder the config came from: template_dir and sources resolve against it. */
    sourceDir: z.string().min(1).max(4096),
    overwrite: z.boolean().default(false),
    dryRun: z.boolean().default(false),
  })
  .strict();

export interface DatabankInitStep {
  action: 'create folder' | 'copy template' | 'copy input' | 'write config' | 'write log';
  target: string;
  source?: string;
}

export interface DatabankInitResult {
  name: string;
  path: string;
  dryRun: boolean;
  replaced: boolean;
  steps: DatabankInitStep[];
  warnings: ModelConfigWarning[];
}

/** The absolute folder of a databank (the name is checked first). */
export function databankDir(deps: Pick<DatabankDeps, 'databankRoot'>, name: string): string {
  return resolveInside(deps.databankRoot, checkDatabankName(name));
}

export async function initDatabank(deps: DatabankDeps, body: unknown): Promise<DatabankInitResult> {
  const request = parseInput(initDatabankRequestSchema, body, 'body');
  const name = checkDatabankName(request.name, 'name');
  const configFileName = checkDatabankFileName(request.configFileName, 'configFileName');
  const { config, warnings } = parseModelConfig(request.config, configFileName);
  const sourceDir = await checkSourceDir(deps, request.sourceDir);
  const target = databankDir(deps, name);
  const exists = await pathExists(target);
  if (exists && !request.overwrite) {
    throw new BatonError(
      'conflict',
      `databank ${name} exists at ${target}; pass --overwrite to replace it (its outputs go too)`,
      { field: 'name' },
    );
  }
  if (exists && deps.state !== undefined) {
    const lock = await deps.state.read<{ runId: string }>(modelRunLocksCollection, name, name);
    if (lock !== undefined) {
      throw new BatonError(
        'conflict',
        `databank ${name} is in use by run ${lock.body.runId}; cancel it or wait before replacing the databank`,
        { field: 'name' },
      );
    }
  }
  const steps = await planInit(config, sourceDir);
  const result: DatabankInitResult = {
    name,
    path: target,
    dryRun: request.dryRun,
    replaced: exists,
    steps: [
      ...steps,
      { action: 'write config', target: configFileName },
      { action: 'write log', target: orchestratorLogFileName },
    ],
    warnings,
  };
  if (request.dryRun) return result;

  // Built beside the target and renamed into place: a databank appears complete or not at all.
  await mkdir(deps.databankRoot, { recursive: true });
  const building = path.join(deps.databankRoot, `.${name}.init-${randomUUID()}`);
  try {
    await mkdir(building);
    for (const step of steps) {
      const to = resolveInside(building, step.target, 'target');
      if (step.source === undefined) {
        await mkdir(to, { recursive: true });
      } else {
        await copyWithoutLinks(step.source, to);
      }
    }
    await writeFile(path.join(building, configFileName), request.config);
    const line = `${deps.clock.now().toISOString()} INFO databank ${name} initialized from ${sourceDir}\n`;
    await writeFile(path.join(building, orchestratorLogFileName), line);
    if (exists) {
      const old = path.join(deps.databankRoot, `.${name}.old-${randomUUID()}`);
      await rename(target, old);
      await rename(building, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(building, target);
    }
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    throw error;
  }
  return result;
}

/** The databank's config, parsed (the file name is checked; errors name the file and field). */
export async function readDatabankConfig(
  dir: string,
  configFileName: string,
): Promise<{ config: ModelConfig; warnings: ModelConfigWarning[]; text: string }> {
  const file = resolveInside(dir, checkDatabankFileName(configFileName, 'config'), 'config');
  // Only a regular file of the databank: a symbolic link could lead anywhere on this machine
  // (and a folder is not a config).
  const info = await lstat(file).catch((error: unknown) => {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw error;
  });
  if (info === undefined) {
    throw new BatonError('not_found', `config: ${configFileName} is not in the databank ${dir}`, {
      field: 'config',
    });
  }
  if (!info.isFile()) {
    const what = info.isSymbolicLink() ? 'a symbolic link' : 'not a file';
    throw new BatonError('validation', `config: ${configFileName} in the databank is ${what}`, {
      field: 'config',
    });
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') {
      throw new BatonError('not_found', `config: ${configFileName} is not in the databank ${dir}`, {
        field: 'config',
      });
    }
    throw error;
  }
  return { ...parseModelConfig(text, configFileName), text };
}

/** Appends lines to the databank's `orca_orchestrator.log` (never a secret: callers log names). */
export async function appendOrchestratorLog(
  dir: string,
  clock: Clock,
  level: 'INFO' | 'WARN' | 'ERROR',
  message: string,
): Promise<void> {
  const at = clock.now().toISOString();
  const lines = message
    .split('\n')
    .map((line) => `${at} ${level} ${line}\n`)
    .join('');
  await appendFile(path.join(dir, orchestratorLogFileName), lines);
}

async function planInit(config: ModelConfig, sourceDir: string): Promise<DatabankInitStep[]> {
  const steps: DatabankInitStep[] = [
    { action: 'create folder', target: inputsFolder },
    { action: 'create folder', target: outputsFolder },
  ];
  for (const [component, settings] of Object.entries(config.sub_components)) {
    if (settings.template_dir === undefined) {
      steps.push({ action: 'create folder', target: component });
      continue;
    }
    const source = await resolveSource(
      sourceDir,
      settings.template_dir,
      `sub_components.${component}.template_dir`,
      'folder',
    );
    steps.push({ action: 'copy template', target: component, source });
  }
  for (const [group, items] of Object.entries(config.input_data)) {
    for (const [i, item] of items.entries()) {
      const field = `input_data.${group}[${i}]`;
      const source = await resolveSource(sourceDir, item.source, `${field}.source`, 'any');
      const target = item.target.replace(/\/+$/, '');
      resolveInside('/databank', target, `${field}.target`);
      steps.push({ action: 'copy input', target, source });
    }
  }
  return steps;
}

async function checkSourceDir(deps: DatabankDeps, sourceDir: string): Promise<string> {
  if (!path.isAbsolute(sourceDir)) {
    throw new BatonError('validation', 'sourceDir: must be an absolute path', {
      field: 'sourceDir',
    });
  }
  let real: string;
  let root: string;
  try {
    [real, root] = await Promise.all([realpath(sourceDir), realpath(deps.sourcesRoot)]);
  } catch {
    throw new BatonError('not_found', `sourceDir: ${sourceDir} does not exist`, {
      field: 'sourceDir',
    });
  }
  if (!isInsidePath(root, real)) {
    throw new BatonError(
      'forbidden',
      `sourceDir: ${sourceDir} is outside ${root} (the host's sources root, setting BATON_MODEL_SOURCES_ROOT)`,
      { field: 'sourceDir' },
    );
  }
  return real;
}

/** A config path resolved against the config's folder, refused if it leaves it (links too). */
async function resolveSource(
  sourceDir: string,
  configured: string,
  field: string,
  kind: 'folder' | 'any',
): Promise<string> {
  const candidate = path.resolve(sourceDir, configured);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new BatonError(
      'validation',
      `${field}: ${configured} does not exist (looked in ${candidate})`,
      {
        field,
      },
    );
  }
  if (!isInsidePath(sourceDir, real)) {
    throw new BatonError(
      'validation',
      `${field}: ${configured} is outside the config's folder ${sourceDir}`,
      { field },
    );
  }
  if (kind === 'folder' && !(await lstat(real)).isDirectory()) {
    throw new BatonError('validation', `${field}: ${configured} is not a folder`, { field });
  }
  return real;
}

/** Copies a file or folder; symbolic links are left out (they could point anywhere). */
async function copyWithoutLinks(source: string, target: string): Promise<void> {
  const info = await lstat(source);
  await mkdir(path.dirname(target), { recursive: true });
  if (info.isDirectory()) {
    await mkdir(target, { recursive: true });
    await cp(source, target, {
      recursive: true,
      filter: async (from) => !(await lstat(from)).isSymbolicLink(),
    });
    return;
  }
  await cp(source, target);
}

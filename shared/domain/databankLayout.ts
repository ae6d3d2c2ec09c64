import { BatonError } from './errors.js';

/**
 * A databank (the seed's scenario folder) on disk, and the same databank in the lake. One
 * module names every file and folder, so initialization, runs, sync and error dumps agree.
 *
 * ```
 * <databank>/
 *   orca_model_config.yaml     the configuration (--config)
 *   orca_model_state.json      the run state (--state), kept current after every step
 *   orca_orchestrator.log      what the orchestrator did
 *   inputs/                    input_data copied to their targets
 *   outputs/                   model outputs; archives {step}_{archive_name}_iter{n}.zip
 *   performance/               <iteration>_<step>.csv when monitoring is on
 *   error_dumps/<stamp>_<iteration>_<step>/   what a failed command left
 *   <step>/                    one folder per sub-component, from its template_dir
 *   .cloud_sync_conflict/      files a sync did not overwrite (nothing is lost)
 * ```
 *
 * In the lake a databank lives below `<project folder>/<databank>/` with the same relative
 * paths, except that sub-component folders travel as `<step>.zip`.
 */
export const defaultConfigFileName = 'orca_model_config.yaml';
export const defaultStateFileName = 'orca_model_state.json';
export const orchestratorLogFileName = 'orca_orchestrator.log';
export const inputsFolder = 'inputs';
export const outputsFolder = 'outputs';
export const performanceFolder = 'performance';
export const errorDumpsFolder = 'error_dumps';
export const conflictFolder = '.cloud_sync_conflict';
/** Default lake project folder when neither `--project-folder` nor the config names one. */
export const defaultProjectFolder = 'orca_model_runs';

/** Databank names are folder names: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const databankNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkDatabankName(name: unknown, field = 'databank'): string {
  if (typeof name !== 'string' || !databankNamePattern.test(name) || name.includes('..')) {
    throw new BatonError(
      'validation',
      `${field}: a databank name is 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit`,
      { field },
    );
  }
  return name;
}

/** A file name given for --config / --state: one name inside the databank, no folders. */
export function checkDatabankFileName(name: unknown, field: string): string {
  if (
    typeof name !== 'string' ||
    !/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name) ||
    name.includes('..')
  ) {
    throw new BatonError(
      'validation',
      `${field}: a file name in the databank (letters, digits, ".", "_", "-"; no folders)`,
      { field },
    );
  }
  return name;
}

/** `{step}_{archive_name}_iter{n}.zip` in `outputs/`, as the seed names its archives. */
export function outputArchiveName(step: string, archiveName: string, iteration: number): string {
  return `${step}_${archiveName}_iter${iteration}.zip`;
}

/** `performance/<iteration>_<step>.csv`. */
export function performanceFileName(iteration: number, step: string): string {
  return `${performanceFolder}/${iteration}_${step}.csv`;
}

/** The lake folder of a databank: `<project folder>/<databank>`. */
export function databankLakePrefix(projectFolder: string, databank: string): string {
  const folder = projectFolder.replace(/^\/+|\/+$/g, '');
  return folder === '' ? databank : `${folder}/${databank}`;
}

/** What a databank-relative path is, for sync: each kind has its own upload and download rule. */
export type DatabankFileKind =
  'config' | 'output' | 'errorDump' | 'component' | 'input' | 'performance' | 'conflict' | 'other';

/**
 * Classifies a databank-relative POSIX path. `config`: a file at the top (the config, the state,
 * the log, other top-level files); `component`: anything below a sub-component's folder.
 */
export function classifyDatabankPath(
  relativePath: string,
  componentNames: readonly string[],
): DatabankFileKind {
  const [first = '', ...rest] = relativePath.split('/');
  if (rest.length === 0) return 'config';
  if (first === outputsFolder) return 'output';
  if (first === errorDumpsFolder) return 'errorDump';
  if (first === inputsFolder) return 'input';
  if (first === performanceFolder) return 'performance';
  if (first === conflictFolder) return 'conflict';
  if (componentNames.includes(first)) return 'component';
  return 'other';
}

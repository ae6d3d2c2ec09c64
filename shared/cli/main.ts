#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import path from 'node:path';
import { BatonError, isUserError } from '../domain/errors.js';
import { packageVersion } from '../runtime/packageRoot.js';
import { registerCommands } from './commands.js';

/**
 * `baton`: one CLI for the local host and a deployed app. Exit codes: 0 success, 1 the run
 * failed or was canceled, 2 a user mistake (the message names the flag or field), 3 the system
 * or a dependency failed.
 */
export const exitCodes = { ok: 0, runFailed: 1, userError: 2, systemError: 3 } as const;

const version = packageVersion();

export function buildProgram(): Command {
  const program = new Command('baton')
    .description('Run scientific and modelling pipelines locally or on Azure.')
    .version(version, '--version')
    .addOption(
      new Option('--endpoint <url>', 'talk to a running host or deployed app').env(
        'BATON_ENDPOINT',
      ),
    )
    .addOption(
      new Option('--state-dir <dir>', 'state folder of the local host')
        .env('BATON_STATE_DIR')
        .default('.baton'),
    )
    .option('--user <name>', 'act as this user (local host only; Azure uses your sign-in)')
    .option('--json', 'machine-readable output on stdout')
    .option('-v, --verbose', 'more detail, including stack traces of internal errors')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  registerCommands(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? exitCodes.ok : Number(process.exitCode);
  } catch (error) {
    return reportError(error, program.opts<{ verbose?: boolean; json?: boolean }>());
  }
}

function reportError(error: unknown, options: { verbose?: boolean; json?: boolean }): number {
  if (error instanceof CommanderError) {
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
    )
      return exitCodes.ok;
    return exitCodes.userError; // commander already printed what was wrong
  }
  if (error instanceof BatonError) {
    if (options.json) process.stdout.write(JSON.stringify({ error: error.toJSON() }) + '\n');
    else process.stderr.write(`baton: ${error.message}\n`);
    if (options.verbose && !isUserError(error.code)) process.stderr.write(`${error.stack ?? ''}\n`);
    return isUserError(error.code) ? exitCodes.userError : exitCodes.systemError;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    `baton: internal error: ${message}${options.verbose ? '' : ' (run with --verbose for details)'}\n`,
  );
  if (options.verbose && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
  return exitCodes.systemError;
}

const invokedDirectly =
  process.argv[1] !== undefined &&
  path.resolve(process.argv[1]).replace(/\.(ts|js)$/, '') ===
    new URL(import.meta.url).pathname.replace(/\.(ts|js)$/, '');
if (invokedDirectly) {
  // Exit explicitly: work abandoned by a clean stop (an activity still sleeping) must not keep
  // the process alive. Writes to pipes and files are synchronous on Linux, so nothing is lost.
  void main(process.argv).then((code) => process.exit(code));
}

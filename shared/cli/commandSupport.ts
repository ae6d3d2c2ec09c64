import type { Command } from 'commander';
import path from 'node:path';
import { BatonError } from '../domain/errors.js';
import { connect, type Connection, type GlobalOptions } from './connection.js';

/** What every CLI command uses: output lines, the global options, a connection for one command. */
export const out = (text: string): void =>
  void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
export const err = (text: string): void =>
  void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

export function globals(command: Command): GlobalOptions {
  const o = command.optsWithGlobals<{
    endpoint?: string;
    stateDir: string;
    user?: string;
    verbose?: boolean;
    json?: boolean;
  }>();
  return {
    stateDir: path.resolve(o.stateDir),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(o.user ? { user: o.user } : {}),
    verbose: o.verbose === true,
    json: o.json === true,
  };
}

/** Connects (to an endpoint, a running host, or an embedded one), runs `use`, and closes. */
export async function withConnection<T>(
  command: Command,
  use: (c: Connection, g: GlobalOptions) => Promise<T>,
): Promise<T> {
  const g = globals(command);
  const connection = await connect(g);
  try {
    return await use(connection, g);
  } finally {
    await connection.close();
  }
}

/** A commander option parser for positive whole numbers; the error names the flag. */
export const positiveInt =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new BatonError(
        'validation',
        `${flag}: expected a positive whole number, got "${value}"`,
        {
          field: flag,
        },
      );
    }
    return n;
  };

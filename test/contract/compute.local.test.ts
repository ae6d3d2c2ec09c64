import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalProcessBackend } from '../../shared/adapters/local/processCompute.js';
import { runComputeContract } from './compute.contract.js';
import type { TestCommand } from './compute.contract.js';

/** `node -e` scripts; arguments follow `--` so values like `--version` reach the script. */
const scripts: Record<TestCommand['kind'], string> = {
  succeed: 'process.stdout.write(process.argv[1]); process.stderr.write(process.argv[2]);',
  fail: 'process.exit(Number(process.argv[1]));',
  sleep:
    'setTimeout(() => process.stdout.write(process.argv[2] ?? ""), Number(process.argv[1]) * 1000);',
  'print-env':
    'const o = {}; for (const n of process.argv.slice(1)) o[n] = process.env[n] ?? null;' +
    ' process.stdout.write(JSON.stringify(o));',
  'echo-args': 'process.stdout.write(JSON.stringify(process.argv.slice(1)));',
};

function argsOf(command: TestCommand): string[] {
  switch (command.kind) {
    case 'succeed':
      return [command.stdout, command.stderr];
    case 'fail':
      return [String(command.exitCode)];
    case 'sleep':
      return command.stdout === undefined
        ? [String(command.seconds)]
        : [String(command.seconds), command.stdout];
    case 'print-env':
      return command.names;
    case 'echo-args':
      return command.args;
  }
}

runComputeContract('local processes', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-compute-contract-'));
  return {
    backend: new LocalProcessBackend({ root, killGraceMs: 500, pollIntervalMs: 25 }),
    commandFor: (command) => ({
      argv: [process.execPath, '-e', scripts[command.kind], '--', ...argsOf(command)],
    }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

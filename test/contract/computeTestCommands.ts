import type { TestCommand } from './compute.contract.js';

/**
 * The compute contract's test commands as `node -e` scripts, shared by every backend's run of
 * the suite (local processes; the ACI fake, which runs containers as local processes).
 * Arguments follow `--`, so values like `--version` reach the script as process.argv[1..].
 */
const scripts: Record<TestCommand['kind'], string> = {
  succeed: 'process.stdout.write(process.argv[1]); process.stderr.write(process.argv[2]);',
  fail: 'process.exit(Number(process.argv[1]));',
  sleep:
    'setTimeout(() => process.stdout.write(process.argv[2] ?? ""), Number(process.argv[1]) * 1000);',
  'print-env':
    'const o = {}; for (const n of process.argv.slice(1)) o[n] = process.env[n] ?? null;' +
    ' process.stdout.write(JSON.stringify(o));',
  'echo-args': 'process.stdout.write(JSON.stringify(process.argv.slice(1)));',
  // Filled with 1s, not zeros, so every page is touched and resident.
  burn:
    'const b = Buffer.alloc(Number(process.argv[2]) * 1048576, 1);' +
    ' const end = Date.now() + Number(process.argv[1]) * 1000; let x = 0;' +
    ' while (Date.now() < end) x = (x + b[x % b.length]) % 1e9;' +
    ' process.stdout.write(`burned ${b.length}`);',
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
    case 'burn':
      return [String(command.seconds), String(command.megabytes)];
  }
}

/** `[node, '-e', <script>, '--', ...args]`, with `node` the executable to name. */
export function nodeArgvFor(command: TestCommand, node = 'node'): string[] {
  return [node, '-e', scripts[command.kind], '--', ...argsOf(command)];
}

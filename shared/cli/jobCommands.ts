import { Option, type Command } from 'commander';
import { BatonError } from '../domain/errors.js';
import { envNamePattern } from '../domain/jobSpec.js';
import { err, out, positiveInt, withConnection } from './commandSupport.js';
import { exitForRun, renderRun } from './output.js';
import { waitForRun } from './waitForRun.js';

/**
 * `baton job submit [options] -- <program> [args...]`: one job on the compute backend through
 * the `command` pipeline (the same launch-job / job-events path every step uses), optionally
 * awaited. The job's own timeout is enforced by the run, which cancels the job when it overruns;
 * `--wait` polls with backoff and exits 0 when the job succeeded, 1 otherwise.
 */
const collect = (value: string, previous: string[]): string[] => [...previous, value];

const positiveNumber =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new BatonError('validation', `${flag}: expected a positive number, got "${value}"`, {
        field: flag,
      });
    }
    return n;
  };

function parseEnv(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const name = at <= 0 ? '' : pair.slice(0, at);
    if (!envNamePattern.test(name)) {
      throw new BatonError('validation', `--env: expected NAME=value, got "${pair}"`, {
        field: '--env',
      });
    }
    Object.defineProperty(env, name, {
      value: pair.slice(at + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return env;
}

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('submit one job to the compute backend');
  job
    .command('submit')
    .description('submit a job (argv after --, never a shell line) and, with --wait, await it')
    .argument('<argv...>', 'the program and its arguments')
    .option('--image <image>', 'container image (container backends)')
    .option('--env <NAME=value>', 'an environment variable (repeatable)', collect, [])
    .option('--cpu <n>', 'CPU cores', positiveNumber('--cpu'))
    .option('--memory <gb>', 'memory in GB', positiveNumber('--memory'))
    .addOption(
      new Option('--timeout <seconds>', 'the job is canceled after this long')
        .default(3600)
        .argParser(positiveInt('--timeout')),
    )
    .option('--wait', 'wait for the job to end; exit 0 only when it succeeded')
    .option('--run-id <id>', 'choose the run id (default: generated)')
    .action(
      async (
        argv: string[],
        options: {
          image?: string;
          env: string[];
          cpu?: number;
          memory?: number;
          timeout: number;
          wait?: boolean;
          runId?: string;
        },
        command: Command,
      ) => {
        const params = {
          argv,
          timeoutSeconds: options.timeout,
          ...(options.image === undefined ? {} : { image: options.image }),
          ...(options.env.length === 0 ? {} : { env: parseEnv(options.env) }),
          ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
          ...(options.memory === undefined ? {} : { memoryGb: options.memory }),
        };
        await withConnection(command, async ({ api, embedded }, g) => {
          let run = await api.startRun('command', params, options.runId);
          if (!g.json) err(`submitted ${run.runId}`);
          if (options.wait !== true) {
            if (embedded && !g.json)
              err(`no host is running on ${g.stateDir}: the job goes on when one is (baton up)`);
            out(g.json ? JSON.stringify(run) : run.runId);
            return;
          }
          // The run ends by itself at the job's timeout (plus the watcher's grace).
          run = await waitForRun(api, run.runId, {
            timeoutMs: (options.timeout + 300) * 1000,
            interactive: process.stderr.isTTY === true && !g.json,
            verbose: g.verbose === true,
            write: err,
          });
          run = await api.getRun(run.runId);
          out(g.json ? JSON.stringify(run) : renderRun(run));
          exitForRun(run);
        });
      },
    );
}

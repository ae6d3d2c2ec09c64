import { renderFlowResult } from './flowCommands.js';
import { Option, type Command } from 'commander';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../adapters/local/fsPrimitives.js';
import { BatonError } from '../domain/errors.js';
import { listPipelines } from '../app/pipelines.js';
import { LocalHost } from '../runtime/localHost.js';
import { createLogger } from '../runtime/logger.js';
import { registeredFunctions } from '../runtime/functionRegistry.js';
import { err, globals, out, positiveInt, withConnection } from './commandSupport.js';
import { advertFile } from './connection.js';
import { registerDatasetCommands } from './datasetCommands.js';
import { registerFlowCommands } from './flowCommands.js';
import { registerPruneCommands } from './pruneCommands.js';
import { registerJobCommands } from './jobCommands.js';
import { registerLanduseCommands } from './landuseCommands.js';
import {
  registerDatabankCommands,
  hasModelFlags,
  runModel,
  type ModelRunOptions,
} from './modelCommands.js';
import { exitForRun, renderLogs, renderRun, renderRunList, table } from './output.js';
import { parseParams } from './params.js';
import { registerSyncCommands } from './syncCommands.js';
import { registerTaskCommands } from './taskCommands.js';
import { registerTrackingCommands } from './trackingCommands.js';
import { waitForRun } from './waitForRun.js';

/** The CLI's commands; each is a thin call to the HTTP API through a Connection. */
const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerCommands(program: Command): void {
  program
    .command('up')
    .description('start the local host: HTTP API, timers, landing folder, queues, durable engine')
    .addOption(
      new Option('--port <port>', 'HTTP port (0 picks a free one)').default(7071).argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535)
          throw new BatonError('validation', `--port: expected 0-65535, got "${v}"`, {
            field: '--port',
          });
        return n;
      }),
    )
    .action(async (options: { port: number }, command: Command) => {
      const g = globals(command);
      const logger = createLogger({ level: g.verbose ? 'debug' : 'info', json: g.json === true });
      const host = await LocalHost.start({ stateDir: g.stateDir, port: options.port, logger });
      const advert = advertFile(g.stateDir);
      await fs.mkdir(path.dirname(advert), { recursive: true });
      // Atomic: a host killed mid-write must not leave a half advert for the next CLI call
      // (and the next host removes the temp such a kill left).
      await writeFileAtomic(advert, JSON.stringify({ url: host.url, pid: process.pid }), {
        sweepTemps: true,
      });
      logger.info(
        `Baton host on ${host.url}/api/ (state in ${g.stateDir}, ${registeredFunctions().length} functions); Ctrl+C stops`,
      );
      // Straight to stdout, not through the log: the one-time token is the key to the portal.
      process.stdout.write(`Portal (one-time sign-in link): ${host.signInUrl()}\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info(`${signal}: stopping`);
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await host.stop();
      await fs.rm(advert, { force: true });
    });

  program
    .command('run')
    .description(
      "start a run of a pipeline, or of a databank's model (iterations x steps), and (by default) wait for it",
    )
    .argument('<pipeline|databank>', 'pipeline name (see: baton pipelines), else a databank name')
    .option(
      '-p, --param <key=value>',
      'a parameter (repeatable; values are JSON when they parse)',
      collect,
      [],
    )
    .option('--params <json>', 'all parameters as one JSON object')
    .option('--run-id <id>', 'choose the run id (default: generated)')
    .option('--no-wait', 'return as soon as the run is accepted')
    .option('--dry-run', 'validate the pipeline and its parameters and show the run; start nothing')
    .option('--config <file>', 'model: the config (created into a missing databank from this file)')
    .option('--state <file>', 'model: the state file name in the databank')
    .addOption(
      new Option('--mode <mode>', 'model: execution mode').choices([
        'local_testing',
        'cloud_production',
      ]),
    )
    .option(
      '--iterations <n>',
      "model: iterations to run (default: the config's)",
      positiveInt('--iterations'),
    )
    .option('--steps <steps...>', 'model: only these model steps')
    .option('--overwrite', 'model: start over, ignoring the state file')
    .option('--project-folder <path>', 'model: lake folder for cloud sync')
    .addOption(
      new Option('--timeout <seconds>', 'stop waiting after this long')
        .default(3600)
        .argParser(positiveInt('--timeout')),
    )
    .action(
      async (
        pipeline: string,
        options: ModelRunOptions & {
          param: string[];
          params?: string;
          runId?: string;
          wait: boolean;
          dryRun?: boolean;
          timeout: number;
        },
        command: Command,
      ) => {
        if (!listPipelines().some((p) => p.name === pipeline)) {
          if (options.param.length > 0 || options.params !== undefined) {
            throw new BatonError(
              'validation',
              `pipeline: unknown pipeline '${pipeline}'; as a databank, it takes the model flags, not -p/--params`,
              { field: 'pipeline' },
            );
          }
          await runModel(pipeline, options, command);
          return;
        }
        if (hasModelFlags(options)) {
          throw new BatonError(
            'validation',
            `--config/--state/--mode/--iterations/--steps/--overwrite/--project-folder are for databanks; ${pipeline} is a pipeline (use -p)`,
            { field: 'pipeline' },
          );
        }
        const params = parseParams(options.param, options.params);
        await withConnection(command, async ({ api, embedded }, g) => {
          if (options.dryRun) {
            const plan = await api.startRun(pipeline, params, options.runId, true);
            if (!g.json)
              err(`dry run: ${plan.pipeline} would start as ${plan.runId}; nothing was started`);
            out(g.json ? JSON.stringify(plan) : renderRun(plan));
            return;
          }
          let run = await api.startRun(pipeline, params, options.runId);
          if (!g.json) err(`started ${run.runId} (${run.pipeline})`);
          if (options.wait) {
            run = await waitForRun(api, run.runId, {
              timeoutMs: options.timeout * 1000,
              interactive: process.stderr.isTTY === true && !g.json,
              verbose: g.verbose === true,
              write: err,
            });
            run = await api.getRun(run.runId);
            exitForRun(run);
          } else if (embedded && !g.json) {
            err(`no host is running on ${g.stateDir}: the run goes on when one is (baton up)`);
          }
          out(g.json ? JSON.stringify(run) : renderRun(run));
        });
      },
    );

  const runs = program.command('runs').description('list and manage runs');
  registerTrackingCommands(runs);
  runs
    .command('list', { isDefault: true })
    .description('list runs, newest first')
    .addOption(
      new Option('--status <status>', 'only runs with this status').choices([
        'pending',
        'running',
        'completed',
        'failed',
        'canceled',
      ]),
    )
    .option('--pipeline <name>', 'only runs of this pipeline')
    .addOption(
      new Option('--limit <n>', 'at most this many').default(50).argParser(positiveInt('--limit')),
    )
    .action(
      async (options: { status?: string; pipeline?: string; limit: number }, command: Command) => {
        await withConnection(command, async ({ api }, g) => {
          const query: Record<string, string> = { limit: String(options.limit) };
          if (options.status) query.status = options.status;
          if (options.pipeline) query.pipeline = options.pipeline;
          const list = await api.listRuns(query);
          out(g.json ? JSON.stringify(list) : renderRunList(list));
        });
      },
    );

  program
    .command('status')
    .description('show a run: status, steps, attempts, timings')
    .argument('<runId>')
    .action(async (runId: string, _options: unknown, command: Command) => {
      await withConnection(command, async ({ api }, g) => {
        const run = await api.getRun(runId);
        if (g.json) {
          out(JSON.stringify(run));
          return;
        }
        out(renderRun(run));
        // Beamline flows: every transfer (files, bytes, duration, rate, result) and step timings.
        const details = run.pipeline.startsWith('beamline')
          ? renderFlowResult(run.output ?? run.progress)
          : '';
        if (details !== '') out(`\n${details}`);
      });
    });

  program
    .command('logs')
    .description("show a run's log lines")
    .argument('<runId>')
    .option('--step <step>', 'only this step')
    .addOption(new Option('--tail <n>', 'only the last n lines').argParser(positiveInt('--tail')))
    .option('-f, --follow', 'keep printing new lines until the run finishes')
    .action(
      async (
        runId: string,
        options: { step?: string; tail?: number; follow?: boolean },
        command: Command,
      ) => {
        await withConnection(command, async ({ api }, g) => {
          const query: Record<string, string> = {};
          if (options.step) query.step = options.step;
          if (options.tail) query.tail = String(options.tail);
          let printed = 0;
          for (;;) {
            const lines = await api.logs(runId, query);
            const fresh = lines.slice(printed);
            printed = lines.length;
            if (fresh.length > 0)
              out(g.json ? fresh.map((l) => JSON.stringify(l)).join('\n') : renderLogs(fresh));
            if (!options.follow) return;
            const run = await api.getRun(runId);
            if (run.status !== 'running' && run.status !== 'pending') return;
            delete query.tail;
            await new Promise((resolve) => setTimeout(resolve, 1000));
          }
        });
      },
    );

  program
    .command('cancel')
    .description('cancel a run')
    .argument('<runId>')
    .option('--reason <text>', 'why (recorded with the run)')
    .action(async (runId: string, options: { reason?: string }, command: Command) => {
      await withConnection(command, async ({ api }, g) => {
        const run = await api.cancelRun(runId, options.reason);
        out(g.json ? JSON.stringify(run) : `cancel requested for ${runId}`);
      });
    });

  program
    .command('delete')
    .description('delete a finished run and its history')
    .argument('<runId>')
    .action(async (runId: string, _options: unknown, command: Command) => {
      await withConnection(command, async ({ api }, g) => {
        await api.deleteRun(runId);
        out(g.json ? JSON.stringify({ deleted: runId }) : `deleted ${runId}`);
      });
    });

  registerDatasetCommands(program);
  registerDatabankCommands(program);
  registerTaskCommands(program);
  registerJobCommands(program);
  registerLanduseCommands(program);
  registerSyncCommands(program);
  registerFlowCommands(program);
  registerPruneCommands(program);

  program
    .command('pipelines')
    .description('list the pipelines this app can run, with their parameters')
    .action(async (_options: unknown, command: Command) => {
      await withConnection(command, async ({ api }, g) => {
        const list = await api.pipelines();
        out(
          g.json
            ? JSON.stringify(list)
            : table(
                ['PIPELINE', 'DESCRIPTION'],
                list.map((p) => [p.name, p.description]),
              ),
        );
      });
    });

  program
    .command('demo')
    .description('run the hello example on embedded defaults and explain what happened')
    .addOption(
      new Option('--count <n>', 'how many greetings to fan out')
        .default(16)
        .argParser(positiveInt('--count')),
    )
    .action(async (options: { count: number }, command: Command) => {
      await withConnection(command, async ({ api, embedded }, g) => {
        const started = Date.now();
        let run = await api.startRun('hello', {
          count: options.count,
          greeting: `Hello from ${os.hostname()}`,
        });
        run = await waitForRun(api, run.runId, {
          timeoutMs: 120_000,
          interactive: process.stderr.isTTY === true && !g.json,
          verbose: false,
          write: err,
        });
        run = await api.getRun(run.runId);
        exitForRun(run);
        if (g.json) return out(JSON.stringify(run));
        out(renderRun(run));
        out('');
        out(
          `What happened: ${embedded ? 'an embedded local host' : 'the running host'} started the durable orchestration`,
        );
        out(
          `'helloFanOut' (run ${run.runId}); it fanned out ${options.count} 'sayHello' activities, each writing`,
        );
        out(
          `one file to the lake, then fanned in to 'summarizeGreetings', in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
        );
        out(`Files:    ${path.join(g.stateDir, 'lake', 'runs', run.runId)}`);
        out(`History:  ${path.join(g.stateDir, 'durable', run.runId, 'history.jsonl')}`);
        out(`Next:     baton status ${run.runId}   baton logs ${run.runId}   baton runs list`);
      });
    });
}

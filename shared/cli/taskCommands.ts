import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { parseDatasetName, parseTaskName } from '../domain/datasets.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { parseExecTemplate } from '../domain/execTemplate.js';
import { defaultPriorityPolicy } from '../domain/priority.js';
import { createTaskRequestSchema } from '../domain/tasks.js';
import { jobStates, type JobState, type TaskState } from '../domain/taskStates.js';
import { formatIssuePath } from '../domain/validation.js';
import type { ApiClient } from './apiClient.js';
import { err, out, positiveInt, withConnection } from './commandSupport.js';
import { age, table } from './output.js';
import {
  createTask,
  deleteTask,
  getTask,
  getTaskLogs,
  killTask,
  listTasks,
  planTask,
  retryTask,
  type CreateTaskBody,
  type TaskPlanDto,
  type TaskSummaryDto,
  type TaskViewDto,
} from './taskApi.js';

/**
 * `baton task create|list|show|delete|retry|kill`: Orchestra's tasks over `/api/tasks`. Flags
 * follow Orchestra's `maestro task ...` (`-c`, `-d`, `-t`, `--containerImage`, `--exec`,
 * `--bypass`). Everything the request schema and the exec template can tell is checked here,
 * before any host starts, and a mistake exits 2 naming the flag; the server checks it all again.
 */

/** States from which a task moves on by itself; `--wait` follows it until it leaves them. */
const unsettledStates: readonly TaskState[] = ['registered', 'testing', 'running'];

/** Which flag sets each field of the create request (client-side errors name the flag). */
const flagOfField: Readonly<Record<string, string>> = {
  name: '--task',
  configDataset: '--config-dataset',
  dataDataset: '--data-dataset',
  exec: '--exec',
  image: '--image',
  bypass: '--bypass',
  priority: '--priority',
  cpu: '--cpu',
  memoryGb: '--memory',
  timeoutSeconds: '--timeout',
  maxRetries: '--max-retries',
  backend: '--backend',
};

const jobStateLabels: Readonly<Record<JobState, string>> = {
  queued: 'q',
  assigned: 'a',
  running: 'r',
  succeeded: 'ok',
  failed: 'fail',
  timed_out: 'timeout',
  canceled: 'cancel',
};

// ---------------------------------------------------------------------------------------------
// Flag parsing

/** Re-raises a validation error of `check` under `flag`, so the message names what to fix. */
function underFlag<T>(flag: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!isBatonError(error, 'validation')) throw error;
    const prefix = error.field === undefined ? '' : `${error.field}: `;
    const why =
      prefix !== '' && error.message.startsWith(prefix)
        ? error.message.slice(prefix.length)
        : error.message;
    throw new BatonError('validation', `${flag}: ${why}`, { field: flag });
  }
}

const invalidFlag = (flag: string, why: string, value: string): BatonError =>
  new BatonError('validation', `${flag}: expected ${why}, got "${value}"`, { field: flag });

/** A commander parser for whole numbers from `min` (to `max`); the error names the flag. */
const wholeNumber =
  (flag: string, min: number, max = Number.POSITIVE_INFINITY) =>
  (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.POSITIVE_INFINITY ? `≥ ${min}` : `from ${min} to ${max}`;
      throw invalidFlag(flag, `a whole number ${range}`, value);
    }
    return n;
  };

/** A commander parser for positive numbers, fractions allowed (cores, GB). */
const positiveNumber =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw invalidFlag(flag, 'a positive number', value);
    return n;
  };

interface CreateOptions {
  configDataset: string;
  dataDataset: string;
  task: string;
  exec: string;
  image?: string;
  containerImage?: string;
  bypass?: boolean;
  dryRun?: boolean;
  priority?: number;
  cpu?: number;
  memory?: number;
  timeout?: number;
  maxRetries?: number;
  backend?: string;
  wait?: boolean;
}

/**
 * The create request from the flags, checked as far as the client can: names, the exec
 * template, and the request schema itself (bounds of priority, cpu, memory, timeout, retries).
 */
export function taskRequestFromFlags(options: CreateOptions): CreateTaskBody {
  parseTaskName(options.task, '--task');
  parseDatasetName(options.configDataset, '--config-dataset');
  parseDatasetName(options.dataDataset, '--data-dataset');
  underFlag('--exec', () => parseExecTemplate(options.exec));
  if (
    options.image !== undefined &&
    options.containerImage !== undefined &&
    options.image !== options.containerImage
  ) {
    throw new BatonError(
      'validation',
      '--containerImage: is another name for --image; give one of them, or the same image to both',
      { field: '--containerImage' },
    );
  }
  const image = options.image ?? options.containerImage;
  const body: CreateTaskBody = {
    name: options.task,
    configDataset: options.configDataset,
    dataDataset: options.dataDataset,
    exec: options.exec,
    ...(image === undefined ? {} : { image }),
    ...(options.bypass === true ? { bypass: true } : {}),
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
    ...(options.memory === undefined ? {} : { memoryGb: options.memory }),
    ...(options.timeout === undefined ? {} : { timeoutSeconds: options.timeout }),
    ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
  };
  const checked = createTaskRequestSchema.safeParse(body);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const key = issue?.path[0];
    const flag =
      typeof key === 'string' && flagOfField[key] !== undefined
        ? flagOfField[key]
        : `body.${formatIssuePath(issue?.path ?? [])}`;
    throw new BatonError('validation', `${flag}: ${issue?.message ?? 'invalid'}`, {
      field: flag,
    });
  }
  return body;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** `q3 r2 ok10 fail1`: the non-zero job counts, in lifecycle order; `-` for none. */
export function jobCounts(byState: Readonly<Record<JobState, number>>): string {
  const parts = jobStates
    .filter((state) => byState[state] > 0)
    .map((state) => `${jobStateLabels[state]}${byState[state]}`);
  return parts.length === 0 ? '-' : parts.join(' ');
}

const percent = (value: number): string => `${value}%`;

export function renderTaskList(list: readonly TaskSummaryDto[], now = new Date()): string {
  if (list.length === 0) return 'no tasks';
  return table(
    ['NAME', 'STATE', 'JOBS', 'PROGRESS', 'AGE'],
    list.map((t) => [
      t.name,
      t.state,
      jobCounts(t.byState),
      percent(t.percentDone),
      age(t.createdAt, now),
    ]),
  );
}

/** The task's fields, as `task show` and the dry run print them. */
function taskFields(t: TaskViewDto): string[] {
  const resources = [
    t.cpu === undefined ? undefined : `cpu ${t.cpu}`,
    t.memoryGb === undefined ? undefined : `memory ${t.memoryGb} GB`,
  ].filter((r) => r !== undefined);
  const retries = `${t.maxRetries} ${t.maxRetries === 1 ? 'retry' : 'retries'}`;
  return [
    `task        ${t.name}`,
    `owner       ${t.owner}`,
    `state       ${t.state}`,
    `config      ${t.configDataset}`,
    `data        ${t.dataDataset}`,
    `exec        ${t.exec}`,
    ...(t.image === undefined ? [] : [`image       ${t.image}`]),
    `backend     ${t.backend}, priority ${t.priority}`,
    ...(resources.length === 0 ? [] : [`resources   ${resources.join(', ')} per job`]),
    `limits      ${t.timeoutSeconds} s per attempt, ${retries}`,
    `test gate   ${t.bypass ? 'bypassed' : `${t.gateSize} job${t.gateSize === 1 ? '' : 's'}`}`,
    `jobs        ${t.jobs} (${jobCounts(t.byState)}), ${percent(t.percentDone)} done`,
  ];
}

const firstLine = (text: string | undefined, max = 60): string =>
  (text ?? '').split('\n')[0]?.slice(0, max) ?? '';

export function renderTask(t: TaskViewDto): string {
  const lines = [
    ...taskFields(t),
    ...(t.message === undefined ? [] : [`message     ${t.message}`]),
    `created     ${t.createdAt}`,
    `updated     ${t.updatedAt}`,
  ];
  if (t.history.length > 0) {
    lines.push('', 'history');
    lines.push(
      table(
        ['AT', 'FROM', 'TO', 'EVENT', 'BY'],
        t.history.map((h) => [h.at, h.from, h.to, h.event, h.by ?? '']),
      ),
    );
  }
  if (t.jobList.length > 0) {
    lines.push('');
    lines.push(
      table(
        ['KEY', 'ITEM', 'STATE', 'ATTEMPT', 'EXIT', 'GATE', 'MESSAGE'],
        t.jobList.map((j) => [
          j.key,
          j.item,
          j.state,
          `${j.attempt}/${j.maxAttempts}`,
          j.exitCode === undefined ? '' : String(j.exitCode),
          j.gate ? 'yes' : '',
          firstLine(j.message),
        ]),
      ),
    );
  }
  return lines.join('\n');
}

/** A word as a POSIX shell would need it written; for showing commands, never for running. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function renderTaskPlan(plan: TaskPlanDto): string {
  const t = plan.task;
  const lines = [
    `dry run: ${t.name} would be created with ${t.jobs} job${t.jobs === 1 ? '' : 's'}; nothing was created`,
    '',
    ...taskFields(t),
  ];
  if (plan.sampleJobs.length > 0) {
    lines.push('', `sample commands (the first ${plan.sampleJobs.length} of ${t.jobs} jobs)`);
    for (const job of plan.sampleJobs) {
      lines.push(`  ${job.key}  ${job.item}`);
      lines.push(`    run   ${job.argv.map(shellWord).join(' ')}`);
      Object.entries(job.env).forEach(([key, value], i) =>
        lines.push(`    ${i === 0 ? 'with' : '    '}  ${key}=${value}`),
      );
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Waiting

/**
 * Polls a task until it is settled (not registered, testing or running), showing a progress bar
 * of ended jobs on an interactive terminal and a line per change in `--verbose` otherwise.
 * There is no deadline: a task may wait hours for slots; Ctrl+C stops following, not the task.
 */
export async function waitForTask(
  api: ApiClient,
  name: string,
  options: {
    interactive: boolean;
    verbose: boolean;
    write: (line: string) => void;
    pollMs?: number;
  },
): Promise<TaskViewDto> {
  const bar = options.interactive
    ? new cliProgress.SingleBar(
        {
          format: ' {bar} {value}/{total} jobs ended | {state} {counts}',
          hideCursor: true,
          clearOnComplete: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(1, 0, { state: 'registered', counts: '' });
  let lastKey = '';
  try {
    for (;;) {
      const task = await getTask(api, name);
      const active = task.byState.queued + task.byState.assigned + task.byState.running;
      const counts = jobCounts(task.byState);
      const key = `${task.state}:${counts}`;
      if (key !== lastKey) {
        bar?.setTotal(Math.max(1, task.jobs));
        bar?.update(task.jobs - active, { state: task.state, counts });
        if (!bar && options.verbose)
          options.write(`${task.state} ${counts} (${percent(task.percentDone)} done)`);
        lastKey = key;
      }
      if (!unsettledStates.includes(task.state)) return task;
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1000));
    }
  } finally {
    bar?.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

export function registerTaskCommands(program: Command): void {
  const task = program
    .command('task')
    .description(
      'create, follow, list, show, retry, kill and delete tasks (one job per config item)',
    );

  task
    .command('create')
    .description('create a task: one job per item of the config dataset, all on the data dataset')
    .requiredOption('-c, --config-dataset <name>', 'dataset of config items, one job each')
    .requiredOption('-d, --data-dataset <name>', 'dataset every job reads as %DATA')
    .requiredOption('-t, --task <name>', 'task name, user.<you>.<name>')
    .requiredOption(
      '--exec <template>',
      'command line of a job; %DATA, %IN (its config item) and %OUT (its output folder)',
    )
    .option('--image <image>', 'container image the jobs run in')
    .addOption(new Option('--containerImage <image>', 'the same as --image (Orchestra spelling)'))
    .option('--bypass', 'skip the test gate: release every job at once')
    .option('--dry-run', 'show the task, its test gate and sample commands; create nothing')
    .addOption(
      new Option(
        '--priority <n>',
        'task priority, -5 (lowest) to 5 (highest); default 0',
      ).argParser(
        wholeNumber(
          '--priority',
          defaultPriorityPolicy.minTaskPriority,
          defaultPriorityPolicy.maxTaskPriority,
        ),
      ),
    )
    .addOption(new Option('--cpu <cores>', 'cores per job').argParser(positiveNumber('--cpu')))
    .addOption(
      new Option('--memory <gb>', 'memory per job in GB').argParser(positiveNumber('--memory')),
    )
    .addOption(
      new Option('--timeout <seconds>', 'limit of one job attempt; default 3600').argParser(
        positiveInt('--timeout'),
      ),
    )
    .addOption(
      new Option('--max-retries <n>', 'retries of a failed job; default 2').argParser(
        wholeNumber('--max-retries', 0),
      ),
    )
    .option('--backend <name>', "where the jobs run (default: the deployment's backend)")
    .option('--wait', 'follow the task until it is settled; exit 1 unless it finished')
    .action(async (options: CreateOptions, command: Command) => {
      const body = taskRequestFromFlags(options);
      await withConnection(command, async ({ api, embedded }, g) => {
        if (options.dryRun) {
          const plan = await planTask(api, body);
          out(g.json ? JSON.stringify(plan) : renderTaskPlan(plan));
          return;
        }
        let view = await createTask(api, body);
        if (!options.wait) {
          if (!g.json && embedded)
            err(`no host is running on ${g.stateDir}: the task goes on when one is (baton up)`);
          out(
            g.json
              ? JSON.stringify(view)
              : `created ${view.name}: ${view.jobs} job${view.jobs === 1 ? '' : 's'}, ${view.bypass ? 'test gate bypassed' : `test gate of ${view.gateSize}`} (${view.state}); see: baton task show ${view.name}`,
          );
          return;
        }
        if (!g.json) err(`created ${view.name} (${view.jobs} jobs); following it`);
        view = await waitForTask(api, view.name, {
          interactive: process.stderr.isTTY === true && !g.json,
          verbose: g.verbose === true,
          write: err,
        });
        if (view.state !== 'finished') process.exitCode = 1;
        out(g.json ? JSON.stringify(view) : renderTask(view));
      });
    });

  task
    .command('list')
    .description('list tasks by name, with their job counts')
    .option('-u, --owner <owner>', "only this user's tasks")
    .action(async (options: { owner?: string }, command: Command) => {
      await withConnection(command, async ({ api }, g) => {
        const list = await listTasks(api, options.owner);
        out(g.json ? JSON.stringify(list) : renderTaskList(list));
      });
    });

  task
    .command('show')
    .description('show a task: its fields, history and jobs')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      parseTaskName(name, 'name');
      await withConnection(command, async ({ api }, g) => {
        const view = await getTask(api, name);
        out(g.json ? JSON.stringify(view) : renderTask(view));
      });
    });

  task
    .command('delete')
    .description('delete a task you own that is not testing or running (kill it first)')
    .requiredOption('-t, --task <name>', 'task name')
    .option('--remove-files', "also delete the task's outputs and logs from the lake")
    .action(async (options: { task: string; removeFiles?: boolean }, command: Command) => {
      parseTaskName(options.task, '--task');
      await withConnection(command, async ({ api }, g) => {
        const result = await deleteTask(api, options.task, options.removeFiles === true);
        out(
          g.json
            ? JSON.stringify(result)
            : `deleted ${result.name}${result.filesRemoved ? ' and its files' : ''}`,
        );
      });
    });

  task
    .command('retry')
    .description(
      're-queue the failed, timed-out and canceled jobs of a broken, failed or killed task',
    )
    .requiredOption('-t, --task <name>', 'task name')
    .action(async (options: { task: string }, command: Command) => {
      parseTaskName(options.task, '--task');
      await withConnection(command, async ({ api, embedded }, g) => {
        const result = await retryTask(api, options.task);
        if (!g.json && embedded)
          err(`no host is running on ${g.stateDir}: the task goes on when one is (baton up)`);
        out(
          g.json
            ? JSON.stringify(result)
            : `retrying ${result.name}: ${result.requeued} job${result.requeued === 1 ? '' : 's'} re-queued (${result.state})`,
        );
      });
    });

  task
    .command('logs')
    .description("print saved job logs: one job's, or those of every job that did not succeed")
    .argument('<name>', 'task name')
    .option('--job <key>', 'one job, by key (e.g. j000003)')
    .option(
      '--attempt <n>',
      'that attempt of the job (default: its latest)',
      positiveInt('--attempt'),
    )
    .option('--tail <n>', 'only the last N lines of each log', positiveInt('--tail'))
    .action(
      async (
        name: string,
        options: { job?: string; attempt?: number; tail?: number },
        command: Command,
      ) => {
        parseTaskName(name, 'name');
        if (options.attempt !== undefined && options.job === undefined) {
          throw new BatonError('validation', '--attempt: needs --job', { field: '--attempt' });
        }
        await withConnection(command, async ({ api }, g) => {
          const logs = await getTaskLogs(api, name, options);
          if (g.json) {
            out(JSON.stringify(logs));
            return;
          }
          if (logs.length === 0) {
            out('no saved logs of jobs that did not succeed (pick one with --job)');
            return;
          }
          for (const log of logs) {
            const exit = log.exitCode === undefined ? '' : `, exit ${log.exitCode}`;
            out(`==> ${log.key} ${log.item} attempt ${log.attempt} (${log.state}${exit}) <==`);
            out(log.text === '' ? '(empty)' : log.text);
          }
        });
      },
    );

  task
    .command('kill')
    .description('stop a task: cancel its queued and running jobs')
    .requiredOption('-t, --task <name>', 'task name')
    .action(async (options: { task: string }, command: Command) => {
      parseTaskName(options.task, '--task');
      await withConnection(command, async ({ api }, g) => {
        const result = await killTask(api, options.task);
        out(
          g.json
            ? JSON.stringify(result)
            : `killed ${result.name}: ${result.canceled} job${result.canceled === 1 ? '' : 's'} canceled (${result.state})`,
        );
      });
    });
}

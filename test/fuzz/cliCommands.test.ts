import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import type { Argument, Command, Option } from 'commander';
import { advertFile } from '../../shared/cli/connection.js';
import { buildProgram } from '../../shared/cli/main.js';
import { recordTallies } from '../campaign/tally.js';
import { runCli } from '../helpers/hostProcess.js';
import { startInProcessHost, type InProcessHost } from '../helpers/inProcessHost.js';
import '../helpers/localAuth.js';
import { fuzzSeed, hostileString } from './hostile.js';

/**
 * Input fuzzing of every CLI command (issue 10), the list taken from the commander program
 * itself. Each leaf command gets `perCommand` malformed invocations built from its own
 * definition: unknown options, options without their value, values its parser or choices
 * refuse, missing and excess arguments, missing mandatory options, and hostile values for its
 * arguments and free-text options that reach the command's action (against a host in this
 * process). A malformed invocation must exit 2 with a message naming the flag or argument;
 * none may print a stack trace or exit 3; nothing may be written to the working folder or the
 * host's state folder. `main()` runs in-process with stdout and stderr captured (about 1000x
 * faster than a process per case); a few real `baton` processes cross-check the exit codes.
 */
const perCommand = 100;
const hostileValuesPerCommand = 30;
const crossChecks = 6;
const caseTimeoutMs = 15_000;

interface CliCase {
  command: string[];
  args: string[];
  /** `usage`: must exit 2 naming one of `names`; `value`: any outcome but 3, named if 2. */
  kind: 'usage' | 'value';
  names: string[];
  why: string;
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

const stackFrame = /^\s+at .+:\d+:\d+\)?$/m;

/** Leaf commands (with an action), with their path from the program. */
function leafCommands(program: Command): Array<{ path: string[]; command: Command }> {
  const out: Array<{ path: string[]; command: Command }> = [];
  const walk = (command: Command, prefix: string[]): void => {
    for (const sub of command.commands) {
      const p = [...prefix, sub.name()];
      if (sub.commands.length === 0) out.push({ path: p, command: sub });
      walk(sub, p);
    }
  };
  walk(program, []);
  return out;
}

const argsOf = (command: Command): readonly Argument[] => command.registeredArguments;
const flagsOf = (option: Option): string[] =>
  [option.long, option.short].filter((f): f is string => f !== undefined);

/** What a hostile value must be called in an error: the flag, or the argument's name. */
const namesOfOption = (option: Option): string[] => [...flagsOf(option), option.attributeName()];

/** Commands whose actions run a workload or serve: only malformed invocations, never values. */
const noValueCases = new Set(['up', 'demo', 'job submit', 'run']);
/** Options whose value names a local file to read and upload: kept out of the value cases. */
const localReadOptions = new Set(['--upload']);

describe('input fuzzing: every CLI command', { timeout: 240_000 }, () => {
  let host: InProcessHost;
  let scratch: string;
  let stateDir: string;
  const originalCwd = process.cwd();
  let worker: Worker;
  let requestId = 0;
  let workerDead: string | undefined;
  const pending = new Map<number, (outcome: Outcome) => void>();

  before(async () => {
    host = await startInProcessHost({ prefix: 'baton-fuzz-cli-host-' });
    // The CLI finds the running host through its state folder's advert, as with `baton up`.
    stateDir = host.stateDir;
    await mkdir(path.dirname(advertFile(stateDir)), { recursive: true });
    await writeFile(advertFile(stateDir), JSON.stringify({ url: host.url, pid: process.pid }));
    scratch = await mkdtemp(path.join(os.tmpdir(), 'baton-fuzz-cli-cwd-'));
    const entry = new URL('./cliWorker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    worker = new Worker(
      `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`,
      { eval: true },
    );
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', () => resolve());
    });
    worker.on('message', (message: Outcome & { id: number }) => {
      pending.get(message.id)?.(message);
      pending.delete(message.id);
    });
    // A CLI that crashes (an unhandled rejection ends the worker) fails every case still due.
    const crashed = (why: string) => {
      for (const resolve of pending.values()) resolve({ code: -3, stdout: '', stderr: why });
      pending.clear();
      workerDead = why;
    };
    worker.on('error', (error) => crashed(`the CLI crashed: ${String(error)}`));
    worker.on('exit', (code) => crashed(`the CLI's thread ended (${code})`));
  });
  after(async () => {
    process.chdir(originalCwd);
    await worker.terminate();
    await host.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it(`answers ${perCommand}+ malformed invocations per command with exit 2 naming the flag`, async () => {
    const leaves = leafCommands(buildProgram());
    assert.ok(leaves.length >= 25, `only ${leaves.length} commands`);
    const stateBefore = await listFiles(stateDir);
    process.chdir(scratch);

    let cases = 0;
    let wrongExit = 0;
    let unnamed = 0;
    let stackTraces = 0;
    let systemErrors = 0;
    const shortCommands: string[] = [];
    const failures: string[] = [];
    const usageCases: CliCase[] = [];

    for (const [index, { path: commandPath, command }] of leaves.entries()) {
      const generated = casesFor(commandPath, command, index);
      usageCases.push(...generated.filter((c) => c.kind === 'usage'));
      for (const c of generated) {
        const outcome = await runInProcess(['--state-dir', stateDir, ...c.command, ...c.args]);
        cases++;
        const text = outcome.stdout + outcome.stderr;
        const where = () =>
          `baton ${c.command.join(' ')} ${c.args.map((a) => JSON.stringify(a.slice(0, 40))).join(' ')} [${c.why}] -> ${outcome.code}: ${text.slice(0, 300)}`;
        const fail = (what: string): number => failures.push(`${what}: ${where()}`);
        if (stackFrame.test(text)) stackTraces += Math.sign(fail('stack'));
        if (outcome.code === 3 || outcome.code < 0)
          systemErrors += Math.sign(fail(`exit ${outcome.code}`));
        if (c.kind === 'usage' && outcome.code !== 2) wrongExit += Math.sign(fail('not 2'));
        if (outcome.code === 2 && !namesOne(outcome, c.names))
          unnamed += Math.sign(fail('unnamed'));
      }
      if (generated.length < perCommand)
        shortCommands.push(`${commandPath.join(' ')} (${generated.length})`);
    }
    process.chdir(originalCwd);

    // Nothing written where a command writes: its working folder and the host's state folder.
    const leftInScratch = await listFiles(scratch);
    const stateAfter = await listFiles(stateDir);
    const written = [
      ...leftInScratch.map((f) => `cwd/${f}`),
      ...stateAfter.filter((f) => !stateBefore.includes(f)).map((f) => `state/${f}`),
    ];

    // Cross-check: the same verdicts from real `baton` processes.
    const picks = fc.sample(fc.constantFrom(...usageCases), {
      seed: fuzzSeed,
      numRuns: crossChecks,
    });
    let crossMismatches = 0;
    for (const c of picks) {
      const child = await runCli(['--state-dir', stateDir, ...c.command, ...c.args]);
      const inProcess = await runInProcess(['--state-dir', stateDir, ...c.command, ...c.args]);
      if (
        child.code !== inProcess.code ||
        !namesOne(child, c.names) ||
        stackFrame.test(child.stderr)
      ) {
        crossMismatches++;
        failures.push(
          `child differs: baton ${c.command.join(' ')} ${c.args.join(' ')} -> ${child.code} ${child.stderr.slice(0, 200)} (in process ${inProcess.code})`,
        );
      }
    }

    recordTallies('input fuzzing', [
      { measure: 'CLI commands', count: leaves.length, required: '>= 25' },
      { measure: 'CLI invocations', count: cases },
      { measure: 'CLI commands with < 100 cases', count: shortCommands.length, required: '= 0' },
      { measure: 'CLI malformed cases not exiting 2', count: wrongExit, required: '= 0' },
      { measure: 'CLI exits 3 on user input', count: systemErrors, required: '= 0' },
      { measure: 'CLI stack traces', count: stackTraces, required: '= 0' },
      { measure: 'CLI errors not naming the flag', count: unnamed, required: '= 0' },
      { measure: 'CLI files written', count: written.length, required: '= 0' },
      {
        measure: 'CLI child-process cross-checks',
        count: picks.length,
        required: `>= ${crossChecks}`,
      },
      { measure: 'CLI cross-check mismatches', count: crossMismatches, required: '= 0' },
    ]);
    console.log(
      `CLI fuzz: ${leaves.length} commands, ${cases} invocations, ${failures.length} failures`,
    );
    const samples = new Map<string, string[]>();
    for (const f of failures) {
      const key = f.slice(0, f.indexOf(':'));
      samples.set(key, [...(samples.get(key) ?? []), f]);
    }
    for (const [key, list] of samples) console.log(key, list.length, list.slice(0, 5));
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
    assert.deepEqual(shortCommands, []);
    assert.deepEqual(written, []);
  });

  /** Runs `baton <argv>` in this process (in its worker thread): exit code and output. */
  function runInProcess(argv: string[]): Promise<Outcome> {
    if (workerDead !== undefined)
      return Promise.resolve({ code: -3, stdout: '', stderr: workerDead });
    const id = ++requestId;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      worker.postMessage({ id, argv, timeoutMs: caseTimeoutMs });
    });
  }
});

/** Does the error name one of `names` (flags, argument names, or the field of a JSON error)? */
function namesOne(outcome: Outcome, names: string[]): boolean {
  const text = outcome.stdout + outcome.stderr;
  if (names.some((n) => n !== '' && text.includes(n))) return true;
  try {
    const error = (
      JSON.parse(outcome.stdout.trim().split('\n').pop() ?? '') as {
        error?: { field?: string; message?: string };
      }
    ).error;
    return (
      typeof error?.field === 'string' &&
      error.field !== '' &&
      (error.message ?? '').includes(error.field)
    );
  } catch {
    return false;
  }
}

/** Values a parser or a choice list refuses, drawn from the hostile strings. */
function refusedBy(option: Option, seed: number): string[] {
  const candidates = fc.sample(hostileString, { seed, numRuns: 200 });
  return candidates.filter((value) => {
    if (value.startsWith('-')) return false; // commander would take it for an option
    if (option.argChoices) return !option.argChoices.includes(value);
    try {
      option.parseArg?.(value, undefined);
      return false;
    } catch {
      return true;
    }
  });
}

/** A valid-looking placeholder for an argument, so a case fails only where it means to. */
const placeholder = (arg: Argument): string[] =>
  arg.variadic ? ['true'] : [arg.name().includes('action') ? 'list' : 'user.alice.x'];

function casesFor(commandPath: string[], command: Command, index: number): CliCase[] {
  const name = commandPath.join(' ');
  const args = argsOf(command);
  const options = command.options.filter((o) => !o.negate && o.long !== '--help');
  const valued = options.filter((o) => o.required || o.optional);
  const mandatory = options.filter((o) => o.mandatory);
  const requiredArgs = args.filter((a) => a.required);
  const base = (): string[] => [
    ...args.flatMap((a) => (a.required ? placeholder(a) : [])),
    ...mandatory.flatMap((o) => [o.long ?? '', o.argChoices?.[0] ?? 'user.alice.x']),
  ];
  const random = fc.sample(
    fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,14}$/), fc.nat(), hostileString),
    { seed: fuzzSeed + index * 104_729, numRuns: perCommand * 2 },
  );
  const usage: CliCase[] = [];
  const add = (args: string[], names: string[], why: string): void => {
    usage.push({ command: commandPath, args, kind: 'usage', names, why });
  };
  const known = new Set(options.flatMap(flagsOf));
  for (const [word, pick, value] of random) {
    if (usage.length >= perCommand) break;
    const kind = pick % 7;
    if (kind === 0 || valued.length === 0) {
      const flag = `--${word}`;
      if (!known.has(flag) && flag !== '--help' && flag !== '--version')
        add(
          [...base(), flag, ...(pick % 2 === 0 && !value.startsWith('-') ? [value] : [])],
          [flag],
          'unknown option',
        );
    } else if (kind === 1) {
      const option = valued[pick % valued.length] as Option;
      if (option.required && !option.optional)
        add(
          [...base(), option.long ?? option.short ?? ''],
          namesOfOption(option),
          'option without its value',
        );
    } else if (kind === 2) {
      const checked = valued.filter((o) => o.argChoices || o.parseArg);
      const option = checked[pick % Math.max(1, checked.length)];
      const refused = option ? refusedBy(option, pick) : [];
      if (option && refused.length > 0)
        add(
          [...base(), option.long ?? '', refused[pick % refused.length] ?? ''],
          namesOfOption(option),
          'a value its parser refuses',
        );
    } else if (kind === 3 && requiredArgs.length > 0) {
      const drop = requiredArgs[pick % requiredArgs.length] as Argument;
      const kept = args.filter((a) => a.required && a !== drop).flatMap(placeholder);
      const positional = args.indexOf(drop) === 0 ? [] : kept;
      add(
        [...positional, ...mandatory.flatMap((o) => [o.long ?? '', 'user.alice.x'])],
        [drop.name()],
        'a missing argument',
      );
    } else if (kind === 4 && !args.some((a) => a.variadic)) {
      add([...base(), 'extra', `${word}`], ['too many arguments', name], 'excess arguments');
    } else if (kind === 5 && mandatory.length > 0) {
      const drop = mandatory[pick % mandatory.length] as Option;
      add(
        [
          ...args.flatMap((a) => (a.required ? placeholder(a) : [])),
          ...mandatory.filter((o) => o !== drop).flatMap((o) => [o.long ?? '', 'user.alice.x']),
        ],
        namesOfOption(drop),
        'a missing mandatory option',
      );
    } else {
      // The same option twice with a refused value the second time, or a flag glued to '='.
      const flag = `--${word}=${value.replace(/\s/g, '')}`;
      if (!known.has(`--${word}`)) add([...base(), flag], [`--${word}`], 'unknown option=value');
    }
  }
  // Fill up with unknown options if the definition offered too few other shapes.
  for (let i = 0; usage.length < perCommand; i++)
    add([...base(), `--no-such-flag-${i}`], [`--no-such-flag-${i}`], 'unknown option');

  const values: CliCase[] = [];
  if (!noValueCases.has(name)) {
    const hostile = fc.sample(hostileString, {
      seed: fuzzSeed + index,
      numRuns: hostileValuesPerCommand * 3,
    });
    const targets = [
      ...args.map((arg): { arg?: Argument; option?: Option } => ({ arg })),
      ...valued
        .filter((o) => !o.parseArg && !o.argChoices && !localReadOptions.has(o.long ?? ''))
        .map((option): { arg?: Argument; option?: Option } => ({ option })),
    ];
    const dryRun = options.some((o) => o.long === '--dry-run') ? ['--dry-run'] : [];
    for (const [i, value] of hostile.entries()) {
      if (values.length >= hostileValuesPerCommand || targets.length === 0) break;
      if (value.startsWith('-') || value === '') continue;
      const target = targets[i % targets.length];
      const positional = args.flatMap((a) =>
        a.required
          ? a === target?.arg
            ? [value]
            : placeholder(a)
          : a === target?.arg
            ? [value]
            : [],
      );
      const opts = mandatory.flatMap((o) => [
        o.long ?? '',
        o === target?.option ? value : (o.argChoices?.[0] ?? 'user.alice.x'),
      ]);
      const extra =
        target?.option && !target.option.mandatory ? [target.option.long ?? '', value] : [];
      values.push({
        command: commandPath,
        args: ['--json', ...positional, ...opts, ...extra, ...dryRun].filter((a) => a !== ''),
        kind: 'value',
        names: [...args.map((a) => a.name()), ...options.flatMap(namesOfOption)],
        why: `hostile ${target?.arg ? `argument ${target.arg.name()}` : `value of ${target?.option?.long}`}`,
      });
    }
  }
  return [...usage, ...values];
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

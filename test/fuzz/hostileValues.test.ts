// Issue 10, "templates and commands": hostile user text through every place it reaches a
// process. Each sink is checked twice:
//
// - pure, for every generated value: the argv/env the product builds (task exec templates,
//   model-run config commands, beamline `hpc.<site>.local` commands, sweep/ML trial jobs,
//   dataset and task names turned into job ids) against an independent expectation;
// - for real, for a sample: launched through LocalProcessBackend (the local process compute)
//   running a recorder program that writes the argv and environment it received into its
//   working folder. Values plant canaries (`touch <canary dir>/...` in every shell syntax) and
//   the PATH starts with a folder of trap programs (touch, rm, sh, curl, ...) that log any call:
//   after the run the canary folder and the trap log must be empty, and the recorder must have
//   run exactly once per launch.
//
// Execution of exec templates through a bare /bin/sh is covered by
// test/unit/execTemplate.fuzz.test.ts and the argv-building of task job specs by
// test/unit/taskJobSpec.fuzz.test.ts; this file adds the other sinks, the staging of hostile
// file and dataset names, and real launches through the compute port. Fixed seeds.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileSync, existsSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { taskJobSpec } from '../../shared/app/taskJobs.js';
import { hpcControllerFor } from '../../shared/adapters/hpcControllers.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { HostFolderStaging } from '../../shared/adapters/local/hostFolderStaging.js';
import { LocalHpcSite } from '../../shared/adapters/local/localHpcSite.js';
import { LocalProcessBackend, waitForJob } from '../../shared/adapters/local/processCompute.js';
import { parseBeamlineConfig } from '../../shared/domain/beamline/config.js';
import { parseDatasetName, parseTaskName } from '../../shared/domain/datasets.js';
import { isBatonError } from '../../shared/domain/errors.js';
import { maxExecValueBytes, parseExecTemplate } from '../../shared/domain/execTemplate.js';
import { parseModelConfig, planModelRun } from '../../shared/domain/modelConfig.js';
import { quoteShellWord } from '../../shared/domain/shellWords.js';
import { sampleRandom } from '../../shared/domain/sweep/samplers.js';
import { taskComputeJobId, taskIncarnation } from '../../shared/domain/tasks.js';
import { sweepParamsSchema } from '../../shared/orchestrations/sweepTypes.js';
import { checkArgv, checkEnv } from '../../shared/domain/jobSpec.js';
import type { ComputeBackend, JobSpec, JobStatus } from '../../shared/ports/compute.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { recordTally } from '../campaign/tally.js';
import { runToEnd } from '../helpers/hostProcess.js';
import '../helpers/localAuth.js';

const seed = 20260310;
/** Values per sink in the pure checks; a task triple counts three. */
const pureRuns = { task: 1100, model: 1200, beamline: 2200, ml: 1600, names: 2500 };
/** Real launches per sink (plus one sweep of {@link sweepTrials} trials on a live host). */
const launches = { task: 90, model: 90, beamline: 60, ml: 60 };
const sweepTrials = 6;

const counts = { values: 0, rejected: 0, shapeChanged: 0, launched: 0 };
const problems: string[] = [];
function mismatch(sink: string, detail: string): void {
  counts.shapeChanged += 1;
  if (problems.length < 20) problems.push(`${sink}: ${detail.slice(0, 400)}`);
}

// ---- the world: recorder, trap programs, canary folder ----------------------------------------

const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'baton-hostile-')));
const canaryDir = path.join(base, 'canary');
const trapDir = path.join(base, 'trap');
const trapLog = path.join(base, 'trap.log');
const invocationLog = path.join(base, 'invocations.log');
const recorder = path.join(base, 'bin', 'recorder');
const workRoot = path.join(base, 'work');
for (const dir of [canaryDir, trapDir, path.dirname(recorder), workRoot]) {
  mkdirSync(dir, { recursive: true });
}
// The recorder: argv count, argv, then its whole environment, NUL-separated, into ./.record;
// one line per run in the invocation log (so a second run of it would be seen).
writeFileSync(
  recorder,
  [
    '#!/bin/sh',
    `{ printf '%s\\0' "$#" "$@"; /usr/bin/env -0; } > ./.record`,
    `printf '%s\\n' "$PWD" >> '${invocationLog}'`,
    '',
  ].join('\n'),
);
chmodSync(recorder, 0o755);
const trapped = ['touch', 'rm', 'sh', 'bash', 'curl', 'wget', 'id', 'cat', 'ls', 'python3', 'nc'];
for (const name of trapped) {
  const file = path.join(trapDir, name);
  writeFileSync(file, `#!/bin/sh\nprintf '%s %s\\n' '${name}' "$*" >> '${trapLog}'\n`);
  chmodSync(file, 0o755);
}
const originalPath = process.env.PATH ?? '/usr/bin:/bin';
// Jobs inherit PATH from the host (processCompute's inheritedEnvKeys): the traps come first.
process.env.PATH = `${trapDir}:${originalPath}`;

const backend = new LocalProcessBackend({
  root: path.join(base, 'jobs'),
  workRoot,
  pollIntervalMs: 20,
});

// ---- hostile values ---------------------------------------------------------------------------

const touch = (tag: string): string => `touch ${canaryDir}/${tag}`;
const canaries = [
  `$(${touch('dollar')})`,
  `\`${touch('backtick')}\``,
  `; ${touch('semicolon')}`,
  `&& ${touch('and')}`,
  `|| ${touch('or')}`,
  `| ${touch('pipe')}`,
  `\n${touch('newline')}\n`,
  `"; ${touch('dq')}; "`,
  `'; ${touch('sq')}; '`,
  `$(touch\${IFS}${canaryDir}/ifs)`,
  `"$(${touch('dqsub')})"`,
  `\${x:-$(${touch('param')})}`,
  `$((\`${touch('arith')}\`))`,
  `() { :;}; ${touch('shellshock')}`,
  `> ${canaryDir}/redirect`,
  `%DATA; ${touch('token')}`,
  `{input}; ${touch('brace')}`,
  `--exec=${touch('exec')}`,
  `-c ${touch('dashc')}`,
];
const lookAlikes = [
  '\uFF1B', // fullwidth ;
  '\uFF04\uFF08', // fullwidth $(
  '\uFF06\uFF06', // fullwidth &&
  '\u01C0', // latin dental click, looks like |
  '\u2018\u2019\u201C\u201D', // curly quotes
  '\u2010\u2011\u2212\uFE63', // hyphens and minus signs
  '\u200B\u200D\uFEFF', // zero-width characters
  '\u202E\u2066evil\u2069', // bidi overrides
  '\u0085\u2028\u2029', // unicode line breaks
  '\u00A0', // no-break space
  '\u037E', // greek question mark (looks like ;)
  '\uFF0F\u2215\u29F8', // slash look-alikes
];
const optionLike = ['-rf', '-rf /', '--foo', '--foo=bar', '-', '--', '-e', '-c', '--help', '-n0'];
const fragments = [
  ...canaries,
  ...lookAlikes,
  ...optionLike,
  ...['"', "'", '`', '\\', '$', ';', '|', '&&', '||', '&', '>', '<', '(', ')', '{', '}'],
  ...['*', '?', '[a-z]', '~', '#', '!', '%', '%IN', '%OUT', '{output}', '{config_dir}', '='],
  ...['$HOME', '${IFS}', '$@', '$0', '\n', '\t', '\r', ' ', '../', '..', '/', 'a', '中', '😀'],
];
const hostileChars = [...'\'"`$();&|<>\n\r\t *?[]{}~#!\\%=-./', 'a', '0', '\u202E', '中', '😀'];
const hostileValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...canaries, ...optionLike, ...lookAlikes), weight: 5 },
  {
    arbitrary: fc
      .array(fc.constantFrom(...fragments), { minLength: 1, maxLength: 8 })
      .map((parts) => parts.join('')),
    weight: 8,
  },
  {
    arbitrary: fc.string({ unit: fc.constantFrom(...hostileChars), minLength: 1, maxLength: 40 }),
    weight: 5,
  },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), weight: 2 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...canaries), fc.integer({ min: 100, max: 3000 }))
      .map(([unit, times]) => unit.repeat(times).slice(0, 60_000)),
    weight: 1,
  },
  { arbitrary: fc.constantFrom('\0', 'a\0b', `\0${touch('nul')}`), weight: 1 },
  // Lone surrogates have no UTF-8 form: refused, never silently turned into U+FFFD.
  { arbitrary: fc.constantFrom('a\uD800b', '\uDFFF', `$(${touch('surrogate')})\uDBFF`), weight: 1 },
);
/** A value the lake takes as one file name (one path segment). */
function lakeNameOk(value: string): boolean {
  return (
    value !== '' &&
    value !== '.' &&
    value !== '..' &&
    !/[/\\\0]/.test(value) &&
    !value.startsWith('.baton-tmp-') &&
    !/[\uD800-\uDFFF]/u.test(value) &&
    Buffer.byteLength(value, 'utf8') <= 255
  );
}
/** A lake file name that staging hands to a job (staging skips dot files in data folders). */
function fileNameOk(value: string): boolean {
  return lakeNameOk(value) && !value.startsWith('.');
}
const wellFormed = (v: string): boolean => !/[\uD800-\uDFFF]/u.test(v);

// ---- the recorder's report ----------------------------------------------------------------------

interface Recorded {
  argv: string[];
  env: Map<string, string>;
}
function readRecord(cwd: string): Recorded | undefined {
  const file = path.join(cwd, '.record');
  if (!existsSync(file)) return undefined;
  const parts = readFileSync(file).toString('utf8').split('\0');
  const n = Number(parts[0]);
  const argv = parts.slice(1, 1 + n);
  const env = new Map<string, string>();
  for (const entry of parts.slice(1 + n)) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return { argv, env };
}

/** The environment a harmless launch gets (its own keys), learnt from a first real launch. */
let referenceEnvKeys: string[] = [];

function compareEnv(
  sink: string,
  record: Recorded,
  expected: Readonly<{ [key: string]: string }>,
  cwd: string,
): void {
  const keys = [...record.env.keys()].sort();
  const want = [...new Set([...referenceEnvKeys, ...Object.keys(expected)])].sort();
  if (JSON.stringify(keys) !== JSON.stringify(want)) {
    mismatch(sink, `env keys ${JSON.stringify(keys)} != ${JSON.stringify(want)}`);
  }
  for (const [key, value] of Object.entries(expected)) {
    if (record.env.get(key) !== value) {
      mismatch(
        sink,
        `env ${key}=${JSON.stringify(record.env.get(key))} != ${JSON.stringify(value)}`,
      );
    }
  }
  if (record.env.get('PWD') !== cwd) mismatch(sink, `PWD ${record.env.get('PWD')} != ${cwd}`);
}

let jobSerial = 0;
async function launchAndRecord(spec: Omit<JobSpec, 'jobId'>, cwd: string): Promise<Recorded> {
  const jobId = `h${(jobSerial++).toString(36)}`;
  const status = await backend.launch({ ...spec, jobId, timeoutSeconds: 30 });
  const ended = await waitForJob(backend, status.jobId, { timeoutMs: 30_000, pollMs: 20 });
  counts.launched += 1;
  const record = readRecord(cwd);
  if (record === undefined) throw new Error(`${jobId}: no record (${JSON.stringify(ended)})`);
  return record;
}

async function pool<T>(
  items: readonly T[],
  width: number,
  work: (item: T, i: number) => Promise<void>,
) {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await work(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

function freshCwd(prefix: string): { relative: string; absolute: string } {
  const absolute = mkdtempSync(path.join(workRoot, `${prefix}-`));
  return { relative: path.relative(workRoot, absolute), absolute };
}

function sample<T>(arb: fc.Arbitrary<T>, n: number, offset: number): T[] {
  return fc.sample(arb, { seed: seed + offset, numRuns: n });
}

// ---- the checks ---------------------------------------------------------------------------------

describe('hostile values through every place user text reaches a process (fuzz)', () => {
  before(async () => {
    const cwd = freshCwd('reference');
    const record = await launchAndRecord(
      { argv: [recorder, 'plain'], env: { BATON_REFERENCE: 'x' }, cwd: cwd.relative },
      cwd.absolute,
    );
    referenceEnvKeys = [...record.env.keys()].filter((k) => k !== 'BATON_REFERENCE');
    assert.deepEqual(record.argv, ['plain']);
    assert.ok(referenceEnvKeys.includes('PATH'));
  });

  after(() => {
    process.env.PATH = originalPath;
    const trapCalls = existsSync(trapLog)
      ? readFileSync(trapLog, 'utf8').split('\n').filter(Boolean)
      : [];
    const canaryFiles = readdirSync(canaryDir);
    const invocations = existsSync(invocationLog)
      ? readFileSync(invocationLog, 'utf8').split('\n').filter(Boolean).length
      : 0;
    // One recorder run per launch (the reference launch and the sweep's trials included).
    const extra = Math.abs(invocations - counts.launched);
    const unexpected = trapCalls.length + canaryFiles.length + extra;
    recordTally({
      item: 'templates and commands',
      measure: 'hostile values',
      count: counts.values,
      required: '>= 10000',
    });
    recordTally({
      item: 'templates and commands',
      measure: '  refused as validation',
      count: counts.rejected,
    });
    recordTally({
      item: 'templates and commands',
      measure: 'real launches (recorder)',
      count: counts.launched,
    });
    recordTally({
      item: 'templates and commands',
      measure: 'argv/env shape changed',
      count: counts.shapeChanged,
      required: '= 0',
    });
    recordTally({
      item: 'templates and commands',
      measure: 'unexpected processes or canaries',
      count: unexpected,
      required: '= 0',
    });
    rmSync(base, { recursive: true, force: true });
    assert.deepEqual(problems, []);
    assert.deepEqual(trapCalls, [], 'no trapped program may run');
    assert.deepEqual(canaryFiles, [], 'no canary may be created');
    assert.equal(invocations, counts.launched, 'the recorder runs once per launch');
    assert.ok(counts.values >= 10_000, `only ${counts.values} hostile values`);
  });

  it('task exec templates: hostile config and data file names staged from the lake', async () => {
    // Pure: the staged paths as %DATA/%IN/%OUT change neither argv nor anything but the env.
    const templates = [
      `"${recorder}" -d %DATA -c "%IN" --out=%OUT`,
      `. /dev/null && "${recorder}" %DATA "$(printf '%s' %IN)" "x-%OUT" ; true`,
      `"${recorder}" <<EOF\n%DATA %IN\n%OUT\nEOF`,
    ].map((text) => parseExecTemplate(text));
    const stagingRoot = path.join(workRoot, 'staging');
    fc.assert(
      fc.property(
        fc.nat(templates.length - 1),
        hostileValue,
        hostileValue,
        hostileValue,
        (t, a, b, c) => {
          counts.values += 3;
          const template = templates[t];
          assert.ok(template);
          const values = {
            data: `${stagingRoot}/data/inc/${a}`,
            in: `${stagingRoot}/jobs/t-x-0-a1/in/${b}`,
            out: `${stagingRoot}/jobs/t-x-0-a1/${c}`,
          };
          const expectRefused = [values.data, values.in, values.out].some(
            (v) => v.includes('\0') || !wellFormed(v) || Buffer.byteLength(v) > maxExecValueBytes,
          );
          let spec: JobSpec;
          try {
            spec = taskJobSpec(
              { exec: template.source, timeoutSeconds: 60 },
              { computeJobId: 't-x-0-a1' },
              { values },
            );
          } catch (error) {
            if (!expectRefused || !isBatonError(error, 'validation')) {
              mismatch('task', `refused ${JSON.stringify(values).slice(0, 200)}: ${String(error)}`);
            }
            counts.rejected += 3;
            return;
          }
          if (expectRefused) mismatch('task', `accepted ${JSON.stringify(values).slice(0, 200)}`);
          if (JSON.stringify(spec.argv) !== JSON.stringify(['/bin/sh', '-c', template.script])) {
            mismatch('task', `argv ${JSON.stringify(spec.argv).slice(0, 200)}`);
          }
          const env = { BATON_DATA: values.data, BATON_IN: values.in, BATON_OUT: values.out };
          if (JSON.stringify(spec.env) !== JSON.stringify(env)) mismatch('task', 'env differs');
        },
      ),
      { seed, numRuns: pureRuns.task },
    );

    // Real: the names are files in a folder lake, staged by HostFolderStaging, launched.
    const lake = new FolderLake({ root: path.join(base, 'lake') });
    const staging = new HostFolderStaging({
      lake,
      root: stagingRoot,
      backends: ['local'],
      workRoot,
    });
    const exec = `"${recorder}" -d %DATA -c "%IN" --out=%OUT`;
    const names = sample(fc.tuple(hostileValue, hostileValue), launches.task * 5, 1);
    const usable: Array<[string, string, number]> = [];
    for (const [i, [config, data]] of names.entries()) {
      counts.values += 2;
      for (const name of [config, data]) {
        if (lakeNameOk(name)) continue;
        // What a file name cannot be is refused by the lake before any I/O, as validation.
        counts.rejected += 1;
        const refused = await lake.write(`users/t/r/${name}`, 'x').then(
          () => false,
          (error: unknown) => isBatonError(error, 'validation'),
        );
        // A name with a '/' is a path: the lake may take it as folders (not one name).
        if (!refused && !name.includes('/')) mismatch('task', `lake took ${JSON.stringify(name)}`);
      }
      if (fileNameOk(config) && fileNameOk(data) && usable.length < launches.task) {
        usable.push([config, data, i]);
      }
    }
    assert.ok(usable.length >= launches.task * 0.9, `only ${usable.length} usable names`);
    await pool(usable, 6, async ([config, data, i]) => {
      const configPath = `users/tester/cfg${i}/${config}`;
      const dataPath = `users/tester/data${i}/${data}`;
      await lake.write(configPath, `config ${i}`);
      await lake.write(`${dataPath}/part.csv`, `data ${i}`);
      const incarnation = taskIncarnation(`user.tester.t${i}`, '2026-01-01T00:00:00Z');
      const computeJobId = taskComputeJobId(incarnation, i, 1);
      const prepared = await staging.prepare({
        computeJobId,
        incarnation,
        data: { path: dataPath, kind: 'folder' },
        item: { path: configPath, name: config },
      });
      const spec = taskJobSpec({ exec, timeoutSeconds: 30 }, { computeJobId }, prepared);
      const cwd = path.join(workRoot, prepared.cwd ?? '');
      const record = await launchAndRecord(
        { argv: spec.argv, env: spec.env, ...(prepared.cwd ? { cwd: prepared.cwd } : {}) },
        cwd,
      );
      const v = prepared.values;
      if (readFileSync(v.in, 'utf8') !== `config ${i}`) mismatch('task', `staged ${v.in}`);
      if (path.basename(v.in) !== config || path.basename(v.data) !== data) {
        mismatch('task', `staged names ${v.in} ${v.data}`);
      }
      const want = ['-d', v.data, '-c', v.in, `--out=${v.out}`];
      if (JSON.stringify(record.argv) !== JSON.stringify(want)) {
        mismatch('task', `argv ${JSON.stringify(record.argv)} != ${JSON.stringify(want)}`);
      }
      compareEnv('task', record, { BATON_DATA: v.data, BATON_IN: v.in, BATON_OUT: v.out }, cwd);
    });
  });

  it('model-run config commands: list, quoted and raw command strings, command env', async () => {
    const configOf = (command: unknown, env: Record<string, string> = {}): string =>
      stringify({
        model_steps: ['step'],
        iterations: { total: 1 },
        sub_components: { step: { commands: [{ command, env }] } },
      });
    const argvOf = (yamlText: string): { argv: string[]; env: Record<string, string> } => {
      const { config } = parseModelConfig(yamlText, 'fuzz.yaml');
      const planned = planModelRun(config).entries[0]?.commands[0];
      assert.ok(planned);
      return { argv: planned.argv, env: planned.env };
    };
    const launchable: Array<{ argv: string[]; env: Record<string, string> }> = [];
    fc.assert(
      fc.property(hostileValue, (v) => {
        counts.values += 1;
        const hasNul = v.includes('\0') || !wellFormed(v);
        // 1. A list: argv as is, and the value in the command's env.
        try {
          const got = argvOf(configOf([recorder, v, `--opt=${v}`], { HOSTILE: v }));
          if (hasNul) mismatch('model', `list took NUL ${JSON.stringify(v)}`);
          if (JSON.stringify(got.argv) !== JSON.stringify([recorder, v, `--opt=${v}`])) {
            mismatch('model', `list argv ${JSON.stringify(got.argv).slice(0, 200)}`);
          }
          if (got.env.HOSTILE !== v || Object.keys(got.env).length !== 1) mismatch('model', 'env');
          if (launchable.length < launches.model / 3) launchable.push(got);
        } catch (error) {
          if (!hasNul || !isBatonError(error, 'validation'))
            mismatch('model', `list: ${String(error)}`);
          counts.rejected += 1;
        }
        // 2. A string, the value quoted as the docs say: one argument, exactly the value.
        const quoted = `${recorder} -x ${quoteShellWord(v)} --flag=${quoteShellWord(v)}`;
        try {
          const got = argvOf(configOf(quoted));
          if (hasNul) mismatch('model', `quoted took NUL`);
          if (JSON.stringify(got.argv) !== JSON.stringify([recorder, '-x', v, `--flag=${v}`])) {
            mismatch(
              'model',
              `quoted ${JSON.stringify(quoted).slice(0, 150)} -> ${JSON.stringify(got.argv).slice(0, 150)}`,
            );
          }
          if (launchable.length < (2 * launches.model) / 3) launchable.push(got);
        } catch (error) {
          if (!hasNul || !isBatonError(error, 'validation'))
            mismatch('model', `quoted: ${String(error)}`);
        }
        // 3. A string with the value pasted raw: refused, or plain words for the program.
        const raw = `${recorder} ${v}`;
        let words: string[] | undefined;
        try {
          words = argvOf(configOf(raw)).argv;
        } catch (error) {
          if (!isBatonError(error, 'validation')) mismatch('model', `raw: ${String(error)}`);
        }
        const oracle = plainWords(raw);
        if (oracle === 'refuse' && words !== undefined) {
          mismatch('model', `raw ${JSON.stringify(raw)} accepted as ${JSON.stringify(words)}`);
        }
        if (Array.isArray(oracle) && JSON.stringify(words) !== JSON.stringify(oracle)) {
          mismatch(
            'model',
            `raw ${JSON.stringify(raw)} -> ${JSON.stringify(words)} != ${JSON.stringify(oracle)}`,
          );
        }
        if (words !== undefined && words[0] !== recorder)
          mismatch('model', 'raw changed the program');
        if (words !== undefined && launchable.length < launches.model)
          launchable.push({ argv: words, env: {} });
      }),
      { seed: seed + 2, numRuns: pureRuns.model },
    );
    await pool(launchable, 6, async (command) => {
      const cwd = freshCwd('model');
      const record = await launchAndRecord(
        { argv: command.argv, env: command.env, cwd: cwd.relative },
        cwd.absolute,
      );
      if (JSON.stringify(record.argv) !== JSON.stringify(command.argv.slice(1))) {
        mismatch('model', `launched ${JSON.stringify(record.argv).slice(0, 200)}`);
      }
      compareEnv('model', record, command.env, cwd.absolute);
    });
    assert.ok(launchable.length >= launches.model * 0.9, `only ${launchable.length} launchable`);
  });

  it('beamline hpc.<site>.local commands: hostile file paths and options', async () => {
    const configDir = path.join(base, 'beamline config');
    const source = stringify({
      beamline: 'bl',
      endpoints: {
        raw: { kind: 'folder', root: 'raw', offsite: false, home: true },
        data: { kind: 'folder', root: 'data', offsite: false },
        scratch: { kind: 'folder', root: 'scratch', offsite: true },
      },
      new_file: { source: 'raw', destination: 'data' },
      hpc: {
        nersc: {
          endpoint: 'raw',
          scratch: 'scratch',
          superfacility_url: 'https://api.nersc.invalid/api',
          account: 'a',
          image: 'recon',
          local: {
            reconstruct: [recorder, '--in', '{input}', '--out={output}', '{config_dir}/s.mjs'],
            multi_resolution: [recorder, '{input}{output}', '{output}'],
          },
        },
      },
      catalogue: { kind: 'local' },
      images: { recon: 'img' },
      decision: { local_file_management: true, nersc: true, alcf: false, send_to_nersc: false },
    });
    const beamline = parseBeamlineConfig(source, 'beamline.yaml');
    const captured: JobSpec[] = [];
    const capture: ComputeBackend = {
      name: 'capture',
      launch: async (spec: JobSpec): Promise<JobStatus> => {
        // What every backend checks before launching (processCompute and ACI alike).
        checkArgv(spec.argv);
        checkEnv(spec.env);
        captured.push(spec);
        return { jobId: spec.jobId, state: 'pending' };
      },
      status: async (jobId: string): Promise<JobStatus> => ({ jobId, state: 'pending' }),
      logs: async () => '',
      metrics: async () => [],
      cancel: async (jobId: string): Promise<JobStatus> => ({ jobId, state: 'canceled' }),
      release: async () => undefined,
    };
    const pureSite = hpcControllerFor('nersc', {
      beamline,
      localRunner: { backend: capture, configDir },
    });
    const rawRoot = path.join(base, 'beam', 'raw');
    const scratchRoot = path.join(base, 'beam', 'scratch');
    const badPath = (p: string): boolean =>
      // eslint-disable-next-line no-control-regex
      /[\u0000-\u001f\u007f]/.test(p) ||
      p.split('/').some((s) => s === '.' || s === '..') ||
      p.length > 4096;
    const launchable: Array<{ input: string; output: string; option: string }> = [];
    let serial = 0;
    await fc.assert(
      fc.asyncProperty(hostileValue, fc.boolean(), async (v, multi) => {
        counts.values += 1;
        const input = `${rawRoot}/${v}`;
        const output = `${scratchRoot}/rec_${v}`;
        const jobId = `b-${serial++}`;
        captured.length = 0;
        const request = { jobId, input, output, options: { note: v } };
        const expectRefused = badPath(input) || badPath(output) || !wellFormed(v);
        try {
          if (multi) await pureSite.buildMultiResolution(request);
          else await pureSite.reconstruct(request);
        } catch (error) {
          if (!expectRefused || !isBatonError(error, 'validation')) {
            mismatch('beamline', `refused ${JSON.stringify(v).slice(0, 100)}: ${String(error)}`);
          }
          counts.rejected += 1;
          return;
        }
        if (expectRefused) mismatch('beamline', `accepted ${JSON.stringify(v).slice(0, 100)}`);
        const spec = captured[0];
        const want = multi
          ? [recorder, `${input}${output}`, output]
          : [recorder, '--in', input, `--out=${output}`, `${configDir}/s.mjs`];
        if (captured.length !== 1 || JSON.stringify(spec?.argv) !== JSON.stringify(want)) {
          mismatch('beamline', `argv ${JSON.stringify(spec?.argv).slice(0, 200)}`);
        }
        const env = {
          BATON_HPC_TASK: multi ? 'multi_resolution' : 'reconstruct',
          BATON_OPT_NOTE: v,
        };
        if (JSON.stringify(spec?.env) !== JSON.stringify(env)) mismatch('beamline', 'env differs');
        if (!multi && launchable.length < launches.beamline)
          launchable.push({ input, output, option: v });
      }),
      { seed: seed + 3, numRuns: pureRuns.beamline },
    );
    // Option names are the only other way in: anything but [A-Za-z0-9_] is refused.
    const badKey = await pureSite
      .reconstruct({ jobId: 'b-key', input: rawRoot, output: scratchRoot, options: { 'a;b': 1 } })
      .then(
        () => false,
        (error: unknown) => isBatonError(error, 'validation'),
      );
    assert.ok(badKey, 'an option name outside [A-Za-z0-9_] is refused');

    const runner = beamline.hpc.nersc?.local;
    assert.ok(runner);
    await pool(launchable, 6, async (item, i) => {
      const cwd = freshCwd('beamline');
      // The same site on the real backend, run in a fresh folder so each run keeps its record
      // (hpcControllerFor's local runner runs every script in the work root itself).
      const site = new LocalHpcSite({
        site: 'nersc',
        backend,
        reconstruct: runner.reconstruct.map((arg) => arg.replaceAll('{config_dir}', configDir)),
        multiResolution: runner.multi_resolution,
        cwd: cwd.relative,
      });
      const status = await site.reconstruct({
        jobId: `bl-${i}`,
        input: item.input,
        output: item.output,
        options: { note: item.option },
      });
      await waitForJob(backend, status.jobId, { timeoutMs: 30_000, pollMs: 20 });
      counts.launched += 1;
      const record = readRecord(cwd.absolute);
      assert.ok(record, `bl-${i}: no record`);
      const want = ['--in', item.input, `--out=${item.output}`, `${configDir}/s.mjs`];
      if (JSON.stringify(record.argv) !== JSON.stringify(want)) {
        mismatch('beamline', `launched ${JSON.stringify(record.argv).slice(0, 200)}`);
      }
      compareEnv(
        'beamline',
        record,
        { BATON_HPC_TASK: 'reconstruct', BATON_OPT_NOTE: item.option },
        cwd.absolute,
      );
    });
    assert.ok(launchable.length >= launches.beamline * 0.9);
  });

  it('ML trial jobs: hostile argv, env and search-space values (pure, launched, and one live sweep)', async () => {
    const launchable: Array<{ argv: string[]; env: Record<string, string> }> = [];
    fc.assert(
      fc.property(hostileValue, hostileValue, fc.nat(1000), (arg, choice, index) => {
        counts.values += 2;
        const params = {
          space: { v: { type: 'choice', values: [choice, 'plain'] } },
          objective: { metric: 'loss', direction: 'minimize' },
          budget: { maxTrials: 2 },
          trial: { argv: [recorder, arg, `--x=${arg}`], env: { HOSTILE: arg } },
        };
        const parsed = sweepParamsSchema.safeParse(params);
        const refuse = choice.length > 1000;
        if (!parsed.success) {
          counts.rejected += 1;
          if (!refuse) {
            mismatch(
              'ml',
              `refused ${JSON.stringify([arg, choice]).slice(0, 150)}: ${parsed.error.message.slice(0, 200)}`,
            );
          }
          return;
        }
        if (refuse) mismatch('ml', 'took a choice over 1000 characters');
        const trial = parsed.data.trial;
        if (JSON.stringify(trial.argv) !== JSON.stringify([recorder, arg, `--x=${arg}`])) {
          mismatch('ml', `argv ${JSON.stringify(trial.argv).slice(0, 150)}`);
        }
        if (trial.env?.HOSTILE !== arg) mismatch('ml', 'env');
        const picked = sampleRandom(parsed.data.space, parsed.data.seed, index);
        const sent = JSON.stringify(picked);
        const back = JSON.parse(sent) as { v: unknown };
        if (back.v !== choice && back.v !== 'plain')
          mismatch('ml', `BATON_PARAMS ${sent.slice(0, 100)}`);
        // NUL cannot be in an argv or env string: the backend refuses it (checked below).
        if (launchable.length < launches.ml && !arg.includes('\0')) {
          launchable.push({ argv: trial.argv, env: { ...trial.env, BATON_PARAMS: sent } });
        }
      }),
      { seed: seed + 4, numRuns: pureRuns.ml },
    );
    await pool(launchable, 6, async (job) => {
      const cwd = freshCwd('ml');
      if (!job.argv.every(wellFormed)) {
        const refused = await backend
          .launch({
            jobId: `m${(jobSerial++).toString(36)}`,
            argv: job.argv,
            env: job.env,
            cwd: cwd.relative,
          })
          .then(
            () => false,
            (error: unknown) => isBatonError(error, 'validation'),
          );
        if (!refused) mismatch('ml', `launched a lone surrogate ${JSON.stringify(job.argv)}`);
        counts.rejected += 1;
        return;
      }
      const record = await launchAndRecord(
        { argv: job.argv, env: job.env, cwd: cwd.relative },
        cwd.absolute,
      );
      if (JSON.stringify(record.argv) !== JSON.stringify(job.argv.slice(1))) {
        mismatch('ml', `launched ${JSON.stringify(record.argv).slice(0, 200)}`);
      }
      compareEnv('ml', record, job.env, cwd.absolute);
    });

    // A live sweep on an in-process host: trial argv and choices hostile, each trial's job
    // records what it got; BATON_PARAMS must be the trial's params.json, byte for byte.
    const stateDir = path.join(base, 'host');
    const choices = [
      ...canaries.slice(0, 3),
      '-rf',
      `\u202E${lookAlikes[0] ?? ''}`,
      `${'$(x)'.repeat(200)}`,
    ].slice(0, sweepTrials);
    const argv = [recorder, '--', canaries[3] ?? '', `--opt=${canaries[6] ?? ''}`, '-rf'];
    const host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_JOB_WATCH_SCHEDULE: '* * * * * *' },
    });
    try {
      const view = await runToEnd<{ runId: string; status: string }>(
        host.url,
        {
          pipeline: 'sweep',
          params: {
            experiment: 'hostile',
            space: { v: { type: 'choice', values: choices } },
            objective: { metric: 'loss', direction: 'minimize' },
            budget: { maxTrials: sweepTrials },
            parallelism: 3,
            sampler: { kind: 'grid' },
            trial: { argv, env: { HOSTILE: canaries[0] ?? '' }, timeoutSeconds: 30 },
          },
        },
        60_000,
      );
      const trials = path.join(stateDir, 'sweeps', view.runId);
      const folders = readdirSync(trials).filter((name) => name.startsWith('trial-'));
      assert.equal(folders.length, sweepTrials, JSON.stringify(view));
      const seen = new Set<unknown>();
      for (const folder of folders) {
        const cwd = path.join(trials, folder);
        const record = readRecord(cwd);
        assert.ok(record, `${folder}: the trial's job did not run`);
        counts.launched += 1;
        counts.values += argv.length - 1 + 1;
        if (JSON.stringify(record.argv) !== JSON.stringify(argv.slice(1))) {
          mismatch('sweep', `argv ${JSON.stringify(record.argv).slice(0, 200)}`);
        }
        const params = readFileSync(path.join(cwd, 'params.json'), 'utf8');
        const sent = record.env.get('BATON_PARAMS') ?? '';
        if (JSON.stringify(JSON.parse(sent)) !== JSON.stringify(JSON.parse(params))) {
          mismatch('sweep', `BATON_PARAMS ${sent.slice(0, 100)}`);
        }
        seen.add((JSON.parse(sent) as { v: unknown }).v);
        if (record.env.get('HOSTILE') !== canaries[0]) mismatch('sweep', 'HOSTILE env');
        const extraKeys = ['BATON_PARAMS', 'BATON_METRICS_FILE', 'BATON_TRIAL', 'HOSTILE'];
        const keys = [...record.env.keys()].sort();
        const want = [...new Set([...referenceEnvKeys, ...extraKeys])].sort();
        if (JSON.stringify(keys) !== JSON.stringify(want))
          mismatch('sweep', `env keys ${keys.join(',')}`);
      }
      assert.equal(seen.size, sweepTrials, 'the grid gives each hostile choice to one trial');
    } finally {
      await host.stop();
    }
  });

  it('dataset and task names: refused, or path-safe all the way to job ids and folders', () => {
    fc.assert(
      fc.property(hostileValue, (v) => {
        counts.values += 1;
        const name = `user.tester.${v}`;
        const safe =
          /^[A-Za-z0-9._-]{1,200}$/.test(v) &&
          !v.startsWith('.') &&
          !v.endsWith('.') &&
          !v.includes('..');
        for (const parse of [parseDatasetName, parseTaskName]) {
          let accepted = false;
          try {
            const parsed = parse(name);
            accepted = true;
            if (parsed.owner !== 'tester' || parsed.rest !== v) mismatch('names', `parsed ${name}`);
          } catch (error) {
            if (!isBatonError(error, 'validation')) mismatch('names', `${name}: ${String(error)}`);
          }
          if (accepted !== safe) mismatch('names', `${JSON.stringify(name)} accepted=${accepted}`);
        }
        if (!safe) {
          counts.rejected += 1;
          return;
        }
        const id = taskComputeJobId(taskIncarnation(name, '2026-01-01T00:00:00Z'), 3, 1);
        if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(id)) mismatch('names', `job id ${id}`);
      }),
      { seed: seed + 5, numRuns: pureRuns.names },
    );
  });
});

/**
 * An independent oracle for `splitShellWords` on text without quotes or backslashes: refused
 * if a shell would treat part of it as more than words, else split on blanks. Text with quotes
 * or backslashes returns 'unknown' (checked by the round trip through quoteShellWord instead).
 */
function plainWords(line: string): string[] | 'refuse' | 'unknown' {
  if (line.includes('\0') || /[\uD800-\uDFFF]/u.test(line)) return 'refuse';
  if (/['"\\]/.test(line)) return 'unknown';
  const firstLine = line.split('\n');
  if (firstLine.length > 1 && firstLine.slice(1).join('\n').trim() !== '') return 'refuse';
  const text = firstLine[0] ?? '';
  if (/[|&;<>()`]/.test(text) || /\$[({A-Za-z_]/.test(text)) return 'refuse';
  const words = text.split(/[ \t\r]+/).filter((w) => w !== '');
  if (words.some((w) => w.startsWith('#'))) return 'refuse';
  return words;
}

// Fuzzes buildJobCommand with hostile %DATA/%IN/%OUT values: first the pure property (the
// command never depends on a value except through env), then a sample really run by /bin/sh,
// checking what the process saw and that nothing else happened (a canary file in its cwd).
// Fixed seeds, so a failure reproduces; the counts are printed as a table at the end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { isBatonError } from '../../shared/domain/errors.js';
import {
  buildJobCommand,
  maxExecValueBytes,
  parseExecTemplate,
  type ExecValues,
  type JobCommand,
} from '../../shared/domain/execTemplate.js';

const seed = 20250101;
const propertyRuns = 5000; // x3 values each
const executedSamples = 500;

const counts = {
  generated: 0,
  accepted: 0,
  rejected: 0,
  directChecked: 0,
  executed: 0,
  injections: 0,
};

// ---- hostile values ------------------------------------------------------------------------

const canaries = [
  '$(touch CANARY)',
  '`touch CANARY`',
  '; touch CANARY',
  '&& touch CANARY',
  '| touch CANARY',
  '\ntouch CANARY\n',
  '"; touch CANARY; "',
  "'; touch CANARY; '",
  '$(touch${IFS}CANARY)',
  '"$(touch CANARY)"',
  '\\"; touch CANARY #',
  '${x:-$(touch CANARY)}',
  '$((`touch CANARY`))',
  'EOF\ntouch CANARY\nEOF',
  '%DATA; touch CANARY',
];
const curated = [
  ...canaries,
  "'",
  '"',
  '`',
  '\\',
  '$',
  '%DATA',
  '%IN %OUT',
  '%FOO',
  '-rf',
  '--help',
  '-',
  '../../../etc/passwd',
  '/',
  '*',
  '?',
  '[a-z]*',
  '{a,b}',
  '~',
  '~root',
  '$HOME',
  '${IFS}',
  '$IFS',
  '$@',
  '$0',
  '!!',
  '#',
  ' ',
  '\t',
  '\n',
  '\r',
  '\r\n',
  ' leading and trailing ',
  'a\u202Eb',
  '\u202E\u2066evil\u2069',
  'é中😀',
  '\u0085\u2028\u2029',
  '\x1b[31mred\x1b[0m',
  '\x7f\x01\x02',
];
const fragments = [
  ...curated,
  ';',
  '&&',
  '||',
  '|',
  '&',
  '>',
  '<',
  '<<EOF',
  '>>',
  '(',
  ')',
  '$(',
  '=',
  'a',
  'CANARY',
  '%s',
  '%%',
  '\\0',
  '\\n',
];
const hostileChars = [
  ...'\'"`$();&|<>\n\r\t *?[]{}~#!\\%=-./',
  'a',
  'Z',
  '0',
  '\u202E',
  '中',
  '😀',
];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const withInsert = (bad: fc.Arbitrary<string>) =>
  fc
    .tuple(fc.string({ unit: fc.constantFrom(...hostileChars), maxLength: 20 }), bad, fc.nat())
    .map(([text, b, at]) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + b + text.slice(i);
    });
/** Exactly `bytes` UTF-8 bytes of a hostile pattern (ASCII, so chars = bytes). */
const longValue = (bytes: number) =>
  fc
    .constantFrom('$(touch CANARY);', '\'"`\\\n', '../-rf *?[ ')
    .map((unit) => unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes));

const hostileValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...curated), weight: 6 },
  {
    arbitrary: fc
      .array(fc.constantFrom(...fragments), { minLength: 1, maxLength: 10 })
      .map((a) => a.join('')),
    weight: 8,
  },
  {
    arbitrary: fc.string({ unit: fc.constantFrom(...hostileChars), minLength: 1, maxLength: 40 }),
    weight: 6,
  },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }), weight: 2 },
  { arbitrary: longValue(maxExecValueBytes), weight: 1 },
  { arbitrary: fc.constant('中'.repeat(Math.floor(maxExecValueBytes / 3))), weight: 1 },
  // Must be refused, cleanly, as validation:
  { arbitrary: withInsert(fc.constant('\0')), weight: 2 },
  { arbitrary: withInsert(loneSurrogate), weight: 1 },
  { arbitrary: longValue(maxExecValueBytes + 1), weight: 1 },
  { arbitrary: fc.constant(''), weight: 1 },
);

/** Independent oracle: what buildJobCommand must accept. */
function acceptable(value: string): boolean {
  return (
    value !== '' &&
    !value.includes('\0') &&
    Buffer.from(value, 'utf8').toString('utf8') === value && // no lone surrogates
    Buffer.byteLength(value, 'utf8') <= maxExecValueBytes
  );
}

// ---- templates -----------------------------------------------------------------------------

const fields = ['data', 'in', 'out'] as const;

/** Shell templates, each with what its process must print (NUL-separated) for given values. */
const executable: { text: string; expect: (v: ExecValues) => string[] }[] = [
  {
    text: `printf '%s\\0' %DATA %IN %OUT > "$OUT_FILE_FOR_TEST"`,
    expect: (v) => [v.data, v.in, v.out],
  },
  {
    text: `printf '%s\\0' --data=%DATA "--in=%IN" %OUT/result.json > "$OUT_FILE_FOR_TEST"`,
    expect: (v) => [`--data=${v.data}`, `--in=${v.in}`, `${v.out}/result.json`],
  },
  {
    text: `: setup && x="<%DATA>" && printf '%s\\0' "$x" "$(printf '%s.' %IN)" %OUT > "$OUT_FILE_FOR_TEST" && true`,
    expect: (v) => [`<${v.data}>`, `${v.in}.`, v.out],
  },
  {
    text: `{ printf '%s\\0' %DATA\ncat <<EOF\n%IN\nEOF\nprintf '\\0%s\\0' %OUT; } > "$OUT_FILE_FOR_TEST" # done`,
    expect: (v) => [v.data, `${v.in}\n`, v.out],
  },
];
/** More shapes for the pure property (never run). */
const pureOnly = [
  'python3 /job_tuning.py -d %DATA -c %IN -o %OUT',
  '. /setup_envs.sh && python3 /job_tuning.py -d %DATA -c %IN -o %OUT && python3 /after_job.py',
  'd="$(dirname %OUT)"; mkdir -p "$d" && run "%DATA" %IN | tee "%OUT.log"',
];
const templates = [...executable.map((t) => t.text), ...pureOnly].map((text) =>
  parseExecTemplate(text),
);
const plain = parseExecTemplate('python3 /job_tuning.py -d %DATA -c %IN -o %OUT');

const envOf = (v: ExecValues): [string, string][] => [
  ['BATON_DATA', v.data],
  ['BATON_IN', v.in],
  ['BATON_OUT', v.out],
];

const triple = fc.record({ data: hostileValue, in: hostileValue, out: hostileValue });

// ---- running -------------------------------------------------------------------------------

const cwd = mkdtempSync(path.join(os.tmpdir(), 'baton-fuzz-cwd-'));
const outDir = mkdtempSync(path.join(os.tmpdir(), 'baton-fuzz-out-'));
after(() => {
  rmSync(cwd, { recursive: true, force: true });
  rmSync(outDir, { recursive: true, force: true });
});

function execute(
  command: JobCommand,
  outFile: string,
): Promise<{ code: number | null; stderr: string }> {
  const [program, ...args] = command.argv;
  return new Promise((resolve, reject) => {
    const child = spawn(program ?? '', args, {
      cwd,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...command.env, OUT_FILE_FOR_TEST: outFile },
      shell: false,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

async function pool<T>(
  items: readonly T[],
  width: number,
  work: (item: T, i: number) => Promise<void>,
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

describe('buildJobCommand under hostile values (fuzz)', () => {
  it(`never lets a value into the script: ${propertyRuns * 3} values, fixed seed ${seed}`, () => {
    const scripts = templates.map((t) => t.script);
    fc.assert(
      fc.property(fc.nat(templates.length - 1), triple, (which, values) => {
        counts.generated += 3;
        const template = templates[which];
        assert.ok(template !== undefined);
        const firstBad = fields.find((f) => !acceptable(values[f]));
        if (firstBad !== undefined) {
          counts.accepted += fields.filter((f) => acceptable(values[f])).length;
          counts.rejected += fields.filter((f) => !acceptable(values[f])).length;
          let error: unknown;
          try {
            buildJobCommand(template, values);
          } catch (caught) {
            error = caught;
          }
          assert.ok(isBatonError(error, 'validation'), `expected validation, got ${String(error)}`);
          assert.equal(error.field, firstBad);
          return;
        }
        counts.accepted += 3;
        const command = buildJobCommand(template, values);
        const script = command.argv[2] ?? '';
        const leaked = fields.some(
          (f) => script.includes(values[f]) && !(scripts[which] ?? '').includes(values[f]),
        );
        if (script !== scripts[which] || leaked) counts.injections += 1;
        assert.deepEqual(command.argv, ['/bin/sh', '-c', scripts[which]]);
        assert.deepEqual(command.env, {
          BATON_DATA: values.data,
          BATON_IN: values.in,
          BATON_OUT: values.out,
        });
        const env: Record<string, string> = command.env;
        for (const [name, value] of envOf(values)) {
          const sent = Buffer.from(env[name] ?? '', 'utf8');
          assert.ok(sent.equals(Buffer.from(value, 'utf8')), name);
        }
        // The no-shell form of a plain template: each value one whole argv element.
        const direct = buildJobCommand(plain, values, { mode: 'auto' });
        assert.deepEqual(direct.argv, [
          'python3',
          '/job_tuning.py',
          '-d',
          values.data,
          '-c',
          values.in,
          '-o',
          values.out,
        ]);
        counts.directChecked += 1;
      }),
      { seed, numRuns: propertyRuns },
    );
    assert.ok(counts.generated >= 10_000, `only ${counts.generated} values`);
  });

  it(`runs ${executedSamples} of them through /bin/sh: exact values, no side effect`, async () => {
    const canaryTriples: ExecValues[] = canaries.map((c, i) => ({
      data: c,
      in: canaries[(i + 1) % canaries.length] ?? c,
      out: canaries[(i + 2) % canaries.length] ?? c,
    }));
    const sampled = fc
      .sample(triple, { seed: seed + 1, numRuns: executedSamples * 2 })
      .filter((v) => fields.every((f) => acceptable(v[f])));
    const runs = [...canaryTriples, ...sampled].slice(0, executedSamples);
    assert.equal(runs.length, executedSamples);
    const failures: string[] = [];
    await pool(runs, 16, async (values, i) => {
      const template = executable[i % executable.length];
      assert.ok(template !== undefined);
      const outFile = path.join(outDir, `run-${i}`);
      const result = await execute(buildJobCommand(template.text, values), outFile);
      counts.executed += 1;
      const expected = template.expect(values).map((s) => Buffer.from(s, 'utf8'));
      const printed = readFileSync(outFile);
      const got: Buffer[] = [];
      for (let start = 0; start < printed.length;) {
        const end = printed.indexOf(0, start);
        got.push(printed.subarray(start, end === -1 ? printed.length : end));
        start = end === -1 ? printed.length : end + 1;
      }
      const same =
        got.length === expected.length &&
        got.every((b, k) => b.equals(expected[k] ?? Buffer.alloc(0)));
      if (result.code !== 0 || !same) {
        counts.injections += 1;
        failures.push(
          `#${i} ${JSON.stringify(values).slice(0, 300)} code=${result.code} ${result.stderr}`,
        );
      }
    });
    const sideEffects = readdirSync(cwd);
    counts.injections += sideEffects.length;
    assert.deepEqual(failures, []);
    assert.deepEqual(sideEffects, [], 'the job cwd must stay empty (no CANARY)');
    assert.equal(readdirSync(outDir).length, executedSamples);
  });

  after(() => {
    const rows: [string, number][] = [
      ['values generated', counts.generated],
      ['  accepted', counts.accepted],
      ['  rejected as validation', counts.rejected],
      ['plain-argv checks', counts.directChecked],
      ['commands executed', counts.executed],
      ['injections found', counts.injections],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    const lines = rows.map(([label, n]) => `| ${label.padEnd(width)} | ${String(n).padStart(6)} |`);
    const rule = `+${'-'.repeat(width + 2)}+${'-'.repeat(8)}+`;
    console.log(['', 'execTemplate fuzz', rule, ...lines, rule].join('\n'));
  });
});

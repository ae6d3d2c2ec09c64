import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  buildJobCommand,
  maxExecTemplateBytes,
  maxExecValueBytes,
  parseExecTemplate,
  type ExecTemplate,
  type ExecValues,
  type JobCommand,
} from '../../shared/domain/execTemplate.js';
import { expectBatonError } from './batonErrorAssert.js';

const orchestraExec = 'python3 /job_tuning.py -d %DATA -c %IN -o %OUT';
const values: ExecValues = { data: 'data/a b.pic', in: 'cfg/*.json', out: 'out/$(x)' };

const scriptOf = (text: string): string => parseExecTemplate(text).script;

/** Asserts a `validation` error on field `exec` whose message contains `part`. */
function rejects(text: unknown, part: string): void {
  const error = expectBatonError(() => parseExecTemplate(text));
  assert.equal(error.field, 'exec');
  assert.ok(error.message.startsWith('exec: '), error.message);
  assert.ok(error.message.includes(part), `${JSON.stringify(error.message)} lacks ${part}`);
}

/** Runs a command the way the local backend does: argv array, no shell, minimal env. */
function run(
  command: JobCommand,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const [program, ...args] = command.argv;
  return new Promise((resolve, reject) => {
    const child = spawn(program ?? '', args, {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...command.env },
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

/** The NUL-separated fields a `printf '%s\0' ...` printed. */
function fields(stdout: Buffer): string[] {
  const parts = stdout.toString('utf8').split('\0');
  assert.equal(parts.pop(), '', 'output ends with NUL');
  return parts;
}

async function seen(text: string, vals: ExecValues, mode: 'shell' | 'direct' = 'shell') {
  const result = await run(buildJobCommand(text, vals, { mode }));
  assert.equal(result.code, 0, result.stderr);
  return fields(result.stdout);
}

describe('parseExecTemplate: Orchestra templates', () => {
  it('accepts the documented templates, each token replaced by a quoted reference', () => {
    assert.equal(
      scriptOf(orchestraExec),
      'python3 /job_tuning.py -d "$BATON_DATA" -c "$BATON_IN" -o "$BATON_OUT"',
    );
    assert.equal(
      scriptOf(`. /setup_envs.sh && ${orchestraExec}`),
      '. /setup_envs.sh && python3 /job_tuning.py -d "$BATON_DATA" -c "$BATON_IN" -o "$BATON_OUT"',
    );
    assert.equal(
      scriptOf(`${orchestraExec} && python3 /after_job.py`),
      'python3 /job_tuning.py -d "$BATON_DATA" -c "$BATON_IN" -o "$BATON_OUT" && python3 /after_job.py',
    );
  });

  it('keeps the source and freezes the result', () => {
    const template = parseExecTemplate(orchestraExec);
    assert.equal(template.source, orchestraExec);
    assert.ok(Object.isFrozen(template));
  });

  it('allows each token several times', () => {
    assert.equal(
      scriptOf('cp %DATA %OUT/a && cp %DATA %OUT/b && run %IN %IN'),
      'cp "$BATON_DATA" "$BATON_OUT"/a && cp "$BATON_DATA" "$BATON_OUT"/b && run "$BATON_IN" "$BATON_IN"',
    );
  });
});

describe('parseExecTemplate: what it rejects', () => {
  it('names the missing token', () => {
    rejects('python3 job.py -d %DATA -c %IN', '%OUT is missing');
    rejects('python3 job.py -d %DATA -o %OUT', '%IN is missing');
    rejects('python3 job.py -c %IN -o %OUT', '%DATA is missing');
    rejects('python3 job.py -d %DATA', '%IN and %OUT are missing');
    rejects('python3 job.py', '%DATA, %IN and %OUT are missing');
  });

  it('does not count a token in a comment', () => {
    rejects('run %DATA %IN # writes to %OUT', '%OUT is missing');
  });

  it('rejects non-strings, empty and blank templates', () => {
    rejects(undefined, 'must be a string');
    rejects(42, 'must be a string');
    rejects('', 'must not be empty');
    rejects(' \t\n ', 'must not be empty');
  });

  it('rejects NUL, carriage returns and lone surrogates', () => {
    rejects(`${orchestraExec}\0`, 'NUL');
    rejects(`run %DATA\0 %IN %OUT`, 'NUL');
    rejects(`${orchestraExec}\r\n`, 'carriage return');
    rejects(`${orchestraExec} \uD800`, 'lone surrogates');
  });

  it('rejects templates over 4 KiB (counted in UTF-8 bytes)', () => {
    const pad = (bytes: number, unit: string) =>
      `${orchestraExec} #${unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)))}`;
    const exact = `${orchestraExec} #`.padEnd(maxExecTemplateBytes, 'x');
    assert.equal(Buffer.byteLength(exact), maxExecTemplateBytes);
    assert.equal(parseExecTemplate(exact).source, exact);
    rejects(`${exact}x`, 'at most 4096 bytes (is 4097)');
    rejects(pad(4096, 'é'), 'at most 4096 bytes');
  });

  it('rejects unknown and misspelt tokens with a hint', () => {
    rejects(`${orchestraExec} %FOO`, 'unknown token %FOO');
    rejects(`${orchestraExec} %FOO`, "write %''FOO");
    rejects(`${orchestraExec} --x=%DATA_DIR`, '%DATA_DIR is not a token');
    rejects(`${orchestraExec} %INPUT`, '%INPUT is not a token');
    rejects(`${orchestraExec} %OUTfile`, "quote it: %OUT'file'");
    rejects('run %data %IN %OUT', 'tokens are written in capitals (%DATA)');
    rejects(`${orchestraExec} '%XY'`, 'unknown token %XY');
  });

  it('rejects a token inside single quotes, where the shell would not expand it', () => {
    rejects("run '%DATA' %IN %OUT", '%DATA is inside single quotes');
    rejects("run '--data=%DATA' %IN %OUT", "'--data='%DATA");
    rejects(`run "it's" '%IN' %DATA %OUT`, '%IN is inside single quotes');
  });

  it('rejects tokens the shell would not substitute as one word', () => {
    rejects('run `cat %DATA` %IN %OUT', 'inside backquotes');
    rejects('run "`cat %DATA`" %IN %OUT', 'inside backquotes');
    rejects('run ${X:-%DATA} %IN %OUT', 'inside ${...}');
    rejects('run "${X:-%DATA}" %IN %OUT', 'inside ${...}');
    rejects('run $((1 + %DATA)) %IN %OUT', 'arithmetic');
    rejects('run \\%DATA %IN %OUT', '%DATA follows a backslash');
    rejects('run "\\%DATA" %IN %OUT', '%DATA follows a backslash');
    rejects('cat <<%DATA\nx\n%DATA\nrun %IN %OUT', 'here-document delimiter');
    rejects("cat <<'EOF'\n%DATA\nEOF\nrun %IN %OUT", 'quoted delimiter');
    rejects('cat <<EOF\n$(cat %DATA)\nEOF\nrun %IN %OUT', 'shares a here-document line');
  });

  it("rejects unterminated quotes and substitutions, and $'...'", () => {
    rejects(`${orchestraExec} 'oops`, 'single quote at offset');
    rejects(`${orchestraExec} "oops`, 'double quote at offset');
    rejects(`${orchestraExec} \`oops`, 'backquote at offset');
    rejects(`${orchestraExec} $(oops`, 'never closed by )');
    rejects(`${orchestraExec} "$(oops"`, 'never closed');
    rejects(`${orchestraExec} \${oops`, 'never closed');
    rejects(`${orchestraExec} $'\\n'`, "$'...' quoting is not supported");
    rejects(`${orchestraExec} <<`, 'has no delimiter word');
  });
});

describe('parseExecTemplate: quoting contexts', () => {
  it('keeps adjacent text in the same word', () => {
    assert.equal(
      scriptOf('run --data=%DATA -c %IN %OUT/result.json'),
      'run --data="$BATON_DATA" -c "$BATON_IN" "$BATON_OUT"/result.json',
    );
    assert.equal(scriptOf('run a%DATA%IN%OUT'), 'run a"$BATON_DATA""$BATON_IN""$BATON_OUT"');
  });

  it('adds no quotes of its own inside double quotes', () => {
    assert.equal(
      scriptOf('run "--data=%DATA" "%IN and %OUT"'),
      'run "--data=${BATON_DATA}" "${BATON_IN} and ${BATON_OUT}"',
    );
  });

  it('quotes again inside $(...), also within double quotes', () => {
    assert.equal(
      scriptOf('d="$(dirname %OUT)"; run $(cat %IN) "%DATA"'),
      'd="$(dirname "$BATON_OUT")"; run $(cat "$BATON_IN") "${BATON_DATA}"',
    );
    assert.equal(
      scriptOf('x="a $(echo "b %DATA" $(echo %IN)) c %OUT"'),
      'x="a $(echo "b ${BATON_DATA}" $(echo "$BATON_IN")) c ${BATON_OUT}"',
    );
  });

  it('tells a case pattern ) from the end of $(...)', () => {
    assert.equal(
      scriptOf('k="$(case %DATA in *.gz) echo z;; (*) echo p;; esac) %IN" && run %OUT'),
      'k="$(case "$BATON_DATA" in *.gz) echo z;; (*) echo p;; esac) ${BATON_IN}" && run "$BATON_OUT"',
    );
  });

  it('substitutes in unquoted here-documents, without quotes', () => {
    assert.equal(
      scriptOf('cat > cfg <<-EOF\n\tin=%IN\n\tEOF\nrun %DATA "don\'t" %OUT'),
      'cat > cfg <<-EOF\n\tin=${BATON_IN}\n\tEOF\nrun "$BATON_DATA" "don\'t" "$BATON_OUT"',
    );
  });

  it('leaves comments, single-quoted text and other % uses alone', () => {
    assert.equal(
      scriptOf("printf '%s\\n' %DATA %IN %OUT # it's %FOO"),
      'printf \'%s\\n\' "$BATON_DATA" "$BATON_IN" "$BATON_OUT" # it\'s %FOO',
    );
    assert.equal(
      scriptOf('date +%Y%m%d-%H && echo 100% && run %DATA %IN %OUT a#%b'),
      'date +%Y%m%d-%H && echo 100% && run "$BATON_DATA" "$BATON_IN" "$BATON_OUT" a#%b',
    );
    assert.equal(
      scriptOf("date +%''FT%''T %DATA %IN %OUT"),
      'date +%\'\'FT%\'\'T "$BATON_DATA" "$BATON_IN" "$BATON_OUT"',
    );
    assert.equal(scriptOf('run %%DATA %IN %OUT'), 'run %"$BATON_DATA" "$BATON_IN" "$BATON_OUT"');
  });
});

describe('buildJobCommand: shell mode', () => {
  it('runs the script under /bin/sh -c; the values travel only in env', () => {
    const command = buildJobCommand(orchestraExec, values);
    assert.deepEqual(command, {
      argv: [
        '/bin/sh',
        '-c',
        'python3 /job_tuning.py -d "$BATON_DATA" -c "$BATON_IN" -o "$BATON_OUT"',
      ],
      env: { BATON_DATA: values.data, BATON_IN: values.in, BATON_OUT: values.out },
      mode: 'shell',
    });
  });

  it('takes a parsed template or its text, and another shell', () => {
    const parsed = parseExecTemplate(orchestraExec);
    assert.deepEqual(buildJobCommand(parsed, values), buildJobCommand(orchestraExec, values));
    assert.equal(buildJobCommand(parsed, values, { shell: '/bin/bash' }).argv[0], '/bin/bash');
    const error = expectBatonError(() => buildJobCommand(parsed, values, { shell: 'sh' }));
    assert.equal(error.field, 'shell');
  });

  it('re-parses a template it did not make, so a forged script never runs', () => {
    const forged: ExecTemplate = { ...parseExecTemplate(orchestraExec), script: 'rm -rf /' };
    assert.equal(
      buildJobCommand(forged, values).argv[2],
      'python3 /job_tuning.py -d "$BATON_DATA" -c "$BATON_IN" -o "$BATON_OUT"',
    );
    const fromJson = JSON.parse(JSON.stringify(parseExecTemplate(orchestraExec))) as ExecTemplate;
    assert.equal(
      buildJobCommand(fromJson, values).argv[2],
      parseExecTemplate(orchestraExec).script,
    );
    expectBatonError(() => buildJobCommand({ source: 'run %DATA' } as ExecTemplate, values));
  });

  it('checks every value and names the field', () => {
    const cases: [Partial<Record<keyof ExecValues, unknown>>, string, string][] = [
      [{ data: 'a\0b' }, 'data', 'NUL'],
      [{ in: '' }, 'in', 'must not be empty'],
      [{ out: 7 }, 'out', 'must be a string'],
      [{ data: '\uDC00' }, 'data', 'lone surrogates'],
      [{ in: 'x'.repeat(maxExecValueBytes + 1) }, 'in', `at most ${maxExecValueBytes} bytes`],
      [{ out: '中'.repeat(maxExecValueBytes / 3 + 1) }, 'out', 'at most'],
    ];
    for (const [override, field, part] of cases) {
      const error = expectBatonError(() =>
        buildJobCommand(orchestraExec, { ...values, ...override } as ExecValues),
      );
      assert.equal(error.field, field);
      assert.ok(
        error.message.startsWith(`${field}: `) && error.message.includes(part),
        error.message,
      );
    }
    expectBatonError(() => buildJobCommand(orchestraExec, null as unknown as ExecValues));
    const max = 'x'.repeat(maxExecValueBytes);
    assert.equal(buildJobCommand(orchestraExec, { ...values, data: max }).env.BATON_DATA, max);
  });

  it('hands the values to the process exactly, whatever the quoting context', async () => {
    const hostile: ExecValues = {
      data: ' two  words *.json ',
      in: '"; touch x; "\n$(id) `id` $HOME ${IFS}',
      out: "it's -rf ../ \\ %DATA",
    };
    assert.deepEqual(await seen("printf '%s\\0' %DATA %IN %OUT", hostile), [
      hostile.data,
      hostile.in,
      hostile.out,
    ]);
    assert.deepEqual(
      await seen('printf \'%s\\0\' --data=%DATA "[%IN]" %OUT/result.json', hostile),
      [`--data=${hostile.data}`, `[${hostile.in}]`, `${hostile.out}/result.json`],
    );
    assert.deepEqual(
      await seen(
        `x="$(printf '%s.' %DATA)"; printf '%s\\0' "$x" "<$(printf '%s' "%IN")>" %OUT`,
        hostile,
      ),
      [`${hostile.data}.`, `<${hostile.in}>`, hostile.out],
    );
    assert.deepEqual(
      await seen("{ cat <<EOF\n%DATA|%IN\nEOF\n} | tr '\\n' '\\0'; printf '%s\\0' %OUT", {
        ...hostile,
        in: 'EOF\n$(id)',
      }),
      [`${hostile.data}|EOF`, '$(id)', hostile.out],
    );
  });
});

describe('buildJobCommand: direct (no-shell) mode', () => {
  it('splits a plain template into words; values stay whole elements', () => {
    for (const mode of ['auto', 'direct'] as const) {
      assert.deepEqual(buildJobCommand(orchestraExec, values, { mode }), {
        argv: ['python3', '/job_tuning.py', '-d', values.data, '-c', values.in, '-o', values.out],
        env: { BATON_DATA: values.data, BATON_IN: values.in, BATON_OUT: values.out },
        mode: 'direct',
      });
    }
  });

  it('joins quoted and adjacent text into one word', () => {
    const command = buildJobCommand(
      `run\t --data=%DATA "--in=%IN x" %OUT/r.json 'a;b|c' "" x'y'"z"`,
      values,
      { mode: 'direct' },
    );
    assert.deepEqual(command.argv, [
      'run',
      `--data=${values.data}`,
      `--in=${values.in} x`,
      `${values.out}/r.json`,
      'a;b|c',
      '',
      'xyz',
    ]);
  });

  it('falls back to the shell in auto mode, and refuses in direct mode, naming why', () => {
    const needsShell: [string, string][] = [
      [`. /setup_envs.sh && ${orchestraExec}`, "'&'"],
      [`${orchestraExec} > log`, "'>'"],
      [`${orchestraExec} *.txt`, "'*'"],
      [`${orchestraExec} $HOME`, "'$'"],
      [`${orchestraExec} "$HOME"`, "'$' inside double quotes"],
      [`${orchestraExec} ~/x`, "'~'"],
      [`${orchestraExec}\necho done`, 'a line break'],
      [`A=1 ${orchestraExec}`, 'assignment'],
      [`exec ${orchestraExec}`, '"exec" is a shell keyword or builtin'],
      [`cd /work; ${orchestraExec}`, "';'"],
    ];
    for (const [text, reason] of needsShell) {
      assert.equal(buildJobCommand(text, values, { mode: 'auto' }).mode, 'shell', text);
      const error = expectBatonError(() => buildJobCommand(text, values, { mode: 'direct' }));
      assert.equal(error.field, 'exec');
      assert.ok(error.message.includes('cannot run without a shell'), error.message);
      assert.ok(error.message.includes(reason), `${error.message} lacks ${reason}`);
    }
  });

  // Property: for any plain template, the direct argv is exactly what `sh -c` would pass.
  const plainText = fc.string({
    unit: fc.constantFrom(...'aZ09_-./=:,+@^'.split('')),
    minLength: 1,
    maxLength: 6,
  });
  const quotedChars = fc.constantFrom(...'aZ 9\t\n;|&<>()*?[]{}~#!$`\\\'"'.split(''));
  const singleQuoted = fc
    .string({ unit: quotedChars.filter((c) => c !== "'"), maxLength: 8 })
    .map((s) => `'${s}'`);
  const doubleQuoted = fc
    .string({ unit: quotedChars.filter((c) => !'$`\\"'.includes(c)), maxLength: 8 })
    .map((s) => `"${s}"`);
  const token = fc.constantFrom('%DATA', '%IN', '%OUT');
  const word = fc
    .array(fc.oneof(plainText, singleQuoted, doubleQuoted, token), { minLength: 1, maxLength: 3 })
    // Text glued to a token must not continue its name (`%DATAa` is rejected, rightly).
    .map((parts) =>
      parts.reduce(
        (acc, part) => acc + (/%[A-Z]+$/.test(acc) && /^\w/.test(part) ? '.' : '') + part,
        '',
      ),
    );
  const blanks = fc.constantFrom(' ', '  ', '\t', ' \t ');
  const plainTemplate = fc
    .tuple(fc.array(fc.tuple(blanks, word), { maxLength: 5 }), blanks)
    .map(
      ([words, end]) =>
        `printf '%s\\0'${words.map(([b, w]) => b + w).join('')} %DATA %IN %OUT${end}`,
    );
  const value = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 12 })
    .filter((v) => !v.includes('\0'));

  it('direct argv equals what sh -c passes, for random plain templates (executed)', async () => {
    await fc.assert(
      fc.asyncProperty(plainTemplate, value, value, value, async (text, data, input, out) => {
        const vals = { data, in: input, out };
        const direct = buildJobCommand(text, vals, { mode: 'direct' });
        assert.equal(direct.argv[0], 'printf');
        const viaShell = await seen(text, vals, 'shell');
        assert.deepEqual(viaShell, direct.argv.slice(2));
        assert.deepEqual(await seen(text, vals, 'direct'), viaShell);
      }),
      { seed: 4242, numRuns: 100 },
    );
  });
});

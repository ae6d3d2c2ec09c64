import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { joinShellWords, quoteShellWord, splitShellWords } from '../../shared/domain/shellWords.js';
import { expectBatonError } from './batonErrorAssert.js';

describe('splitShellWords: POSIX word splitting without expansion', () => {
  const cases: [string, string[]][] = [
    ['python run_activitysim.py', ['python', 'run_activitysim.py']],
    ['  a \t b  ', ['a', 'b']],
    ['', []],
    ['   ', []],
    ["a 'b c' d", ['a', 'b c', 'd']],
    ['a "b c" d', ['a', 'b c', 'd']],
    ["''", ['']],
    ['a "" b', ['a', '', 'b']],
    ["a'b c'd", ['ab cd']],
    ['a\\ b', ['a b']],
    ['a\\\\b', ['a\\b']],
    ['\\"x\\\'', ['"x\'']],
    ["'it'\\''s'", ["it's"]],
    ['"say \\"hi\\""', ['say "hi"']],
    ['"a\\b"', ['a\\b']],
    ['"cost \\$5"', ['cost $5']],
    ["'$HOME | x; y > z'", ['$HOME | x; y > z']],
    ['"a | b; c > d & e"', ['a | b; c > d & e']],
    ['a\\|b \\> \\;', ['a|b', '>', ';']],
    ['a\\\nb', ['ab']],
    ['python run.py\n', ['python', 'run.py']],
    ['*.csv ~/x [ab] a=b', ['*.csv', '~/x', '[ab]', 'a=b']],
    ['price$ a#b', ['price$', 'a#b']],
    ['données "Zürich – 東京" 🚆', ['données', 'Zürich – 東京', '🚆']],
    ["--flag='a b'", ['--flag=a b']],
  ];
  for (const [line, argv] of cases) {
    it(`splits ${JSON.stringify(line)}`, () => {
      assert.deepEqual(splitShellWords(line), argv);
    });
  }
});

describe('splitShellWords: refuses what needs a shell', () => {
  const refused: [string, string][] = [
    ['a | b', '|'],
    ['a || b', '||'],
    ['make && make install', '&&'],
    ['sleep 1 &', '&'],
    ['a; b', ';'],
    ['echo x > out.txt', '>'],
    ['sort < in.txt', '<'],
    ['echo `date`', '`'],
    ['echo $(date)', '$('],
    ['echo "$(date)"', '$('],
    ['echo "`date`"', '`'],
    ['echo $HOME', 'variable'],
    ['echo ${HOME}', 'variable'],
    ['echo "$HOME"', 'variable'],
    ['(cd x)', '('],
    ['run # comment', 'comment'],
  ];
  for (const [line, what] of refused) {
    it(`refuses ${JSON.stringify(line)}`, () => {
      const e = expectBatonError(() => splitShellWords(line));
      assert.ok(e.message.includes(what), e.message);
      assert.match(e.message, /not run by a shell/);
      assert.match(e.message, /list of arguments|script/);
    });
  }

  it('refuses a second command on a new line', () => {
    assert.match(expectBatonError(() => splitShellWords('a\nb')).message, /second command/);
  });

  it('refuses unterminated quotes, a trailing backslash and NUL', () => {
    assert.match(expectBatonError(() => splitShellWords("a 'b")).message, /unterminated '/);
    assert.match(expectBatonError(() => splitShellWords('a "b')).message, /unterminated "/);
    assert.match(expectBatonError(() => splitShellWords('a \\')).message, /backslash/);
    assert.match(expectBatonError(() => splitShellWords('a\0b')).message, /NUL/);
  });

  it('names the column of the operator', () => {
    assert.match(expectBatonError(() => splitShellWords('abc | d')).message, /column 5/);
  });
});

describe('quoteShellWord / joinShellWords', () => {
  it('leaves safe words bare and single-quotes the rest', () => {
    assert.equal(quoteShellWord('scripts/run.mjs'), 'scripts/run.mjs');
    assert.equal(quoteShellWord(''), "''");
    assert.equal(quoteShellWord('a b'), "'a b'");
    assert.equal(quoteShellWord("it's"), "'it'\\''s'");
    assert.equal(joinShellWords(['node', 'x y', '$HOME']), "node 'x y' '$HOME'");
  });

  it('split(join(args)) returns args for any strings without NUL', () => {
    const arg = fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => !s.includes('\0'));
    const tricky = fc.constantFrom('', ' ', "'", '"', '\\', '$(x)', '`', '|', ';', '#', '\n', '\t');
    fc.assert(
      fc.property(fc.array(fc.oneof(arg, tricky), { maxLength: 8 }), (args) => {
        assert.deepEqual(splitShellWords(joinShellWords(args)), args);
      }),
      { numRuns: 500 },
    );
  });
});

import { BatonError } from './errors.js';

/**
 * Splits a command line into argv the way a POSIX shell would split *words*, and does nothing
 * else: commands are never given to a shell, so nothing is expanded and anything that only a
 * shell could honour is refused rather than silently passed on as a literal argument.
 *
 * Rules:
 * - Unquoted spaces, tabs (and carriage returns) separate words; runs of them count once; leading and trailing
 *   whitespace (including a trailing newline, as YAML block scalars leave) is ignored.
 * - `'...'` is literal up to the next `'` (no escapes inside, as in sh).
 * - `"..."` is literal except `\"`, `\\`, `\$` and `` \` `` (the escaped character) and
 *   backslash-newline (removed); any other backslash stays as it is.
 * - Outside quotes a backslash makes the next character literal; backslash-newline is removed.
 * - Quotes join with neighbouring text into one word (`a'b c'd` is `ab cd`); `''` and `""` make
 *   an empty argument.
 * - No expansion of any kind: `*`, `?`, `[`, `~` and `=` are ordinary characters.
 * - Refused, with a message saying why: outside quotes `|`, `&` (so `&&`), `;`, `<`, `>`, `(`,
 *   `)`, a backtick, `$(`, `$NAME`/`${...}`, a `#` starting a word (a shell comment) and a
 *   newline followed by more text (a second command); inside double quotes a backtick, `$(`,
 *   `$NAME` and `${...}` (a shell would substitute them there too). Quote or escape the
 *   character to pass it literally. An unterminated quote, a trailing backslash and NUL are
 *   errors too.
 *
 * Errors are BatonError('validation') without a field; callers prefix the field they split.
 */
export function splitShellWords(line: string): string[] {
  if (line.includes('\0')) throw refuse('contains a NUL character');
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const end = line.length;

  const finishWord = (): void => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };

  while (i < end) {
    const ch = line.charAt(i);
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      finishWord();
      i += 1;
    } else if (ch === '\n') {
      if (line.slice(i).trim() !== '') {
        throw refuse(
          `has a line break at column ${i + 1}, which a shell would run as a second command`,
        );
      }
      finishWord();
      i = end;
    } else if (ch === '\\') {
      if (i + 1 >= end) throw refuse('ends with a backslash that escapes nothing');
      const next = line.charAt(i + 1);
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
    } else if (ch === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw refuse(`has an unterminated ' quote starting at column ${i + 1}`);
      word += line.slice(i + 1, close);
      inWord = true;
      i = close + 1;
    } else if (ch === '"') {
      i = readDoubleQuoted(line, i, (text) => {
        word += text;
      });
      inWord = true;
    } else {
      const operator = shellOnly(line, i, !inWord);
      if (operator !== undefined) throw needsShell(operator, i);
      word += ch;
      inWord = true;
      i += 1;
    }
  }
  finishWord();
  return words;
}

/** Reads a `"..."` run starting at `start`, passing its text on; returns the index after it. */
function readDoubleQuoted(line: string, start: number, append: (text: string) => void): number {
  let i = start + 1;
  let text = '';
  while (i < line.length) {
    const ch = line.charAt(i);
    if (ch === '"') {
      append(text);
      return i + 1;
    }
    if (ch === '\\' && i + 1 < line.length) {
      const next = line.charAt(i + 1);
      if (next === '\n') {
        i += 2;
        continue;
      }
      if (next === '"' || next === '\\' || next === '$' || next === '`') {
        text += next;
        i += 2;
        continue;
      }
      text += ch;
      i += 1;
      continue;
    }
    if (ch === '`' || ch === '$') {
      const operator = substitution(line, i);
      if (operator !== undefined) throw needsShell(operator, i);
    }
    text += ch;
    i += 1;
  }
  throw refuse(`has an unterminated " quote starting at column ${start + 1}`);
}

/** The shell construct starting at `i` outside quotes, if any. */
function shellOnly(line: string, i: number, atWordStart: boolean): string | undefined {
  const ch = line.charAt(i);
  if (ch === '&' && line.charAt(i + 1) === '&') return '&&';
  if (ch === '|' && line.charAt(i + 1) === '|') return '||';
  if ('|&;<>()'.includes(ch)) return ch;
  if (ch === '#' && atWordStart) return '#';
  return substitution(line, i);
}

/** Backtick, `$(`, `${` or `$NAME` at `i` (all of which a shell substitutes), if any. */
function substitution(line: string, i: number): string | undefined {
  const ch = line.charAt(i);
  if (ch === '`') return '`';
  if (ch !== '$') return undefined;
  const next = line.charAt(i + 1);
  if (next === '(') return '$(';
  if (next === '{') return '${';
  if (/^[A-Za-z_]$/.test(next)) return '$NAME';
  return undefined;
}

function needsShell(operator: string, index: number): BatonError {
  const what =
    operator === '#'
      ? 'a # comment'
      : operator === '$NAME' || operator === '${'
        ? 'variable expansion ($NAME)'
        : `the shell operator ${operator}`;
  return refuse(
    `uses ${what} at column ${index + 1}, but commands are not run by a shell: quote it to ` +
      'pass it literally, write the command as a list of arguments, or put the shell logic in a script',
  );
}

function refuse(why: string): BatonError {
  return new BatonError('validation', `command ${why}`);
}

const safeWord = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument so that `splitShellWords` returns it unchanged (single quotes). */
export function quoteShellWord(arg: string): string {
  if (safeWord.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The inverse of `splitShellWords` for display: `splitShellWords(joinShellWords(a))` is `a`. */
export function joinShellWords(args: readonly string[]): string {
  return args.map(quoteShellWord).join(' ');
}

import { BatonError } from './errors.js';

/**
 * A task's exec template (Orchestra's `--exec`): the task owner's own command line with the
 * tokens `%DATA`, `%IN` and `%OUT` standing for the job's data, config and output paths, e.g.
 * `. /setup_envs.sh && python3 /job_tuning.py -d %DATA -c %IN -o %OUT`.
 *
 * Security rule: no shell text is ever built from the values. The template is the owner's code
 * and may use shell operators, so it runs as `/bin/sh -c <script>` where the script is the
 * template with every token replaced by a quoted variable reference (`"$BATON_DATA"`), and the
 * values travel only in the environment (`BATON_DATA`, `BATON_IN`, `BATON_OUT`). The script is
 * computed from the template alone, at parse time, so no value can change it: a value is never
 * parsed as shell code, whatever it contains. Placing each reference in the right quoting
 * context is what keeps a value one word (no field splitting, no globbing).
 *
 * Quoting rules, decided per token by a small POSIX-shell lexer:
 * - unquoted (`-d %DATA`, `--data=%DATA`, `%OUT/result.json`, inside `$(...)`): becomes
 *   `"$BATON_DATA"`; adjacent text stays adjacent, so `--data="$BATON_DATA"` is one word.
 * - inside double quotes (`"--data=%DATA"`): becomes `${BATON_DATA}` (no quotes of its own,
 *   they would end the user's quoted string); `"$(basename %DATA)"` is unquoted again inside
 *   the `$(...)`, and handled as such.
 * - inside a here-document with an unquoted delimiter: `${BATON_DATA}` (bodies are not split).
 * - rejected, with a message saying where: inside single quotes or a here-document with a
 *   quoted delimiter (the shell would not expand it), inside backquotes (use `$(...)`), inside
 *   `${...}` or `$((...))`, after a backslash, and in a here-document delimiter.
 * - inside a `#` comment: left as written and not counted as present.
 * - `%` followed by anything else is literal (`printf '%s'`, `date +%Y`, `100%`), except a
 *   capitalised word (`%FOO`, `%DATA_DIR`, `%INPUT`), which is rejected as an unknown or
 *   misspelt token; write `%''FOO` (or `%""FOO` inside double quotes) for a literal one.
 * - `$'...'` quoting is rejected: `/bin/sh` may be dash, which lacks it, and the lexer could not
 *   then know where the quotes end.
 *
 * Also a no-shell form (`mode: 'auto' | 'direct'`): a template with no shell syntax runs as a
 * plain argv, split by the small splitter documented above `planDirect` (no shell-words
 * library is installed); each value becomes part of exactly one argv element.
 */

/** The tokens every template must use, each at least once. */
export const execTokens = ['DATA', 'IN', 'OUT'] as const;
export type ExecToken = (typeof execTokens)[number];

/** The environment variable that carries each token's value into the job. */
export const execEnvNames: Readonly<Record<ExecToken, string>> = {
  DATA: 'BATON_DATA',
  IN: 'BATON_IN',
  OUT: 'BATON_OUT',
};

/** Templates are short command lines; 4 KiB (UTF-8) is generous. */
export const maxExecTemplateBytes = 4 * 1024;
/**
 * A value's size limit (UTF-8): each environment string must stay under Linux's 128 KiB
 * `MAX_ARG_STRLEN`, and all three together well under `ARG_MAX`.
 */
export const maxExecValueBytes = 64 * 1024;

/** One piece of a word in the no-shell form: literal text, or a token's value. */
export type ExecWordPart = { readonly text: string } | { readonly token: ExecToken };
/** One argv element in the no-shell form; its parts are joined, never re-split. */
export type ExecWord = readonly ExecWordPart[];

/** A parsed template. Only {@link parseExecTemplate} makes these; treat them as opaque. */
export interface ExecTemplate {
  /** The template as the task owner wrote it. */
  readonly source: string;
  /** What `sh -c` runs: tokens replaced by variable references, no value text ever. */
  readonly script: string;
  /** The argv words when the template can run without a shell, else undefined. */
  readonly words: readonly ExecWord[] | undefined;
  /** Why the template needs a shell (for `mode: 'direct'` errors), else undefined. */
  readonly shellReason: string | undefined;
}

/** The three paths a job gets, each substituted for its token. */
export interface ExecValues {
  data: string;
  in: string;
  out: string;
}

export interface BuildJobCommandOptions {
  /**
   * `shell` (default): always `sh -c <script>`. `auto`: a plain argv when the template has no
   * shell syntax, else the shell. `direct`: a plain argv, and a `validation` error when the
   * template needs a shell.
   */
  mode?: 'shell' | 'auto' | 'direct';
  /** The shell that runs the script; an absolute path. Default `/bin/sh`. */
  shell?: string;
}

/**
 * A job's command: pass `argv` to a spawn with no shell, and merge `env` into the job's env
 * last, so a task's own env cannot override the values.
 */
export interface JobCommand {
  argv: string[];
  env: Record<string, string>;
  /** Which form `argv` takes: `[shell, '-c', script]` or the template's own words. */
  mode: 'shell' | 'direct';
}

const issued = new WeakSet<ExecTemplate>();

/**
 * Parses and checks a task's exec template. Throws `validation` (field `exec`) for: not a
 * string, empty, NUL, carriage return (Windows line endings break `sh`), over 4 KiB, invalid
 * UTF-16, unterminated quotes or substitutions, a missing token (`exec: %OUT is missing`), an
 * unknown token (`%FOO`), or a token where the shell would not substitute it (see the module
 * comment). Each token may appear several times.
 */
export function parseExecTemplate(text: unknown): ExecTemplate {
  if (typeof text !== 'string') throw invalid('must be a string');
  if (text.includes('\0')) throw invalid('must not contain NUL');
  if (text.trim() === '') throw invalid('must not be empty');
  if (!isWellFormed(text)) throw invalid('must be valid Unicode (no lone surrogates)');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxExecTemplateBytes) {
    throw invalid(`must be at most ${maxExecTemplateBytes} bytes (is ${bytes})`);
  }
  if (text.includes('\r')) {
    throw invalid('must not contain a carriage return (\\r); save it with Unix line endings');
  }
  const scanner = new ShellScanner(text);
  const script = scanner.scan();
  const missing = execTokens.filter((token) => !scanner.used.has(token));
  if (missing.length > 0) {
    const names = missing.map((token) => `%${token}`);
    const list =
      names.length === 1
        ? names.join('')
        : `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
    throw invalid(
      `${list} ${missing.length === 1 ? 'is' : 'are'} missing (a template must use %DATA, %IN and %OUT)`,
    );
  }
  const plan = planDirect(text);
  const template: ExecTemplate = Object.freeze({
    source: text,
    script,
    words: 'words' in plan ? plan.words : undefined,
    shellReason: 'reason' in plan ? plan.reason : undefined,
  });
  issued.add(template);
  return template;
}

/**
 * Builds the command that runs a template for one job. The values are checked (`validation`,
 * field `data`, `in` or `out`: a string, not empty, no NUL, valid Unicode, at most 64 KiB) and
 * put in `env` byte for byte; in shell mode `argv` is `[shell, '-c', template.script]`, the same
 * for every value. In direct mode each value is spliced into its argv element, never re-split.
 * A template not made by {@link parseExecTemplate} (e.g. read back from storage) is re-parsed
 * from its `source`, so a tampered `script` is never run.
 */
export function buildJobCommand(
  template: ExecTemplate | string,
  values: ExecValues,
  options: BuildJobCommandOptions = {},
): JobCommand {
  const parsed =
    typeof template === 'string'
      ? parseExecTemplate(template)
      : issued.has(template)
        ? template
        : parseExecTemplate((template as { source?: unknown } | null)?.source);
  const checked = checkExecValues(values);
  const env: Record<string, string> = {};
  for (const token of execTokens) env[execEnvNames[token]] = checked[token];
  const mode = options.mode ?? 'shell';
  if (mode !== 'shell' && parsed.words !== undefined) {
    const argv = parsed.words.map((word) =>
      word.map((part) => ('token' in part ? checked[part.token] : part.text)).join(''),
    );
    return { argv, env, mode: 'direct' };
  }
  if (mode === 'direct') {
    throw invalid(`cannot run without a shell: ${parsed.shellReason ?? 'not a plain command'}`);
  }
  const shell = options.shell ?? '/bin/sh';
  if (!shell.startsWith('/') || shell.includes('\0')) {
    throw new BatonError('validation', 'shell: must be an absolute path', { field: 'shell' });
  }
  return { argv: [shell, '-c', parsed.script], env, mode: 'shell' };
}

function checkExecValues(values: unknown): Record<ExecToken, string> {
  if (typeof values !== 'object' || values === null) {
    throw new BatonError('validation', 'values: must be an object', { field: 'values' });
  }
  const source = values as Record<string, unknown>;
  const out = {} as Record<ExecToken, string>;
  for (const token of execTokens) {
    const field = token.toLowerCase();
    const value = source[field];
    const bad = (why: string): BatonError =>
      new BatonError('validation', `${field}: ${why}`, { field });
    if (typeof value !== 'string') throw bad('must be a string');
    if (value === '') throw bad('must not be empty');
    if (value.includes('\0')) throw bad('must not contain NUL');
    if (!isWellFormed(value)) throw bad('must be valid Unicode (no lone surrogates)');
    if (Buffer.byteLength(value, 'utf8') > maxExecValueBytes) {
      throw bad(`must be at most ${maxExecValueBytes} bytes`);
    }
    out[token] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The shell lexer. It only needs to know, for each `%`, which quoting context it is in; it
// copies everything else verbatim. A mistake here could split a value into words, never run it:
// the script does not depend on the values.

interface PendingHeredoc {
  delimiter: string;
  stripTabs: boolean;
  quoted: boolean;
}

const blank = /[ \t]/;
const operatorChars = /[;&|<>()]/;
const nameAt = /[A-Za-z0-9_]*/y;
const keywordAt = /(case|esac)(?=[\s;&|()<>]|$)/y;

class ShellScanner {
  readonly used = new Set<ExecToken>();
  private pos = 0;
  private out = '';
  private heredocs: PendingHeredoc[] = [];

  constructor(private readonly src: string) {}

  scan(): string {
    this.code(false);
    return this.out;
  }

  /** Unquoted shell code, at the top level or inside `$(...)` (then it stops at the `)`). */
  private code(inSubstitution: boolean): void {
    let wordStart = true;
    let parens = 0;
    let cases = 0;
    while (this.pos < this.src.length) {
      const c = this.src.charAt(this.pos);
      if (c === '\\') {
        const continuation = this.src.charAt(this.pos + 1) === '\n';
        this.backslash();
        if (!continuation) wordStart = false;
      } else if (c === "'") {
        this.singleQuoted();
        wordStart = false;
      } else if (c === '"') {
        this.doubleQuoted();
        wordStart = false;
      } else if (c === '`') {
        this.backquoted();
        wordStart = false;
      } else if (c === '$') {
        this.dollar(false);
        wordStart = false;
      } else if (c === '%') {
        this.percent('unquoted');
        wordStart = false;
      } else if (c === '#' && wordStart) {
        this.comment();
      } else if (c === '\n') {
        this.take(1);
        this.heredocBodies();
        wordStart = true;
      } else if (
        c === '<' &&
        this.src.startsWith('<<', this.pos) &&
        !this.src.startsWith('<<<', this.pos)
      ) {
        this.heredocOperator();
        wordStart = true;
      } else if (inSubstitution && c === ')') {
        if (parens > 0) parens -= 1;
        else if (cases === 0) return; // the caller consumes the closing parenthesis
        this.take(1);
        wordStart = true;
      } else if (c === '(') {
        parens += 1;
        this.take(1);
        wordStart = true;
      } else if (blank.test(c) || operatorChars.test(c)) {
        this.take(1);
        wordStart = true;
      } else {
        if (wordStart && inSubstitution) {
          // `case` patterns end in an unbalanced `)`, which must not close `$(...)`.
          keywordAt.lastIndex = this.pos;
          const keyword = keywordAt.exec(this.src)?.[1];
          if (keyword === 'case') cases += 1;
          if (keyword === 'esac' && cases > 0) cases -= 1;
          if (keyword !== undefined) {
            this.take(keyword.length);
            wordStart = false;
            continue;
          }
        }
        this.take(1);
        wordStart = false;
      }
    }
    if (inSubstitution) throw invalid('$( is never closed by )');
  }

  /** `"..."`: tokens become `${BATON_X}`; `$(...)` inside is unquoted code again. */
  private doubleQuoted(): void {
    const start = this.pos;
    this.take(1);
    while (this.pos < this.src.length) {
      const c = this.src.charAt(this.pos);
      if (c === '"') {
        this.take(1);
        return;
      }
      if (c === '\\') this.backslash();
      else if (c === '$') this.dollar(true);
      else if (c === '`') this.backquoted();
      else if (c === '%') this.percent('double');
      else this.take(1);
    }
    throw invalid(`the double quote at offset ${start} is never closed`);
  }

  private singleQuoted(): void {
    const end = this.src.indexOf("'", this.pos + 1);
    if (end === -1) throw invalid(`the single quote at offset ${this.pos} is never closed`);
    const inner = this.src.slice(this.pos + 1, end);
    forbidTokens(
      inner,
      "is inside single quotes, where the shell does not expand it; move it out, e.g. '--data='%DATA",
    );
    this.take(end + 1 - this.pos);
  }

  private backquoted(): void {
    const start = this.pos;
    let i = this.pos + 1;
    while (i < this.src.length && this.src.charAt(i) !== '`')
      i += this.src.charAt(i) === '\\' ? 2 : 1;
    if (i >= this.src.length) throw invalid(`the backquote at offset ${start} is never closed`);
    forbidTokens(this.src.slice(start + 1, i), 'is inside backquotes `...`; use $(...) instead');
    this.take(i + 1 - start);
  }

  /** A backslash quotes the next character; a token right after it could not be substituted. */
  private backslash(): void {
    if (this.src.charAt(this.pos + 1) === '%') {
      const name = this.nameAfter(this.pos + 1);
      if (classifyName(name) !== undefined) {
        throw invalid(`%${name} follows a backslash, which would stop the shell expanding it`);
      }
    }
    this.take(Math.min(2, this.src.length - this.pos));
  }

  private dollar(inDoubleQuotes: boolean): void {
    const next = this.src.charAt(this.pos + 1);
    if (next === '(' && this.src.charAt(this.pos + 2) === '(') {
      const end = this.matching(this.pos + 1, '(', ')');
      forbidTokens(this.src.slice(this.pos, end), 'is inside $((...)) arithmetic');
      this.take(end - this.pos);
    } else if (next === '(') {
      const start = this.pos;
      this.take(2);
      this.code(true);
      if (this.src.charAt(this.pos) !== ')') {
        throw invalid(`the $( at offset ${start} is never closed by )`);
      }
      this.take(1);
    } else if (next === '{') {
      const end = this.matching(this.pos + 1, '{', '}');
      forbidTokens(
        this.src.slice(this.pos, end),
        'is inside ${...}; assign it to a variable first, e.g. d=%DATA; ${d%.gz}',
      );
      this.take(end - this.pos);
    } else if (next === "'" && !inDoubleQuotes) {
      throw invalid(
        "$'...' quoting is not supported (/bin/sh may not know it); use '...' or printf",
      );
    } else {
      this.take(1);
    }
  }

  /**
   * The end (exclusive) of a bracketed construct opening at `from`, skipping quoted text and
   * backslash escapes; rough, but only used for constructs in which tokens are refused anyway.
   */
  private matching(from: number, open: string, close: string): number {
    let depth = 0;
    let i = from;
    while (i < this.src.length) {
      const c = this.src.charAt(i);
      if (c === '\\') {
        i += 2;
        continue;
      }
      if (c === "'" || c === '"') {
        let j = i + 1;
        while (j < this.src.length && this.src.charAt(j) !== c)
          j += c === '"' && this.src.charAt(j) === '\\' ? 2 : 1;
        i = j + 1;
        continue;
      }
      if (c === open) depth += 1;
      if (c === close) {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
      i += 1;
    }
    throw invalid(
      `the ${this.src.slice(from - 1, from + 1)} at offset ${from - 1} is never closed`,
    );
  }

  private percent(context: 'unquoted' | 'double'): void {
    const name = this.nameAfter(this.pos);
    const token = classifyName(name);
    if (token === undefined) {
      this.take(1);
      return;
    }
    this.used.add(token);
    const variable = execEnvNames[token];
    this.out += context === 'unquoted' ? `"$${variable}"` : `\${${variable}}`;
    this.pos += 1 + name.length;
  }

  private comment(): void {
    const end = this.src.indexOf('\n', this.pos);
    this.take((end === -1 ? this.src.length : end) - this.pos);
  }

  /** `<<WORD` or `<<-WORD`: remembers the delimiter; the body starts after the next newline. */
  private heredocOperator(): void {
    const stripTabs = this.src.charAt(this.pos + 2) === '-';
    this.take(stripTabs ? 3 : 2);
    while (blank.test(this.src.charAt(this.pos))) this.take(1);
    const start = this.pos;
    let delimiter = '';
    let quoted = false;
    while (this.pos < this.src.length) {
      const c = this.src.charAt(this.pos);
      if (blank.test(c) || c === '\n' || operatorChars.test(c)) break;
      if (c === "'" || c === '"') {
        const end = this.src.indexOf(c, this.pos + 1);
        if (end === -1) throw invalid(`the quote at offset ${this.pos} is never closed`);
        delimiter += this.src.slice(this.pos + 1, end);
        quoted = true;
        this.pos = end + 1;
      } else if (c === '\\') {
        delimiter += this.src.charAt(this.pos + 1);
        quoted = true;
        this.pos += 2;
      } else {
        delimiter += c;
        this.pos += 1;
      }
    }
    const raw = this.src.slice(start, this.pos);
    if (raw === '') throw invalid(`the << at offset ${start} has no delimiter word`);
    forbidTokens(raw, 'is in a here-document delimiter');
    this.out += raw;
    this.heredocs.push({ delimiter, stripTabs, quoted });
  }

  /** Copies the bodies of the here-documents opened on the line that just ended. */
  private heredocBodies(): void {
    const pending = this.heredocs;
    this.heredocs = [];
    for (const doc of pending) {
      while (this.pos < this.src.length) {
        const newline = this.src.indexOf('\n', this.pos);
        const end = newline === -1 ? this.src.length : newline;
        const line = this.src.slice(this.pos, end);
        this.pos = newline === -1 ? end : end + 1;
        const body = (doc.stripTabs ? line.replace(/^\t+/, '') : line) !== doc.delimiter;
        this.out += (body ? this.heredocLine(line, doc) : line) + (newline === -1 ? '' : '\n');
        if (!body) break;
      }
    }
  }

  /** In an unquoted-delimiter body, `"` is literal, so a token becomes `${BATON_X}`. */
  private heredocLine(line: string, doc: PendingHeredoc): string {
    if (doc.quoted) {
      forbidTokens(line, 'is in a here-document with a quoted delimiter, which is not expanded');
      return line;
    }
    let out = '';
    let i = 0;
    while (i < line.length) {
      const c = line.charAt(i);
      if (c === '\\') {
        if (line.charAt(i + 1) === '%') {
          const name = nameAfterIn(line, i + 1);
          if (classifyName(name) !== undefined) {
            throw invalid(`%${name} follows a backslash, which would stop the shell expanding it`);
          }
        }
        out += line.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (c === '%') {
        const name = nameAfterIn(line, i);
        const token = classifyName(name);
        if (token !== undefined) {
          if (/\$[({]|`/.test(line)) {
            throw invalid(
              `%${token} shares a here-document line with $(...), \${...} or backquotes; put it on a line of its own or in a variable`,
            );
          }
          this.used.add(token);
          out += `\${${execEnvNames[token]}}`;
          i += 1 + name.length;
          continue;
        }
      }
      out += c;
      i += 1;
    }
    return out;
  }

  private nameAfter(percentAt: number): string {
    return nameAfterIn(this.src, percentAt);
  }

  private take(count: number): void {
    this.out += this.src.slice(this.pos, this.pos + count);
    this.pos += count;
  }
}

function nameAfterIn(text: string, percentAt: number): string {
  nameAt.lastIndex = percentAt + 1;
  return nameAt.exec(text)?.[0] ?? '';
}

/**
 * What `%name` is: a token, literal text (undefined), or a mistake worth an error: a token
 * with text glued on (`%OUTfile`), a token in lower case (`%data`), or an unknown capitalised
 * word (`%FOO`). Single capitals stay literal for `date +%Y%m%d`.
 */
function classifyName(name: string): ExecToken | undefined {
  const token = execTokens.find((t) => t === name);
  if (token !== undefined) return token;
  const upper = name.toUpperCase();
  const lowerCased = execTokens.find((t) => t === upper);
  if (lowerCased !== undefined)
    throw invalid(`%${name}: tokens are written in capitals (%${lowerCased})`);
  const glued = execTokens.find((t) => name.startsWith(t));
  if (glued !== undefined) {
    const rest = name.slice(glued.length);
    throw invalid(
      `%${name} is not a token (tokens are %DATA, %IN and %OUT); to follow %${glued} with "${rest}", quote it: %${glued}'${rest}'`,
    );
  }
  if (/^[A-Z][A-Z0-9_]+$/.test(name)) {
    throw invalid(
      `unknown token %${name} (tokens are %DATA, %IN and %OUT); for a literal %${name}, write %''${name} (%""${name} inside double quotes)`,
    );
  }
  return undefined;
}

/** Throws if `text` holds a token (or an unknown one) where the shell would not expand it. */
function forbidTokens(text: string, why: string): void {
  for (const match of text.matchAll(/%([A-Za-z0-9_]*)/g)) {
    const token = classifyName(match[1] ?? '');
    if (token !== undefined) throw invalid(`%${token} ${why}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The no-shell form. A template qualifies only when running its words directly is exactly what
// `sh -c` would do: no operators, expansions, globs, comments, escapes or line breaks outside
// quotes, no `$`, backquote or backslash inside double quotes, and a first word that is neither
// an assignment nor a shell keyword or builtin. Splitting: blanks separate words; '...' and
// "..." group text (quotes removed), and may touch other text in the same word.

const needsShellOutside = /[|&;<>()$`\\*?[\]{}~#!\n]/;
const plainChar = /[^ \t'"|&;<>()$`\\*?[\]{}~#!\n]/;
const needsShellInDouble = /[$`\\]/;
const shellOnlyCommands = new Set([
  ...['!', '{', '}', 'case', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'if', 'in'],
  ...['then', 'until', 'while', 'function', 'select', 'time', '.', ':', 'alias', 'bg', 'break'],
  ...['cd', 'command', 'continue', 'eval', 'exec', 'exit', 'export', 'fg', 'getopts', 'hash'],
  ...['jobs', 'local', 'read', 'readonly', 'return', 'set', 'shift', 'source', 'times', 'trap'],
  ...['type', 'ulimit', 'umask', 'unalias', 'unset', 'wait'],
]);

/** The no-shell words of a template, or why it needs a shell (rules above). */
function planDirect(source: string): { words: ExecWord[] } | { reason: string } {
  const words: ExecWord[] = [];
  let word: ExecWordPart[] | undefined;
  const addText = (text: string): void => {
    word ??= [];
    if (text !== '') word.push({ text });
  };
  /** Text with tokens spliced out; `text` never holds a rejected name (parsing passed). */
  const addWithTokens = (text: string): void => {
    addText('');
    let last = 0;
    for (const match of text.matchAll(/%([A-Za-z0-9_]*)/g)) {
      const token = classifyName(match[1] ?? '');
      if (token === undefined) continue;
      addText(text.slice(last, match.index));
      word?.push({ token });
      last = match.index + match[0].length;
    }
    addText(text.slice(last));
  };
  let i = 0;
  while (i < source.length) {
    const c = source.charAt(i);
    if (blank.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      i += 1;
    } else if (c === "'") {
      const end = source.indexOf("'", i + 1);
      if (end === -1) return { reason: 'unbalanced quotes' };
      addText(source.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      const end = source.indexOf('"', i + 1);
      if (end === -1) return { reason: 'unbalanced quotes' };
      const inner = source.slice(i + 1, end);
      const special = needsShellInDouble.exec(inner);
      if (special !== null) return { reason: `${describe(special[0])} inside double quotes` };
      addWithTokens(inner);
      i = end + 1;
    } else if (needsShellOutside.test(c)) {
      return { reason: `it uses ${describe(c)}` };
    } else {
      let j = i + 1;
      while (j < source.length && plainChar.test(source.charAt(j))) j += 1;
      addWithTokens(source.slice(i, j));
      i = j;
    }
  }
  if (word !== undefined) words.push(word);
  const first = words[0]?.map((part) => ('text' in part ? part.text : `%${part.token}`)).join('');
  if (first === undefined) return { reason: 'it has no command' };
  if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(first)) return { reason: 'it starts with an assignment' };
  if (shellOnlyCommands.has(first)) return { reason: `"${first}" is a shell keyword or builtin` };
  return { words };
}

function describe(c: string): string {
  return c === '\n' ? 'a line break' : `'${c}'`;
}

/** Lone surrogates cannot be encoded as UTF-8, so they would not reach a process intact. */
function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDFFF]/u.test(text);
}

function invalid(why: string): BatonError {
  return new BatonError('validation', `exec: ${why}`, { field: 'exec' });
}

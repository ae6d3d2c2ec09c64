/**
 * What every benchmark shares: its command line (`--quick`, `--json`, anything else refused with
 * exit 2 and a usage line), its table or JSON output, and a nearest-rank percentile.
 */

export interface BenchArgs {
  /** `--quick`: smaller sizes (CI smoke). */
  quick: boolean;
  /** `--json`: results as JSON instead of a table. */
  json: boolean;
  /** Progress on stderr: only to a terminal, and never with `--json`. */
  showProgress: boolean;
  /** Whether a flag was given (for a bench's own flags, such as `--keep`). */
  has: (flag: string) => boolean;
}

/**
 * The bench's arguments, `accepted` being every flag it takes; any other argument is refused on
 * stderr with `usage: <scriptName> [flag] …` and exit code 2.
 */
export function benchArgs(
  scriptName: string,
  accepted: readonly string[] = ['--quick', '--json'],
): BenchArgs {
  const args = new Set(process.argv.slice(2));
  const unknown = [...args].filter((a) => !accepted.includes(a));
  if (unknown.length > 0) {
    const usage = accepted.map((flag) => `[${flag}]`).join(' ');
    console.error(`unknown argument(s): ${unknown.join(' ')}; usage: ${scriptName} ${usage}`);
    process.exit(2);
  }
  const json = args.has('--json');
  return {
    quick: args.has('--quick'),
    json,
    showProgress: process.stderr.isTTY && !json,
    has: (flag) => args.has(flag),
  };
}

/** A table row: its own enumerable properties, in order, are its cells. */
export type TableRow = object;

export interface TableOptions {
  /** Column names, in order; by default the first row's keys (none without rows). */
  columns?: readonly string[];
  /**
   * `pipe` (default): every column right-aligned, ` | ` between cells, `-|-` between dashes.
   * `plain`: the first column left-aligned, two spaces between cells and between dashes.
   */
  style?: 'pipe' | 'plain';
}

/** A padded table: a header line of column names, a line of dashes, one line per row. */
export function formatTable(
  rows: TableRow | readonly TableRow[],
  options: TableOptions = {},
): string {
  const list: readonly TableRow[] = Array.isArray(rows) ? rows : [rows];
  const header = options.columns ?? Object.keys(list[0] ?? {});
  const cells = list.map((row) =>
    header.map((column) => String((row as Record<string, unknown>)[column])),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]?.length ?? 0)));
  const dashes = widths.map((w) => '-'.repeat(w));
  const line =
    options.style === 'plain'
      ? (values: readonly string[]): string =>
          values
            .map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0)))
            .join('  ')
      : (values: readonly string[]): string =>
          values.map((v, i) => v.padStart(widths[i] ?? 0)).join(' | ');
  const rule = options.style === 'plain' ? line(dashes) : dashes.join('-|-');
  return [line(header), rule, ...cells.map(line)].join('\n');
}

/** A title line, then the table of `rows` (one row or many). */
export function printTable(
  title: string,
  rows: TableRow | readonly TableRow[],
  options: TableOptions = {},
): void {
  console.log(title);
  console.log(formatTable(rows, options));
}

/** `value` as indented JSON on stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Nearest-rank percentile; 0 for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
}

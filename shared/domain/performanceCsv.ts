import { z } from 'zod';
import { BatonError } from './errors.js';

/**
 * Reads back the monitoring CSVs that `metricsCsv` (jobMetrics.ts) writes into a databank's
 * `performance/` folder, for the portal's CPU and memory plots. The file is data on disk that
 * anyone with the databank could have edited, so every row goes through a zod schema at this
 * boundary: a malformed row is skipped and counted, never trusted or thrown at the caller.
 * Units come back in what the API speaks (bytes, seconds, percent), undoing the CSV's MiB/GiB.
 */
export interface PerformanceSample {
  /** ISO 8601, when the sample was taken. */
  at: string;
  /** Seconds since the job started (restarts at 0 for each job of the step). */
  elapsedSeconds: number;
  /** null when the file has no CPU column (`track_cpu: false`) or the cell is empty. */
  cpuPercent: number | null;
  rssBytes: number | null;
  systemMemoryUsedBytes: number | null;
  systemMemoryTotalBytes: number | null;
  processes: number | null;
}

export interface ParsedPerformanceCsv {
  samples: PerformanceSample[];
  /** Rows that did not parse (wrong number of cells, a bad number or time). */
  skippedRows: number;
}

const mib = 1024 * 1024;
const gib = 1024 * mib;

const optionalNumber = z
  .string()
  .transform((cell, ctx) => {
    if (cell.trim() === '') return null;
    const value = Number(cell);
    if (!Number.isFinite(value) || value < 0) {
      ctx.addIssue({ code: 'custom', message: 'not a non-negative number' });
      return z.NEVER;
    }
    return value;
  })
  .optional()
  .transform((v) => v ?? null);

const rowSchema = z.object({
  at: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a time'),
  elapsed_s: z.string().transform((cell, ctx) => {
    const value = Number(cell);
    if (cell.trim() === '' || !Number.isFinite(value) || value < 0) {
      ctx.addIssue({ code: 'custom', message: 'not a non-negative number' });
      return z.NEVER;
    }
    return value;
  }),
  cpu_percent: optionalNumber,
  rss_mb: optionalNumber,
  system_memory_used_gb: optionalNumber,
  system_memory_total_gb: optionalNumber,
  processes: optionalNumber,
});

/** The columns a performance CSV must have (the rest are optional, as monitoring options are). */
const requiredColumns = ['at', 'elapsed_s'] as const;

/**
 * Parses one performance CSV. Throws `validation` only when the header is not one `metricsCsv`
 * writes (no `at` or `elapsed_s` column); bad rows are skipped. At most `maxRows` samples are
 * kept, evenly thinned, so a week-long step cannot blow up a reply.
 */
export function parsePerformanceCsv(text: string, maxRows = 5000): ParsedPerformanceCsv {
  const lines = text.split(/\r?\n/).filter((line) => line !== '');
  const header = lines[0] === undefined ? [] : splitCsvLine(lines[0]);
  for (const column of requiredColumns) {
    if (!header.includes(column)) {
      throw new BatonError('validation', `performance CSV: no "${column}" column`);
    }
  }
  const samples: PerformanceSample[] = [];
  let skippedRows = 0;
  for (const line of lines.slice(1)) {
    const cells = splitCsvLine(line);
    if (cells.length !== header.length) {
      skippedRows += 1;
      continue;
    }
    const parsed = rowSchema.safeParse(Object.fromEntries(header.map((h, i) => [h, cells[i]])));
    if (!parsed.success) {
      skippedRows += 1;
      continue;
    }
    const row = parsed.data;
    samples.push({
      at: new Date(row.at).toISOString(),
      elapsedSeconds: row.elapsed_s,
      cpuPercent: row.cpu_percent,
      rssBytes: row.rss_mb === null ? null : Math.round(row.rss_mb * mib),
      systemMemoryUsedBytes:
        row.system_memory_used_gb === null ? null : Math.round(row.system_memory_used_gb * gib),
      systemMemoryTotalBytes:
        row.system_memory_total_gb === null ? null : Math.round(row.system_memory_total_gb * gib),
      processes: row.processes,
    });
  }
  return { samples: thin(samples, maxRows), skippedRows };
}

/** Keeps at most `max` items, evenly spaced, always with the first and the last. */
function thin<T>(items: T[], max: number): T[] {
  if (items.length <= max || max < 2) return items;
  const step = (items.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => items[Math.round(i * step)] as T);
}

/**
 * One CSV line into cells: quoted cells may hold commas and doubled quotes; the spreadsheet
 * defusing `'` that `metricsCsv` puts before a leading `=`, `+`, `-` or `@` is taken off.
 */
export function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      cells.push(cell);
      cell = '';
    } else cell += char;
  }
  cells.push(cell);
  return cells.map((c) => (/^'[=+\-@]/.test(c) ? c.slice(1) : c));
}

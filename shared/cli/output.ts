import type { LogLineDto, RunViewDto } from './apiClient.js';

/** Human-readable renderings; `--json` bypasses all of this. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function age(iso: string, now = new Date()): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${ms}ms`;
  return `${(ms / 1000).toFixed(1)}s`;
}

export function stepCounts(run: RunViewDto): { done: number; failed: number; total: number } {
  const steps = (run.steps ?? []).filter((s) => s.kind !== 'event' && s.status !== 'canceled');
  return {
    done: steps.filter((s) => s.status === 'completed').length,
    failed: steps.filter((s) => s.status === 'failed').length,
    total: steps.length,
  };
}

export function renderRunList(runs: RunViewDto[]): string {
  if (runs.length === 0) return 'no runs';
  return table(
    ['RUN', 'PIPELINE', 'STATUS', 'AGE', 'UPDATED'],
    runs.map((r) => [r.runId, r.pipeline, r.status, age(r.createdAt), age(r.updatedAt)]),
  );
}

export function renderRun(run: RunViewDto): string {
  const counts = stepCounts(run);
  const lines = [
    `run       ${run.runId}`,
    `pipeline  ${run.pipeline}`,
    `status    ${run.status}`,
    `created   ${run.createdAt}`,
    `updated   ${run.updatedAt}`,
    `params    ${JSON.stringify(run.params)}`,
  ];
  if (run.progress !== null && run.progress !== undefined)
    lines.push(`progress  ${JSON.stringify(run.progress)}`);
  if (run.steps)
    lines.push(
      `steps     ${counts.done}/${counts.total} completed${counts.failed ? `, ${counts.failed} failed` : ''}`,
    );
  if (run.error) lines.push(`error     ${run.error}`);
  if (run.status === 'completed') lines.push(`output    ${JSON.stringify(run.output)}`);
  // Pipelines that summarise their steps (the model's monitoring line per step) get them listed.
  const summaries = (run.output as { summaries?: unknown } | null | undefined)?.summaries;
  if (Array.isArray(summaries) && summaries.every((line) => typeof line === 'string')) {
    lines.push('', ...summaries.map((line) => `  ${line}`));
  }
  if (run.steps && run.steps.length > 0) {
    lines.push('');
    lines.push(
      table(
        ['#', 'STEP', 'KIND', 'STATUS', 'ATTEMPTS', 'STARTED', 'DURATION', 'ERROR'],
        run.steps.map((s, i) => {
          const last = s.attempts[s.attempts.length - 1];
          return [
            String(s.taskId ?? i),
            s.name,
            s.kind,
            s.status,
            String(s.attempts.length),
            last?.startedAt?.slice(11, 23) ?? '',
            duration(s.attempts.reduce((sum, a) => sum + (a.durationMs ?? 0), 0) || undefined),
            (last?.error ?? '').split('\n')[0]?.slice(0, 60) ?? '',
          ];
        }),
      ),
    );
  }
  return lines.join('\n');
}

export function renderLogs(lines: LogLineDto[]): string {
  return lines
    .map((l) => `${l.at} ${l.step.padEnd(16)} ${l.level.padEnd(5)} ${l.message}`)
    .join('\n');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit] ?? ''}`;
}

/** A failed or canceled run exits 1 (after its view is printed). */
export function exitForRun(run: RunViewDto): void {
  if (run.status === 'failed' || run.status === 'canceled') process.exitCode = 1;
}

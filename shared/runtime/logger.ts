import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The host's logger: pino, as JSON lines for machines (`BATON_LOG_FORMAT=json`) or one short
 * human line per entry otherwise. Secrets never reach it: only messages we compose are logged.
 * Lines about a run carry `runId` (and `instanceId` for the orchestration instance), `step`
 * (an activity's name) and `jobId` where known, as JSON fields; the human line shows them in
 * brackets.
 */
export function createLogger(
  options: { level?: string; json?: boolean; stream?: NodeJS.WritableStream } = {},
): Logger {
  const level = options.level ?? process.env.BATON_LOG_LEVEL ?? 'info';
  const out = options.stream ?? process.stderr;
  if (options.json ?? process.env.BATON_LOG_FORMAT === 'json') return pino({ level }, out);
  const human = {
    write(line: string): void {
      try {
        const entry = JSON.parse(line) as {
          level: number;
          time: number;
          msg?: string;
          instanceId?: string;
          runId?: string;
          step?: string;
          jobId?: string;
          function?: string;
          err?: { message?: string };
        };
        const time = new Date(entry.time).toISOString().slice(11, 19);
        const who = entry.instanceId ?? entry.runId ?? entry.function;
        const tags = [who, entry.step, entry.jobId].filter((t) => t !== undefined);
        const where = tags.length > 0 ? ` [${tags.join(' ')}]` : '';
        const err = entry.err?.message ? `: ${entry.err.message}` : '';
        out.write(`${time} ${levelName(entry.level)}${where} ${entry.msg ?? ''}${err}\n`);
      } catch {
        out.write(line);
      }
    },
  };
  return pino({ level }, human);
}

function levelName(level: number): string {
  if (level >= 50) return 'ERROR';
  if (level >= 40) return 'WARN ';
  if (level >= 30) return 'INFO ';
  return 'DEBUG';
}

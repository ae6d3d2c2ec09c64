import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The host's logger: pino, as JSON lines for machines (`BATON_LOG_FORMAT=json`) or one short
 * human line per entry otherwise. Secrets never reach it: only messages we compose are logged.
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
          function?: string;
          err?: { message?: string };
        };
        const time = new Date(entry.time).toISOString().slice(11, 19);
        const where = entry.instanceId
          ? ` [${entry.instanceId}]`
          : entry.function
            ? ` [${entry.function}]`
            : '';
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

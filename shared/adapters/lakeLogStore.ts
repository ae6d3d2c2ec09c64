import { randomBytes } from 'node:crypto';
import { BatonError } from '../domain/errors.js';
import { checkLogName, logLevels, normalizeLogLine } from '../domain/logLines.js';
import type { Clock } from '../ports/clock.js';
import type { Lake } from '../ports/lake.js';
import type { LogLine, LogStore } from '../ports/logStore.js';

/**
 * A LogStore on any Lake (ADLS in Azure): each append is one small create-only file
 * `<prefix>/<runId>/<step>/<time>-<seq>-<random>.jsonl`, so concurrent appenders (activities on
 * many Function instances) never touch the same file and nothing needs a lock; reads list the
 * step's files in name order, which is append order within a process and time order across
 * processes. Cheap at the volume of step logs; job output is copied in once, in bulk.
 */
export class LakeLogStore implements LogStore {
  private sequence = 0;
  private readonly instance = randomBytes(4).toString('hex');

  constructor(
    private readonly lake: Lake,
    private readonly clock: Clock,
    private readonly prefix = 'logs',
  ) {}

  async append(runId: string, step: string, lines: LogLine[]): Promise<void> {
    const folder = `${this.runFolder(runId)}/${checkLogName(step, 'step')}`;
    const text = lines
      .map((line, index) => JSON.stringify(normalizeLogLine(line, index)) + '\n')
      .join('');
    if (text === '') return;
    const stamp = String(this.clock.now().getTime()).padStart(15, '0');
    const seq = String(this.sequence++).padStart(9, '0');
    await this.lake.write(`${folder}/${stamp}-${seq}-${this.instance}.jsonl`, text, {
      createOnly: true,
      contentType: 'application/x-ndjson',
    });
  }

  async read(
    runId: string,
    options: { step?: string; tail?: number } = {},
  ): Promise<Array<LogLine & { step: string }>> {
    const { tail } = options;
    if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) {
      throw new BatonError('validation', 'tail: must be a non-negative integer', { field: 'tail' });
    }
    const steps =
      options.step === undefined ? await this.steps(runId) : [checkLogName(options.step, 'step')];
    const out: Array<LogLine & { step: string }> = [];
    for (const step of steps) {
      const folder = `${this.runFolder(runId)}/${step}`;
      const files = (await this.lake.list(folder)).filter(
        (e) => !e.isDirectory && e.path.endsWith('.jsonl'),
      );
      for (const file of files) {
        for (const raw of (await this.lake.read(file.path)).toString('utf8').split('\n')) {
          if (raw === '') continue;
          const parsed = JSON.parse(raw) as LogLine;
          if (typeof parsed.message === 'string' && logLevels.has(parsed.level))
            out.push({ ...parsed, step });
        }
      }
    }
    if (tail === undefined) return out;
    return tail === 0 ? [] : out.slice(-tail);
  }

  async steps(runId: string): Promise<string[]> {
    const entries = await this.lake.list(this.runFolder(runId));
    return entries
      .filter((e) => e.isDirectory)
      .map((e) => e.path.split('/').pop() ?? '')
      .filter((name) => name !== '')
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private runFolder(runId: string): string {
    return `${this.prefix}/${checkLogName(runId, 'runId')}`;
  }
}

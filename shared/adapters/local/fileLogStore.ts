import { mkdir, open, readFile, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BatonError } from '../../domain/errors.js';
import type { LogLine, LogStore } from '../../ports/logStore.js';
import {
  checkLogName as checkName,
  logLevels as levels,
  logNamePattern as safeName,
  normalizeLogLine as normalizeLine,
} from '../../domain/logLines.js';
import { errnoOf } from './fsPrimitives.js';

export interface FileLogStoreOptions {
  root: string;
}

/**
 * The local LogStore: `<root>/<runId>/<step>.jsonl`, one JSON line per log line. Each append is
 * one O_APPEND write, so concurrent appenders never interleave inside a call's lines.
 */
export class FileLogStore implements LogStore {
  private readonly root: string;

  constructor(options: FileLogStoreOptions) {
    this.root = path.resolve(options.root);
  }

  async append(runId: string, step: string, lines: LogLine[]): Promise<void> {
    const file = this.fileOf(runId, step);
    const text = lines
      .map((line, index) => JSON.stringify(normalizeLine(line, index)) + '\n')
      .join('');
    if (text === '') return;
    await mkdir(path.dirname(file), { recursive: true });
    const handle = await open(file, 'a+');
    try {
      // A line torn by a crash must not swallow the first line of this call: start afresh.
      const bytes = Buffer.from((await endsMidLine(handle)) ? `\n${text}` : text, 'utf8');
      // One write for the whole call; the loop only matters if the kernel ever writes short.
      for (let offset = 0; offset < bytes.length;) {
        const { bytesWritten } = await handle.write(bytes, offset);
        offset += bytesWritten;
      }
    } finally {
      await handle.close();
    }
  }

  async read(
    runId: string,
    options: { step?: string; tail?: number } = {},
  ): Promise<Array<LogLine & { step: string }>> {
    const runDir = this.runDirOf(runId);
    const { tail } = options;
    if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) {
      throw new BatonError('validation', 'tail: must be a non-negative integer', { field: 'tail' });
    }
    const steps =
      options.step === undefined ? await this.steps(runId) : [checkName(options.step, 'step')];
    const out: Array<LogLine & { step: string }> = [];
    for (const step of steps) {
      for (const line of await readLines(path.join(runDir, `${step}.jsonl`)))
        out.push({ ...line, step });
    }
    if (tail === undefined) return out;
    return tail === 0 ? [] : out.slice(-tail);
  }

  /** Sorted by name: the order every adapter can give cheaply (blob listings are sorted too). */
  async steps(runId: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.runDirOf(runId));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((name) => name.endsWith('.jsonl'))
      .map((name) => name.slice(0, -'.jsonl'.length))
      .filter((name) => safeName.test(name))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private runDirOf(runId: string): string {
    return path.join(this.root, checkName(runId, 'runId'));
  }

  private fileOf(runId: string, step: string): string {
    return path.join(this.runDirOf(runId), `${checkName(step, 'step')}.jsonl`);
  }
}

async function endsMidLine(handle: FileHandle): Promise<boolean> {
  const { size } = await handle.stat();
  if (size === 0) return false;
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  return last[0] !== 0x0a;
}

/** A line cut short by a crash mid-append is skipped rather than failing the whole read. */
async function readLines(file: string): Promise<LogLine[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    try {
      const parsed = JSON.parse(raw) as LogLine;
      if (typeof parsed.message === 'string' && levels.has(parsed.level)) lines.push(parsed);
    } catch {
      // torn tail of a crashed append
    }
  }
  return lines;
}

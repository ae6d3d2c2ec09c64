import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { crashDue, crashNow } from '../../adapters/local/fsPrimitives.js';
import { BatonError } from '../../domain/errors.js';
import type { HistoryEvent } from './historyEvents.js';

/**
 * Durable storage of orchestration instances, one folder each:
 * - `instance.json`  immutable facts (name, parent, created time), written once;
 * - `history.jsonl`  one line per episode, appended and fsynced: the source of truth;
 * - `inbox.jsonl`    external events and terminate requests, appended and fsynced before the
 *                    caller is acknowledged, consumed by episodes (each records the last seq).
 * A crash can only leave a torn last line, which `load` drops and truncates away. Everything
 * else (pending activities, timers, child completions) is derived from the history on restart.
 */
export interface InstanceFacts {
  instanceId: string;
  name: string;
  createdTime: string;
  parentInstanceId?: string;
  parentTaskId?: number;
  /** The parent's execution that asked for this child (see EpisodeRecord.executionId). */
  parentExecutionId?: string;
}

export interface EpisodeOutcome {
  runtimeStatus: 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Terminated' | 'ContinuedAsNew';
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

export interface EpisodeRecord {
  /** Episode number within the instance (0 is the creation). */
  seq: number;
  /** Generation: increases with each continue-as-new, which starts a fresh history. */
  generation: number;
  /**
   * On creation records: a random id of this execution (a new start or a continue-as-new).
   * Late results of an earlier execution under the same instance id are told apart by it.
   */
  executionId?: string;
  /** Highest inbox seq consumed so far. */
  inboxSeq: number;
  events: HistoryEvent[];
  outcome: EpisodeOutcome;
  at: string;
}

export interface InboxMessage {
  seq: number;
  kind: 'event' | 'terminate';
  name?: string;
  /** JSON text */
  input?: string;
  reason?: string;
  at: string;
}

export interface LoadedInstance {
  facts: InstanceFacts;
  episodes: EpisodeRecord[];
  inbox: InboxMessage[];
}

export class InstanceStore {
  constructor(private readonly root: string) {}

  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
  }

  private dir(instanceId: string): string {
    return path.join(this.root, encodeInstanceId(instanceId));
  }

  /**
   * Creates the folder with its first episode atomically (built in a temp folder, renamed into
   * place). `conflict` when it exists, unless `replaceTerminal` accepts replacing it.
   */
  async create(facts: InstanceFacts, first: EpisodeRecord): Promise<void> {
    const tmp = path.join(this.root, `.tmp-${randomUUID()}`);
    await fs.mkdir(tmp);
    await writeSynced(path.join(tmp, 'instance.json'), JSON.stringify(facts));
    await writeSynced(path.join(tmp, 'history.jsonl'), JSON.stringify(first) + '\n');
    await writeSynced(path.join(tmp, 'inbox.jsonl'), '');
    try {
      await fs.rename(tmp, this.dir(facts.instanceId));
    } catch (error) {
      await fs.rm(tmp, { recursive: true, force: true });
      if (isCode(error, 'ENOTEMPTY') || isCode(error, 'EEXIST')) {
        throw new BatonError('conflict', `instance ${facts.instanceId} already exists`);
      }
      throw error;
    }
    await syncDir(this.root);
  }

  async appendEpisode(instanceId: string, episode: EpisodeRecord): Promise<void> {
    await appendSynced(
      path.join(this.dir(instanceId), 'history.jsonl'),
      JSON.stringify(episode) + '\n',
    );
  }

  /** Continue-as-new: the old generation's history is replaced atomically by a fresh one. */
  async restartHistory(instanceId: string, first: EpisodeRecord): Promise<void> {
    const file = path.join(this.dir(instanceId), 'history.jsonl');
    const tmp = `${file}.tmp-${randomUUID()}`;
    try {
      await writeSynced(tmp, JSON.stringify(first) + '\n');
      await fs.rename(tmp, file);
    } catch (error) {
      await fs.rm(tmp, { force: true });
      throw error;
    }
    await syncDir(this.dir(instanceId));
  }

  async appendInbox(instanceId: string, message: InboxMessage): Promise<void> {
    await appendSynced(
      path.join(this.dir(instanceId), 'inbox.jsonl'),
      JSON.stringify(message) + '\n',
    );
  }

  async exists(instanceId: string): Promise<boolean> {
    try {
      await fs.access(path.join(this.dir(instanceId), 'instance.json'));
      return true;
    } catch {
      return false;
    }
  }

  async load(instanceId: string): Promise<LoadedInstance | undefined> {
    const dir = this.dir(instanceId);
    let factsText: string;
    try {
      factsText = await fs.readFile(path.join(dir, 'instance.json'), 'utf8');
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      throw error;
    }
    const facts = JSON.parse(factsText) as InstanceFacts;
    const episodes = await readJsonLines<EpisodeRecord>(path.join(dir, 'history.jsonl'));
    const inbox = await readJsonLines<InboxMessage>(path.join(dir, 'inbox.jsonl'));
    return { facts, episodes, inbox };
  }

  /** Instance folders; anything else (stray files, undecodable names) is reported and skipped. */
  async listIds(onSkip: (name: string) => void = () => undefined): Promise<string[]> {
    const out: string[] = [];
    for (const entry of await fs.readdir(this.root, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      if (!entry.isDirectory()) {
        onSkip(entry.name);
        continue;
      }
      try {
        out.push(decodeInstanceId(entry.name));
      } catch {
        onSkip(entry.name);
      }
    }
    return out;
  }

  async remove(instanceId: string): Promise<boolean> {
    const dir = this.dir(instanceId);
    const trash = path.join(this.root, `.trash-${randomUUID()}`);
    try {
      await fs.rename(dir, trash);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return false;
      throw error;
    }
    await fs.rm(trash, { recursive: true, force: true });
    return true;
  }

  /** Leftovers of a crash during create or remove. */
  async sweepLeftovers(): Promise<void> {
    for (const name of await fs.readdir(this.root)) {
      if (name.startsWith('.tmp-') || name.startsWith('.trash-')) {
        await fs.rm(path.join(this.root, name), { recursive: true, force: true });
      }
    }
  }
}

/** Instance ids become folder names: percent-encoded, and never `.`-leading. */
export function encodeInstanceId(id: string): string {
  return encodeURIComponent(id).replace(/^\./, '%2E');
}

export function decodeInstanceId(name: string): string {
  return decodeURIComponent(name);
}

async function writeSynced(file: string, text: string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const appendQueues = new Map<string, Promise<void>>();

/** Appends to one file run one after another (a torn-tail repair must never see a live append). */
function appendSynced(file: string, text: string): Promise<void> {
  const previous = appendQueues.get(file) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(() => appendNow(file, text));
  const settled = next.catch(() => undefined);
  appendQueues.set(file, settled);
  void settled.then(() => {
    if (appendQueues.get(file) === settled) appendQueues.delete(file);
  });
  return next;
}

/**
 * Appends and fsyncs one line. If the write or the sync fails, the file is cut back to its
 * length before the call, so a retried append never lands behind half a line.
 */
async function appendNow(file: string, text: string): Promise<void> {
  await cutTornTail(file);
  const handle = await fs.open(file, 'a');
  let sizeBefore: number | undefined;
  try {
    sizeBefore = (await handle.stat()).size;
    if (crashDue('history')) {
      // BATON_CRASH_AT (test/chaos): die with half a line on disk, the tear load() must repair.
      await handle.writeFile(text.slice(0, text.length >> 1));
      await handle.sync();
      crashNow();
    }
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    if (sizeBefore !== undefined) await handle.truncate(sizeBefore).catch(() => undefined);
    throw error;
  } finally {
    await handle.close();
  }
}

/**
 * A file that does not end with a newline holds the fragment of an append that failed (and
 * whose clean-up failed too): it was never acknowledged, so it is cut before the next append,
 * which would otherwise be glued onto it.
 */
async function cutTornTail(file: string): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    const { size } = await handle.stat();
    if (size === 0) return;
    const chunk = Buffer.alloc(Math.min(size, 64 * 1024));
    let end = size;
    for (;;) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const view = chunk.subarray(0, bytesRead);
      if (end === size && view[view.length - 1] === 0x0a) return;
      const newline = view.lastIndexOf(0x0a);
      if (newline >= 0) {
        await handle.truncate(start + newline + 1);
        return;
      }
      if (start === 0) {
        await handle.truncate(0);
        return;
      }
      end = start;
    }
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads complete lines; a torn tail (a crash in the middle of an append) is dropped and cut
 * off the file so that the next append starts on a clean line.
 */
export class CorruptHistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptHistoryError';
  }
}

async function readJsonLines<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return [];
    throw error;
  }
  const out: T[] = [];
  let offset = 0;
  let goodBytes = 0;
  while (offset < text.length) {
    const end = text.indexOf('\n', offset);
    if (end < 0) break;
    const line = text.slice(offset, end);
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // Only the last line can be torn by a crash; a bad line with lines after it is damage
      // that must not be "repaired" by cutting away committed history.
      throw new CorruptHistoryError(
        `${file}: line ${out.length + 1} is not JSON but lines follow it`,
      );
    }
    offset = end + 1;
    goodBytes += Buffer.byteLength(line, 'utf8') + 1;
  }
  if (offset < text.length) await fs.truncate(file, goodBytes);
  return out;
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatonError, preconditionFailed } from '../../domain/errors.js';
import type { Bus, OutgoingMessage, ReceiveOptions, ReceivedMessage } from '../../ports/bus.js';
import { systemClock } from '../../ports/clock.js';
import type { Clock } from '../../ports/clock.js';
import { errnoOf, withFileLock, writeFileAtomic } from './fsPrimitives.js';
import type { FileLockOptions } from './fsPrimitives.js';

export interface FileBusOptions {
  root: string;
  /** Deliveries after which an abandoned or expired message is dead-lettered (Service Bus: 10). */
  maxDeliveryCount?: number;
  lockDurationMs?: number;
  /** Locks, schedules and the dedupe window are judged by this clock; waiting uses real time. */
  clock?: Clock;
  /** How long a sent or settled messageId keeps rejecting duplicates (Service Bus default: 10 min). */
  duplicateDetectionWindowMs?: number;
  /** Age after which a queue lock file is presumed left behind by a crashed process. */
  queueLockStaleMs?: number;
  pollIntervalMs?: number;
}

/** One message file; it carries its peek-lock state so a restart resumes where it stopped. */
interface MessageRecord {
  seq: number;
  messageId: string;
  body: unknown;
  correlationId?: string;
  enqueuedAt: string;
  /** Epoch ms; not delivered before. */
  notBefore?: number;
  deliveryCount: number;
  lockToken?: string;
  /** Epoch ms */
  lockedUntil?: number;
  deadLetterReason?: string;
  deadLetterDescription?: string;
}

interface QueueState {
  nextSeq: number;
  /** messageId → epoch ms it was last sent or settled, for duplicate detection. */
  seen: Map<string, number>;
}

type SubQueue = 'active' | 'dlq';

interface QueuePaths {
  dir: string;
  state: string;
  lock: string;
  active: string;
  dlq: string;
}

interface Found {
  sub: SubQueue;
  file: string;
  record: MessageRecord;
}

/**
 * The local Bus: `<root>/<queue>/active/<seq>-<idhash>.json` per message, the dead-letter
 * sub-queue beside it in `<queue>/$dlq/`, and `<queue>/state.json` for the sequence counter and
 * duplicate detection. Every operation on a queue (and its DLQ) holds the queue lock: an
 * in-process promise chain plus a `queue.lock` file created with O_EXCL, so receivers in this
 * process and in other processes never lock the same message. Critical sections only touch a
 * few small files; waiting for messages happens outside the lock.
 */
export class FileBus implements Bus {
  private readonly root: string;
  private readonly maxDeliveryCount: number;
  private readonly lockDurationMs: number;
  private readonly clock: Clock;
  private readonly dedupeWindowMs: number;
  private readonly pollIntervalMs: number;
  private readonly lock: FileLockOptions;
  /** Queues whose leftover temp files this instance has already removed. */
  private readonly swept = new Set<string>();

  constructor(options: FileBusOptions) {
    this.root = path.resolve(options.root);
    this.maxDeliveryCount = positiveInteger(options.maxDeliveryCount ?? 10, 'maxDeliveryCount');
    this.lockDurationMs = positiveInteger(options.lockDurationMs ?? 30_000, 'lockDurationMs');
    this.clock = options.clock ?? systemClock;
    this.dedupeWindowMs = options.duplicateDetectionWindowMs ?? 10 * 60_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 20;
    const staleMs = options.queueLockStaleMs ?? 10_000;
    this.lock = { staleMs, timeoutMs: staleMs * 3 };
  }

  async send(queue: string, messages: OutgoingMessage[]): Promise<void> {
    const prepared = messages.map(prepareOutgoing);
    if (prepared.length === 0) return;
    await this.withQueue(queue, async (paths) => {
      const now = this.now();
      const state = await readState(paths.state);
      for (const [id, at] of state.seen) {
        if (now - at > this.dedupeWindowMs) state.seen.delete(id);
      }
      // Heals the counter if a crash hit between writing messages and writing the state.
      for (const name of await listMessageFiles(paths.active)) {
        state.nextSeq = Math.max(state.nextSeq, seqOf(name) + 1);
      }
      await mkdir(paths.active, { recursive: true });
      for (const message of prepared) {
        if (state.seen.has(message.messageId)) continue;
        if ((await this.findById(paths, 'active', message.messageId)).length > 0) continue;
        const record: MessageRecord = {
          ...message,
          seq: state.nextSeq++,
          enqueuedAt: new Date(now).toISOString(),
          deliveryCount: 0,
        };
        await writeRecord(path.join(paths.active, fileNameOf(record)), record);
        state.seen.set(message.messageId, now);
      }
      // After the messages: a crash in between loses no message, only some dedupe memory.
      await writeState(paths.state, state);
    });
  }

  async receive<T = unknown>(
    queue: string,
    options: ReceiveOptions = {},
  ): Promise<ReceivedMessage<T>[]> {
    return this.receiveFrom<T>(queue, 'active', options);
  }

  async receiveDeadLetters<T = unknown>(
    queue: string,
    options: ReceiveOptions = {},
  ): Promise<ReceivedMessage<T>[]> {
    return this.receiveFrom<T>(queue, 'dlq', options);
  }

  async complete(queue: string, message: ReceivedMessage): Promise<void> {
    await this.withQueue(queue, async (paths) => {
      const found = await this.findLocked(paths, message);
      await unlink(found.file);
      const state = await readState(paths.state);
      state.seen.set(found.record.messageId, this.now());
      await writeState(paths.state, state);
    });
  }

  async abandon(queue: string, message: ReceivedMessage): Promise<void> {
    await this.withQueue(queue, async (paths) => {
      const found = await this.findLocked(paths, message);
      if (found.sub === 'active' && found.record.deliveryCount >= this.maxDeliveryCount) {
        await this.moveToDeadLetters(paths, found, ...this.exhausted());
        return;
      }
      await writeRecord(found.file, unlocked(found.record));
    });
  }

  async deadLetter(
    queue: string,
    message: ReceivedMessage,
    reason: string,
    description?: string,
  ): Promise<void> {
    if (typeof reason !== 'string' || reason === '') {
      throw new BatonError('validation', 'reason: must be a non-empty string', { field: 'reason' });
    }
    await this.withQueue(queue, async (paths) => {
      const found = await this.findLocked(paths, message);
      if (found.sub === 'dlq') {
        throw new BatonError('validation', `message ${message.messageId} is already dead-lettered`);
      }
      await this.moveToDeadLetters(paths, found, reason, description);
    });
  }

  private async receiveFrom<T>(
    queue: string,
    sub: SubQueue,
    options: ReceiveOptions,
  ): Promise<ReceivedMessage<T>[]> {
    const maxMessages = positiveInteger(options.maxMessages ?? 1, 'maxMessages');
    const maxWaitMs = options.maxWaitMs ?? 0;
    if (!(maxWaitMs >= 0)) {
      throw new BatonError('validation', 'maxWaitMs: must be >= 0', { field: 'maxWaitMs' });
    }
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const received = await this.withQueue(queue, (paths) =>
        this.lockAvailable(paths, sub, maxMessages),
      );
      const left = deadline - Date.now();
      if (received.length > 0 || left <= 0) return received as ReceivedMessage<T>[];
      await sleep(Math.min(this.pollIntervalMs, left));
    }
  }

  /** Takes up to `max` available messages in sequence order, dead-lettering exhausted ones on the way. */
  private async lockAvailable(
    paths: QueuePaths,
    sub: SubQueue,
    max: number,
  ): Promise<ReceivedMessage[]> {
    const dir = sub === 'active' ? paths.active : paths.dlq;
    const now = this.now();
    const out: ReceivedMessage[] = [];
    for (const name of await listMessageFiles(dir)) {
      if (out.length >= max) break;
      const file = path.join(dir, name);
      const record = await readRecord(file);
      if (record === undefined) continue;
      if (sub === 'active' && record.deadLetterReason !== undefined) {
        // A dead-lettering that a crash interrupted after its first step: finish it.
        await this.moveToDeadLetters(
          paths,
          { sub, file, record },
          record.deadLetterReason,
          record.deadLetterDescription,
        );
        continue;
      }
      if (record.notBefore !== undefined && record.notBefore > now) continue;
      if (record.lockToken !== undefined && (record.lockedUntil ?? 0) > now) continue;
      if (sub === 'active' && record.deliveryCount >= this.maxDeliveryCount) {
        await this.moveToDeadLetters(paths, { sub, file, record }, ...this.exhausted());
        continue;
      }
      const locked: MessageRecord = {
        ...record,
        deliveryCount: record.deliveryCount + 1,
        lockToken: randomUUID(),
        lockedUntil: now + this.lockDurationMs,
      };
      await writeRecord(file, locked);
      out.push(toReceived(locked));
    }
    return out;
  }

  /** The message must still carry this delivery's lock, unexpired; anything else means it was lost. */
  private async findLocked(paths: QueuePaths, message: ReceivedMessage): Promise<Found> {
    const now = this.now();
    for (const sub of ['active', 'dlq'] as const) {
      for (const found of await this.findById(paths, sub, message.messageId)) {
        if (found.record.lockToken !== message.lockToken) continue;
        if ((found.record.lockedUntil ?? 0) <= now) break;
        return found;
      }
    }
    throw preconditionFailed(`lock on message ${message.messageId}`);
  }

  private async findById(paths: QueuePaths, sub: SubQueue, messageId: string): Promise<Found[]> {
    const dir = sub === 'active' ? paths.active : paths.dlq;
    const suffix = `-${idHash(messageId)}.json`;
    const found: Found[] = [];
    for (const name of await listMessageFiles(dir)) {
      if (!name.endsWith(suffix)) continue;
      const file = path.join(dir, name);
      const record = await readRecord(file);
      if (record?.messageId === messageId) found.push({ sub, file, record });
    }
    return found;
  }

  /**
   * Two steps, each atomic: mark the record in place, then rename it into the DLQ. A crash in
   * between leaves a marked record that the next receive moves on, so it is never lost or doubled.
   */
  private async moveToDeadLetters(
    paths: QueuePaths,
    found: Found,
    reason: string,
    description: string | undefined,
  ): Promise<void> {
    const marked: MessageRecord = { ...unlocked(found.record), deadLetterReason: reason };
    if (description !== undefined) marked.deadLetterDescription = description;
    await writeRecord(found.file, marked);
    await mkdir(paths.dlq, { recursive: true });
    await rename(found.file, path.join(paths.dlq, path.basename(found.file)));
  }

  private exhausted(): [string, string] {
    return [
      'MaxDeliveryCountExceeded',
      `Message could not be consumed after ${this.maxDeliveryCount} delivery attempts.`,
    ];
  }

  private async withQueue<R>(queue: string, fn: (paths: QueuePaths) => Promise<R>): Promise<R> {
    const paths = this.pathsOf(queue);
    await mkdir(paths.dir, { recursive: true });
    return withFileLock(paths.lock, this.lock, async () => {
      if (!this.swept.has(paths.dir)) {
        for (const dir of [paths.dir, paths.active, paths.dlq]) await sweepTempFiles(dir);
        this.swept.add(paths.dir);
      }
      return fn(paths);
    });
  }

  /** Queue names are case-insensitive in Service Bus; lower-casing keeps that on every disk. */
  private pathsOf(queue: string): QueuePaths {
    if (typeof queue !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(queue)) {
      throw new BatonError(
        'validation',
        'queue: must be 1-200 letters, digits, ".", "_" or "-", starting with a letter or digit',
        { field: 'queue' },
      );
    }
    const dir = path.join(this.root, queue.toLowerCase());
    return {
      dir,
      state: path.join(dir, 'state.json'),
      lock: path.join(dir, 'queue.lock'),
      active: path.join(dir, 'active'),
      dlq: path.join(dir, '$dlq'),
    };
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}

type PreparedMessage = Pick<MessageRecord, 'messageId' | 'body' | 'correlationId' | 'notBefore'>;

function prepareOutgoing(message: OutgoingMessage, index: number): PreparedMessage {
  const field = `messages[${index}]`;
  const fail = (what: string, why: string): never => {
    throw new BatonError('validation', `${field}.${what}: ${why}`, { field: `${field}.${what}` });
  };
  if (
    typeof message.messageId !== 'string' ||
    message.messageId === '' ||
    message.messageId.length > 128
  ) {
    fail('messageId', 'must be 1-128 characters (the Service Bus limit)');
  }
  if (JSON.stringify(message.body) === undefined) fail('body', 'must be JSON-serialisable');
  const prepared: PreparedMessage = {
    messageId: message.messageId,
    body: JSON.parse(JSON.stringify(message.body)) as unknown,
  };
  if (message.correlationId !== undefined) prepared.correlationId = message.correlationId;
  if (message.scheduledEnqueueTime !== undefined) {
    const at = Date.parse(message.scheduledEnqueueTime);
    if (Number.isNaN(at)) fail('scheduledEnqueueTime', 'must be an ISO 8601 instant');
    prepared.notBefore = at;
  }
  return prepared;
}

function toReceived(record: MessageRecord): ReceivedMessage {
  const received: ReceivedMessage = {
    messageId: record.messageId,
    body: record.body,
    deliveryCount: record.deliveryCount,
    lockToken: record.lockToken ?? '',
    enqueuedAt: record.enqueuedAt,
  };
  if (record.correlationId !== undefined) received.correlationId = record.correlationId;
  if (record.deadLetterReason !== undefined) received.deadLetterReason = record.deadLetterReason;
  if (record.deadLetterDescription !== undefined) {
    received.deadLetterDescription = record.deadLetterDescription;
  }
  return received;
}

function unlocked(record: MessageRecord): MessageRecord {
  const { lockToken: _token, lockedUntil: _until, ...rest } = record;
  return rest;
}

/** Zero-padded so that name order is sequence order; the id hash makes lookups by id cheap. */
function fileNameOf(record: MessageRecord): string {
  return `${String(record.seq).padStart(15, '0')}-${idHash(record.messageId)}.json`;
}

function seqOf(name: string): number {
  return Number.parseInt(name.slice(0, name.indexOf('-')), 10);
}

function idHash(messageId: string): string {
  return createHash('sha256').update(messageId).digest('hex').slice(0, 16);
}

async function listMessageFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir))
      .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
      .sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

async function readRecord(file: string): Promise<MessageRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as MessageRecord;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw new BatonError('internal', `unreadable message file ${file}`, { cause: err });
  }
}

async function writeRecord(file: string, record: MessageRecord): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(record));
}

/** Temp files are only left by crashed writers; they are ignored anyway, this just tidies up. */
async function sweepTempFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    if (name.startsWith('.') && name.endsWith('.tmp'))
      await rm(path.join(dir, name), { force: true });
  }
}

interface QueueStateFile {
  nextSeq: number;
  seen: Array<[string, number]>;
}

async function readState(file: string): Promise<QueueState> {
  let parsed: QueueStateFile;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as QueueStateFile;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { nextSeq: 1, seen: new Map() };
    throw new BatonError('internal', `unreadable queue state ${file}`, { cause: err });
  }
  return { nextSeq: parsed.nextSeq, seen: new Map(parsed.seen) };
}

async function writeState(file: string, state: QueueState): Promise<void> {
  const stored: QueueStateFile = { nextSeq: state.nextSeq, seen: [...state.seen] };
  await writeFileAtomic(file, JSON.stringify(stored));
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new BatonError('validation', `${field}: must be a positive integer`, { field });
  }
  return value;
}

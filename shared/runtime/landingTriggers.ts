import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Lake, LakeEntry } from '../ports/lake.js';
import { runLimited } from '../app/runLimited.js';
import { compileBlobPath } from './blobPath.js';
import { functionsByTrigger, type RegisteredFunction } from './functionRegistry.js';
import { invocationContextFor, resolveAppSetting, stringOption } from './invocation.js';
import type { Logger } from './logger.js';

/**
 * Blob-triggered functions, locally: the landing folder of the lake is polled, and a file is
 * handed to the function once it has stopped changing (same size and time on two polls). What
 * was delivered is remembered on disk, so a restart does not deliver it again; a failing
 * delivery is retried on later polls up to five times, like the Functions host's poison limit.
 * Files ready in the same poll are delivered up to `concurrency` at a time.
 */
interface SeenState {
  delivered: Record<string, string>;
  failures: Record<string, number>;
}

const maxAttempts = 5;

export function startLandingTriggers(options: {
  lake: Lake;
  logger: Logger;
  env: Record<string, string | undefined>;
  inputs: () => Record<string, unknown>;
  stateFile: string;
  intervalMs?: number;
  /** Deliveries at once (default 8). */
  concurrency?: number;
}): () => Promise<void> {
  const watched = functionsByTrigger('blobTrigger').map((fn) => {
    const pattern = resolveAppSetting(stringOption(fn.trigger.path), options.env);
    return { fn, pattern, path: compileBlobPath(pattern) };
  });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const previous = new Map<string, string>();

  const poll = async (): Promise<void> => {
    const seen = await readSeen(options.stateFile);
    const ready: Array<{
      fn: RegisteredFunction;
      entry: LakeEntry;
      bindings: Record<string, string>;
      key: string;
      version: string;
      attemptKey: string;
    }> = [];
    for (const { fn, path } of watched) {
      const entries = await options.lake
        .list(path.listPrefix, { recursive: true })
        .catch(() => [] as LakeEntry[]);
      for (const entry of entries) {
        if (entry.isDirectory || stopped) continue;
        const bindings = path.match(entry.path);
        if (!bindings) continue;
        const key = `${fn.name}:${entry.path}`;
        const version = `${entry.size}:${entry.lastModified}`;
        // Poison is counted per version, like the host's blob receipts per ETag: a corrected
        // upload of the same name is delivered again.
        const attemptKey = `${key}@${version}`;
        if (seen.delivered[key] === version) continue;
        if (previous.get(key) !== version) {
          previous.set(key, version);
          continue;
        }
        if ((seen.failures[attemptKey] ?? 0) >= maxAttempts) continue;
        ready.push({ fn, entry, bindings, key, version, attemptKey });
      }
    }
    // Files that landed together are delivered several at a time (the Functions host runs
    // blob triggers concurrently too); what was delivered is written down after each one, one
    // write at a time, so a restart redelivers at most the deliveries in flight.
    let writes: Promise<void> = Promise.resolve();
    await runLimited(ready, options.concurrency ?? 8, async (item) => {
      if (stopped) return;
      const ok = await deliver(item.fn, item.entry, item.bindings);
      if (ok) {
        seen.delivered[item.key] = item.version;
        delete seen.failures[item.attemptKey];
      } else {
        seen.failures[item.attemptKey] = (seen.failures[item.attemptKey] ?? 0) + 1;
      }
      writes = writes.then(() => writeSeen(options.stateFile, seen));
      await writes;
    });
  };

  const deliver = async (
    fn: RegisteredFunction,
    entry: LakeEntry,
    bindings: Record<string, string>,
  ): Promise<boolean> => {
    const context = invocationContextFor(fn, options.logger, {
      inputs: options.inputs(),
      triggerMetadata: {
        ...bindings,
        blobTrigger: entry.path,
        uri: `lake://${entry.path}`,
        properties: { length: entry.size },
      },
    });
    try {
      await fn.handler(await options.lake.read(entry.path), context);
      return true;
    } catch (error) {
      options.logger.warn({ function: fn.name, err: error }, `landing file ${entry.path} failed`);
      return false;
    }
  };

  const loop = (): void => {
    if (stopped) return;
    running = poll()
      .catch((error: unknown) => options.logger.error({ err: error }, 'landing poll failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, options.intervalMs ?? 1000);
      });
  };
  if (watched.length > 0) {
    for (const w of watched) options.logger.info(`landing ${w.pattern} -> ${w.fn.name}`);
    loop();
  }
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  };
}

async function readSeen(file: string): Promise<SeenState> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as SeenState;
  } catch {
    return { delivered: {}, failures: {} };
  }
}

async function writeSeen(file: string, seen: SeenState): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(seen));
  await fs.rename(tmp, file);
}

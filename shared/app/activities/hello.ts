import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { BatonError, isBatonError } from '../../domain/errors.js';
import { parseInput } from '../../domain/validation.js';
import { runIdSchema } from '../../domain/runIds.js';
import type { Services } from '../services.js';

/**
 * Activities of the hello pipeline, as closures over the ports. Each is idempotent: the lake
 * path derives from runId + index and is written create-only, so a redelivered activity finds
 * its own earlier output and returns the same result.
 */
const greetingInputSchema = z.object({
  runId: runIdSchema,
  index: z.number().int().min(0),
  greeting: z.string().min(1),
  delayMs: z.number().int().min(0),
});

const summaryInputSchema = z.object({ runId: runIdSchema, count: z.number().int().min(1) });

export interface GreetingResult {
  index: number;
  path: string;
  md5: string;
}

export interface GreetingSummary {
  files: number;
  bytes: number;
  missing: number[];
  summaryPath: string;
}

export const greetingStep = (index: number): string =>
  `say-hello-${String(index).padStart(4, '0')}`;

export function createHelloActivities(services: Pick<Services, 'lake' | 'logs' | 'clock'>) {
  const { lake, logs, clock } = services;
  const log = (runId: string, step: string, message: string): Promise<void> =>
    logs.append(runId, step, [{ at: clock.now().toISOString(), level: 'info', message }]);

  return {
    async sayHello(raw: unknown): Promise<GreetingResult> {
      const input = parseInput(greetingInputSchema, raw, 'sayHello input');
      const step = greetingStep(input.index);
      await log(input.runId, step, `greeting worker ${input.index}`);
      if (input.delayMs > 0) await sleep(input.delayMs);
      const path = `runs/${input.runId}/greetings/${String(input.index).padStart(5, '0')}.txt`;
      const text = `${input.greeting}, worker ${input.index}!\n`;
      const md5 = createHash('md5').update(text).digest('hex');
      try {
        await lake.write(path, text, { createOnly: true, contentType: 'text/plain' });
      } catch (error) {
        if (!isBatonError(error, 'conflict')) throw error;
        const existing = await lake.read(path);
        if (existing.toString('utf8') !== text) {
          throw new BatonError('conflict', `${path} exists with different content`);
        }
      }
      await log(input.runId, step, `wrote ${path}`);
      return { index: input.index, path, md5 };
    },

    async summarizeGreetings(raw: unknown): Promise<GreetingSummary> {
      const input = parseInput(summaryInputSchema, raw, 'summarizeGreetings input');
      const entries = await lake.list(`runs/${input.runId}/greetings`);
      const present = new Set(
        entries.map((e) => Number(e.path.split('/').pop()?.replace('.txt', ''))),
      );
      const missing = Array.from({ length: input.count }, (_, i) => i).filter(
        (i) => !present.has(i),
      );
      const bytes = entries.reduce((sum, e) => sum + e.size, 0);
      const summaryPath = `runs/${input.runId}/summary.json`;
      const summary: GreetingSummary = { files: entries.length, bytes, missing, summaryPath };
      // Create-only like every output; a retried summary of the same files is the same text.
      const text = JSON.stringify(summary, null, 2) + '\n';
      try {
        await lake.write(summaryPath, text, { createOnly: true, contentType: 'application/json' });
      } catch (error) {
        if (!isBatonError(error, 'conflict')) throw error;
        if ((await lake.read(summaryPath)).toString('utf8') !== text) throw error;
      }
      await log(
        input.runId,
        'summarize',
        `${entries.length} greetings, ${bytes} bytes, ${missing.length} missing`,
      );
      return summary;
    },
  };
}

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { isBatonError } from '../domain/errors.js';
import type { Lake } from '../ports/lake.js';

/**
 * Uploads an output create-only: no code path replaces an output in the lake. A file already
 * at `target` with the same content is this very output from an earlier delivery of the same
 * activity (redelivered, or retried after a crash), so that is success; different content is
 * the lake's `conflict`, thrown as is.
 */
export async function uploadOutputOnce(
  lake: Lake,
  localPath: string,
  target: string,
): Promise<void> {
  try {
    await lake.uploadFile(localPath, target, { createOnly: true });
  } catch (error) {
    if (!isBatonError(error, 'conflict')) throw error;
    const [there, ours] = await Promise.all([lake.stat(target), md5OfFile(localPath)]);
    // An adapter that keeps no MD5 for the file: compare the bytes themselves.
    const theirs =
      there === undefined
        ? undefined
        : (there.md5 ??
          createHash('md5')
            .update(await lake.read(target))
            .digest('hex'));
    if (theirs !== ours) throw error;
  }
}

async function md5OfFile(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

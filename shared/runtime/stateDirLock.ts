import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BatonError } from '../domain/errors.js';

/**
 * One host per state folder: two engines on one history would both run every activity. The
 * lock file holds the owner's pid and appears complete or not at all (written to a temp file,
 * then hard-linked into place, which fails if a lock exists). A lock whose process is gone (a
 * host that was killed) is taken over by renaming it away: of several contenders only one
 * rename succeeds, and each then competes for the fresh link again.
 */
export async function acquireStateDirLock(stateDir: string): Promise<() => Promise<void>> {
  await fs.mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, 'host.lock');
  const mine = `${process.pid}:${randomUUID()}`;
  const tmp = path.join(stateDir, `.host.lock.${randomUUID()}`);
  await fs.writeFile(tmp, mine);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await fs.link(tmp, file);
        return async () => {
          // Release only our own lock (never one a successor took over).
          const current = await fs.readFile(file, 'utf8').catch(() => '');
          if (current === mine) await fs.rm(file, { force: true });
        };
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') throw error;
      }
      const content = await fs.readFile(file, 'utf8').catch(() => undefined);
      if (content === undefined) continue; // released meanwhile: try again
      const owner = Number(content.split(':')[0]);
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new BatonError(
          'conflict',
          `another Baton host (pid ${owner}) is using ${stateDir}; stop it or use --state-dir`,
        );
      }
      // Stale: move it aside. Only the contender whose rename succeeds removed this exact file.
      const aside = path.join(stateDir, `.host.lock.stale-${randomUUID()}`);
      try {
        await fs.rename(file, aside);
        const moved = await fs.readFile(aside, 'utf8').catch(() => '');
        if (moved !== content) {
          // We moved a fresh lock someone else had just linked: put it back and stop competing.
          await fs.link(aside, file).catch(() => undefined);
          await fs.rm(aside, { force: true });
          throw new BatonError('conflict', `another Baton host is starting on ${stateDir}`);
        }
        await fs.rm(aside, { force: true });
      } catch (error) {
        if (error instanceof BatonError) throw error;
        if ((error as { code?: string }).code !== 'ENOENT') throw error;
      }
    }
    throw new BatonError('unavailable', `could not lock ${stateDir}`);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

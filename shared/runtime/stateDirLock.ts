import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BatonError } from '../domain/errors.js';

/**
 * One host per state folder: two engines on one history would both run every activity. The
 * lock file holds the owner's pid; a lock whose process is gone (a host that was killed) is
 * taken over.
 */
export async function acquireStateDirLock(stateDir: string): Promise<() => Promise<void>> {
  await fs.mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, 'host.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(file, String(process.pid), { flag: 'wx' });
      return async () => {
        await fs.rm(file, { force: true });
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new BatonError(
          'conflict',
          `another Baton host (pid ${owner}) is using ${stateDir}; stop it or use --state-dir`,
        );
      }
      await fs.rm(file, { force: true });
    }
  }
  throw new BatonError('unavailable', `could not lock ${stateDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}
